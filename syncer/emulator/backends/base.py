"""What the run engine asks a model, and what a model answers: one turn of a run.

A `Turn` is everything a model sees for one completion: the run's effective instructions,
the thread's history (messages and the tool rounds of earlier runs, where they happened), the
tool rounds of the run so far, and the run's settings. A `Completion` is its answer: text, or
function calls, with the tokens it used.

Two implementations exist: the deterministic model (``backends/deterministic``, the default:
it answers at once, so the engine paces its runs by the clock) and a Chat Completions backend
(``backends/chat``: it answers when the remote model does, streaming its text).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from syncer.errors import SyncerError


@dataclass(frozen=True)
class ToolCall:
    """A function call the model asked for."""

    id: str
    name: str
    arguments: str  # a JSON object as a string, as the model wrote it


@dataclass(frozen=True)
class ToolRound:
    """The model's calls of one round and the outputs the client submitted (by call id).

    ``text`` is what the model wrote in the same answer, before its calls (often nothing)."""

    calls: tuple[ToolCall, ...]
    outputs: Mapping[str, str]
    text: str = ""


#: A history entry: a thread message as (role, text), or a tool round.
Entry = tuple[str, str] | ToolRound


@dataclass(frozen=True)
class Turn:
    """One completion's input. ``model`` is the model the run names."""

    model: str
    instructions: str
    history: Sequence[Entry]
    rounds: Sequence[ToolRound] = ()  # this run's tool rounds so far
    tools: Sequence[Mapping[str, Any]] = ()  # the run's tools, as the Assistants API writes them
    tool_choice: Any = "auto"
    parallel_tool_calls: bool = True
    temperature: float | None = None
    top_p: float | None = None
    response_format: Any = "auto"
    max_completion_tokens: int | None = None  # what is left of the run's limit


@dataclass
class Completion:
    """A model's answer: text, or calls (``finish_reason`` ``tool_calls``)."""

    text: str = ""
    tool_calls: list[ToolCall] = field(default_factory=list)
    finish_reason: str | None = "stop"  # stop | tool_calls | length | content_filter
    prompt_tokens: int = 0
    completion_tokens: int = 0


class BackendFailure(SyncerError):
    """A completion failed for good: the run ends ``failed`` with this ``last_error``."""

    def __init__(self, code: str, message: str):
        self.code = code  # server_error | rate_limit_exceeded | invalid_prompt
        self.message = message
        super().__init__(message)

    def last_error(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}


class Backend(Protocol):
    """A model that answers turns over the network (the engine awaits it in a task)."""

    async def complete(self, turn: Turn, on_text: Callable[[str], None]) -> Completion:
        """Answer ``turn``; call ``on_text`` with each piece of text as it arrives.

        Raises `BackendFailure` when no answer can be had (after the retries).
        """
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...
