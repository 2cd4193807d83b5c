"""The one seam between the Responses endpoints and a model: `answer(turn)`.

A `Turn` is everything the model may read — (model, instructions, the conversation's roles
and texts, this turn's tool results) and the tools it may call — and nothing else (no ids, no
timestamps). `answer` gives either the reply or the function calls. Without a backend it is
the emulator's deterministic model, called exactly as the Assistants run engine calls it
(`syncer.emulator.runs`), so a conversation gets the same reply and the same calls through
either API. A real model backend plugs in here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from syncer.emulator import model


@dataclass(frozen=True)
class Turn:
    model: str
    instructions: str
    messages: list[tuple[str, str]]
    tool_results: list[model.ToolResult] = field(default_factory=list)
    function_names: list[str] = field(default_factory=list)
    parallel_tool_calls: bool = True
    #: ``"none" | "auto" | "required"`` or ``{"type": "function", "name": …}`` (Responses shape)
    tool_choice: Any = "auto"


@dataclass(frozen=True)
class Answer:
    text: str = ""
    calls: list[model.ToolCallRequest] = field(default_factory=list)
    input_tokens: int = 0
    output_tokens: int = 0


def answer(turn: Turn) -> Answer:
    """The model's answer: function calls when the last user message asks for them, else a reply.

    As in a run: once this turn's calls have their outputs the model replies (it does not call
    again), and the reply ends with each output verbatim.
    """
    input_tokens = model.prompt_tokens(turn.instructions, turn.messages)
    if not turn.tool_results:
        calls = model.tool_calls(
            turn.messages[-1] if turn.messages else None,
            turn.function_names,
            parallel=turn.parallel_tool_calls,
            tool_choice=_assistants_tool_choice(turn.tool_choice),
        )
        if calls:
            tokens = sum(model.count_tokens(call.name + call.arguments) for call in calls)
            return Answer(calls=calls, input_tokens=input_tokens, output_tokens=tokens)
    text = model.reply(turn.model, turn.instructions, turn.messages, turn.tool_results)
    return Answer(text=text, input_tokens=input_tokens, output_tokens=model.count_tokens(text))


def _assistants_tool_choice(tool_choice: Any) -> Any:
    """A Responses ``tool_choice`` (``{"type": "function", "name"}``) in the run engine's shape."""
    if isinstance(tool_choice, dict) and tool_choice.get("type") == "function":
        return {"type": "function", "function": {"name": tool_choice.get("name")}}
    return tool_choice
