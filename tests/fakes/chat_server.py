"""A fake Chat Completions server on loopback, strict like the real endpoint (test support).

    with FakeChatServer() as backend:
        backend.script(Reply(tool_calls=[("get_weather", {"city": "Paris"})]), Reply(text="Sunny."))
        ...  # point the emulator at backend.base_url
        backend.requests[0].body["messages"]

Strict where the real endpoint is: a ``tool`` message must answer a call of a preceding
assistant ``tool_calls`` message, every call must be answered before the next other message,
``tools``-only parameters (``tool_choice``, ``parallel_tool_calls``) need ``tools``,
``stream_options`` needs ``stream``, unknown parameters are refused — each with the real 400.
Every request is recorded (headers and body). Replies are scripted (`Reply`): text or tool
calls, streamed at a chosen pace, or an error status, or a hang (a timeout for the client).
With nothing scripted, ``default`` answers (a short text).

For benchmarks, the fake can also stand in for a server that costs nothing: given a recorded
Assistants run stream (``PUT /_fake/run-stream``, a list of SSE frames), every
``POST /v1/threads/runs`` replays it, its ``thread.message.delta`` frames paced like the default
answer's tokens and everything else sent at once, so a client does the very work a real
server's stream gives it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import socket
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

KNOWN_PARAMETERS = frozenset({
    "model", "messages", "tools", "tool_choice", "parallel_tool_calls", "temperature", "top_p",
    "response_format", "max_completion_tokens", "max_tokens", "stream", "stream_options", "n",
    "stop", "seed", "user", "metadata", "frequency_penalty", "presence_penalty", "logprobs",
})
ROLES = frozenset({"system", "developer", "user", "assistant", "tool"})


@dataclass
class Reply:
    """One scripted answer."""

    text: str = ""
    tool_calls: Sequence[tuple[str, Any]] = ()  # (name, arguments: a dict or a JSON string)
    status: int = 200  # an error status answers {"error": {...}} with `error` as its message
    error: str = "Something went wrong."
    headers: Mapping[str, str] = field(default_factory=dict)
    delay: float = 0.0  # before the answer's headers (longer than the client waits: a timeout)
    first_token: float = 0.0  # streamed: after the headers, before the first piece
    pace: float = 0.0  # streamed: between pieces
    pieces: Sequence[str] | None = None  # streamed text pieces (default: word by word)
    finish_reason: str | None = None  # default: tool_calls when calling, else stop
    report_usage: bool = True  # False: a server that ignores stream_options
    break_after: int | None = None  # streamed: drop the connection after this many pieces

    def text_pieces(self) -> list[str]:
        if self.pieces is not None:
            return list(self.pieces)
        words = self.text.split(" ")
        return [w + (" " if i < len(words) - 1 else "") for i, w in enumerate(words)] if self.text else []


@dataclass
class Recorded:
    headers: dict[str, str]
    body: dict[str, Any]
    usage: dict[str, int] | None = None  # what the answer reported
    disconnected: bool = False  # the client closed the stream before its end
    finished: bool = False
    received_at: float = field(default_factory=time.time)  # timings (seconds since the epoch)
    first_token_at: float | None = None
    finished_at: float | None = None

    def timings(self) -> dict[str, Any]:
        """When it arrived, sent its first piece and ended, tagged with the last user message."""
        messages = self.body.get("messages") or (self.body.get("thread") or {}).get("messages") or []
        users = [m.get("content") for m in messages if isinstance(m, dict) and m.get("role") == "user"]
        return {"tag": users[-1] if users else None, "received_at": self.received_at,
                "first_token_at": self.first_token_at, "finished_at": self.finished_at}


def check_request(body: Any) -> str | None:
    """The real endpoint's 400 message for an invalid request, or None."""
    if not isinstance(body, dict):
        return "We could not parse the JSON body of your request."
    for name in body:
        if name not in KNOWN_PARAMETERS:
            return f"Unrecognized request argument supplied: {name}"
    if not isinstance(body.get("model"), str) or not body["model"]:
        return "you must provide a model parameter"
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return "Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty array instead."
    pending: list[str] = []
    for index, message in enumerate(messages):
        role = message.get("role") if isinstance(message, dict) else None
        if role not in ROLES:
            return f"Invalid value for 'messages[{index}].role'."
        if role == "tool":
            call_id = message.get("tool_call_id")
            if call_id not in pending:
                return ("Invalid parameter: messages with role 'tool' must be a response to a "
                        "preceeding message with 'tool_calls'.")
            pending.remove(call_id)
            if not isinstance(message.get("content"), str):
                return f"Invalid type for 'messages[{index}].content': expected a string."
            continue
        if pending:
            return _unanswered(pending)
        if role == "assistant" and message.get("tool_calls"):
            for call in message["tool_calls"]:
                function = call.get("function") or {}
                if (not call.get("id") or call.get("type") != "function" or not function.get("name")
                        or not isinstance(function.get("arguments"), str)):
                    return f"Invalid 'messages[{index}].tool_calls': each needs id, type function, name, arguments."
                pending.append(call["id"])
        elif not isinstance(message.get("content"), str):
            return f"Invalid type for 'messages[{index}].content': expected a string."
    if pending:
        return _unanswered(pending)
    tools = body.get("tools")
    for name in ("tool_choice", "parallel_tool_calls"):
        if name in body and not tools:
            return f"Invalid value for '{name}': '{name}' is only allowed when 'tools' are specified."
    for tool in tools or []:
        if tool.get("type") != "function" or not (tool.get("function") or {}).get("name"):
            return "Invalid 'tools': each tool needs type function and a function name."
    if "stream_options" in body and not body.get("stream"):
        return "The 'stream_options' parameter is only allowed when 'stream' is enabled."
    if "response_format" in body:
        return check_response_format(body["response_format"])
    return None


def check_response_format(value: Any) -> str | None:
    """The real endpoint's 400 for a bad ``response_format`` (structured outputs' strict rules)."""
    kind = value.get("type") if isinstance(value, dict) else None
    if kind not in ("text", "json_object", "json_schema"):
        return "Invalid value for 'response_format.type': expected text, json_object or json_schema."
    if kind != "json_schema":
        return None
    spec = value.get("json_schema")
    if not isinstance(spec, dict):
        return "Missing required parameter: 'response_format.json_schema'."
    name = spec.get("name")
    if not isinstance(name, str) or not re.fullmatch(r"[a-zA-Z0-9_-]{1,64}", name):
        return "Invalid 'response_format.json_schema.name': must match ^[a-zA-Z0-9_-]{1,64}$."
    schema = spec.get("schema")
    if not isinstance(schema, dict):
        return "Missing required parameter: 'response_format.json_schema.schema'."
    if spec.get("strict"):
        return _strict_schema_problem(name, schema, ())
    return None


def _strict_schema_problem(name: str, schema: dict[str, Any], where: tuple[str, ...]) -> str | None:
    """Strict mode: every object closes ``additionalProperties`` and requires all its properties."""
    context = f"Invalid schema for response_format '{name}': In context={where}, "
    if schema.get("type") == "object":
        if schema.get("additionalProperties") is not False:
            return context + "'additionalProperties' is required to be supplied and to be false."
        properties = schema.get("properties") or {}
        missing = [key for key in properties if key not in (schema.get("required") or [])]
        if missing:
            return context + f"'required' is required to be supplied and to be an array including every key in properties. Missing '{missing[0]}'."
        for key, sub in properties.items():
            problem = _strict_schema_problem(name, sub, (*where, "properties", key))
            if problem:
                return problem
    if schema.get("type") == "array" and isinstance(schema.get("items"), dict):
        return _strict_schema_problem(name, schema["items"], (*where, "items"))
    return None


def _unanswered(pending: list[str]) -> str:
    return ("An assistant message with 'tool_calls' must be followed by tool messages responding "
            "to each 'tool_call_id'. The following tool_call_ids did not have response messages: "
            + ", ".join(pending))


class FakeChatServer:
    """The fake, served by uvicorn in a background thread (use as a context manager)."""

    def __init__(self, default: Callable[[dict[str, Any]], Reply] | None = None):
        self.requests: list[Recorded] = []
        self.replies: deque[Reply] = deque()
        self.default = default or (lambda body: Reply(text="Hello from the backend."))
        self.started = threading.Event()  # set when an answer starts (streams: the first chunk)
        self.closing = False
        self.url = self.base_url = ""
        self._lock = threading.Lock()
        self._count = 0
        self.run_stream: list[bytes] = []  # a recorded run's SSE frames, replayed by /v1/threads/runs

    def script(self, *replies: Reply) -> None:
        with self._lock:
            self.replies.extend(replies)

    def _next(self, body: dict[str, Any]) -> Reply:
        with self._lock:
            return self.replies.popleft() if self.replies else self.default(body)

    # --- serving ---------------------------------------------------------------------------

    def __enter__(self) -> FakeChatServer:
        app = Starlette(routes=[Route("/v1/chat/completions", self._completions, methods=["POST"]),
                                Route("/v1/threads/runs", self._replay_run, methods=["POST"]),
                                Route("/_fake/requests", self._timings, methods=["GET"]),
                                Route("/_fake/run-stream", self._set_run_stream, methods=["PUT"])])
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        sock.listen(128)
        self._sock = sock
        port = sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        self.base_url = self.url + "/v1"
        self._server = uvicorn.Server(uvicorn.Config(
            app, log_level="warning", lifespan="off", access_log=False, timeout_graceful_shutdown=1,
        ))
        self._server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [sock]}, daemon=True)
        self._thread.start()
        while not self._server.started:
            self._thread.join(0.01)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.closing = True
        self._server.should_exit = True
        self._thread.join(10)
        self._sock.close()

    async def _wait(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while not self.closing and time.monotonic() < end:  # noqa: ASYNC110
            # `closing` is set from the server's own thread: no asyncio.Event to wait on.
            await asyncio.sleep(min(0.05, max(0.0, end - time.monotonic())))

    async def _timings(self, request: Request) -> Response:
        with self._lock:
            return JSONResponse([record.timings() for record in self.requests])

    async def _set_run_stream(self, request: Request) -> Response:
        frames = json.loads(await request.body())
        self.run_stream = [frame.encode() for frame in frames]
        return Response(status_code=204)

    async def _replay_run(self, request: Request) -> Response:
        if not self.run_stream:
            return _error(404, "No run stream recorded (PUT /_fake/run-stream first).", "invalid_request_error")
        body = json.loads(await request.body())
        record = Recorded(dict(request.headers), body if isinstance(body, dict) else {})
        with self._lock:
            self.requests.append(record)
        return StreamingResponse(self._replay(record, self._next(record.body)), media_type="text/event-stream")

    async def _replay(self, record: Recorded, reply: Reply) -> AsyncIterator[bytes]:
        deltas = [i for i, frame in enumerate(self.run_stream) if frame.startswith(b"event: thread.message.delta")]
        first, last = (deltas[0], deltas[-1]) if deltas else (len(self.run_stream), len(self.run_stream) - 1)
        yield b"".join(self.run_stream[:first])
        if reply.first_token:
            await self._wait(reply.first_token)
        record.first_token_at = time.time()
        for number, index in enumerate(deltas):
            if number and reply.pace:
                await self._wait(reply.pace)
            yield self.run_stream[index]
        record.finished = True
        record.finished_at = time.time()
        yield b"".join(self.run_stream[last + 1:])

    async def _completions(self, request: Request) -> Response:
        try:
            body = json.loads(await request.body())
        except ValueError:
            body = None
        record = Recorded(dict(request.headers), body if isinstance(body, dict) else {})
        with self._lock:
            self.requests.append(record)
            self._count += 1
            number = self._count
        problem = check_request(body)
        if problem is not None:
            return _error(400, problem, "invalid_request_error")
        reply = self._next(body)
        if reply.delay:
            await self._wait(reply.delay)
        if reply.status >= 400:
            kind = "requests" if reply.status == 429 else "server_error" if reply.status >= 500 else "invalid_request_error"
            code = "rate_limit_exceeded" if reply.status == 429 else None
            return _error(reply.status, reply.error, kind, code, reply.headers)
        calls = [
            {"id": f"call_{number}_{i}", "name": name,
             "arguments": arguments if isinstance(arguments, str) else json.dumps(arguments)}
            for i, (name, arguments) in enumerate(reply.tool_calls)
        ]
        pieces = reply.text_pieces()
        finish = reply.finish_reason or ("tool_calls" if calls else "stop")
        usage = {"prompt_tokens": 10 * len(body["messages"]) + 1,
                 "completion_tokens": len(pieces) + 5 * len(calls)}
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        record.usage = usage if reply.report_usage else None
        meta = {"id": f"chatcmpl-{number}", "created": int(time.time()), "model": body["model"]}
        if not body.get("stream"):
            self.started.set()
            record.finished = True
            message: dict[str, Any] = {"role": "assistant", "content": "".join(pieces) or None}
            if calls:
                message["tool_calls"] = [
                    {"id": c["id"], "type": "function", "function": {"name": c["name"], "arguments": c["arguments"]}}
                    for c in calls
                ]
            answer = {**meta, "object": "chat.completion",
                      "choices": [{"index": 0, "message": message, "finish_reason": finish}]}
            if reply.report_usage:
                answer["usage"] = usage
            return JSONResponse(answer, headers=dict(reply.headers))
        include_usage = reply.report_usage and (body.get("stream_options") or {}).get("include_usage")
        return StreamingResponse(
            self._stream(record, reply, meta, pieces, calls, finish, usage if include_usage else None),
            media_type="text/event-stream", headers=dict(reply.headers),
        )

    async def _stream(self, record: Recorded, reply: Reply, meta: dict[str, Any], pieces: list[str],
                      calls: list[dict[str, str]], finish: str,
                      usage: dict[str, int] | None) -> AsyncIterator[bytes]:
        def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> bytes:
            data = {**meta, "object": "chat.completion.chunk",
                    "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}]}
            return f"data: {json.dumps(data)}\n\n".encode()

        try:
            yield chunk({"role": "assistant", "content": ""})
            if reply.first_token:
                await self._wait(reply.first_token)
            self.started.set()
            record.first_token_at = time.time()
            for i, piece in enumerate(pieces):
                if i and reply.pace:
                    await self._wait(reply.pace)
                if reply.break_after is not None and i == reply.break_after:
                    raise ConnectionAbortedError("scripted break")
                yield chunk({"content": piece})
            for i, call in enumerate(calls):
                half = len(call["arguments"]) // 2
                yield chunk({"tool_calls": [{"index": i, "id": call["id"], "type": "function",
                                             "function": {"name": call["name"], "arguments": ""}}]})
                for part in (call["arguments"][:half], call["arguments"][half:]):
                    yield chunk({"tool_calls": [{"index": i, "function": {"arguments": part}}]})
            yield chunk({}, finish)
            if usage is not None:
                yield f"data: {json.dumps({**meta, 'object': 'chat.completion.chunk', 'choices': [], 'usage': usage})}\n\n".encode()
            yield b"data: [DONE]\n\n"
            record.finished = True
            record.finished_at = time.time()
        except (asyncio.CancelledError, GeneratorExit):
            record.disconnected = True
            raise


def _error(status: int, message: str, kind: str, code: str | None = None,
           headers: Mapping[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": {"message": message, "type": kind, "param": None, "code": code}},
                        status_code=status, headers=dict(headers or {}))


def unreachable_url() -> str:
    """A loopback base URL where nothing listens (connections are refused)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return f"http://127.0.0.1:{port}/v1"


def main() -> None:
    """Serve the fake on its own (benchmarks): every answer is streamed at one pace.

        python tests/fakes/chat_server.py [--first-token 0.05] [--pace 0.01] [--tokens 20]

    Prints its base URL on stdout, then serves until stdin closes or SIGINT/SIGTERM.
    ``GET /_fake/requests`` gives each request's timings; ``PUT /_fake/run-stream`` records a
    run stream for ``POST /v1/threads/runs`` to replay at the same pace.
    """
    import argparse
    import sys

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--first-token", type=float, default=0.05)
    parser.add_argument("--pace", type=float, default=0.01)
    parser.add_argument("--tokens", type=int, default=20)
    args = parser.parse_args()
    text = " ".join(f"token{i}" for i in range(args.tokens))
    with (FakeChatServer(lambda body: Reply(text=text, first_token=args.first_token, pace=args.pace)) as fake,
          contextlib.suppress(KeyboardInterrupt)):
        sys.stdout.write(fake.base_url + "\n")  # the first line is the URL (bench_backend reads it)
        sys.stdout.flush()
        sys.stdin.read()


if __name__ == "__main__":
    main()
