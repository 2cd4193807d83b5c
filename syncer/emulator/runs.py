"""Run lifecycle: queued → in_progress → requires_action → queued → … → completed.

A run's status is computed lazily from the clock whenever anyone looks at it (no background
tasks): `RunEngine.advance` applies every transition that is due, in order, stamping each
with the time it was scheduled for (not the time someone looked). ``run_ms`` sets the pace:

    queued       for 25 % of run_ms after creation (and again after tool outputs)
    in_progress  for the remaining 75 %; the model then either asks for function calls
                 (→ requires_action, a ``tool_calls`` step waiting for outputs) or writes its
                 reply (a ``message_creation`` step and an assistant message → completed)
    requires_action  until all outputs arrive (→ queued) or ``expires_at`` passes (→ expired)
    cancelling   for 25 % of run_ms after a cancel request (→ cancelled)

The other two ends of the real lifecycle happen where the real service had them:

    incomplete   the run's ``max_prompt_tokens`` (counted over all its turns) cannot hold the
                 prompt — the reply is not written, reason ``max_prompt_tokens`` — or the reply
                 would pass ``max_completion_tokens`` — it is cut off there, reason
                 ``max_completion_tokens``; the message ends ``incomplete`` (``max_tokens``)
    failed       when the in_progress phase ends for a run the fault script marked
                 (``POST /_emulator/faults {"fail_runs": [n]}``: the n-th run created from
                 then on), with ``last_error`` ``server_error`` "Sorry, something went wrong."

Every transition also yields the server-sent events the real API streams for it, so the
streaming endpoints and the polling endpoints share one state machine.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from syncer.api.models import ACTIVE_RUN_STATUSES, FINAL_RUN_STATUSES, message_text
from syncer.canonical import json_copy
from syncer.emulator import objects
from syncer.emulator.backends import deterministic
from syncer.emulator.http_errors import bad_request
from syncer.emulator.storage import ObjectStore, new_id

ACTIVE = ACTIVE_RUN_STATUSES
TERMINAL = FINAL_RUN_STATUSES
EXPIRES_AFTER = 600  # seconds from created_at
QUEUED_SHARE = 0.25
CANCELLING_SHARE = 0.25
#: The real service's ``last_error`` for a run that failed on its side.
RUN_FAILURE = {"code": "server_error", "message": "Sorry, something went wrong."}

Event = tuple[str, dict[str, Any]]


class RunEngine:
    """Creates runs and moves them along their lifecycle."""

    def __init__(self, store: ObjectStore, clock: Callable[[], float], run_ms: float,
                 fails: Callable[[], bool] = lambda: False):
        self.store = store
        self.clock = clock
        self.duration = run_ms / 1000.0
        #: asked once per created run: should it fail (the fault script says so)?
        self.fails = fails

    # --- creating ------------------------------------------------------------------------------

    def create(self, thread_id: str, assistant: dict[str, Any], body: dict[str, Any]) -> list[Event]:
        """Add a queued run (the thread must have no active run); return its first events."""
        now = self.clock()
        created = int(now)
        base = body["instructions"] if body.get("instructions") is not None else assistant.get("instructions")
        instructions = "\n\n".join(part for part in (base, body.get("additional_instructions")) if part)
        tools = body["tools"] if body.get("tools") is not None else assistant.get("tools") or []

        def pick(field: str, default: Any) -> Any:
            value = body.get(field)
            if value is None:
                value = assistant.get(field)
            return default if value is None else copy.deepcopy(value)

        run = {
            "id": new_id("run"),
            "object": "thread.run",
            "created_at": created,
            "assistant_id": assistant["id"],
            "thread_id": thread_id,
            "status": "queued",
            "started_at": None,
            "expires_at": created + EXPIRES_AFTER,
            "cancelled_at": None,
            "failed_at": None,
            "completed_at": None,
            "required_action": None,
            "last_error": None,
            "model": body.get("model") or assistant["model"],
            "instructions": instructions,
            "tools": objects.normalize_tools(tools),
            "metadata": dict(body.get("metadata") or {}),
            "usage": None,
            "temperature": pick("temperature", 1.0),
            "top_p": pick("top_p", 1.0),
            "max_prompt_tokens": body.get("max_prompt_tokens"),
            "max_completion_tokens": body.get("max_completion_tokens"),
            "truncation_strategy": copy.deepcopy(
                body.get("truncation_strategy") or {"type": "auto", "last_messages": None}
            ),
            "incomplete_details": None,
            "response_format": pick("response_format", "auto"),
            "tool_choice": copy.deepcopy(body.get("tool_choice") or "auto"),
            "parallel_tool_calls": body.get("parallel_tool_calls", True) is not False,
        }
        self.store.progress[run["id"]] = _new_progress(now)
        self.store.progress[run["id"]]["fail"] = self.fails()
        self.store.add("run", run, thread_id)
        self.store.active_run[thread_id] = run["id"]
        return _events(run, "thread.run.created", "thread.run.queued")

    # --- moving along ------------------------------------------------------------------------------

    def advance_thread(self, thread_id: str) -> list[Event]:
        """Bring the thread's active run (if any) up to date."""
        run_id = self.store.active_run.get(thread_id)
        return self.advance(run_id) if run_id else []

    def advance(self, run_id: str) -> list[Event]:
        """Apply every transition that is due by now; return their events in order."""
        run = self.store.get("run", run_id)
        if run is None or run["status"] not in ACTIVE:
            return []
        progress = self.store.progress.get(run_id)
        if progress is None:
            progress = self.store.progress[run_id] = self._recover_progress(run)
        now = self.clock()
        events: list[Event] = []
        while run["status"] in ACTIVE:
            due = self.next_change(run_id)
            if due is None or due > now:
                break
            events += self._step(run, progress, due)
        if events:
            self.store.save("run", run)
            if run["status"] in TERMINAL:
                self.store.active_run.pop(run["thread_id"], None)
        return events

    def next_change(self, run_id: str) -> float | None:
        """When the run's status changes next on its own (None: it waits for a client)."""
        run = self.store.get("run", run_id)
        if run is None:
            return None
        progress = self.store.progress.get(run_id) or self._recover_progress(run)
        status = run["status"]
        start = float(progress["phase_start"])
        if status == "queued":
            return start + self.duration * QUEUED_SHARE
        if status == "in_progress":
            return start + self.duration
        if status == "cancelling":
            return float(progress["cancel_start"] or start) + self.duration * CANCELLING_SHARE
        if status == "requires_action" and run.get("expires_at") is not None:
            return float(run["expires_at"])
        return None

    def _step(self, run: dict[str, Any], progress: dict[str, Any], at: float) -> list[Event]:
        status = run["status"]
        when = int(at)
        if status == "queued":
            return self._start(run, progress, when)
        if status == "in_progress":
            if progress.get("fail"):
                return self._finish(run, progress, "failed", when)
            if progress["tool_step"] and progress["outputs"] is None:
                return self._require_action(run, progress)
            return self._complete(run, progress, when)
        if status == "cancelling":
            return self._finish(run, progress, "cancelled", when)
        return self._finish(run, progress, "expired", when)  # requires_action past expires_at

    def _start(self, run: dict[str, Any], progress: dict[str, Any], when: int) -> list[Event]:
        run["status"] = "in_progress"
        if run["started_at"] is None:
            run["started_at"] = when
        events = [_event("thread.run.in_progress", run)]
        if progress["outputs"] is None and not self._over_prompt_limit(run, progress):
            last = self._inputs(run)[-1:]
            calls = deterministic.tool_calls(
                last[0] if last else None,
                objects.function_names(run["tools"]),
                parallel=run["parallel_tool_calls"],
                tool_choice=run["tool_choice"],
            )
            if calls:
                progress["calls"] = [
                    {"id": new_id("call"), "name": c.name, "arguments": c.arguments} for c in calls
                ]
                step = self._new_step(run, "tool_calls", when, {
                    "type": "tool_calls",
                    "tool_calls": [_function_call(call, None) for call in progress["calls"]],
                })
                progress["tool_step"] = step["id"]
                delta = {
                    "id": step["id"],
                    "object": "thread.run.step.delta",
                    "delta": {"step_details": {
                        "type": "tool_calls",
                        "tool_calls": [
                            {"index": i, **_function_call(call, None)}
                            for i, call in enumerate(progress["calls"])
                        ],
                    }},
                }
                return [
                    *events,
                    *_events(step, "thread.run.step.created", "thread.run.step.in_progress"),
                    ("thread.run.step.delta", delta),
                ]
        message = objects.message(
            run["thread_id"], "assistant", [], when,
            assistant_id=run["assistant_id"], run_id=run["id"], status="in_progress",
        )
        self.store.add("message", message, run["thread_id"])
        progress["message"] = message["id"]
        step = self._new_step(run, "message_creation", when, {
            "type": "message_creation",
            "message_creation": {"message_id": message["id"]},
        })
        progress["message_step"] = step["id"]
        return [
            *events,
            *_events(step, "thread.run.step.created", "thread.run.step.in_progress"),
            *_events(message, "thread.message.created", "thread.message.in_progress"),
        ]

    def _require_action(self, run: dict[str, Any], progress: dict[str, Any]) -> list[Event]:
        messages = self._inputs(run)
        progress["prompt_tokens"] += deterministic.prompt_tokens(run["instructions"], messages)
        progress["completion_tokens"] += sum(
            deterministic.count_tokens(c["name"] + c["arguments"]) for c in progress["calls"]
        )
        run["status"] = "requires_action"
        run["required_action"] = {
            "type": "submit_tool_outputs",
            "submit_tool_outputs": {
                "tool_calls": [
                    {"id": c["id"], "type": "function",
                     "function": {"name": c["name"], "arguments": c["arguments"]}}
                    for c in progress["calls"]
                ]
            },
        }
        return [_event("thread.run.requires_action", run)]

    def _over_prompt_limit(self, run: dict[str, Any], progress: dict[str, Any]) -> bool:
        """Would this turn's prompt take the run past its ``max_prompt_tokens``?"""
        limit = run.get("max_prompt_tokens")
        if limit is None:
            return False
        prompt = deterministic.prompt_tokens(run["instructions"], self._inputs(run))
        return bool(int(progress["prompt_tokens"]) + prompt > limit)

    def _complete(self, run: dict[str, Any], progress: dict[str, Any], when: int) -> list[Event]:
        messages = self._inputs(run)
        results = [
            deterministic.ToolResult(c["name"], c["arguments"], progress["outputs"][c["id"]])
            for c in progress["calls"] or []
            if progress["outputs"] is not None
        ]
        text = deterministic.reply(run["model"], run["instructions"], messages, results)
        prompt = deterministic.prompt_tokens(run["instructions"], messages)
        # The real service ended a run "incomplete" at its token limits (counted over all
        # the run's turns): no reply when the prompt does not fit, a cut-off one when the
        # reply would not.
        incomplete: str | None = None
        completion_limit = run.get("max_completion_tokens")
        if self._over_prompt_limit(run, progress):
            incomplete, text, prompt = "max_prompt_tokens", "", 0
        elif completion_limit is not None:
            room = completion_limit - progress["completion_tokens"]
            if deterministic.count_tokens(text) > room:
                incomplete, text = "max_completion_tokens", text[: max(room, 0) * 4]
        completion = deterministic.count_tokens(text)
        progress["prompt_tokens"] += prompt
        progress["completion_tokens"] += completion
        events: list[Event] = []
        message = self.store.get("message", progress["message"])
        if message is not None:
            for index, chunk in enumerate(_chunks(text)):
                part: dict[str, Any] = {"index": 0, "type": "text", "text": {"value": chunk}}
                if index == 0:
                    part["text"]["annotations"] = []
                events.append(("thread.message.delta", {
                    "id": message["id"], "object": "thread.message.delta",
                    "delta": {"content": [part]},
                }))
            message["content"] = [objects.text_part(text)] if text else []
            if incomplete is None:
                message["status"] = "completed"
                message["completed_at"] = when
            else:
                message["status"] = "incomplete"
                message["incomplete_at"] = when
                message["incomplete_details"] = {"reason": "max_tokens"}
            self.store.save("message", message)
            events.append(_event(f"thread.message.{message['status']}", message))
        step = self.store.get("step", progress["message_step"])
        if step is not None:
            self._close_step(step, "completed", when, _usage(prompt, completion))
            events.append(_event("thread.run.step.completed", step))
        run["expires_at"] = None
        run["usage"] = _usage(progress["prompt_tokens"], progress["completion_tokens"])
        if incomplete is None:
            run["status"] = "completed"
            run["completed_at"] = when
        else:
            run["status"] = "incomplete"
            run["incomplete_details"] = {"reason": incomplete}
        events.append(_event(f"thread.run.{run['status']}", run))
        return events

    def _finish(self, run: dict[str, Any], progress: dict[str, Any], status: str, when: int,
                error: dict[str, str] = RUN_FAILURE) -> list[Event]:
        """End a run early (cancelled, expired, failed: with ``error``): close its open step and message."""
        events: list[Event] = []
        step_status = status
        for step_id in (progress["tool_step"], progress["message_step"]):
            step = self.store.get("step", step_id) if step_id else None
            if step is not None and step["status"] == "in_progress":
                if status == "failed":
                    step["last_error"] = dict(error)
                self._close_step(step, step_status, when, _usage(0, 0))
                events.append(_event(f"thread.run.step.{step_status}", step))
        message = self.store.get("message", progress["message"]) if progress["message"] else None
        if message is not None and message["status"] == "in_progress":
            message["status"] = "incomplete"
            message["incomplete_at"] = when
            message["incomplete_details"] = {"reason": f"run_{status}"}
            self.store.save("message", message)
            events.append(_event("thread.message.incomplete", message))
        run["status"] = status
        run["required_action"] = None
        run["expires_at"] = None
        if status == "cancelled":
            run["cancelled_at"] = when
        if status == "failed":
            run["failed_at"] = when
            run["last_error"] = dict(error)
        run["usage"] = _usage(progress["prompt_tokens"], progress["completion_tokens"])
        events.append(_event(f"thread.run.{status}", run))
        return events

    # --- client actions ---------------------------------------------------------------------------

    def submit_tool_outputs(self, run: dict[str, Any], outputs: list[dict[str, Any]]) -> list[Event]:
        """All outputs at once: the tool step completes and the run is queued again."""
        events = self.advance(run["id"])
        if run["status"] != "requires_action":
            raise bad_request(f'Runs in status "{run["status"]}" do not accept tool outputs.')
        progress = self.store.progress[run["id"]]
        expected = [c["id"] for c in progress["calls"]]
        got = [o.get("tool_call_id") for o in outputs]
        if sorted(got, key=str) != sorted(expected):
            raise bad_request(
                f"Expected tool outputs for call_ids {expected}, got {got}",
                param="tool_outputs",
            )
        now = self.clock()
        progress["outputs"] = {o["tool_call_id"]: o.get("output") or "" for o in outputs}
        progress["phase_start"] = now
        step = self.store.get("step", progress["tool_step"])
        if step is not None:
            for call in step["step_details"]["tool_calls"]:
                call["function"]["output"] = progress["outputs"][call["id"]]
            tokens = sum(deterministic.count_tokens(c["name"] + c["arguments"]) for c in progress["calls"])
            self._close_step(step, "completed", int(now), _usage(0, tokens))
            events.append(_event("thread.run.step.completed", step))
        run["status"] = "queued"
        run["required_action"] = None
        self.store.save("run", run)
        events.append(_event("thread.run.queued", run))
        return events

    def cancel(self, run: dict[str, Any]) -> list[Event]:
        events = self.advance(run["id"])
        if run["status"] not in ("queued", "in_progress", "requires_action"):
            raise bad_request(f"Cannot cancel run with status '{run['status']}'.")
        progress = self.store.progress[run["id"]]
        progress["cancel_start"] = self.clock()
        run["status"] = "cancelling"
        self.store.save("run", run)
        events.append(_event("thread.run.cancelling", run))
        return events

    # --- helpers ----------------------------------------------------------------------------------

    def _recover_progress(self, run: dict[str, Any]) -> dict[str, Any]:
        """Bookkeeping for an active run loaded from an account file, from its steps."""
        progress = _new_progress(float(run.get("started_at") or run["created_at"]))
        action = run.get("required_action") or {}
        calls = (action.get("submit_tool_outputs") or {}).get("tool_calls") or []
        if calls:
            progress["calls"] = [
                {"id": c["id"], "name": c["function"]["name"], "arguments": c["function"]["arguments"]}
                for c in calls
            ]
        for step_id in self.store.collection("step", run["id"]).ids():
            step = self.store.objects["step"][step_id]
            if step["type"] == "tool_calls":
                progress["tool_step"] = step_id
            else:
                progress["message_step"] = step_id
                progress["message"] = step["step_details"]["message_creation"]["message_id"]
        return progress

    def _inputs(self, run: dict[str, Any]) -> list[tuple[str, str]]:
        """(role, text) of the thread's messages the run reads: all but its own."""
        messages = [
            (m["role"], message_text(m.get("content")))
            for m in self.store.thread_messages(run["thread_id"])
            if m.get("run_id") != run["id"]
        ]
        strategy = run.get("truncation_strategy") or {}
        if strategy.get("type") == "last_messages" and strategy.get("last_messages"):
            messages = messages[-int(strategy["last_messages"]):]
        return messages

    def _new_step(self, run: dict[str, Any], kind: str, when: int, details: dict[str, Any]) -> dict[str, Any]:
        step = {
            "id": new_id("step"),
            "object": "thread.run.step",
            "created_at": when,
            "run_id": run["id"],
            "assistant_id": run["assistant_id"],
            "thread_id": run["thread_id"],
            "type": kind,
            "status": "in_progress",
            "cancelled_at": None,
            "completed_at": None,
            "expired_at": None,
            "failed_at": None,
            "last_error": None,
            "step_details": details,
            "usage": None,
            "metadata": {},
        }
        return self.store.add("step", step, run["id"])

    def _close_step(self, step: dict[str, Any], status: str, when: int, usage: dict[str, int]) -> None:
        step["status"] = status
        step[{"completed": "completed_at", "cancelled": "cancelled_at", "expired": "expired_at",
              "failed": "failed_at"}[status]] = when
        step["usage"] = usage
        self.store.save("step", step)


def _new_progress(phase_start: float) -> dict[str, Any]:
    """The emulator's private bookkeeping for one run (persisted with it)."""
    return {
        "phase_start": phase_start,  # when the current queued/in_progress phase began
        "cancel_start": None,  # when cancel was asked
        "calls": None,  # [{id, name, arguments}] once the model asked for them
        "outputs": None,  # {call id: output} once submitted
        "tool_step": None,
        "message_step": None,
        "message": None,
        "fail": False,  # the fault script chose this run to fail
        "prompt_tokens": 0,
        "completion_tokens": 0,
    }


def _function_call(call: dict[str, Any], output: str | None) -> dict[str, Any]:
    return {
        "id": call["id"],
        "type": "function",
        "function": {"name": call["name"], "arguments": call["arguments"], "output": output},
    }


def _usage(prompt: int, completion: int) -> dict[str, int]:
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def _event(name: str, obj: dict[str, Any]) -> Event:
    """An event carries a snapshot: the object keeps changing after it was sent."""
    return name, json_copy(obj)


def _events(obj: dict[str, Any], *names: str) -> list[Event]:
    """Events of one state of an object (``created`` and ``in_progress``, say): one snapshot,
    shared (snapshots are never changed)."""
    snapshot = json_copy(obj)
    return [(name, snapshot) for name in names]


def _chunks(text: str, words: int = 6) -> list[str]:
    """The reply split into deltas of a few words (joined they give the text back)."""
    pieces = text.split(" ")
    return [
        " ".join(pieces[i : i + words]) + (" " if i + words < len(pieces) else "")
        for i in range(0, len(pieces), words)
    ] or [""]


