"""`syncer emulator`: a faithful local Assistants API v2 server (a Starlette ASGI app).

    from syncer.emulator import EmulatorConfig, create_app, running_server
    app = create_app(EmulatorConfig(run_ms=50))             # for httpx.ASGITransport
    with running_server(EmulatorConfig()) as server:       # uvicorn on a free loopback port
        server.base_url                                    # "http://127.0.0.1:PORT/v1"
        server.stats()

Modules: app (routes), handlers (one per operation), middleware (auth, headers, faults),
collection (ordering and pagination), state (objects, SQLite persistence), runs (lifecycle),
streaming (server-sent events), model (the deterministic model), faults (fault injection,
counters), loading (account files), generate (generated accounts), server (uvicorn).
"""

from syncer.emulator.app import Emulator, create_app
from syncer.emulator.config import EmulatorConfig
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
