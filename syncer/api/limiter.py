"""Slots: how many requests a client keeps in flight, fixed or adaptive.

Fixed (``Slots(8)``): exactly that many at most, always. Adaptive (``Slots(None)``): starts at
``start`` and, after each round of ``limit`` completed requests, grows by a quarter while the
round's median latency stays within 1.5x the lowest latency seen (the server's latency is the
bound, so more in flight means more done per second); shrinks by an eighth when the median
passes 3x the lowest (something else is the bound: the server's or this machine's CPU), and
halves as soon as the client had to retry (429 with ``retry-after``, 5xx, dropped
connections), never below ``floor`` nor above ``ceiling``.
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import time
from collections import deque
from collections.abc import Callable

__all__ = ["Slots"]


class Slots:
    """Requests in flight: ``async with slots.slot(): await send(...)``.

    ``retries()`` returns the client's count of retries so far (``HTTPClient.retries``): any
    increase halves an adaptive limit.
    """

    def __init__(self, fixed: int | None, *, retries: Callable[[], int] = lambda: 0,
                 start: int = 16, floor: int = 2, ceiling: int = 64,
                 clock: Callable[[], float] = time.monotonic):
        self.adaptive = fixed is None
        self.limit = max(1, fixed) if fixed is not None else start
        self.floor, self.ceiling = floor, ceiling
        self.in_flight = 0
        self._retries = retries
        self._retries_seen = retries()
        self._clock = clock
        self._lowest = float("inf")
        self._round: list[float] = []
        self._waiters: deque[asyncio.Future[None]] = deque()

    @property
    def most(self) -> int:
        """The largest limit this can reach (the fixed one, or the ceiling)."""
        return self.ceiling if self.adaptive else self.limit

    def slot(self) -> _Slot:
        """One request's place: ``async with slots.slot(): ...`` (waits while all are taken)."""
        return _Slot(self)

    async def _take(self) -> float:
        if self.in_flight < self.limit and not self._waiters:
            self.in_flight += 1
        else:
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                await waiter  # `_wake` hands this request its place (``in_flight`` counts it)
            except BaseException:
                if waiter.done() and not waiter.cancelled():
                    self._give_back(None)  # handed a place, then cancelled: pass it on
                else:
                    with contextlib.suppress(ValueError):
                        self._waiters.remove(waiter)
                raise
        return self._clock()

    def _give_back(self, started: float | None) -> None:
        self.in_flight -= 1
        if self.adaptive and started is not None:
            self._adapt(self._clock() - started)
        self._wake()

    def _adapt(self, elapsed: float) -> None:
        retries = self._retries()
        if retries > self._retries_seen:
            self._retries_seen = retries
            self.limit = max(self.floor, self.limit // 2)
            self._round.clear()
            return
        self._lowest = min(self._lowest, elapsed)
        self._round.append(elapsed)
        if len(self._round) < self.limit:
            return
        median = statistics.median(self._round)
        self._round.clear()
        if median <= 1.5 * self._lowest:
            self.limit = min(self.ceiling, self.limit + max(1, self.limit // 4))
        elif median > 3 * self._lowest:
            self.limit = max(self.floor, self.limit - max(1, self.limit // 8))

    def _wake(self) -> None:
        """Hand the free places to the longest-waiting requests (each leaves the queue here and
        owns its place at once, so a burst of releases never wakes more than there is room for)."""
        while self._waiters and self.in_flight < self.limit:
            waiter = self._waiters.popleft()
            if not waiter.done():
                self.in_flight += 1
                waiter.set_result(None)


class _Slot:
    """``async with`` one place in `Slots` (a class, not a generator: this runs per request)."""

    __slots__ = ("_slots", "_started")

    def __init__(self, slots: Slots):
        self._slots = slots
        self._started = 0.0

    async def __aenter__(self) -> None:
        self._started = await self._slots._take()

    async def __aexit__(self, *exc_info: object) -> None:
        self._slots._give_back(self._started)
