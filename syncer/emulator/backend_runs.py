"""Runs executed by a model backend (``syncer emulator --backend URL``).

`BackendRunEngine` keeps the run engine's objects, checks and events (it is a `RunEngine`)
but lets the model set the pace instead of the clock. Each time a run is queued (created, or
given its tool outputs) a task on the event loop asks the backend for one completion:

    queued → in_progress    at once; a `Turn` is built from the thread (see `history`)
    text arrives            the assistant message and its ``message_creation`` step are created
                            at the first piece; every piece is a ``thread.message.delta``
    the model calls tools   a ``tool_calls`` step (with this completion's usage) and
                            ``requires_action`` with the model's ids, names and arguments
    outputs submitted       the step completes with the outputs; queued again, next completion
    the model answers       the message and its step complete, the run ``completed`` (or
                            ``incomplete`` when the backend stopped at ``max_completion_tokens``)

A run makes at most `MAX_ROUNDS` tool rounds; one more is a failed run (``server_error``:
the model keeps calling tools). The run's ``usage`` is the sum of its completions' usage.
Failures (see ``backends/chat``) end the run ``failed`` with the backend's ``last_error``; the
thread takes new runs at once. ``cancel`` cancels the task, which closes the backend's stream;
the run is ``cancelled`` as soon as the task has stopped. A run still running at its
``expires_at`` is stopped the same way and ends ``expired``.

``code_interpreter`` and ``file_search`` cannot run on a Chat Completions backend: a run that
has either tool fails at once with ``invalid_prompt`` naming it (nothing is sent to the
backend; pass the run's own ``tools`` to leave it out).

Restart with ``--state``: a run that was queued, in progress or cancelling when the server
stopped has lost its completion; the first time anyone looks at it, it ends ``failed`` with
``server_error`` "the server restarted while this run was in progress". Runs waiting in
``requires_action`` survive a restart (their outputs can still be submitted).

Events are published to the run's listeners (the streams following it), so a stream sees
every event of its run, whoever caused it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from syncer.api.models import message_text
from syncer.emulator import objects
from syncer.emulator.backends.base import (
    Backend,
    BackendFailure,
    Completion,
    Entry,
    ToolCall,
    ToolRound,
    Turn,
)
from syncer.emulator.http_errors import bad_request
from syncer.emulator.runs import (
    ACTIVE,
    RUN_FAILURE,
    TERMINAL,
    Event,
    RunEngine,
    _event,
    _events,
    _function_call,
    _usage,
)
from syncer.emulator.storage import ObjectStore

log = logging.getLogger("syncer.emulator")

#: Tool rounds one run may make; the model asking for one more fails the run.
MAX_ROUNDS = 16
UNSUPPORTED_TOOLS = ("code_interpreter", "file_search")
RESTARTED = {"code": "server_error",
             "message": "The server restarted while this run was in progress; start a new run."}
_BUSY = ("queued", "in_progress", "cancelling")


class Listener:
    """A stream's inbox: the events published for its run since it last took them, and a
    wake-up for the stream waiting on them (a list and a future: no queue, no timeout per
    event), also every few moments by one timer (`tick_every`)."""

    __slots__ = ("_loop", "_timer", "_waiter", "events", "ticked")

    def __init__(self) -> None:
        self.events: list[Event] = []
        #: the timer woke the stream since it last looked (the stream clears it)
        self.ticked = False
        self._waiter: asyncio.Future[None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        # Looked up once: asyncio asks the kernel for the process id on every look-up.
        self._loop = asyncio.get_running_loop()

    def tick_every(self, seconds: float) -> None:
        """Also wake the stream every ``seconds`` (one timer, re-armed as it fires) until `stop`."""
        self._timer = self._loop.call_later(seconds, self._tick, seconds)

    def _tick(self, seconds: float) -> None:
        self.ticked = True
        self.wake()
        self._timer = self._loop.call_later(seconds, self._tick, seconds)

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def put(self, events: list[Event]) -> None:
        self.events += events
        self.wake()

    def take(self) -> list[Event]:
        """The events published since the last call, oldest first."""
        events, self.events = self.events, []
        return events

    def wake(self) -> None:
        """End a `wait` now (events arrived, or it is time to look at the run again)."""
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def wait(self) -> None:
        """Until events are published or `wake` is called (at once if events are waiting)."""
        if self.events:
            return
        self._waiter = self._loop.create_future()
        try:
            await self._waiter
        finally:
            self._waiter = None


class BackendRunEngine(RunEngine):
    """A `RunEngine` whose runs are answered by ``backend`` (see the module docstring)."""

    def __init__(self, store: ObjectStore, clock: Callable[[], float], backend: Backend):
        super().__init__(store, clock, run_ms=0)
        self.backend = backend
        self.tasks: dict[str, asyncio.Task[None]] = {}
        self.listeners: dict[str, list[Listener]] = {}
        #: run id → the objects its task works on (see `_keep`)
        self.kept: dict[str, list[dict[str, Any]]] = {}

    async def aclose(self) -> None:
        """Stop every run's task (the runs stay as they are: a restart fails them) and close."""
        tasks = list(self.tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self.backend.aclose()

    # --- events -----------------------------------------------------------------------------

    def listen(self, run_id: str) -> Listener:
        """A `Listener` that receives every event of the run from now on."""
        listener = Listener()
        self.listeners.setdefault(run_id, []).append(listener)
        return listener

    def unlisten(self, run_id: str, listener: Listener) -> None:
        listener.stop()
        listeners = self.listeners.get(run_id, [])
        if listener in listeners:
            listeners.remove(listener)
        if not listeners:
            self.listeners.pop(run_id, None)

    def _publish(self, run_id: str, events: list[Event]) -> list[Event]:
        if events:
            for listener in self.listeners.get(run_id, ()):
                listener.put(events)
        return events

    # --- the engine's interface -----------------------------------------------------------------

    def create(self, thread_id: str, assistant: dict[str, Any], body: dict[str, Any]) -> list[Event]:
        events = super().create(thread_id, assistant, body)
        run_id = events[0][1]["id"]
        self.store.progress[run_id]["rounds"] = []
        self._spawn(run_id)
        return events

    def advance(self, run_id: str) -> list[Event]:
        """Only what the clock or a restart decides: expiry in requires_action, lost runs."""
        run = self.store.get("run", run_id)
        if run is None or run["status"] not in ACTIVE:
            return []
        progress = self._progress(run)
        events: list[Event] = []
        if run["status"] in _BUSY and run_id not in self.tasks:
            events = self._fail(run, progress, RESTARTED)
        elif run["status"] == "requires_action" and run.get("expires_at") is not None \
                and self.clock() >= run["expires_at"]:
            events = self._end(run, progress, "expired", int(run["expires_at"]))
        return self._publish(run_id, events)

    def next_change(self, run_id: str) -> float | None:
        run = self.store.get("run", run_id)
        if run is None or run["status"] != "requires_action" or run.get("expires_at") is None:
            return None
        return float(run["expires_at"])

    def submit_tool_outputs(self, run: dict[str, Any], outputs: list[dict[str, Any]]) -> list[Event]:
        events = self.advance(run["id"])
        if run["status"] != "requires_action":
            raise bad_request(f'Runs in status "{run["status"]}" do not accept tool outputs.')
        progress = self._progress(run)
        expected = [c["id"] for c in progress["calls"]]
        got = [o.get("tool_call_id") for o in outputs]
        if sorted(got, key=str) != sorted(expected):
            raise bad_request(
                f"Expected tool outputs for call_ids {expected}, got {got}", param="tool_outputs",
            )
        submitted = {o["tool_call_id"]: o.get("output") or "" for o in outputs}
        progress["rounds"].append({"calls": progress["calls"], "outputs": submitted,
                                   "text": progress.pop("calls_text", "")})
        progress["calls"] = None
        new: list[Event] = []
        step = self.store.get("step", progress["tool_step"]) if progress["tool_step"] else None
        if step is not None:
            for call in step["step_details"]["tool_calls"]:
                call["function"]["output"] = submitted.get(call["id"], "")
            self._close_step(step, "completed", int(self.clock()), step.get("usage") or _usage(0, 0))
            new.append(_event("thread.run.step.completed", step))
        progress["tool_step"] = None
        run["status"] = "queued"
        run["required_action"] = None
        self.store.save("run", run)
        new.append(_event("thread.run.queued", run))
        self._spawn(run["id"])
        return events + self._publish(run["id"], new)

    def cancel(self, run: dict[str, Any]) -> list[Event]:
        events = self.advance(run["id"])
        if run["status"] not in ("queued", "in_progress", "requires_action"):
            raise bad_request(f"Cannot cancel run with status '{run['status']}'.")
        self._progress(run)["cancel_start"] = self.clock()
        run["status"] = "cancelling"
        self.store.save("run", run)
        events += self._publish(run["id"], [_event("thread.run.cancelling", run)])
        task = self.tasks.get(run["id"])
        if task is not None and not task.done():
            task.cancel()  # the task ends the run as cancelled once the backend request stopped
        else:
            self._spawn(run["id"])
        return events

    # --- driving a run ----------------------------------------------------------------------------

    def _spawn(self, run_id: str) -> None:
        task = asyncio.get_running_loop().create_task(self._drive(run_id), name=f"run {run_id}")
        self.tasks[run_id] = task
        run = self.store.get("run", run_id)
        self.kept[run_id] = [run] if run is not None else []
        task.add_done_callback(lambda done: self._done(run_id, done))

    def _keep(self, run: dict[str, Any], *objs: dict[str, Any]) -> None:
        """Keep objects the run's task works on alive in the store's identity map until the task
        ends (its next `get` of them needs no query, no decoding)."""
        self.kept.setdefault(run["id"], []).extend(objs)

    def _done(self, run_id: str, task: asyncio.Task[None]) -> None:
        run = self.store.get("run", run_id)
        if self.tasks.get(run_id) is task:
            del self.tasks[run_id]
            self.kept.pop(run_id, None)
        # A task cancelled before it began never ran its own handler: end the run here.
        if run is not None and run["status"] == "cancelling" and task.cancelled():
            self._publish(run_id, self._end(run, self._progress(run), "cancelled", self._now()))

    async def _drive(self, run_id: str) -> None:
        run = self.store.get("run", run_id)
        if run is None:
            return
        progress = self._progress(run)
        try:
            if run["status"] == "cancelling":
                self._publish(run_id, self._end(run, progress, "cancelled", self._now()))
                return
            self._publish(run_id, self._begin(run))
            unsupported = [t["type"] for t in run["tools"] if t.get("type") in UNSUPPORTED_TOOLS]
            if unsupported:
                raise BackendFailure("invalid_prompt", (
                    f"{' and '.join(unsupported)} cannot run on this server: its model backend is a "
                    "Chat Completions endpoint, which executes no tools. Create the run with `tools` "
                    "that leave it out (function tools work)."))
            turn = self.turn(run, progress)
            expires = run.get("expires_at")
            wait = None if expires is None else max(0.0, float(expires) - self.clock())
            try:
                async with asyncio.timeout(wait):  # in this task: no task of its own per completion
                    completion = await self.backend.complete(turn, lambda text: self._text(run, progress, text))
            except TimeoutError:
                self._publish(run_id, self._end(run, progress, "expired", self._now()))
                return
            self._publish(run_id, self._answer(run, progress, completion))
        except BackendFailure as failure:
            self._publish(run_id, self._fail(run, progress, failure.last_error()))
        except asyncio.CancelledError:
            if run["status"] != "cancelling":
                raise  # the server is stopping: a restart deals with the run
            self._publish(run_id, self._end(run, progress, "cancelled", self._now()))
        except Exception:  # a bug must not leave the run in progress for ever
            log.exception("run %s failed", run_id)
            if run["status"] in ACTIVE:
                self._publish(run_id, self._fail(run, progress, dict(RUN_FAILURE)))
        finally:
            if run["status"] in TERMINAL:
                self.store.active_run.pop(run["thread_id"], None)

    def _now(self) -> int:
        return int(self.clock())

    def _begin(self, run: dict[str, Any]) -> list[Event]:
        run["status"] = "in_progress"
        if run["started_at"] is None:
            run["started_at"] = self._now()
        self.store.save("run", run)
        return [_event("thread.run.in_progress", run)]

    def _text(self, run: dict[str, Any], progress: dict[str, Any], text: str) -> None:
        """A piece of the answer: the message (created at the first piece) grows by it."""
        events: list[Event] = []
        if progress.get("message") is None:
            events = self._open_message(run, progress)
        progress.setdefault("text", []).append(text)
        part: dict[str, Any] = {"index": 0, "type": "text", "text": {"value": text}}
        if len(progress["text"]) == 1:
            part["text"]["annotations"] = []
        events.append(("thread.message.delta", {
            "id": progress["message"], "object": "thread.message.delta", "delta": {"content": [part]},
        }))
        self._publish(run["id"], events)

    def _open_message(self, run: dict[str, Any], progress: dict[str, Any]) -> list[Event]:
        now = self._now()
        message = objects.message(run["thread_id"], "assistant", [], now, assistant_id=run["assistant_id"],
                                  run_id=run["id"], status="in_progress")
        message = self.store.add("message", message, run["thread_id"])
        progress["message"] = message["id"]
        progress["text"] = []
        step = self._new_step(run, "message_creation", now, {
            "type": "message_creation", "message_creation": {"message_id": message["id"]},
        })
        progress["message_step"] = step["id"]
        self._keep(run, message, step)
        return [*_events(step, "thread.run.step.created", "thread.run.step.in_progress"),
                *_events(message, "thread.message.created", "thread.message.in_progress")]

    def _answer(self, run: dict[str, Any], progress: dict[str, Any], completion: Completion) -> list[Event]:
        """The completion's outcome: tool calls (requires_action) or the reply."""
        progress["prompt_tokens"] += completion.prompt_tokens
        progress["completion_tokens"] += completion.completion_tokens
        usage = _usage(completion.prompt_tokens, completion.completion_tokens)
        now = self._now()
        events: list[Event] = []
        if completion.tool_calls:
            progress["calls_text"] = "".join(progress.get("text") or [])  # goes back with the calls
            if progress.get("message") is not None:  # text before the calls: a message of its own
                events += self._close_message(run, progress, "completed", now, _usage(0, 0))
            if len(progress["rounds"]) >= MAX_ROUNDS:
                return events + self._fail(run, progress, {
                    "code": "server_error",
                    "message": f"The model asked for tools more than {MAX_ROUNDS} rounds in one run.",
                })
            return events + self._require(run, progress, completion.tool_calls, now, usage)
        if progress.get("message") is None:
            events += self._open_message(run, progress)
        cut = completion.finish_reason == "length"
        events += self._close_message(run, progress, "incomplete" if cut else "completed", now, usage)
        run["expires_at"] = None
        run["usage"] = _usage(progress["prompt_tokens"], progress["completion_tokens"])
        if cut:
            run["status"] = "incomplete"
            run["incomplete_details"] = {"reason": "max_completion_tokens"}
        else:
            run["status"] = "completed"
            run["completed_at"] = now
        self.store.save("run", run)
        return [*events, _event(f"thread.run.{run['status']}", run)]

    def _close_message(self, run: dict[str, Any], progress: dict[str, Any], status: str, now: int,
                       usage: dict[str, int]) -> list[Event]:
        events: list[Event] = []
        message = self.store.get("message", progress["message"])
        if message is not None:
            text = "".join(progress.get("text") or [])
            message["content"] = [objects.text_part(text)] if text else []
            message["status"] = status
            if status == "completed":
                message["completed_at"] = now
            else:
                message["incomplete_at"] = now
                message["incomplete_details"] = {"reason": "max_tokens"}
            self.store.save("message", message)
            events.append(_event(f"thread.message.{status}", message))
        step = self.store.get("step", progress["message_step"]) if progress["message_step"] else None
        if step is not None:
            self._close_step(step, "completed", now, usage)
            events.append(_event("thread.run.step.completed", step))
        progress["message"] = progress["message_step"] = None
        progress["text"] = []
        return events

    def _require(self, run: dict[str, Any], progress: dict[str, Any], calls: list[ToolCall], now: int,
                 usage: dict[str, int]) -> list[Event]:
        progress["calls"] = [{"id": c.id, "name": c.name, "arguments": c.arguments} for c in calls]
        step = self._new_step(run, "tool_calls", now, {
            "type": "tool_calls", "tool_calls": [_function_call(c, None) for c in progress["calls"]],
        })
        step["usage"] = usage  # this completion's; kept when the step completes
        self.store.save("step", step)
        progress["tool_step"] = step["id"]
        self._keep(run, step)
        run["status"] = "requires_action"
        run["required_action"] = {"type": "submit_tool_outputs", "submit_tool_outputs": {"tool_calls": [
            {"id": c["id"], "type": "function", "function": {"name": c["name"], "arguments": c["arguments"]}}
            for c in progress["calls"]
        ]}}
        self.store.save("run", run)
        delta = {"id": step["id"], "object": "thread.run.step.delta", "delta": {"step_details": {
            "type": "tool_calls",
            "tool_calls": [{"index": i, **_function_call(c, None)} for i, c in enumerate(progress["calls"])],
        }}}
        return [*_events(step, "thread.run.step.created", "thread.run.step.in_progress"),
                ("thread.run.step.delta", delta), _event("thread.run.requires_action", run)]

    def _fail(self, run: dict[str, Any], progress: dict[str, Any], error: dict[str, str]) -> list[Event]:
        return self._end(run, progress, "failed", self._now(), error)

    def _end(self, run: dict[str, Any], progress: dict[str, Any], status: str, when: int,
             error: dict[str, str] = RUN_FAILURE) -> list[Event]:
        events = self._finish(run, progress, status, when, error)
        self.store.save("run", run)
        self.store.active_run.pop(run["thread_id"], None)
        return events

    # --- what the model sees ----------------------------------------------------------------------

    def _progress(self, run: dict[str, Any]) -> dict[str, Any]:
        progress = self.store.progress.get(run["id"])
        if progress is None:
            progress = self.store.progress[run["id"]] = self._recover_progress(run)
        progress.setdefault("rounds", [])
        return progress

    def turn(self, run: dict[str, Any], progress: dict[str, Any]) -> Turn:
        limit = run.get("max_completion_tokens")
        return Turn(
            model=run["model"],
            instructions=run["instructions"] or "",
            history=self.history(run),
            rounds=[_round(r) for r in progress["rounds"]],
            tools=run["tools"],
            tool_choice=run["tool_choice"],
            parallel_tool_calls=run["parallel_tool_calls"],
            temperature=run.get("temperature"),
            top_p=run.get("top_p"),
            response_format=run.get("response_format"),
            max_completion_tokens=None if limit is None else max(1, limit - progress["completion_tokens"]),
        )

    def history(self, run: dict[str, Any]) -> list[Entry]:
        """The thread before this run: its messages in order, each earlier run's tool rounds
        where they happened (before the run's next message; a round after a run's last message,
        as in a cancelled run, is left out). Text the model wrote with its calls is sent with
        them, not as a message of its own. ``truncation_strategy`` ``last_messages`` keeps the
        last N messages (with their rounds)."""
        messages = [m for m in self.store.thread_messages(run["thread_id"]) if m.get("run_id") != run["id"]]
        strategy = run.get("truncation_strategy") or {}
        if strategy.get("type") == "last_messages" and strategy.get("last_messages"):
            messages = messages[-int(strategy["last_messages"]):]
        entries: list[Entry] = []
        plans: dict[str, list[tuple[str | None, ToolRound | None]]] = {}
        for message in messages:
            origin = message.get("run_id")
            plan = None
            if origin:
                plan = plans.get(origin)
                if plan is None:
                    plan = plans[origin] = self._plan_of(origin)
            if not plan or message["id"] not in {message_id for message_id, _ in plan}:
                entries.append((message["role"], message_text(message.get("content"))))
                continue
            while plan:  # the run's rounds up to this message, which may be the text of a round
                message_id, round_ = plan.pop(0)
                if round_ is not None:
                    entries.append(round_)
                if message_id == message["id"]:
                    if round_ is None:
                        entries.append((message["role"], message_text(message.get("content"))))
                    break
        return entries

    def _plan_of(self, run_id: str) -> list[tuple[str | None, ToolRound | None]]:
        """A run's messages and answered tool rounds in the order its steps happened: (message
        id, None) for a message, (None, round) for a round, (message id, round) for a round
        whose calls came with the text of that message."""
        plan: list[tuple[str | None, ToolRound | None]] = []
        for step_id in self.store.collection("step", run_id).ids():
            step = self.store.objects["step"][step_id]
            if step["type"] == "message_creation":
                plan.append((step["step_details"]["message_creation"]["message_id"], None))
                continue
            if step["status"] != "completed":
                continue
            calls = [c for c in step["step_details"]["tool_calls"] if c.get("type") == "function"]
            if not calls or any(c["function"].get("output") is None for c in calls):
                continue
            preamble, text = None, ""
            if plan and plan[-1][0] is not None and plan[-1][1] is None:  # a message just before
                preamble = plan.pop()[0]
                found = self.store.get("message", preamble) if preamble else None
                text = message_text(found.get("content")) if found else ""
            plan.append((preamble, ToolRound(
                tuple(ToolCall(c["id"], c["function"]["name"], c["function"]["arguments"]) for c in calls),
                {c["id"]: c["function"]["output"] for c in calls},
                text,
            )))
        return plan


def _round(record: dict[str, Any]) -> ToolRound:
    return ToolRound(tuple(ToolCall(c["id"], c["name"], c["arguments"]) for c in record["calls"]),
                     dict(record["outputs"]), record.get("text") or "")
