"""``stream: true``: a run's events as server-sent events, named as the real API names them.

The stream replays the run engine's events as they happen: it advances the run, sends what
changed, sleeps until the next scheduled change, and ends with ``event: done`` /
``data: [DONE]`` once the run is finished or waits for tool outputs (requires_action).
Every event already known is sent in one write (see `syncer.emulator.sse`): a run's opening
events, a transition's events, and whatever a backend's run queued meanwhile; the last events
go out with ``done`` and the end of the response. A backend's run opens its stream once its
task has sent the backend request (so a burst of new runs reaches the model first).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING

from syncer.emulator.backend_runs import BackendRunEngine
from syncer.emulator.runs import ACTIVE, Event
from syncer.emulator.sse import DONE, PING, PING_EVERY, EventStream, Final, event_stream, frames

if TYPE_CHECKING:
    from syncer.emulator.core import Emulator

#: Never sleep longer than this between checks, so a stream notices a cancel quickly.
MAX_WAIT = 0.25


def stream_run(emulator: Emulator, run_id: str, first_events: list[Event]) -> EventStream:
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
        yield Final(DONE)

    return event_stream(events())


def _stream_backend_run(engine: BackendRunEngine, run_id: str, first_events: list[Event],
                        stopping: Callable[[], bool]) -> EventStream:
    """A backend's run: its events as the engine publishes them (text deltas as they arrive).

    The stream waits on its `Listener`, woken by each publication and every `MAX_WAIT` by the
    listener's timer (not a timeout per event): then it checks expiry, a run lost in a
    restart, the server stopping and the keep-alive ping. The run's last events and
    ``done`` go out in one write."""
    listener = engine.listen(run_id)  # before the run's task can publish anything

    async def events() -> AsyncIterator[bytes]:
        listener.tick_every(MAX_WAIT)
        try:
            run = engine.store.get("run", run_id)
            if run is not None and run["status"] == "queued":
                # The run's task is about to send the backend request: it goes first (in a burst
                # of new runs every request reaches the model before any stream's first write),
                # then this stream opens with what the task published (thread.run.in_progress).
                await listener.wait()
                await asyncio.sleep(0)  # behind the request's write, which the task scheduled
            pending = list(first_events)
            quiet_since = time.monotonic()
            while True:
                if stopping():
                    # The server is shutting down: the stream ends unfinished (checked on every
                    # pass: a model that keeps writing never leaves the stream quiet for long).
                    return
                pending += listener.take()
                run = engine.store.get("run", run_id)
                if run is None or run["status"] not in ACTIVE or run["status"] == "requires_action":
                    break  # every event of the run is in `pending` (published with its change)
                if pending:
                    yield frames(pending)
                    pending = []
                    quiet_since = time.monotonic()
                    continue
                if listener.ticked:
                    listener.ticked = False
                    engine.advance(run_id)  # expiry, or a run lost in a restart (published)
                    if time.monotonic() - quiet_since >= PING_EVERY:  # a slow model: keep it open
                        yield PING
                        quiet_since = time.monotonic()
                    continue
                await listener.wait()
        finally:
            engine.unlisten(run_id, listener)  # its timer stops too
        yield Final(frames(pending) + DONE)

    return event_stream(events())
