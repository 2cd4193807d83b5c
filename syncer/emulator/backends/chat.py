"""A Chat Completions backend: runs executed by any OpenAI-compatible ``…/v1/chat/completions``.

`request_body` maps one `Turn` onto a Chat Completions request, as the Assistants API did:

- the run's effective instructions first, as a ``system`` message;
- the thread's messages in order, each with its role and text;
- every tool round where it happened: an ``assistant`` message with ``tool_calls`` followed by
  one ``tool`` message per call whose ``content`` is the submitted output, verbatim;
- the run's function tools as ``tools`` (with ``tool_choice`` and ``parallel_tool_calls``,
  which the endpoint accepts only beside tools), ``temperature``, ``top_p``,
  ``response_format`` (``auto`` is left out) and ``max_completion_tokens`` (what is left of
  the run's limit).

Every completion is streamed (``stream: true`` with ``stream_options: {include_usage: true}``),
for polling clients too: one code path, and a cancel closes the connection, which stops the
backend. `ChunkAssembler` joins the chunks (text pieces; tool-call pieces keyed by ``index``,
the first carrying ``id`` and ``function.name``, later ones appending to ``arguments``; the
final ``usage`` chunk). A server that ignores ``stream`` and answers with one JSON completion
is read as such; a server that reports no usage gets the emulator's estimate (four characters
a token).

Sending and retrying are the client's (`syncer.api.client.AssistantsClient.send`: the official
SDK's policy, ``SYNCER_MAX_RETRIES``, ``SYNCER_TIMEOUT``, ``SYNCER_RETRY_BASE_DELAY``). What
still fails becomes a `BackendFailure`: ``rate_limit_exceeded`` after 429s, ``server_error``
after 5xx, timeouts, an unreachable server or a stream that breaks, ``invalid_prompt`` with
the backend's own message for any other 4xx (a context that is too long, say).

The key is ``SYNCER_BACKEND_API_KEY`` (never a flag: it would show in ``ps``). It lives in a
``SecretStr`` and the ``Authorization`` header only, and every message built from the
backend's answers is redacted. Without it the backend is sent the placeholder key
``no-key`` (local model servers ignore keys).
"""

from __future__ import annotations

import asyncio
import math
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any

import httpx
import orjson
from pydantic import SecretStr, ValidationError

from syncer.api.client import AssistantsClient
from syncer.api.settings import ClientSettings
from syncer.emulator.backends.base import BackendFailure, Completion, ToolCall, ToolRound, Turn
from syncer.errors import APIError, APIStatusError, APITimeoutError, UsageError, validation_message

KEY_VARIABLE = "SYNCER_BACKEND_API_KEY"
NO_KEY = "no-key"
COMPLETIONS_PATH = "/chat/completions"


def backend_settings(url: str, *, environ: Mapping[str, str] | None = None, **overrides: Any) -> ClientSettings:
    """Connection settings for the backend at ``url``.

    Retries and timeouts follow the client's variables (``SYNCER_MAX_RETRIES`` …); the key is
    ``SYNCER_BACKEND_API_KEY`` only — never ``OPENAI_API_KEY``, which belongs to the clients.
    ``overrides`` (tests) replace any field. A bad URL is a `UsageError` naming ``--backend``.
    """
    env = os.environ if environ is None else environ
    policy = ClientSettings.from_env()
    key = env.get(KEY_VARIABLE, "").strip() or NO_KEY
    values: dict[str, Any] = {
        "base_url": url,
        "api_key": SecretStr(key),
        "max_retries": policy.max_retries,
        "timeout": policy.timeout,
        "connect_timeout": policy.connect_timeout,
        "retry_base_delay": policy.retry_base_delay,
        "retry_max_delay": policy.retry_max_delay,
        **overrides,
    }
    try:
        return ClientSettings(**values)
    except ValidationError as exc:
        problems = "; ".join(validation_message(error) for error in exc.errors())
        raise UsageError(f"--backend: {problems}") from None


class ChatBackend:
    """Completions from a Chat Completions server (see the module docstring)."""

    def __init__(
        self,
        settings: ClientSettings,
        *,
        model: str | None = None,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
        transport: httpx.AsyncBaseTransport | None = None,
    ):
        self.settings = settings
        self.model = model  # --backend-model: every completion goes to this model
        self._client = AssistantsClient(settings, sleep=sleep, transport=transport)

    def __repr__(self) -> str:
        return f"ChatBackend(base_url={self.settings.base_url!r}, model={self.model!r})"

    async def aclose(self) -> None:
        await self._client.aclose()

    async def complete(self, turn: Turn, on_text: Callable[[str], None]) -> Completion:
        body = request_body(turn, model=self.model or turn.model)
        try:
            response = await self._client.send("POST", COMPLETIONS_PATH, json=body, stream=True)
        except APIError as exc:
            raise failure(exc) from None
        assembler = ChunkAssembler()
        try:
            if not response.headers.get("content-type", "").startswith("text/event-stream"):
                return assembler.from_json(_json(response), on_text, _prompt_estimate(body))
            async for data in _sse_data(_body(response), self.settings.max_response_bytes):
                if data == b"[DONE]":
                    break
                try:
                    chunk = orjson.loads(data)
                except ValueError:
                    raise BackendFailure("server_error", "the model backend sent a chunk that is not JSON") from None
                text = assembler.feed(chunk)
                if text:
                    on_text(text)
        except httpx.TimeoutException:
            raise BackendFailure(
                "server_error",
                f"the model backend stopped sending mid-answer (timed out after {self.settings.timeout:g} s)",
            ) from None
        except httpx.TransportError as exc:
            reason = self._client.redact(str(exc)) or type(exc).__name__
            raise BackendFailure("server_error", f"the model backend's stream broke ({reason})") from None
        finally:
            await response.aclose()
        return assembler.result(_prompt_estimate(body))


def failure(exc: APIError) -> BackendFailure:
    """A run's ``last_error`` for a request the client gave up on (its message is redacted)."""
    if isinstance(exc, APIStatusError):
        if exc.status_code == 429:
            return BackendFailure("rate_limit_exceeded", f"the model backend is rate limited: {exc}")
        if exc.status_code >= 500 or exc.status_code in (408, 409):
            return BackendFailure("server_error", f"the model backend failed: {exc}")
        return BackendFailure(
            "invalid_prompt", f"the model backend refused the request (HTTP {exc.status_code}): {exc.message}"
        )
    if isinstance(exc, APITimeoutError):
        return BackendFailure("server_error", f"the model backend did not answer in time: {exc}")
    return BackendFailure("server_error", f"the model backend could not be reached: {exc}")


# --- the request ----------------------------------------------------------------------------


def request_body(turn: Turn, *, model: str, stream: bool = True) -> dict[str, Any]:
    """The Chat Completions request for ``turn`` (see the module docstring)."""
    messages: list[dict[str, Any]] = []
    if turn.instructions:
        messages.append({"role": "system", "content": turn.instructions})
    for entry in [*turn.history, *turn.rounds]:
        if isinstance(entry, ToolRound):
            messages += tool_round_messages(entry)
        else:
            role, text = entry
            messages.append({"role": role, "content": text})
    body: dict[str, Any] = {"model": model, "messages": messages}
    functions = [tool for tool in turn.tools if tool.get("type") == "function"]
    if functions:
        body["tools"] = [{"type": "function", "function": _function(tool["function"])} for tool in functions]
        body["tool_choice"] = turn.tool_choice
        body["parallel_tool_calls"] = turn.parallel_tool_calls
    for name in ("temperature", "top_p", "max_completion_tokens"):
        value = getattr(turn, name)
        if value is not None:
            body[name] = value
    if isinstance(turn.response_format, Mapping):
        body["response_format"] = dict(turn.response_format)
    if stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    return body


def _function(definition: Mapping[str, Any]) -> dict[str, Any]:
    """A function definition; ``strict`` only when true (not every server knows it)."""
    return {k: v for k, v in definition.items() if v is not None and not (k == "strict" and v is False)}


def tool_round_messages(round_: ToolRound) -> list[dict[str, Any]]:
    """An ``assistant`` message with the calls (and the text the model wrote with them), then
    one ``tool`` message per call, in order."""
    return [
        {
            "role": "assistant",
            "content": round_.text or None,
            "tool_calls": [
                {"id": call.id, "type": "function",
                 "function": {"name": call.name, "arguments": call.arguments}}
                for call in round_.calls
            ],
        },
        *({"role": "tool", "tool_call_id": call.id, "content": round_.outputs.get(call.id, "")}
          for call in round_.calls),
    ]


# --- the answer -------------------------------------------------------------------------------


class ChunkAssembler:
    """Joins ``chat.completion.chunk`` objects into a `Completion`."""

    def __init__(self) -> None:
        self.text: list[str] = []
        self.calls: dict[int, dict[str, str]] = {}
        self.finish_reason: str | None = None
        self.usage: Mapping[str, Any] | None = None

    def feed(self, chunk: Mapping[str, Any]) -> str:
        """Take one chunk; return its text piece ("" when it has none)."""
        error = chunk.get("error")
        if error:
            message = error.get("message") if isinstance(error, Mapping) else str(error)
            raise BackendFailure("server_error", f"the model backend failed mid-answer: {message}")
        if chunk.get("usage"):
            self.usage = chunk["usage"]
        piece = ""
        for choice in chunk.get("choices") or []:
            if choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta") or {}
            if delta.get("content"):
                piece += str(delta["content"])
            for call in delta.get("tool_calls") or []:
                self._add_call_piece(call)
            if choice.get("finish_reason"):
                self.finish_reason = choice["finish_reason"]
        if piece:
            self.text.append(piece)
        return piece

    def _add_call_piece(self, piece: Mapping[str, Any]) -> None:
        index = piece.get("index")
        if not isinstance(index, int):  # servers that send whole calls without an index
            index = len(self.calls)
        call = self.calls.setdefault(index, {"id": "", "name": "", "arguments": ""})
        if piece.get("id"):
            call["id"] = str(piece["id"])
        function = piece.get("function") or {}
        if function.get("name"):
            call["name"] = str(function["name"])
        if function.get("arguments"):
            call["arguments"] += str(function["arguments"])

    def from_json(self, completion: Mapping[str, Any], on_text: Callable[[str], None],
                  prompt_estimate: int = 0) -> Completion:
        """A whole (not streamed) ``chat.completion``."""
        choices = completion.get("choices") or [{}]
        message = choices[0].get("message") or {}
        for index, call in enumerate(message.get("tool_calls") or []):
            self._add_call_piece({**call, "index": index})
        if message.get("content"):
            self.text.append(str(message["content"]))
            on_text(str(message["content"]))
        self.finish_reason = choices[0].get("finish_reason")
        self.usage = completion.get("usage")
        return self.result(prompt_estimate)

    def result(self, prompt_estimate: int = 0) -> Completion:
        """The completion; without a usage report, ``prompt_estimate`` and an estimate."""
        text = "".join(self.text)
        calls = [
            ToolCall(id=call["id"] or f"call_{uuid.uuid4().hex[:24]}", name=call["name"],
                     arguments=call["arguments"] or "{}")
            for _, call in sorted(self.calls.items())
        ]
        usage = self.usage or {}
        prompt = usage.get("prompt_tokens")
        completion = usage.get("completion_tokens")
        if not isinstance(completion, int):
            completion = _estimate(text + "".join(c.name + c.arguments for c in calls))
        return Completion(
            text=text,
            tool_calls=calls,
            finish_reason=self.finish_reason or ("tool_calls" if calls else "stop"),
            prompt_tokens=prompt if isinstance(prompt, int) else prompt_estimate,
            completion_tokens=completion,
        )


def _estimate(text: str) -> int:
    return math.ceil(len(text) / 4) if text else 0


def _prompt_estimate(body: Mapping[str, Any]) -> int:
    return sum(_estimate(str(m.get("content") or "")) + 4 for m in body["messages"])


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError:
        raise BackendFailure("server_error", "the model backend answered with a body that is not JSON") from None
    if not isinstance(data, dict):
        raise BackendFailure("server_error", "the model backend answered with JSON that is not an object")
    return data


def _body(response: httpx.Response) -> AsyncIterator[bytes]:
    """The body's bytes as they arrive: straight from the transport's stream when they need no
    decoding (httpx's decoder and chunker layers cost about 19 µs of CPU per answer of 22
    chunks); a compressed body goes through httpx's decoders."""
    stream = response.stream
    if response.headers.get("content-encoding", "identity") == "identity" and isinstance(stream, httpx.AsyncByteStream):
        return aiter(stream)
    return response.aiter_bytes()


async def _sse_data(chunks: AsyncIterator[bytes], limit: int) -> AsyncIterator[bytes]:
    """The ``data`` of each server-sent event (multi-line data joined with newlines), read from
    the body's bytes as they arrive: lines end with ``\r\n``, ``\n`` or ``\r``. An event (or
    an unfinished line) over ``limit`` bytes fails the completion instead of filling memory."""
    pending = b""
    data: list[bytes] = []
    held = 0  # bytes in ``data``
    async for chunk in chunks:
        lines = (pending + chunk).splitlines(keepends=True)
        # An unfinished line waits for the rest (so does one ending in "\r": "\n" may follow).
        pending = lines.pop() if lines and not lines[-1].endswith(b"\n") else b""
        for line in lines:
            line = line.rstrip(b"\r\n")
            if not line:
                event = b"\n".join(data)
                data, held = [], 0
                if event:  # an empty data buffer is not an event (the SSE rules)
                    yield event
            elif line.startswith(b"data:"):
                data.append(line[6:] if line[5:6] == b" " else line[5:])
                held += len(line)
                if held > limit:
                    raise BackendFailure("server_error", f"the model backend sent an event over {limit:,} bytes")
        if held + len(pending) > limit:
            raise BackendFailure("server_error", f"the model backend sent an event over {limit:,} bytes")
    for line in pending.splitlines():
        if line.startswith(b"data:"):
            data.append(line[6:] if line[5:6] == b" " else line[5:])
    if b"\n".join(data):
        yield b"\n".join(data)
