"""The one seam between the Responses endpoints and a model: `answer(turn)`.

A response's context (its items) becomes the same `Turn` a run gives a model backend
(`syncer.emulator.backends.base`): the instructions, the history (messages as (role, text) and
the tool rounds of earlier turns where they happened), this turn's tool rounds (the calls made
since the last message, with their outputs) and the tools in the Assistants shape. The answer
is a `Completion`: the reply text, or function calls.

`answer` is the emulator's deterministic model, called exactly as the Assistants run engine
calls it (`syncer.emulator.runs`: the thread's messages, this run's tool results), so a
conversation gets the same reply and the same calls through either API. A model backend's
``complete(turn, on_text)`` takes the same `Turn` and gives the same `Completion`.
"""

from __future__ import annotations

from typing import Any

from syncer.emulator import items
from syncer.emulator.backends import deterministic as model
from syncer.emulator.backends.base import Completion, Entry, ToolCall, ToolRound, Turn
from syncer.emulator.storage import new_id


def turn_for(context: list[dict[str, Any]], response: dict[str, Any]) -> Turn:
    """The model's input for a response (already rendered, without output) and its context."""
    history: list[Entry] = []
    pending: list[dict[str, Any]] = []  # items since the last message
    for item in context:
        if item["type"] == "message":
            history += _rounds(pending)
            pending = []
            history.append((item["role"], items.text_of(item)))
        elif item["type"] in ("function_call", "function_call_output"):
            pending.append(item)
    return Turn(
        model=response["model"],
        instructions=response["instructions"] or "",
        history=history,
        rounds=_rounds(pending),
        tools=[{"type": "function", "function": {k: v for k, v in tool.items() if k != "type"}}
               for tool in response["tools"]],
        tool_choice=_assistants_tool_choice(response["tool_choice"]),
        parallel_tool_calls=response["parallel_tool_calls"],
        temperature=response["temperature"],
        top_p=response["top_p"],
        response_format=(response["text"] or {}).get("format"),
        max_completion_tokens=response["max_output_tokens"],
    )


def answer(turn: Turn) -> Completion:
    """The deterministic model's answer: function calls when the last user message asks for
    them, else a reply. As in a run: once this turn's calls have their outputs the model
    replies (it does not call again), and the reply ends with each output verbatim."""
    messages = [entry for entry in turn.history if isinstance(entry, tuple)]
    results = [
        model.ToolResult(call.name, call.arguments, round_.outputs[call.id])
        for round_ in turn.rounds
        for call in round_.calls
    ]
    prompt = model.prompt_tokens(turn.instructions, messages)
    if not results:
        calls = model.tool_calls(
            messages[-1] if messages else None,
            [tool["function"]["name"] for tool in turn.tools if tool.get("type") == "function"],
            parallel=turn.parallel_tool_calls,
            tool_choice=turn.tool_choice,
        )
        if calls:
            return Completion(
                tool_calls=[ToolCall(new_id("call"), call.name, call.arguments) for call in calls],
                finish_reason="tool_calls",
                prompt_tokens=prompt,
                completion_tokens=sum(model.count_tokens(c.name + c.arguments) for c in calls),
            )
    text = model.reply(turn.model, turn.instructions, messages, results)
    return Completion(text=text, prompt_tokens=prompt, completion_tokens=model.count_tokens(text))


def _rounds(pending: list[dict[str, Any]]) -> list[ToolRound]:
    """Calls and their outputs as tool rounds: a round is a run of calls, then their outputs."""
    rounds: list[ToolRound] = []
    outputs = {i["call_id"]: items.output_as_text(i["output"]) for i in pending
               if i["type"] == "function_call_output"}
    calls: list[ToolCall] = []
    for item in pending:
        if item["type"] == "function_call":
            calls.append(ToolCall(item["call_id"], item["name"], item["arguments"]))
        elif calls:
            rounds.append(ToolRound(tuple(calls), {c.id: outputs[c.id] for c in calls if c.id in outputs}))
            calls = []
    if calls:
        rounds.append(ToolRound(tuple(calls), {c.id: outputs[c.id] for c in calls if c.id in outputs}))
    return rounds


def _assistants_tool_choice(tool_choice: Any) -> Any:
    """A Responses ``tool_choice`` (``{"type": "function", "name"}``) in the run's shape."""
    if isinstance(tool_choice, dict) and tool_choice.get("type") == "function":
        return {"type": "function", "function": {"name": tool_choice.get("name")}}
    return tool_choice
