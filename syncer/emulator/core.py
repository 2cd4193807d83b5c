"""Emulator: one emulator's state (its objects, runs, counters and faults), shared by every layer
of the app (routes, middleware, handlers, event streams)."""

from __future__ import annotations

from syncer.emulator.backend_runs import BackendRunEngine
from syncer.emulator.faults import Faults, Stats
from syncer.emulator.loading import load_account_file
from syncer.emulator.options import EmulatorConfig
from syncer.emulator.runs import RunEngine
from syncer.emulator.storage import ObjectStore


class Emulator:
    """One emulator's state: its objects, runs, counters and faults."""

    def __init__(self, config: EmulatorConfig):
        self.config = config
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

    def now(self) -> int:
        return int(self.config.clock())

    def close(self) -> None:
        self.store.close()

    async def stop_runs(self) -> None:
        """On shutdown: stop the backend's runs (a restart fails them) and close its connections."""
        if isinstance(self.runs, BackendRunEngine):
            await self.runs.aclose()
