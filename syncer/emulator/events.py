"""``stream: true``: a run's events as server-sent events, named as the real API names them.

The stream replays the run engine's events as they happen: it advances the run, sends what
changed, sleeps until the next scheduled change, and ends with ``event: done`` /
``data: [DONE]`` once the run is finished or waits for tool outputs (requires_action).

Events are encoded here, exactly as ``sse_starlette`` frames them (``event: …``, ``data: …``,
``\r\n`` line ends), and every event already known is sent in one write: a run's opening
events, a transition's events, and whatever a backend's run queued meanwhile. One write per
burst instead of one per event is most of the stream's CPU (see the backend benchmark).
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

    async def events() -> AsyncIterator[bytes]:
        yield _encode(first_events)
        engine = emulator.runs
        while True:
            changed = engine.advance(run_id)
            if changed:
                yield _encode(changed)
            run = emulator.store.get("run", run_id)
            if run is None or run["status"] not in ACTIVE or run["status"] == "requires_action":
                break
            due = engine.next_change(run_id)
            wait = MAX_WAIT if due is None else min(MAX_WAIT, max(0.0, due - emulator.config.clock()))
            await asyncio.sleep(wait)
        yield DONE

    return EventSourceResponse(events(), ping=15)


def _stream_backend_run(engine: BackendRunEngine, run_id: str,
                        first_events: list[Event]) -> EventSourceResponse:
    """A backend's run: its events as the engine publishes them (text deltas as they arrive)."""
    queue = engine.listen(run_id)  # before the run's task can publish anything

    async def events() -> AsyncIterator[bytes]:
        try:
            pending = list(first_events)
            while True:
                while not queue.empty():
                    pending.append(queue.get_nowait())
                if pending:
                    yield _encode(pending)
                    pending = []
                    continue
                run = engine.store.get("run", run_id)
                if run is None or run["status"] not in ACTIVE or run["status"] == "requires_action":
                    break
                try:
                    pending.append(await asyncio.wait_for(queue.get(), MAX_WAIT))
                except TimeoutError:
                    engine.advance(run_id)  # expiry, or a run lost in a restart
        finally:
            engine.unlisten(run_id, queue)
        yield DONE

    return EventSourceResponse(events(), ping=15)


#: The last event of every stream.
DONE = b"event: done\r\ndata: [DONE]\r\n\r\n"


def _encode(events: list[Event]) -> bytes:
    """Events as server-sent events, framed as ``sse_starlette`` frames them (``\r\n``); the
    JSON has no line breaks, so each event is one ``event:`` and one ``data:`` line."""
    return "".join(
        f"event: {name}\r\ndata: {json.dumps(data)}\r\n\r\n" for name, data in events
    ).encode()
