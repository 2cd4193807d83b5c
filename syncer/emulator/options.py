"""`EmulatorConfig`: every knob of `syncer emulator` in one place."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from syncer.emulator.backends.base import Backend

#: How long a run takes by default (queued → in_progress → completed), in milliseconds.
DEFAULT_RUN_MS = 200
#: The largest request body the emulator reads (32 MiB); a larger one is a 413.
MAX_BODY_BYTES = 32 * 1024 * 1024


@dataclass
class EmulatorConfig:
    """How the emulator behaves.

    api_key     None: any non-empty bearer key is accepted; else exactly this key.
    latency_ms  added to every response under /v1.
    fault_rate  share of /v1 requests answered with a fault (429, 500, 503, dropped connection),
                drawn from a random generator seeded with ``seed`` before the request has effect.
    run_ms      how long a run takes from queued to its next resting state.
    stream      False: ``stream: true`` is answered with a 400 naming ``stream``.
    load        an account file (JSON) to start with.
    state       a SQLite file that keeps every object across restarts (None: in memory).
    clock       seconds since the epoch; tests inject a fake one to age runs without sleeping.
    backend     None: runs are answered by the deterministic model, paced by ``run_ms``; else a
                model backend (``backends/chat.ChatBackend``) answers them as fast as it can.
    max_body_bytes  the largest request body read; a larger one is refused (413) unread.
    """

    api_key: str | None = None
    latency_ms: float = 0
    fault_rate: float = 0.0
    seed: int = 0
    run_ms: float = DEFAULT_RUN_MS
    stream: bool = True
    load: str | Path | None = None
    state: str | Path | None = None
    clock: Callable[[], float] = field(default=time.time, repr=False)
    backend: Backend | None = None
    max_body_bytes: int = MAX_BODY_BYTES

    def __post_init__(self) -> None:
        if self.api_key == "":
            self.api_key = None
        if not 0.0 <= self.fault_rate <= 1.0:
            raise ValueError(f"fault_rate must be between 0 and 1, got {self.fault_rate}")
        if self.latency_ms < 0 or self.run_ms < 0:
            raise ValueError("latency_ms and run_ms must not be negative")

    def __repr__(self) -> str:
        # Never show the key itself (it may be a real one someone reuses).
        key = "set" if self.api_key else None
        return (
            f"EmulatorConfig(api_key={key!r}, latency_ms={self.latency_ms}, "
            f"fault_rate={self.fault_rate}, seed={self.seed}, run_ms={self.run_ms}, "
            f"stream={self.stream}, load={self.load!r}, state={self.state!r}, backend={self.backend!r})"
        )
