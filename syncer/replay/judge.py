"""`syncer replay --judge MODEL`: an LLM judge grades each turn's new reply against the recorded one.

The judge is any OpenAI-compatible Chat Completions model. It is shown the conversation so
far (as recorded), the turn's new messages, and the two replies of the turn (each with the
tool calls it made and their outputs) as "Reply A" and "Reply B", in a blind order that does
not depend on which reply is which (`blind_order`: fixed per recorded thread and turn, so two
replays of the same thread are judged alike). The rubric (``syncer/data/judge_rubric.md``,
versioned by its first line ``rubric: ID``; ``--rubric FILE`` replaces it) asks for a 1-5
score of each reply and a one-line reason, as structured output (``response_format``
``json_schema``, strict), parsed strictly: anything else is a judge failure.

The new reply passes when it scores at least `PASS_SCORE`, or at least as much as the
recorded reply (no worse than what was recorded). A judge that fails (its server after the
client's retries, a refusal, an answer that is not the verdict format) gives a `Verdict` with
``error`` and the turn becomes ``error``, never ``pass``.

Connection: ``SYNCER_JUDGE_BASE_URL`` and ``SYNCER_JUDGE_API_KEY``, each defaulting to the
replay's own connection settings; retries and timeouts are the client's (`syncer.api.http`,
``SYNCER_MAX_RETRIES`` …). The key lives in a ``SecretStr`` and the ``Authorization`` header
only; the client redacts it from every error message.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import httpx
from pydantic import SecretStr, ValidationError

from syncer.api.http import HTTPClient
from syncer.api.settings import ClientSettings
from syncer.errors import APIError, SyncerError, UsageError, validation_message
from syncer.replay.compare import collapse_whitespace, with_verdict
from syncer.replay.types import Outcome, Turn, TurnResult, Verdict

BASE_URL_VARIABLE = "SYNCER_JUDGE_BASE_URL"
KEY_VARIABLE = "SYNCER_JUDGE_API_KEY"
RUBRIC_FILE = "judge_rubric.md"
COMPLETIONS_PATH = "/chat/completions"
PASS_SCORE = 4
SCORES = (1, 2, 3, 4, 5)
MAX_REASON = 300          # characters of the judge's reason kept
MAX_TEXT = 4000           # characters of one message, reply or tool output shown to the judge
MAX_HISTORY = 40          # earlier messages shown to the judge (the most recent ones)

Order = Literal["recorded-first", "new-first"]

#: The structured output the judge must give (OpenAI's strict subset of JSON Schema).
VERDICT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "reply_a_score": {"type": "integer", "enum": list(SCORES)},
        "reply_b_score": {"type": "integer", "enum": list(SCORES)},
        "reason": {"type": "string"},
    },
    "required": ["reply_a_score", "reply_b_score", "reason"],
    "additionalProperties": False,
}
RESPONSE_FORMAT: dict[str, Any] = {
    "type": "json_schema",
    "json_schema": {"name": "replay_verdict", "strict": True, "schema": VERDICT_SCHEMA},
}


class JudgeAnswerError(SyncerError):
    """The judge answered, but not with a verdict in the requested format."""


# --- the rubric --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rubric:
    """The judge's instructions and their version id (stored with every verdict)."""

    version: str
    text: str


_VERSION_LINE = re.compile(r"\Arubric:\s*(\S+)\s*\n")


def load_rubric(path: str | os.PathLike[str] | None = None) -> Rubric:
    """The shipped rubric, or ``--rubric FILE``.

    A file's first line ``rubric: ID`` names its version; without one the version is the file
    name and a digest of its text, so verdicts always say which rubric gave them.
    """
    if path is None:
        text = resources.files("syncer.data").joinpath(RUBRIC_FILE).read_text(encoding="utf-8")
        name = RUBRIC_FILE
    else:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise UsageError(f"--rubric {path}: {error}") from error
        name = Path(path).name
    if not text.strip():
        raise UsageError(f"--rubric {path}: the file is empty")
    match = _VERSION_LINE.match(text)
    if match:
        return Rubric(match.group(1), text[match.end():].strip())
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]
    return Rubric(f"{name}@sha256:{digest}", text.strip())


# --- connection ---------------------------------------------------------------------------------


def judge_settings(connection: ClientSettings,
                   environ: Mapping[str, str] | None = None) -> ClientSettings:
    """Where the judge is asked: ``SYNCER_JUDGE_BASE_URL`` / ``SYNCER_JUDGE_API_KEY``, each
    defaulting to the replay's connection; retries and timeouts are the connection's.

    The connection's organisation and project go along only to the connection's own server.
    """
    env = os.environ if environ is None else environ
    base_url = env.get(BASE_URL_VARIABLE, "").strip()
    key = env.get(KEY_VARIABLE, "").strip()
    same_server = not base_url or base_url.rstrip("/") == connection.base_url
    values: dict[str, Any] = {
        "base_url": base_url or connection.base_url,
        "api_key": SecretStr(key) if key else connection.api_key,
        "organization": connection.organization if same_server else None,
        "project": connection.project if same_server else None,
    }
    try:
        return ClientSettings(**{**connection.model_dump(), **values})
    except ValidationError as exc:
        problems = "; ".join(validation_message(error) for error in exc.errors())
        raise UsageError(f"{BASE_URL_VARIABLE}: {problems}") from None


# --- what the judge is shown ---------------------------------------------------------------------


def blind_order(thread_id: str, index: int) -> Order:
    """Which reply the judge sees first: fixed per recorded turn, half of turns each way."""
    digest = hashlib.sha256(f"{thread_id}:{index}".encode()).digest()
    return "recorded-first" if digest[0] % 2 == 0 else "new-first"


def _clip(text: str, limit: int = MAX_TEXT) -> str:
    return text if len(text) <= limit else text[:limit] + f" … [{len(text) - limit} characters left out]"


def _reply(outcome: Outcome | None) -> str:
    if outcome is None:
        return "(no reply)"
    lines = []
    for call in outcome.tool_calls:
        output = "(no output)" if call.output is None else _clip(call.output, MAX_TEXT // 2)
        lines.append(f"- called {call.name}({call.arguments}) → {output}")
    if lines:
        lines.insert(0, "Tool calls:")
    if outcome.status and outcome.status != "completed":
        lines.append(f"(the run ended {outcome.status})")
    lines.append(_clip(outcome.reply) if outcome.reply else "(no text)")
    return "\n".join(lines)


def case_text(result: TurnResult, history: Sequence[Turn], order: Order) -> str:
    """The judge's user message: the conversation so far, the turn's messages, both replies."""
    earlier: list[str] = []
    for turn in history:
        earlier += [f"[{m.role}] {_clip(m.text)}" for m in turn.messages]
        if turn.baseline is not None:
            for call in turn.baseline.tool_calls:
                earlier.append(f"[assistant called {call.name}({call.arguments}) → "
                               f"{_clip(call.output or '', MAX_TEXT // 2)}]")
            if turn.baseline.reply:
                earlier.append(f"[assistant] {_clip(turn.baseline.reply)}")
    left_out = max(0, len(earlier) - MAX_HISTORY)
    earlier = earlier[left_out:]
    if left_out:
        earlier.insert(0, f"({left_out} earlier messages left out)")
    first, second = (
        (result.recorded, result.new) if order == "recorded-first" else (result.new, result.recorded)
    )
    return "\n\n".join([
        "## The conversation so far\n" + ("\n".join(earlier) or "(nothing before this turn)"),
        "## The new messages of this turn\n"
        + ("\n".join(f"[{m.role}] {_clip(m.text)}" for m in result.messages) or "(none)"),
        "## Reply A\n" + _reply(first),
        "## Reply B\n" + _reply(second),
    ])


def request_body(model: str, rubric: Rubric, case: str) -> dict[str, Any]:
    """The Chat Completions request that asks for one verdict."""
    return {
        "model": model,
        "messages": [{"role": "system", "content": rubric.text}, {"role": "user", "content": case}],
        "response_format": RESPONSE_FORMAT,
    }


# --- what the judge answers ---------------------------------------------------------------------


def parse_answer(answer: Mapping[str, Any]) -> tuple[int, int, str]:
    """``(score of A, score of B, reason)`` from a ``chat.completion``, strictly.

    Raises `JudgeAnswerError` for a refusal, a cut-off answer, or content that is not exactly
    the verdict object.
    """
    choices = answer.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], Mapping):
        raise JudgeAnswerError("the judge's answer has no choices")
    choice = choices[0]
    message = choice.get("message")
    if not isinstance(message, Mapping):
        raise JudgeAnswerError("the judge's answer has no message")
    if message.get("refusal"):
        raise JudgeAnswerError(f"the judge refused: {collapse_whitespace(str(message['refusal']))[:MAX_REASON]}")
    if choice.get("finish_reason") not in (None, "stop"):
        raise JudgeAnswerError(f"the judge's answer was cut off (finish_reason {choice['finish_reason']})")
    content = message.get("content")
    if not isinstance(content, str):
        raise JudgeAnswerError("the judge's answer has no text content")
    try:
        data = json.loads(content)
    except ValueError:
        raise JudgeAnswerError(f"the judge's answer is not JSON: {content[:80]!r}") from None
    if not isinstance(data, dict) or set(data) != set(VERDICT_SCHEMA["required"]):
        keys = sorted(data) if isinstance(data, dict) else type(data).__name__
        raise JudgeAnswerError(f"the judge's answer is not the verdict object (got {keys})")
    scores = []
    for key in ("reply_a_score", "reply_b_score"):
        value = data[key]
        if isinstance(value, bool) or not isinstance(value, int) or value not in SCORES:
            raise JudgeAnswerError(f"the judge's {key} is {value!r}, not an integer 1-5")
        scores.append(value)
    reason = data["reason"]
    if not isinstance(reason, str) or not reason.strip():
        raise JudgeAnswerError("the judge gave no reason")
    return scores[0], scores[1], collapse_whitespace(reason)[:MAX_REASON]


def passes(new_score: int, recorded_score: int) -> bool:
    """The pass rule: good enough (≥ `PASS_SCORE`), or no worse than the recorded reply."""
    return new_score >= PASS_SCORE or new_score >= recorded_score


def _unblind(reason: str, order: Order) -> str:
    """The reason with "Reply A/B" named for what they are."""
    names = {"A": "the recorded reply", "B": "the new reply"} if order == "recorded-first" else {
        "A": "the new reply", "B": "the recorded reply"}
    return re.sub(r"\b[Rr]eply ([AB])\b", lambda m: names[m.group(1)], reason)


# --- the judge ------------------------------------------------------------------------------------


JUDGED_STATUSES = frozenset({"pass", "regression"})


class Judge:
    """Grades replayed turns with one model (see the module docstring). Close with `aclose`."""

    def __init__(
        self,
        model: str,
        settings: ClientSettings,
        rubric: Rubric | None = None,
        *,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
        transport: httpx.AsyncBaseTransport | None = None,
    ):
        if not model.strip():
            raise UsageError("--judge needs a model name")
        if not settings.secret():
            raise UsageError(
                f"no key for the judge: set {KEY_VARIABLE} (or OPENAI_API_KEY / --api-key, "
                "which it defaults to)"
            )
        self.model = model
        self.settings = settings
        self.rubric = rubric or load_rubric()
        self._sleep = sleep
        self._transport = transport
        self._client: HTTPClient | None = None

    def __repr__(self) -> str:
        return f"Judge(model={self.model!r}, base_url={self.settings.base_url!r}, rubric={self.rubric.version!r})"

    def describe(self) -> dict[str, Any]:
        """What a replay stores about its judge (never the key)."""
        return {"model": self.model, "base_url": self.settings.base_url,
                "rubric": self.rubric.version, "pass_score": PASS_SCORE}

    def _http(self) -> HTTPClient:
        # Made on first use, inside the replay's event loop.
        if self._client is None:
            self._client = HTTPClient(self.settings, sleep=self._sleep, transport=self._transport)
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def verdict(self, result: TurnResult, history: Sequence[Turn]) -> Verdict:
        """The judge's verdict on one turn (``error`` set when the judge failed)."""
        order = blind_order(result.thread_id, result.index)
        base = Verdict(model=self.model, rubric=self.rubric.version, order=order)
        body = request_body(self.model, self.rubric, case_text(result, history, order))
        try:
            answer = await self._http().request("POST", COMPLETIONS_PATH, json=body)
            score_a, score_b, reason = parse_answer(answer)
        except (APIError, JudgeAnswerError) as error:
            message = self._http().redact(str(error)) or type(error).__name__
            return base.model_copy(update={"error": f"the judge failed: {message}"})
        new, recorded = (score_b, score_a) if order == "recorded-first" else (score_a, score_b)
        return base.model_copy(update={
            "passed": passes(new, recorded), "score": new, "recorded_score": recorded,
            "reason": _unblind(reason, order),
        })

    async def grade(self, result: TurnResult, history: Sequence[Turn]) -> TurnResult:
        """``result`` judged: turns with a baseline and a finished new run get a verdict and
        their status from it (and the trajectory); other turns are returned unchanged."""
        if result.status not in JUDGED_STATUSES or result.recorded is None or result.new is None:
            return result
        return with_verdict(result, await self.verdict(result, history))
