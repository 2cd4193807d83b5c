"""``stream: true``: a run's events as server-sent events, named as the real API names them.

The stream replays the run engine's events as they happen: it advances the run, sends what
changed, sleeps until the next scheduled change, and ends with ``event: done`` /
``data: [DONE]`` once the run is finished or waits for tool outputs (requires_action).
Every event already known is sent in one write (see `syncer.emulator.sse`): a run's opening
events, a transition's events, and whatever a backend's run queued meanwhile.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING

from starlette.responses import StreamingResponse

from syncer.emulator.backend_runs import BackendRunEngine
from syncer.emulator.runs import ACTIVE, Event
from syncer.emulator.sse import DONE, PING, PING_EVERY, event_stream, frames

if TYPE_CHECKING:
    from syncer.emulator.core import Emulator

#: Never sleep longer than this between checks, so a stream notices a cancel quickly.
MAX_WAIT = 0.25


def stream_run(emulator: Emulator, run_id: str, first_events: list[Event]) -> StreamingResponse:
    """The SSE response for a run that was just created or resumed."""
    if isinstance(emulator.runs, BackendRunEngine):
        return _stream_backend_run(emulator.runs, run_id, first_events, emulator.stopping)

    async def events() -> AsyncIterator[bytes]:
        yield frames(first_events)
        engine = emulator.runs
        quiet_since = time.monotonic()
        while True:
            changed = engine.advance(run_id)
            if changed:
                yield frames(changed)
                quiet_since = time.monotonic()
            run = emulator.store.get("run", run_id)
            if run is None or run["status"] not in ACTIVE or run["status"] == "requires_action":
                break
            if emulator.stopping():
                return  # the server is shutting down: the stream ends unfinished
            if time.monotonic() - quiet_since >= PING_EVERY:  # a long --run-ms: keep it open
                yield PING
                quiet_since = time.monotonic()
            due = engine.next_change(run_id)
            wait = MAX_WAIT if due is None else min(MAX_WAIT, max(0.0, due - emulator.config.clock()))
            await asyncio.sleep(wait)
        yield DONE

    return event_stream(events())


def _stream_backend_run(engine: BackendRunEngine, run_id: str, first_events: list[Event],
                        stopping: Callable[[], bool]) -> StreamingResponse:
    """A backend's run: its events as the engine publishes them (text deltas as they arrive)."""
    queue = engine.listen(run_id)  # before the run's task can publish anything

    async def events() -> AsyncIterator[bytes]:
        try:
            pending = list(first_events)
            quiet_since = time.monotonic()
            while True:
                if stopping():
                    # The server is shutting down: the stream ends unfinished (checked on every
                    # pass: a model that keeps writing never leaves the stream quiet for long).
                    return
                while not queue.empty():
                    pending.append(queue.get_nowait())
                if pending:
                    yield frames(pending)
                    pending = []
                    quiet_since = time.monotonic()
                    continue
                run = engine.store.get("run", run_id)
                if run is None or run["status"] not in ACTIVE or run["status"] == "requires_action":
                    break
                try:
                    async with asyncio.timeout(MAX_WAIT):
                        pending.append(await queue.get())
                except TimeoutError:
                    engine.advance(run_id)  # expiry, or a run lost in a restart
                    if time.monotonic() - quiet_since >= PING_EVERY:  # a slow model: keep it open
                        yield PING
                        quiet_since = time.monotonic()
        finally:
            engine.unlisten(run_id, queue)
        yield DONE

    return event_stream(events())
