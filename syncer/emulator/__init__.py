"""`syncer emulator`: a faithful local Assistants API v2 server (a Starlette ASGI app).

    from syncer.emulator import EmulatorConfig, create_app, running_server
    app = create_app(EmulatorConfig(run_ms=50))             # for httpx.ASGITransport
    with running_server(EmulatorConfig()) as server:       # uvicorn on a free loopback port
        server.base_url                                    # "http://127.0.0.1:PORT/v1"
        server.stats()

Modules: core (the Emulator's state), app (routes), handlers (one per operation), middleware
(auth, headers, faults), collection (ordering and pagination), storage (objects, SQLite
persistence), runs (lifecycle), events (server-sent events), backends (the models runs use:
the deterministic one), faults (fault injection, counters), loading (account files), generate
(generated accounts), server (uvicorn). May import syncer.api and the foundation only.
"""

from syncer.emulator.app import create_app
from syncer.emulator.core import Emulator
from syncer.emulator.options import EmulatorConfig
from syncer.emulator.server import (
    RunningServer,
    emulator_process,
    running_server,
    serve_forever,
)

__all__ = [
    "Emulator",
    "EmulatorConfig",
    "RunningServer",
    "create_app",
    "emulator_process",
    "running_server",
    "serve_forever",
]
