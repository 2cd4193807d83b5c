"""Replaying recorded threads on a Responses-API server (``syncer replay --api responses``).

A sibling of `syncer.replay.runner.ThreadReplayer`: each recorded turn becomes a response
whose input is the turn's messages, chained to the previous turn's last response with
``previous_response_id``. The configuration (model, instructions, tools, text format,
sampling; see `syncer.replay.response_config`) goes on every request, since a response does
not inherit it. The model's function calls are answered with the recorded outputs
(`RecordedOutputs`: the same matching rules and ``--on-missing-tool``) as
``function_call_output`` items, response after response, until one answers in text. The turn
is then compared exactly as an Assistants replay's: similarity, trajectory, final status, the
judge; usage is the sum of the turn's responses, in the Responses shape.

A turn whose recorded run used code_interpreter or file_search is not replayable: its
messages and recorded reply are carried into the next turn's input, so the conversation
goes on as recorded. So are the messages of a turn that stopped at an unrecorded call
(``--on-missing-tool fail``): the chain continues from the last response that answered.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from syncer.api.client import AssistantsClient
from syncer.api.models.conversations import FunctionCallItem, MessageItem, OutputTextPart
from syncer.api.models.responses import Response
from syncer.canonical import canonical_arguments, json_data
from syncer.errors import APIError, APIStatusError, RunError
from syncer.replay.compare import judge
from syncer.replay.response_config import ResponseConfig, run_fields
from syncer.replay.runner import (
    FATAL_ERRORS,
    RecordedOutputs,
    Recorder,
    ReplayOptions,
    ThreadPlan,
    TurnLoop,
    missing_output,
)
from syncer.replay.types import InputMessage, Outcome, Replay, ToolCall, Turn, TurnResult

#: A turn that keeps calling functions past this many responses is stopped (an error).
MAX_RESPONSES_PER_TURN = 64
_SAMPLING = ("temperature", "top_p")


def message_items(messages: Sequence[InputMessage]) -> list[dict[str, Any]]:
    """Recorded messages as input items (text only: conversation items have no metadata)."""
    return [{"type": "message", "role": m.role, "content": m.text or " "} for m in messages]


def response_text(response: Response) -> str:
    """The text of a response's messages: parts of a message joined as a run's are."""
    texts = [
        "\n\n".join(part.text for part in item.content if isinstance(part, OutputTextPart))
        for item in response.output if isinstance(item, MessageItem)
    ]
    return "\n\n".join(t for t in texts if t)


def add_usage(total: dict[str, Any] | None, response: Response) -> dict[str, Any] | None:
    """The turn's usage so far plus one response's (Responses shape)."""
    if response.usage is None:
        return total
    usage: dict[str, Any] = json_data(response.usage)
    if total is None:
        return usage
    for key, value in usage.items():
        if isinstance(value, dict):
            inner = total.setdefault(key, {})
            for name, count in value.items():
                inner[name] = inner.get(name, 0) + count
        else:
            total[key] = total.get(key, 0) + value
    return total


class ResponsesReplayer(TurnLoop):
    """Replays one recorded thread as a chain of responses on ``client``'s server."""

    def __init__(self, client: AssistantsClient, replay: Replay, plan: ThreadPlan,
                 options: ReplayOptions, recorder: Recorder,
                 configs: Mapping[str, ResponseConfig], target: ResponseConfig | None = None):
        super().__init__(client, replay, plan, options, recorder)
        self.configs = configs  # the mirrored assistants' configurations, by id
        self.target = target    # --assistant: one configuration for every turn
        self._previous: str | None = None  # the last response of the chain
        self._carried: list[dict[str, Any]] = []  # items the next turn's input starts with

    def _config(self, turn: Turn, fallback: str | None) -> ResponseConfig | str:
        """The configuration to replay ``turn`` with, or why there is none."""
        if self.target is not None:
            return self.target
        assistant_id = (turn.baseline.assistant_id if turn.baseline else None) or fallback
        if not assistant_id:
            return "no recorded assistant to replay on"
        config = self.configs.get(assistant_id)
        if config is None:
            return (f"assistant {assistant_id} is not in the mirror, so its configuration is "
                    "unknown (sync it, or name a config with --assistant)")
        return config

    def _body(self, config: ResponseConfig, turn: Turn) -> dict[str, Any]:
        body = dict(config.fields)
        body.update(run_fields(turn.run_settings, body.get("instructions")))
        if self.options.model:
            body["model"] = self.options.model
        if self.options.instructions is not None:
            body["instructions"] = self.options.instructions
        return body

    async def _replay_turn(self, turn: Turn, fallback: str | None) -> TurnResult:
        base = TurnResult(
            thread_id=turn.thread_id, index=turn.index, status="error", messages=turn.messages,
            recorded=turn.baseline, run_settings=turn.run_settings,
        )
        items = [*self._carried, *message_items(turn.messages)]
        if not turn.replayable:
            # Keep the conversation as recorded so later turns see the same history.
            reply = [InputMessage(role="assistant", text=turn.baseline.reply)] \
                if turn.baseline and turn.baseline.reply else []
            self._carried = items + message_items(reply)
            return base.model_copy(update={"status": "not_replayable", "detail": turn.reason})
        config = self._config(turn, fallback)
        if isinstance(config, str):
            return base.model_copy(update={"detail": config})
        body = self._body(config, turn)
        started = time.monotonic()
        try:
            new, missing = await self._follow(turn, body, items)
        except FATAL_ERRORS:
            raise
        except RunError as error:
            return base.model_copy(update={"detail": str(error)})
        except APIError as error:
            # The server refused this turn (a 400 for a setting the model cannot take, a
            # 5xx after every retry): an error on the turn, with the server's own words.
            return base.model_copy(update={"detail": refusal_detail(error, body)})
        new.duration_s = round(time.monotonic() - started, 3)
        new.assistant_id = config.assistant_id
        if missing:
            _, score, diff = judge(turn.baseline, new, self.options.threshold)
            return base.model_copy(update={
                "status": "missing_tool" if turn.baseline else "no_baseline",
                "new": new, "similarity": score, "trajectory": diff,
                "detail": "no recorded output for " + ", ".join(missing)
                + " (the calls were left unanswered)",
            })
        status, score, diff = judge(turn.baseline, new, self.options.threshold)
        return base.model_copy(
            update={"status": status, "new": new, "similarity": score, "trajectory": diff}
        )

    async def _follow(self, turn: Turn, body: dict[str, Any],
                      items: list[dict[str, Any]]) -> tuple[Outcome, list[str]]:
        """Responses until a text answer; returns (outcome, calls with no recorded output)."""
        recorded = RecordedOutputs(
            turn.baseline.tool_calls if turn.baseline else [], self.outputs_pool
        )
        deadline = time.monotonic() + self.options.run_timeout
        calls: list[ToolCall] = []
        missing: list[str] = []
        usage: dict[str, Any] | None = None
        texts: list[str] = []
        previous = self._previous
        response: Response | None = None
        for _ in range(MAX_RESPONSES_PER_TURN):
            if time.monotonic() > deadline:
                raise RunError(f"the turn did not finish within {self.options.run_timeout:g} s")
            request = {**body, "input": items}
            if previous is not None:
                request["previous_response_id"] = previous
            response = await self.client.create_response(request)
            usage = add_usage(usage, response)
            texts.append(response_text(response))
            requested = [item for item in response.output if isinstance(item, FunctionCallItem)]
            if not requested or response.status != "completed":
                break
            items = []
            for call in requested:
                name, args = call.name, canonical_arguments(call.arguments or "{}")
                output = recorded.match(name, args)
                if output is None:
                    missing.append(f"{name}({args})")
                    output = missing_output(self.options.on_missing_tool, name, args)
                calls.append(ToolCall(name=name, arguments=args, output=output, call_id=call.call_id))
                items.append({"type": "function_call_output", "call_id": call.call_id,
                              "output": output or ""})
            if missing and self.options.on_missing_tool == "fail":
                break
            previous = response.id
        else:
            raise RunError(
                f"the model still called functions after {MAX_RESPONSES_PER_TURN} responses")
        assert response is not None  # the loop runs at least once
        if response.status in ("completed", "incomplete") and not (
                missing and self.options.on_missing_tool == "fail"):
            self._previous = response.id
            self._carried = []
        else:
            # Unanswered calls (or a failed response): the chain cannot go on from it. The
            # next turn continues from the last complete response, with these messages, as
            # a thread keeps the messages of a cancelled or failed run.
            self._carried = [*self._carried, *message_items(turn.messages)]
        outcome = Outcome(
            run_id=response.id, model=response.model, status=response.status,
            reply="\n\n".join(t for t in texts if t), tool_calls=calls, usage=usage,
            last_error=json_data(response.error),
        )
        return outcome, missing if self.options.on_missing_tool == "fail" else []


def refusal_detail(error: APIError, body: Mapping[str, Any]) -> str:
    """The server's refusal of a turn, in its own words; sampling parameters named clearly."""
    param = error.param if isinstance(error, APIStatusError) else None
    named = [name for name in _SAMPLING if name in body and (param == name or name in str(error))]
    if named and getattr(error, "status_code", None) == 400:
        sent = ", ".join(f"{name}={body[name]}" for name in named)
        return (f"the server refused {sent} (from the replayed configuration; reasoning "
                f"models take neither temperature nor top_p): {error}")
    return str(error)

