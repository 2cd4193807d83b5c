"""Latency, fault injection and request counters (the knobs benchmarks and retry tests use).

Random faults (``fault_rate``) are drawn from a generator seeded with ``seed``, one draw per
/v1 request in arrival order, so the same seed and the same request sequence give the same
faults. Scripted faults (``POST /_emulator/faults``) fail chosen requests exactly. Either
way the fault is decided before the request has any effect: a faulted create creates nothing.
The script can also make chosen runs end ``failed`` (``fail_runs``), the one run outcome no
client input leads to.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass
from typing import Any

import httpx

#: The mix of random faults: (kind, weight). "drop" starts a response and cuts it off.
FAULT_MIX = (("429", 4), ("500", 2), ("503", 2), ("drop", 2))
FAULT_STATUSES = {"429": 429, "500": 500, "503": 503, "drop": 0}


class DroppedConnection(httpx.RemoteProtocolError):
    """Raised by the app to cut a response off mid-body.

    Over real HTTP uvicorn closes the connection and the client sees the body end early.
    Deriving from httpx's own exception means a client driving the app in-process through
    ``httpx.ASGITransport`` sees the same exception type as over the network.
    """


@dataclass
class Fault:
    kind: str  # "429", "500", "503" or "drop"
    retry_after_ms: int = 0


class Stats:
    """Request counters, served outside /v1 (``GET /_emulator/stats``)."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.routes: Counter[str] = Counter()
        self.statuses: Counter[int] = Counter()
        self.total = 0
        self.writes = 0
        self.faults = 0

    def count(self, method: str, route: str, is_write: bool) -> None:
        self.total += 1
        self.routes[f"{method} {route}"] += 1
        if is_write:
            self.writes += 1

    def snapshot(self) -> dict[str, Any]:
        # Copies first: running_server() reads the counters from another thread.
        routes, statuses = self.routes.copy(), self.statuses.copy()
        return {
            "requests": self.total,
            "writes": self.writes,
            "faults": self.faults,
            "by_route": dict(sorted(routes.items())),
            "by_status": {str(k): v for k, v in sorted(statuses.items())},
        }


class Faults:
    """Decides which requests fail, and how."""

    def __init__(self, rate: float, seed: int):
        self.rate = rate
        self.random = random.Random(seed)
        self.fail_writes: set[int] = set()
        self.fail_requests: set[int] = set()
        self.fail_runs: set[int] = set()
        self.scripted_kind = "500"
        self._writes = 0
        self._requests = 0
        self._runs = 0

    def script(self, spec: dict[str, Any]) -> dict[str, Any]:
        """Fail the n-th write (POST/DELETE under /v1) or request, or the n-th run created
        (it ends ``failed``), counted from now."""
        status = str(spec.get("status", 500))
        if status not in FAULT_STATUSES:
            raise ValueError(f"status must be one of {sorted(FAULT_STATUSES)}, got {status!r}")
        self.scripted_kind = status
        self.fail_writes = {int(n) for n in spec.get("fail_writes", [])}
        self.fail_requests = {int(n) for n in spec.get("fail_requests", [])}
        self.fail_runs = {int(n) for n in spec.get("fail_runs", [])}
        self._writes = 0
        self._requests = 0
        self._runs = 0
        return {
            "fail_writes": sorted(self.fail_writes),
            "fail_requests": sorted(self.fail_requests),
            "fail_runs": sorted(self.fail_runs),
            "status": status,
        }

    def run_fails(self) -> bool:
        """Asked once for each run created: does the script make it fail?"""
        self._runs += 1
        return self._runs in self.fail_runs

    def decide(self, is_write: bool) -> Fault | None:
        self._requests += 1
        if is_write:
            self._writes += 1
        if self._requests in self.fail_requests or (is_write and self._writes in self.fail_writes):
            return Fault(self.scripted_kind, retry_after_ms=10)
        if self.rate <= 0:
            return None
        # Draw the same numbers whether or not this request fails, so one seed gives
        # one sequence of outcomes.
        roll = self.random.random()
        kind = self.random.choices([k for k, _ in FAULT_MIX], [w for _, w in FAULT_MIX])[0]
        retry_after_ms = self.random.randint(10, 50)
        if roll >= self.rate:
            return None
        return Fault(kind, retry_after_ms)
