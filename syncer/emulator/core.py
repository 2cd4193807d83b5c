"""Emulator: one emulator's state (its objects, runs, counters and faults), shared by every layer
of the app (routes, middleware, handlers, event streams)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from syncer.emulator.backend_runs import BackendRunEngine
from syncer.emulator.faults import Faults, Stats
from syncer.emulator.loading import load_account_file
from syncer.emulator.options import EmulatorConfig
from syncer.emulator.runs import RunEngine
from syncer.emulator.storage import ObjectStore
from syncer.errors import UsageError
from syncer.files import create_private


class Emulator:
    """One emulator's state: its objects, runs, counters and faults."""

    def __init__(self, config: EmulatorConfig):
        self.config = config
        if config.state is not None:
            create_state_file(Path(config.state))
        self.store = ObjectStore(config.state)
        self.stats = Stats()
        self.faults = Faults(config.fault_rate, config.seed)
        self.runs: RunEngine
        if config.backend is not None:
            self.runs = BackendRunEngine(self.store, config.clock, config.backend)
        else:
            self.runs = RunEngine(self.store, config.clock, config.run_ms, fails=self.faults.run_fails)
        if config.load is not None:
            load_account_file(self.store, config.load)
        #: Whether the server serving this emulator is shutting down (the server sets it): open
        #: event streams end then, instead of holding the shutdown until their runs finish.
        self.stopping: Callable[[], bool] = lambda: False

    def now(self) -> int:
        return int(self.config.clock())

    def close(self) -> None:
        self.store.close()

    async def stop_runs(self) -> None:
        """On shutdown: stop the backend's runs (a restart fails them) and close its connections."""
        if isinstance(self.runs, BackendRunEngine):
            await self.runs.aclose()


def create_state_file(path: Path) -> None:
    """Create a new ``--state`` file owner-only (0600), as mirrors are: it holds every
    conversation the emulator serves. SQLite gives its WAL the same mode. An existing file is
    left as it is."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        create_private(path)
    except OSError as error:
        raise UsageError(f"{path}: cannot create state file: {error.strerror or error}") from None
