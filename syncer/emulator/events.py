"""``stream: true``: a run's events as server-sent events, named as the real API names them.

The stream replays the run engine's events as they happen: it advances the run, sends what
changed, sleeps until the next scheduled change, and ends with ``event: done`` /
``data: [DONE]`` once the run is finished or waits for tool outputs (requires_action).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from sse_starlette.sse import EventSourceResponse

from syncer.emulator.backend_runs import BackendRunEngine
from syncer.emulator.runs import ACTIVE, Event

if TYPE_CHECKING:
    from syncer.emulator.core import Emulator

#: Never sleep longer than this between checks, so a stream notices a cancel quickly.
MAX_WAIT = 0.25


def stream_run(emulator: Emulator, run_id: str, first_events: list[Event]) -> EventSourceResponse:
    """The SSE response for a run that was just created or resumed."""
    if isinstance(emulator.runs, BackendRunEngine):
        return _stream_backend_run(emulator.runs, run_id, first_events)

    async def events() -> AsyncIterator[dict[str, str]]:
        for name, data in first_events:
            yield _sse(name, data)
        engine = emulator.runs
        while True:
            for name, data in engine.advance(run_id):
                yield _sse(name, data)
            run = emulator.store.get("run", run_id)
            if run is None or run["status"] not in ACTIVE or run["status"] == "requires_action":
                break
            due = engine.next_change(run_id)
            wait = MAX_WAIT if due is None else min(MAX_WAIT, max(0.0, due - emulator.config.clock()))
            await asyncio.sleep(wait)
        yield {"event": "done", "data": "[DONE]"}

    return EventSourceResponse(events(), ping=15)


def _stream_backend_run(engine: BackendRunEngine, run_id: str,
                        first_events: list[Event]) -> EventSourceResponse:
    """A backend's run: its events as the engine publishes them (text deltas as they arrive)."""
    queue = engine.listen(run_id)  # before the run's task can publish anything

    async def events() -> AsyncIterator[dict[str, str]]:
        try:
            for name, data in first_events:
                yield _sse(name, data)
            while True:
                if queue.empty():
                    run = engine.store.get("run", run_id)
                    if run is None or run["status"] not in ACTIVE or run["status"] == "requires_action":
                        break
                    try:
                        name, data = await asyncio.wait_for(queue.get(), MAX_WAIT)
                    except TimeoutError:
                        engine.advance(run_id)  # expiry, or a run lost in a restart
                        continue
                else:
                    name, data = queue.get_nowait()
                yield _sse(name, data)
        finally:
            engine.unlisten(run_id, queue)
        yield {"event": "done", "data": "[DONE]"}

    return EventSourceResponse(events(), ping=15)


def _sse(name: str, data: dict[str, object]) -> dict[str, str]:
    return {"event": name, "data": json.dumps(data)}
