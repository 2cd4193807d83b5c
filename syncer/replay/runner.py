"""Executing recorded turns on a server, answering tool calls with recorded outputs.

Each recorded thread is replayed on a new thread, turn by turn: add the turn's messages,
create a run on the target, follow it to a terminal state (streaming or polling, via the
client), answer every ``requires_action`` with recorded tool outputs, collect the reply,
compare it with the baseline, and only then send the next turn. Threads run concurrently
(``concurrency``); the turns of one thread never do, since each depends on the last.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from syncer import markers
from syncer.api.client import AssistantsClient
from syncer.api.models import FINAL_RUN_STATUSES
from syncer.canonical import canonical_arguments, json_data
from syncer.errors import (
    APIConnectionError,
    APIError,
    AuthenticationError,
    MirrorError,
    PermissionDeniedError,
    RunError,
    SyncerError,
    UsageError,
)
from syncer.replay.compare import judge, summarize
from syncer.replay.types import (
    InputMessage,
    Outcome,
    Replay,
    ThreadResult,
    ToolCall,
    Turn,
    TurnResult,
)

MissingTool = Literal["fail", "stub", "error-output"]
API = Literal["assistants", "responses"]  # --api: which API the turns are replayed on
Mode = Literal["turns", "last-turn"]
STUB_OUTPUT = "{}"
CANCEL_GRACE_S = 5.0  # how long an interrupted replay may spend cancelling its active runs
# Like a new thread's `messages`; a longer turn is added one message at a time instead.
MAX_ADDITIONAL_MESSAGES = 32
MISSING_OUTPUT = (
    '{"error": "syncer replay: no recorded output for this call", "name": %s, "arguments": %s}'
)
# Errors no other thread would escape (no key, a wrong key, a server that does not answer
# even after retries, an unusable mirror): the whole replay stops with one line, exit 1,
# rather than repeating the same error for every thread.
FATAL_ERRORS = (
    UsageError, AuthenticationError, PermissionDeniedError, APIConnectionError, MirrorError,
)


@dataclass
class ReplayOptions:
    """How to replay. ``assistant_id`` None means each turn's recorded assistant."""

    assistant_id: str | None = None
    model: str | None = None
    instructions: str | None = None
    run_timeout: float = 600.0
    on_missing_tool: MissingTool = "fail"
    mode: Mode = "turns"
    concurrency: int = 4
    threshold: float = 0.8
    dry_run: bool = False
    target_label: str | None = None  # what the user named with --assistant, for reports
    extra: dict[str, Any] = field(default_factory=dict)
    judge: Grader | None = None  # --judge: grades each turn (syncer.replay.judge.Judge)
    allow_env: tuple[str, ...] = ()  # variables a config read by --assistant NAME may use
    api: API = "assistants"

    def describe(self) -> dict[str, Any]:
        """The options as stored with the replay and shown in reports."""
        return {
            "assistant_id": self.assistant_id,
            "model": self.model,
            "instructions_overridden": self.instructions is not None,
            "run_timeout": self.run_timeout,
            "on_missing_tool": self.on_missing_tool,
            "mode": self.mode,
            "concurrency": self.concurrency,
            "api": self.api,
            **({"judge": self.judge.describe()} if self.judge is not None else {}),
            **self.extra,
        }


class Grader(Protocol):
    """Judges a replayed turn (``--judge``; see judge.py): returns it with a verdict."""

    def describe(self) -> dict[str, Any]: ...
    async def grade(self, result: TurnResult, history: Sequence[Turn]) -> TurnResult: ...
    async def aclose(self) -> None: ...


class Recorder(Protocol):
    """Where a replay's progress goes as it happens (the mirror; see records.py)."""

    def started(self, replay: Replay) -> None: ...
    def thread_created(self, replay: Replay, recorded_thread_id: str, new_thread_id: str) -> None: ...
    def turn_done(self, replay: Replay, thread: ThreadResult, turn: TurnResult) -> None: ...
    def finished(self, replay: Replay) -> None: ...


class NullRecorder:
    """Keeps nothing (dry runs, tests of the runner alone)."""

    def started(self, replay: Replay) -> None:
        pass

    def thread_created(self, replay: Replay, recorded_thread_id: str, new_thread_id: str) -> None:
        pass

    def turn_done(self, replay: Replay, thread: ThreadResult, turn: TurnResult) -> None:
        pass

    def finished(self, replay: Replay) -> None:
        pass


def new_replay_id() -> str:
    return "rpl_" + uuid.uuid4().hex[:24]


def _data(obj: Any) -> dict[str, Any]:
    """An API object (pydantic model from the client, or a dict) as plain JSON data."""
    return dict(json_data(obj))


# --- tool outputs ---------------------------------------------------------------------------


class RecordedOutputs:
    """Recorded tool outputs, searched first in the turn's run, then anywhere in the thread.

    A call matches on function name and canonical arguments; failing that, on name alone,
    taking recorded calls in their recorded order (each used once by a name-only match).
    """

    def __init__(self, turn_calls: Sequence[ToolCall], thread_calls: Sequence[ToolCall]):
        own = [c for c in turn_calls if c.type == "function" and c.output is not None]
        own_ids = {id(c) for c in own}
        rest = [
            c for c in thread_calls
            if c.type == "function" and c.output is not None and id(c) not in own_ids
        ]
        self._calls = own + rest
        self._used: set[int] = set()

    def match(self, name: str, arguments: str) -> str | None:
        args = canonical_arguments(arguments)
        exact = [i for i, c in enumerate(self._calls) if c.name == name and c.arguments == args]
        for i in exact:  # prefer an exact call not yet answered, else reuse the first one
            if i not in self._used:
                self._used.add(i)
                return self._calls[i].output
        if exact:
            return self._calls[exact[0]].output
        for i, c in enumerate(self._calls):
            if c.name == name and i not in self._used:
                self._used.add(i)
                return c.output
        return None


def missing_output(policy: MissingTool, name: str, args: str) -> str | None:
    """What answers a call with no recorded output under ``--on-missing-tool`` (None: fail)."""
    if policy == "stub":
        return STUB_OUTPUT
    if policy == "error-output":
        return MISSING_OUTPUT % (json.dumps(name), json.dumps(args))
    return None


# --- one thread ------------------------------------------------------------------------------


@dataclass
class ThreadPlan:
    """A recorded thread to replay: its turns as split from the mirror."""

    thread_id: str
    turns: list[Turn]
    # Every tool call the recorded thread made, when ``turns`` no longer holds them all
    # (``--mode last-turn`` folds earlier turns into text, but their outputs still count).
    thread_calls: list[ToolCall] | None = None

    def recorded_calls(self) -> list[ToolCall]:
        """Recorded tool calls of the whole thread, in recorded order."""
        if self.thread_calls is not None:
            return self.thread_calls
        return [c for t in self.turns if t.baseline for c in t.baseline.tool_calls]

    def default_assistant(self) -> str | None:
        """The last recorded run's assistant: used for turns with no run of their own."""
        for turn in reversed(self.turns):
            if turn.baseline and turn.baseline.assistant_id:
                return turn.baseline.assistant_id
        return None


def last_turn_plan(plan: ThreadPlan) -> ThreadPlan:
    """``--mode last-turn``: one turn whose messages are the whole recorded history.

    Earlier turns contribute their messages and their recorded reply (as an assistant
    message), so the run sees the conversation as it was and regenerates only the final reply.
    """
    if not plan.turns:
        return plan
    *history, last = plan.turns
    messages: list[InputMessage] = []
    for turn in history:
        messages += turn.messages
        if turn.baseline and turn.baseline.reply:
            messages.append(InputMessage(role="assistant", text=turn.baseline.reply))
    messages += last.messages
    merged = last.model_copy(update={"messages": messages, "index": last.index})
    return ThreadPlan(plan.thread_id, [merged], thread_calls=plan.recorded_calls())


class TurnLoop:
    """What every replayer shares: the turns in order, each judged (``--judge``) and recorded
    as it finishes, the thread stopped at a turn that errs. A subclass says how a thread
    starts (`_start`), how one turn is replayed (`_replay_turn`) and what an interrupted turn
    must clean up (`_interrupted`)."""

    def __init__(self, client: AssistantsClient, replay: Replay, plan: ThreadPlan, options: ReplayOptions,
                 recorder: Recorder):
        self.client = client
        self.replay = replay
        self.plan = plan
        self.options = options
        self.recorder = recorder
        self.result = ThreadResult(thread_id=plan.thread_id)
        self.outputs_pool = plan.recorded_calls()

    async def run(self) -> ThreadResult:
        try:
            await self._run()
        except FATAL_ERRORS:
            raise
        except SyncerError as error:
            self.result.error = str(error)
        return self.result

    async def _start(self) -> None:
        """Prepare the thread's replay (e.g. create the new thread)."""

    async def _replay_turn(self, turn: Turn, fallback: str | None) -> TurnResult:
        raise NotImplementedError

    async def _interrupted(self) -> None:
        """Ctrl-C, or another thread's fatal error, during a turn."""

    async def _run(self) -> None:
        await self._start()
        fallback = self.plan.default_assistant()
        for position, turn in enumerate(self.plan.turns):
            try:
                result = await self._replay_turn(turn, fallback)
                if self.options.judge is not None:
                    result = await self.options.judge.grade(result, self.plan.turns[:position])
            except asyncio.CancelledError:
                await self._interrupted()
                raise
            self.result.turns.append(result)
            self.recorder.turn_done(self.replay, self.result, result)
            if result.status == "error" and result.judge is None:
                # The new thread may still hold an active run: later turns cannot be sent.
                # (A turn the judge failed on has a finished run: the thread goes on.)
                self.result.error = f"stopped at turn {turn.index + 1}: {result.detail}"
                return


class ThreadReplayer(TurnLoop):
    """Replays one recorded thread on a new thread of ``client``'s server."""

    def __init__(self, client: AssistantsClient, replay: Replay, plan: ThreadPlan, options: ReplayOptions,
                 recorder: Recorder):
        super().__init__(client, replay, plan, options, recorder)
        self._run_started = False  # a run of this thread may be active on the server
        self._thread_id = ""

    async def _start(self) -> None:
        metadata = {markers.REPLAY: self.replay.id, markers.REPLAY_OF: self.plan.thread_id}
        thread = _data(await self.client.create_thread({"metadata": metadata}))
        self._thread_id = thread["id"]
        self.result.new_thread_id = thread["id"]
        self.recorder.thread_created(self.replay, self.plan.thread_id, thread["id"])

    async def _replay_turn(self, turn: Turn, fallback: str | None) -> TurnResult:
        return await self._turn(self._thread_id, turn, fallback)

    async def _interrupted(self) -> None:
        # Do not leave this thread's run working (and spending tokens) on the server.
        # Bounded, best effort.
        if self._run_started:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._cancel_active(self._thread_id), CANCEL_GRACE_S)

    async def _add_messages(self, thread_id: str, messages: Sequence[InputMessage]) -> None:
        for message in messages:
            await self.client.create_message(thread_id, _message_body(message))

    async def _turn(self, thread_id: str, turn: Turn, fallback: str | None) -> TurnResult:
        base = TurnResult(
            thread_id=turn.thread_id, index=turn.index, status="error", messages=turn.messages,
            recorded=turn.baseline, new_thread_id=thread_id, run_settings=turn.run_settings,
        )
        if not turn.replayable:
            # Keep the conversation as recorded so later turns see the same history.
            await self._add_messages(thread_id, turn.messages)
            if turn.baseline and turn.baseline.reply:
                await self._add_messages(
                    thread_id, [InputMessage(role="assistant", text=turn.baseline.reply)]
                )
            return base.model_copy(update={"status": "not_replayable", "detail": turn.reason})
        assistant_id = self.options.assistant_id or (
            turn.baseline.assistant_id if turn.baseline else None
        ) or fallback
        if not assistant_id:
            return base.model_copy(update={"detail": "no recorded assistant to replay on"})
        # The recorded run's own run-level parameters first (what it saw), then the overrides.
        body: dict[str, Any] = {"assistant_id": assistant_id, **turn.run_settings}
        if len(turn.messages) > MAX_ADDITIONAL_MESSAGES:
            await self._add_messages(thread_id, turn.messages)
        elif turn.messages:
            # Sent with the run (one request, not one per message); they join the thread
            # before the run starts, exactly like messages created one by one.
            body["additional_messages"] = [_message_body(m) for m in turn.messages]
        if self.options.model:
            body["model"] = self.options.model
        if self.options.instructions is not None:
            body["instructions"] = self.options.instructions
        started = time.monotonic()
        try:
            new, missing = await self._follow(thread_id, turn, body)
        except _TurnFailed as error:
            return base.model_copy(update={"detail": str(error)})
        except FATAL_ERRORS:
            raise
        except APIError as error:
            # The server refused this turn (a 400 for a setting the target cannot take, a
            # 5xx after every retry): an error on the turn, with the server's own words.
            await self._cancel_active(thread_id)
            return base.model_copy(update={"detail": str(error)})
        new.duration_s = round(time.monotonic() - started, 3)
        if new.status not in FINAL_RUN_STATUSES and not missing:
            return base.model_copy(update={"new": new, "detail": f"run ended {new.status}"})
        if missing:
            _, score, diff = judge(turn.baseline, new, self.options.threshold)
            return base.model_copy(update={
                # Trailing messages have nothing to regress from: reported, never failed.
                "status": "missing_tool" if turn.baseline else "no_baseline",
                "new": new, "similarity": score, "trajectory": diff,
                "detail": "no recorded output for " + ", ".join(missing) + " (run cancelled)",
            })
        status, score, diff = judge(turn.baseline, new, self.options.threshold)
        return base.model_copy(
            update={"status": status, "new": new, "similarity": score, "trajectory": diff}
        )

    async def _follow(
        self, thread_id: str, turn: Turn, body: dict[str, Any]
    ) -> tuple[Outcome, list[str]]:
        """Run to a terminal state, answering tool calls; returns (outcome, unanswered calls)."""
        recorded = RecordedOutputs(
            turn.baseline.tool_calls if turn.baseline else [], self.outputs_pool
        )
        # --run-timeout bounds the whole run, however many times it stops for tool outputs.
        deadline = time.monotonic() + self.options.run_timeout

        def remaining() -> float:
            left = deadline - time.monotonic()
            if left <= 0:
                raise RunError(f"the run did not finish within {self.options.run_timeout:g} s")
            return left

        run: dict[str, Any] = {}
        calls: list[ToolCall] = []
        missing: list[str] = []
        try:
            self._run_started = True
            run = _data(await self.client.run_until_settled(thread_id, body, timeout=remaining()))
            while run.get("status") == "requires_action":
                required = (run.get("required_action") or {}).get("submit_tool_outputs") or {}
                outputs = []
                for call in required.get("tool_calls") or []:
                    fn = call.get("function") or {}
                    name, args = fn.get("name", ""), canonical_arguments(fn.get("arguments") or "{}")
                    output = recorded.match(name, args)
                    if output is None:
                        missing.append(f"{name}({args})")
                        output = missing_output(self.options.on_missing_tool, name, args)
                    calls.append(ToolCall(name=name, arguments=args, output=output,
                                          call_id=call.get("id")))
                    outputs.append({"tool_call_id": call.get("id"), "output": output or ""})
                if missing and self.options.on_missing_tool == "fail":
                    run = _data(await self.client.cancel_run(thread_id, run["id"]))
                    if run.get("status") == "cancelling":
                        # Wait it out: the next turn cannot add messages while it is active.
                        run = _data(await self.client.wait_for_run(
                            thread_id, run["id"],
                            timeout=max(deadline - time.monotonic(), 5.0)))
                    break
                run = _data(await self.client.resume_after_outputs(
                    thread_id, run["id"], outputs, timeout=remaining()
                ))
        except RunError as error:
            await self._cancel_active(thread_id)
            raise _TurnFailed(str(error)) from error
        self._run_started = run.get("status") not in FINAL_RUN_STATUSES
        reply = await self._reply(thread_id, run["id"])
        outcome = Outcome(
            run_id=run["id"], assistant_id=run.get("assistant_id"), model=run.get("model"),
            status=run.get("status"), reply=reply, tool_calls=calls, usage=run.get("usage"),
            last_error=run.get("last_error"),
        )
        # With --on-missing-tool stub/error-output the turn is judged normally.
        return outcome, missing if self.options.on_missing_tool == "fail" else []


    async def _cancel_active(self, thread_id: str) -> None:
        """Cancel whatever run is still active on the new thread (the client raised before
        handing us its id), so a timed-out replay does not leave runs working."""
        # Already finished, or the server is gone: nothing more to do.
        with contextlib.suppress(APIError):
            async for run in self.client.list_runs(thread_id, order="desc", limit=5):
                data = _data(run)
                if data.get("status") in ("queued", "in_progress", "requires_action"):
                    await self.client.cancel_run(thread_id, data["id"])

    async def _reply(self, thread_id: str, run_id: str) -> str:
        texts = []
        async for message in self.client.list_messages(thread_id, run_id=run_id, order="asc"):
            data = _data(message)
            if data.get("role") != "assistant":
                continue
            texts.append("\n\n".join(
                part["text"]["value"] for part in data.get("content") or []
                if part.get("type") == "text"
            ))
        return "\n\n".join(t for t in texts if t)


def _message_body(message: InputMessage) -> dict[str, Any]:
    """A create-message body for a recorded message (text and metadata)."""
    body: dict[str, Any] = {"role": message.role, "content": message.text or " "}
    if message.metadata:
        body["metadata"] = message.metadata
    return body


class _TurnFailed(SyncerError):
    """A turn's run did not settle (timeout) — reported on the turn, not raised further."""


# --- many threads ----------------------------------------------------------------------------


ReplayerFactory = Callable[[AssistantsClient, Replay, ThreadPlan, ReplayOptions, Recorder], TurnLoop]


def dry_run(replay: Replay, plans: Sequence[ThreadPlan], options: ReplayOptions) -> Replay:
    """What a replay would send, without a server: one planned entry per turn."""
    for plan in plans:
        thread = ThreadResult(thread_id=plan.thread_id)
        for turn in plan.turns:
            status = "planned" if turn.baseline else "no_baseline"
            on = (options.target_label if options.api == "responses" else options.assistant_id) \
                or (turn.baseline.assistant_id if turn.baseline else None) or plan.default_assistant()
            detail: str | None = (
                f"{len(turn.messages)} message(s), 1 run on {on}" if options.api == "assistants"
                else f"{len(turn.messages)} message(s), responses with the configuration of {on}"
            )
            if turn.run_settings:
                detail = f"{detail}, with the recorded {', '.join(sorted(turn.run_settings))}"
            if not turn.replayable:
                status, detail = "not_replayable", turn.reason
            thread.turns.append(TurnResult(
                thread_id=plan.thread_id, index=turn.index, status=status,
                messages=turn.messages, recorded=turn.baseline, detail=detail,
                run_settings=turn.run_settings,
            ))
        replay.threads.append(thread)
    replay.status = "dry_run"
    replay.finished_at = time.time()
    replay.summary = summarize(replay)
    # Runs a real replay would create: every replayable turn, with or without a baseline.
    replay.summary.runs = sum(1 for t in replay.all_turns() if t.status in ("planned", "no_baseline"))
    return replay


async def run_replay(
    client: AssistantsClient | None,
    plans: Sequence[ThreadPlan],
    options: ReplayOptions,
    recorder: Recorder | None = None,
    *,
    replay_id: str | None = None,
    base_url: str | None = None,
    on_thread_done: Callable[[ThreadResult], Awaitable[None] | None] | None = None,
    replayer: ReplayerFactory | None = None,
) -> Replay:
    """Replay every plan (threads concurrently, turns in order) and return the replay.

    The recorder sees the replay start, each new thread, each finished turn and the end, so
    an interrupted replay leaves every finished turn stored and the replay marked.
    ``replayer`` makes the replayer of each thread (default `ThreadReplayer`: the Assistants
    API; `syncer.replay.responses` has the Responses API's).
    """
    recorder = recorder or NullRecorder()
    if options.concurrency < 1:
        raise UsageError("--concurrency must be at least 1")
    if options.mode == "last-turn":
        plans = [last_turn_plan(p) for p in plans]
    replay = Replay(
        id=replay_id or new_replay_id(), started_at=time.time(), base_url=base_url,
        target=options.target_label, options=options.describe(), threshold=options.threshold,
        api=options.api,
    )
    if options.dry_run or client is None:
        return dry_run(replay, plans, options)
    recorder.started(replay)
    results: dict[str, ThreadResult] = {}
    semaphore = asyncio.Semaphore(options.concurrency)
    failed = False

    async def one(plan: ThreadPlan) -> None:
        nonlocal failed
        async with semaphore:
            # A thread that failed stops the replay: the task group cancels the others, but a
            # thread waiting for the slot it freed could otherwise send a request first.
            if failed:
                return
            one_thread = (replayer or ThreadReplayer)(client, replay, plan, options, recorder)
            # Kept from the start, so an interrupted replay still lists the thread it was on.
            results[plan.thread_id] = one_thread.result
            try:
                await one_thread.run()
            except BaseException:
                failed = True
                raise
            if on_thread_done is not None:
                maybe = on_thread_done(results[plan.thread_id])
                if maybe is not None:
                    await maybe

    try:
        async with asyncio.TaskGroup() as group:
            for plan in plans:
                group.create_task(one(plan))
        replay.status = "complete"
    except BaseExceptionGroup as group:
        fatal = _first_fatal(group)
        replay.status = "error" if fatal is not None else "interrupted"
        replay.error = _describe(group)
        if fatal is not None:
            raise fatal from None  # one error line for the CLI, not a group of them
        raise
    except BaseException as error:
        replay.status = "interrupted"
        replay.error = _describe(error)
        raise
    finally:
        replay.threads = [results[p.thread_id] for p in plans if p.thread_id in results]
        replay.finished_at = time.time()
        replay.summary = summarize(replay)
        recorder.finished(replay)
    return replay


def _describe(error: BaseException) -> str:
    if isinstance(error, BaseExceptionGroup):
        return "; ".join(dict.fromkeys(_describe(e) for e in error.exceptions))
    if isinstance(error, KeyboardInterrupt | asyncio.CancelledError):
        return "interrupted (Ctrl-C)"
    return str(error) or type(error).__name__


def _first_fatal(group: BaseExceptionGroup) -> SyncerError | None:
    for error in group.exceptions:
        if isinstance(error, BaseExceptionGroup):
            found = _first_fatal(error)
            if found is not None:
                return found
        elif isinstance(error, FATAL_ERRORS):
            return error
    return None
