"""Slots: a fixed limit holds exactly; an adaptive one grows while latency stays at its lowest,
shrinks when it rises, and halves on a retry. A fake clock: no real waiting."""

from __future__ import annotations

import asyncio

from syncer.api.limiter import Slots


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def one_round(slots: Slots, clock: Clock, latency: float) -> None:
    """``slots.limit`` requests, each taking ``latency`` on the fake clock."""
    for _ in range(slots.limit):
        async with slots.slot():
            clock.now += latency


async def test_a_fixed_limit_keeps_exactly_that_many_in_flight():
    slots = Slots(3)
    peak = 0

    async def request() -> None:
        nonlocal peak
        async with slots.slot():
            peak = max(peak, slots.in_flight)
            await asyncio.sleep(0)
            await asyncio.sleep(0)

    await asyncio.gather(*(request() for _ in range(20)))
    assert peak == 3 and slots.in_flight == 0 and slots.limit == 3 and slots.most == 3


async def test_adaptive_grows_while_latency_is_the_bound_and_stops_at_the_ceiling():
    clock = Clock()
    slots = Slots(None, clock=clock)
    assert slots.limit == 16
    for _ in range(20):
        await one_round(slots, clock, 0.1)
    assert slots.limit == slots.ceiling == 64


async def test_adaptive_shrinks_when_latency_rises_and_halves_on_a_retry():
    clock = Clock()
    retries = 0
    slots = Slots(None, clock=clock, retries=lambda: retries)
    await one_round(slots, clock, 0.1)
    grown = slots.limit
    await one_round(slots, clock, 0.5)
    assert slots.limit < grown
    before = slots.limit
    retries += 1
    async with slots.slot():
        pass
    assert slots.limit == max(slots.floor, before // 2)


async def test_places_go_to_waiters_in_order_and_a_burst_of_releases_wakes_no_more_than_fit():
    slots = Slots(2)
    inside: list[int] = []
    order: list[int] = []
    peak = 0
    release = asyncio.Event()

    async def request(number: int) -> None:
        nonlocal peak
        async with slots.slot():
            order.append(number)
            inside.append(number)
            peak = max(peak, len(inside))
            await release.wait()
            inside.remove(number)

    tasks = [asyncio.create_task(request(i)) for i in range(12)]
    await asyncio.sleep(0)
    assert order == [0, 1] and len(slots._waiters) == 10
    release.set()  # every holder releases in the same tick: only two waiters may enter
    await asyncio.gather(*tasks)
    assert peak == 2 and order == list(range(12)) and slots.in_flight == 0


async def test_a_waiter_cancelled_after_it_was_handed_a_place_passes_it_on():
    slots = Slots(1)
    entered: list[str] = []

    async def request(name: str) -> None:
        async with slots.slot():
            entered.append(name)

    async with slots.slot():
        second = asyncio.create_task(request("second"))
        third = asyncio.create_task(request("third"))
        await asyncio.sleep(0)
        assert len(slots._waiters) == 2
    # Leaving the block handed the place to "second", which has not run yet; cancel it now.
    second.cancel()
    await asyncio.gather(second, third, return_exceptions=True)
    assert entered == ["third"] and slots.in_flight == 0 and not slots._waiters
