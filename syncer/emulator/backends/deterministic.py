"""The emulator's deterministic model.

A run's reply is a pure function of

    (model, instructions, [(role, text) for each thread message], [submitted tool outputs])

and of nothing else — not ids, not timestamps — so the same conversation in another thread
(or on another day, or in a replay) gets the same reply, byte for byte.

The inputs are serialised canonically and hashed (SHA-256, chained message by message); the
digest seeds a stream of words (SHA-256 in counter mode, so the result never depends on
Python's ``random``), which become three to five sentences. Any change of any input gives a different digest and hence
different words throughout, so similarity scores see the change (a character-level ratio
between two replies drops far below 0.8), not only a checksum inside the text.

Tool calls: when the thread's last message is a user message that mentions ``@name`` for a
function tool of the run, optionally followed by a JSON object of arguments
(``@get_weather {"city": "Paris"}``), the run calls that function instead of replying. Several
mentions give parallel calls (only the first when ``parallel_tool_calls`` is false). Once the
outputs are submitted, the reply ends with each output verbatim.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

MENTION = re.compile(r"@([a-zA-Z0-9_-]{1,64})")
_DECODER = json.JSONDecoder()

# Plain words only (no punctuation), so sentences read as text and diff cleanly.
_WORD_LIST = (
    "account action active adapt advice agent align amber answer anchor april archive "
    "arrow aspect assist atlas audit autumn balance banner basis beacon bridge brief budget "
    "cable canvas carbon castle cedar center change channel chapter circle claim clear "
    "client cloud cobalt column comet common context copper corner cotton counter course "
    "crystal current cycle daily data debate delta design detail direct domain draft "
    "during eager early echo effort elder ember engine entry equal event exact factor "
    "falcon feature field filter final fluent focus forest format frame future garden "
    "gather gentle glacier global golden graph guide harbor harvest heavy helpful hidden "
    "honest horizon idea impact index inner insight island issue journal junior kernel "
    "kindle ladder lantern layer ledger level light linear little logic lunar margin "
    "marble matter meadow measure memory method middle mirror modest moment motion native "
    "network neutral noble normal number object ocean offer online open option orbit "
    "origin output owner packet palace panel paper parcel pattern pepper period pilot "
    "planet plenty pocket policy portal praise prime prism profile prompt proper public "
    "pulse quarter quiet radar random rapid rather reason record region relay remote "
    "report result ribbon river rocket rough route safety sample season second select "
    "signal silver simple single sketch solid source spring stable status steady stone "
    "story stream strong studio summer summit survey switch symbol system table target "
    "temple tender thread timber token topic tower trace track travel tribute triple "
    "tunnel update useful valley value vector velvet version vessel visual volume wander "
    "water window winter wisdom wonder yellow zenith"
)
WORDS = tuple(_WORD_LIST.split())


@dataclass(frozen=True)
class ToolResult:
    """A submitted tool output, as the model sees it."""

    name: str
    arguments: str
    output: str


@dataclass(frozen=True)
class ToolCallRequest:
    """A function call the model asks for (the run gives it an id)."""

    name: str
    arguments: str  # a JSON object as a string


class Conversation:
    """The model's view of a thread, built message by message.

    The inputs are hashed as a chain — (model, instructions), then each (role, text) in turn,
    then the tool results — so a generator walking a long thread pays for each message once.
    """

    def __init__(self, model: str, instructions: str):
        self.instructions = instructions
        self._state = _hash("start", model, instructions)
        self._prompt_tokens = count_tokens(instructions)
        self.last: tuple[str, str] | None = None

    def add(self, role: str, text: str) -> None:
        self._state = _hash("message", self._state.hex(), role, text)
        self._prompt_tokens += count_tokens(text) + 4
        self.last = (role, text)

    @property
    def prompt_tokens(self) -> int:
        return self._prompt_tokens

    def reply(self, tool_results: Sequence[ToolResult] = ()) -> str:
        """The assistant's reply to the conversation so far."""
        digest = _hash("reply", self._state.hex(),
                       *[part for r in tool_results for part in (r.name, r.arguments, r.output)])
        numbers = hashlib.sha256(digest + b"numbers").digest()
        lengths = [6 + numbers[1 + i] % 9 for i in range(3 + numbers[0] % 3)]
        words = _words(digest, sum(lengths))
        sentences = []
        start = 0
        for count in lengths:
            sentences.append(" ".join(words[start : start + count]).capitalize() + ".")
            start += count
        text = " ".join(sentences)
        if tool_results:
            lines = [f"- {result.name}: {result.output}" for result in tool_results]
            text += "\n\nTool results:\n" + "\n".join(lines)
        return text


def reply(
    model: str,
    instructions: str,
    messages: Sequence[tuple[str, str]],
    tool_results: Sequence[ToolResult] = (),
) -> str:
    """The assistant's reply: deterministic, and different whenever any input differs."""
    return conversation(model, instructions, messages).reply(tool_results)


def conversation(model: str, instructions: str, messages: Sequence[tuple[str, str]]) -> Conversation:
    """A `Conversation` holding ``messages``."""
    result = Conversation(model, instructions)
    for role, text in messages:
        result.add(role, text)
    return result


def tool_calls(
    last_message: tuple[str, str] | None,
    function_names: Sequence[str],
    *,
    parallel: bool = True,
    tool_choice: Any = "auto",
) -> list[ToolCallRequest]:
    """The function calls a run must make before replying (empty: reply right away).

    ``last_message`` is the thread's last (role, text). ``tool_choice`` ``"none"`` forbids
    calls; ``"required"`` or a named function forces one even without a mention
    (arguments ``{}``).
    """
    if tool_choice == "none" or not function_names:
        return []
    known = set(function_names)
    calls: list[ToolCallRequest] = []
    if last_message is not None and last_message[0] == "user":
        calls = [call for call in _mentions(last_message[1]) if call.name in known]
    forced = _forced_function(tool_choice, function_names)
    if forced is not None and not any(call.name == forced for call in calls):
        calls = [ToolCallRequest(forced, "{}"), *calls]
    if forced is not None:
        calls = [call for call in calls if call.name == forced]
    if not parallel:
        calls = calls[:1]
    return calls


def count_tokens(text: str) -> int:
    """A stable token estimate (about four characters a token, like English text)."""
    return math.ceil(len(text) / 4) if text else 0


def prompt_tokens(instructions: str, messages: Sequence[tuple[str, str]]) -> int:
    return count_tokens(instructions) + sum(count_tokens(text) + 4 for _, text in messages)


def _forced_function(tool_choice: Any, function_names: Sequence[str]) -> str | None:
    if tool_choice == "required":
        return function_names[0]
    if isinstance(tool_choice, dict) and tool_choice.get("type") == "function":
        name = (tool_choice.get("function") or {}).get("name")
        return name if name in function_names else None
    return None


def _mentions(text: str) -> Iterator[ToolCallRequest]:
    """``@name`` mentions with their optional JSON-object arguments, in order."""
    decoder = _DECODER
    for match in MENTION.finditer(text):
        # Require the @ to start a word, so e-mail addresses are not calls.
        if match.start() > 0 and (text[match.start() - 1].isalnum() or text[match.start() - 1] == "_"):
            continue
        arguments: dict[str, Any] = {}
        rest = text[match.end():]
        stripped = rest.lstrip()
        if stripped.startswith("{"):
            try:
                value, _ = decoder.raw_decode(stripped)
            except json.JSONDecodeError:
                value = None
            if isinstance(value, dict):
                arguments = value
        yield ToolCallRequest(match.group(1), json.dumps(arguments, ensure_ascii=False))


def _hash(*parts: str) -> bytes:
    """SHA-256 of the parts, serialised unambiguously (a JSON array)."""
    canonical = json.dumps(parts, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).digest()


def _words(digest: bytes, count: int) -> list[str]:
    """``count`` words drawn from SHA-256 in counter mode (two bytes a word)."""
    stream = b"".join(
        hashlib.sha256(digest + b"words" + block.to_bytes(8, "big")).digest()
        for block in range((count * 2 + 31) // 32)
    )
    size = len(WORDS)
    return [WORDS[int.from_bytes(stream[i : i + 2], "big") % size] for i in range(0, count * 2, 2)]
