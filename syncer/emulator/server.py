"""Serving the emulator with uvicorn: in a background thread (tests, demo) or in the foreground.

    with running_server(EmulatorConfig(run_ms=20)) as server:
        openai.OpenAI(base_url=server.base_url, api_key="sk-test")
        server.stats()
"""

from __future__ import annotations

import logging
import re
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn

from syncer.emulator.app import create_app
from syncer.emulator.core import Emulator
from syncer.emulator.faults import DroppedConnection
from syncer.emulator.options import EmulatorConfig
from syncer.errors import SyncerError


class _HideDroppedConnections(logging.Filter):
    """Injected dropped connections are on purpose: keep them out of the error log."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, DroppedConnection)


class _HideStreamsCutByShutdown(logging.Filter):
    """Ctrl-C ends open event streams mid-response; that is the user's wish, not an error."""

    def __init__(self, server: uvicorn.Server):
        super().__init__()
        self.server = server

    def filter(self, record: logging.LogRecord) -> bool:
        return not (self.server.should_exit
                    and record.getMessage() == "ASGI callable returned without completing response.")


def _quiet_drops() -> None:
    logger = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, _HideDroppedConnections) for f in logger.filters):
        logger.addFilter(_HideDroppedConnections())


class RunningServer:
    """An emulator served on a loopback port."""

    def __init__(self, emulator: Emulator, host: str, port: int):
        self.emulator = emulator
        self.host = host
        self.port = port
        self.url = f"http://{host}:{port}"
        self.base_url = f"{self.url}/v1"

    def stats(self) -> dict[str, Any]:
        """Request counters (what ``GET /_emulator/stats`` answers)."""
        return self.emulator.stats.snapshot()

    def reset_stats(self) -> None:
        self.emulator.stats.reset()

    def script_faults(self, spec: dict[str, Any]) -> dict[str, Any]:
        """What ``POST /_emulator/faults`` does, e.g. ``{"fail_writes": [3], "status": 500}``."""
        return self.emulator.faults.script(spec)


def bind_loopback(host: str, port: int) -> socket.socket:
    """A listening TCP socket, or a `SyncerError` saying why not (port in use, bad host)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY only on sockets that say so, and without
    # it every response waits ~40 ms for a delayed ACK (Nagle).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(128)
    except OSError as error:
        sock.close()
        raise SyncerError(f"cannot listen on {host}:{port}: {error.strerror or error}") from None
    return sock


def _server(app: Any) -> uvicorn.Server:
    _quiet_drops()
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on", access_log=False))
    app.state.emulator.stopping = lambda: server.should_exit  # open streams end at shutdown
    return server


@contextmanager
def running_server(config: EmulatorConfig | None = None, host: str = "127.0.0.1",
                   port: int = 0) -> Iterator[RunningServer]:
    """Serve the emulator with uvicorn in a background thread on a free loopback port."""
    app = create_app(config or EmulatorConfig())
    emulator: Emulator = app.state.emulator
    try:
        sock = bind_loopback(host, port)
    except SyncerError:
        emulator.close()
        raise
    bound_port = sock.getsockname()[1]
    server = _server(app)
    # Signal handlers can only be installed from the main thread.
    server.install_signal_handlers = lambda: None  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True,
                              name="syncer-emulator")
    thread.start()
    try:
        while not server.started:
            if not thread.is_alive():
                raise SyncerError(f"the emulator could not start on {host}:{bound_port}")
            thread.join(0.01)
        yield RunningServer(emulator, host, bound_port)
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
        emulator.close()


@contextmanager
def emulator_process(*args: str, port: int = 0, stop_timeout: float = 30.0) -> Iterator[str]:
    """``syncer emulator`` in a process of its own on loopback; yields its base URL.

    For benchmarks and crash tests, where the server must not share a CPU-bound process (or
    a fate) with the client. ``args`` are further ``syncer emulator`` options. Stopped with
    SIGINT, as a user's Ctrl-C, so a ``--state`` file is closed cleanly.
    """
    command = [sys.executable, "-m", "syncer", "emulator", "--port", str(port), *args]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               text=True)
    assert process.stderr is not None
    try:
        line = process.stderr.readline()
        match = re.search(r"(http://127\.0\.0\.1:\d+/v1)", line)
        if match is None:
            process.wait(stop_timeout)
            raise SyncerError(f"the emulator did not start: {(line + process.stderr.read()).strip()}")
        yield match.group(1)
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(stop_timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        process.stderr.close()


def serve_forever(config: EmulatorConfig, host: str = "127.0.0.1", port: int = 8000,
                  announce: Callable[[str], None] | None = None) -> None:
    """Serve in the foreground until Ctrl-C. ``announce(base_url)`` is called once listening."""
    app = create_app(config)
    emulator: Emulator = app.state.emulator
    try:
        sock = bind_loopback(host, port)
        shown = f"[{host}]" if ":" in host else host
        if announce is not None:
            announce(f"http://{shown}:{sock.getsockname()[1]}/v1")
        server = _server(app)
        quiet = _HideStreamsCutByShutdown(server)
        logging.getLogger("uvicorn.error").addFilter(quiet)
        try:
            with _stop_signals_return():
                server.run(sockets=[sock])
        finally:
            logging.getLogger("uvicorn.error").removeFilter(quiet)
        sock.close()
    finally:
        emulator.close()


class _Stopped(Exception):
    """SIGTERM, re-raised by uvicorn after its graceful shutdown."""


@contextmanager
def _stop_signals_return() -> Iterator[None]:
    """Return normally after Ctrl-C or SIGTERM.

    uvicorn shuts down gracefully on SIGINT/SIGTERM and then re-raises the signal to the
    previous handler (KeyboardInterrupt for SIGINT); both mean "stopped as asked" here.
    """
    previous = None
    if threading.current_thread() is threading.main_thread():
        def stop(signum: int, frame: Any) -> None:
            raise _Stopped

        previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    except (KeyboardInterrupt, _Stopped):
        pass
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
