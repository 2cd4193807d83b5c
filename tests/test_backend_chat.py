"""The Chat Completions backend on its own: the request mapping, the stream, the failures.

Against the strict fake Chat Completions server (tests/fakes/chat_server.py) over loopback.
"""

from __future__ import annotations

import gzip
import itertools
import json
import select
import subprocess
import sys
import time
from pathlib import Path

import httpx
import openai
import pytest
from fakes.chat_server import FakeChatServer, Reply, check_request, unreachable_url

from syncer.emulator.backends.base import BackendFailure, ToolCall, ToolRound, Turn
from syncer.emulator.backends.chat import (
    NO_KEY,
    ChatBackend,
    ChunkAssembler,
    backend_settings,
    request_body,
)
from syncer.errors import UsageError

WEATHER = {"type": "function", "function": {"name": "get_weather", "description": "Weather",
                                            "parameters": {"type": "object", "properties": {}}}}
ROUND = ToolRound((ToolCall("call_a", "get_weather", '{"city": "Paris"}'),
                   ToolCall("call_b", "get_weather", '{"city": "Rome"}')),
                  {"call_a": "sunny", "call_b": '{"temp": 21}'})


def turn(**changes) -> Turn:
    values = {"model": "gpt-4o", "instructions": "Be brief.",
                  "history": [("user", "Hi"), ("assistant", "Hello"), ("user", "Weather?")]}
    values.update(changes)
    return Turn(**values)


class Sleeps:
    def __init__(self):
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)


def backend_for(url: str, sleep=None, **overrides) -> ChatBackend:
    settings = backend_settings(url, environ={"SYNCER_BACKEND_API_KEY": "sk-backend-secret-123456"},
                                **{"max_retries": 2, **overrides})
    return ChatBackend(settings, sleep=sleep or Sleeps())


# --- the request ----------------------------------------------------------------------------


def test_request_maps_instructions_history_tool_rounds_and_settings():
    earlier = ToolRound((ToolCall("call_0", "get_weather", "{}"),), {"call_0": "rain"})
    body = request_body(
        turn(history=[("user", "Hi"), earlier, ("assistant", "It rains."), ("user", "And now?")],
             rounds=[ROUND], tools=[WEATHER, {"type": "code_interpreter"}], tool_choice="required",
             parallel_tool_calls=False, temperature=0.2, top_p=0.9,
             response_format={"type": "json_object"}, max_completion_tokens=50),
        model="llama3",
    )
    assert body["model"] == "llama3"
    assert body["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_0", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "call_0", "content": "rain"},
        {"role": "assistant", "content": "It rains."},
        {"role": "user", "content": "And now?"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_a", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}},
            {"id": "call_b", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Rome"}'}},
        ]},
        {"role": "tool", "tool_call_id": "call_a", "content": "sunny"},
        {"role": "tool", "tool_call_id": "call_b", "content": '{"temp": 21}'},
    ]
    assert body["tools"] == [WEATHER]  # only function tools reach the backend
    assert (body["tool_choice"], body["parallel_tool_calls"]) == ("required", False)
    assert (body["temperature"], body["top_p"], body["max_completion_tokens"]) == (0.2, 0.9, 50)
    assert body["response_format"] == {"type": "json_object"}
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    assert check_request(body) is None


def test_request_without_tools_leaves_out_the_tool_parameters_and_auto_format():
    body = request_body(turn(instructions="", tools=[]), model="m", stream=False)
    assert body["messages"][0] == {"role": "user", "content": "Hi"}
    for name in ("tools", "tool_choice", "parallel_tool_calls", "response_format", "stream",
                 "stream_options", "temperature", "max_completion_tokens"):
        assert name not in body
    assert check_request(body) is None


def test_the_fake_is_strict_like_the_real_endpoint():
    orphan = {"model": "m", "messages": [{"role": "user", "content": "x"},
                                         {"role": "tool", "tool_call_id": "call_1", "content": "y"}]}
    assert "must be a response to a preceeding message with 'tool_calls'" in check_request(orphan)
    unanswered = request_body(turn(rounds=[ToolRound(ROUND.calls, {})]), model="m")
    unanswered["messages"] = [*unanswered["messages"][:-2], {"role": "user", "content": "x"}]
    assert "did not have response messages: call_a, call_b" in check_request(unanswered)
    assert "only allowed when 'tools'" in check_request({"model": "m", "parallel_tool_calls": True,
                                                         "messages": [{"role": "user", "content": "x"}]})
    assert "Unrecognized request argument supplied: foo" in check_request(
        {"model": "m", "foo": 1, "messages": [{"role": "user", "content": "x"}]})


# --- the stream -------------------------------------------------------------------------------


def test_the_fake_served_on_its_own_prints_its_url_and_stops_when_stdin_closes():
    # bench/bench_backend.py starts it this way and reads the URL from its first line.
    fake = Path(__file__).parent / "fakes" / "chat_server.py"
    with subprocess.Popen([sys.executable, str(fake), "--first-token", "0", "--pace", "0", "--tokens", "3"],
                          stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True) as process:
        try:
            assert process.stdout is not None and process.stdin is not None
            ready, _, _ = select.select([process.stdout], [], [], 20)
            assert ready, "the fake printed no URL"
            base_url = process.stdout.readline().strip()
            assert base_url.startswith("http://127.0.0.1:") and base_url.endswith("/v1")
            answer = httpx.post(base_url + "/chat/completions", timeout=10,
                                json={"model": "m", "messages": [{"role": "user", "content": "hi"}]})
            assert answer.json()["choices"][0]["message"]["content"] == "token0 token1 token2"
            process.stdin.close()
            assert process.wait(10) == 0
        finally:
            if process.poll() is None:
                process.kill()


def test_assembler_joins_text_tool_call_pieces_by_index_and_the_usage_chunk():
    assembler = ChunkAssembler()
    chunks = [
        {"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]},
        {"choices": [{"index": 0, "delta": {"tool_calls": [
            {"index": 1, "id": "call_y", "type": "function", "function": {"name": "b", "arguments": ""}}]}}]},
        {"choices": [{"index": 0, "delta": {"tool_calls": [
            {"index": 0, "id": "call_x", "type": "function", "function": {"name": "a", "arguments": '{"k"'}}]}}]},
        {"choices": [{"index": 0, "delta": {"tool_calls": [{"index": 1, "function": {"arguments": "{}"}}]}}]},
        {"choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "function": {"arguments": ": 1}"}}]}}]},
        {"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]},
        {"choices": [], "usage": {"prompt_tokens": 12, "completion_tokens": 7, "total_tokens": 19}},
    ]
    assert [assembler.feed(c) for c in chunks] == [""] * len(chunks)
    result = assembler.result()
    assert [(c.id, c.name, c.arguments) for c in result.tool_calls] == [
        ("call_x", "a", '{"k": 1}'), ("call_y", "b", "{}")]
    assert (result.finish_reason, result.prompt_tokens, result.completion_tokens) == ("tool_calls", 12, 7)


async def test_text_streams_piece_by_piece_with_usage_and_the_backend_key():
    with FakeChatServer() as fake:
        fake.script(Reply(text="Sunny all day long"))
        backend = backend_for(fake.base_url)
        pieces: list[str] = []
        try:
            result = await backend.complete(turn(), pieces.append)
        finally:
            await backend.aclose()
    assert pieces == ["Sunny ", "all ", "day ", "long"]
    assert result.text == "Sunny all day long"
    assert (result.prompt_tokens, result.completion_tokens) == (41, 4) == (
        fake.requests[0].usage["prompt_tokens"], fake.requests[0].usage["completion_tokens"])
    assert fake.requests[0].headers["authorization"] == "Bearer sk-backend-secret-123456"


async def test_tool_calls_come_back_with_the_models_ids_names_and_arguments():
    with FakeChatServer() as fake:
        fake.script(Reply(tool_calls=[("get_weather", {"city": "Paris"}), ("get_weather", {"city": "Rome"})]))
        backend = backend_for(fake.base_url)
        try:
            result = await backend.complete(turn(tools=[WEATHER]), lambda text: None)
        finally:
            await backend.aclose()
    assert [(c.id, c.name, json.loads(c.arguments)) for c in result.tool_calls] == [
        ("call_1_0", "get_weather", {"city": "Paris"}), ("call_1_1", "get_weather", {"city": "Rome"})]
    assert result.finish_reason == "tool_calls"


async def test_a_server_without_usage_or_streaming_still_gives_a_completion():
    with FakeChatServer() as fake:
        fake.script(Reply(text="abcd efgh", report_usage=False))
        backend = backend_for(fake.base_url)
        try:
            result = await backend.complete(turn(), lambda text: None)
        finally:
            await backend.aclose()
    assert result.text == "abcd efgh" and result.completion_tokens == 3 and result.prompt_tokens > 0


class Pieces(httpx.AsyncByteStream):
    """A streamed body delivered in exactly these pieces."""

    def __init__(self, pieces: list[bytes]):
        self.pieces = pieces

    async def __aiter__(self):
        for piece in self.pieces:
            yield piece


def streaming(pieces: list[bytes], encoding: str | None = None, **overrides) -> ChatBackend:
    headers = {"content-type": "text/event-stream", **({"content-encoding": encoding} if encoding else {})}

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers=headers, stream=Pieces(pieces))
    settings = backend_settings("http://backend.test/v1", environ={}, **{"max_retries": 0, **overrides})
    return ChatBackend(settings, transport=httpx.MockTransport(answer))


def chunk(text: str) -> str:
    return json.dumps({"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m",
                       "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": None}]})


async def test_stream_lines_end_in_crlf_lf_or_cr_and_split_anywhere_between_reads():
    first, second, third = chunk("Sun"), chunk("ny "), chunk("day")
    half = second.index(", ") + 1  # between two members: the newline that joins them is whitespace
    body = (f": a comment\r\nevent: x\r\ndata: {first}\r\n\r\n"  # CRLF, with a comment and a name
            f"data:{second[:half]}\ndata:{second[half:]}\n\n"  # one JSON over two data lines
            f"data: {third}\r\rdata: [DONE]\r\r").encode()  # CR only
    cut = body.index(b"\r\n\r\n") + 1  # between a \r and its \n
    pieces = [body[:5], body[5:cut], body[cut:cut + 7], body[cut + 7:-3], body[-3:]]
    backend = streaming(pieces)
    texts: list[str] = []
    try:
        result = await backend.complete(turn(), texts.append)
    finally:
        await backend.aclose()
    assert texts == ["Sun", "ny ", "day"] and result.text == "Sunny day"


async def test_a_compressed_stream_is_decoded_before_it_is_split_into_events():
    body = f"data: {chunk('Hi')}\n\ndata: {chunk(' there')}\n\ndata: [DONE]\n\n".encode()
    packed = gzip.compress(body)
    backend = streaming([packed[:10], packed[10:]], encoding="gzip")
    texts: list[str] = []
    try:
        result = await backend.complete(turn(), texts.append)
    finally:
        await backend.aclose()
    assert texts == ["Hi", " there"] and result.text == "Hi there"


async def failure_of(backend: ChatBackend) -> BackendFailure:
    """The failure a completion ends in (the backend closed afterwards)."""
    try:
        with pytest.raises(BackendFailure) as caught:
            await backend.complete(turn(), lambda text: None)
    finally:
        await backend.aclose()
    return caught.value


async def test_a_stream_event_over_the_size_bound_fails_the_completion_not_the_memory():
    failed = await failure_of(streaming([b"data: " + b"x" * 600, b"y" * 600], max_response_bytes=1000))
    assert failed.code == "server_error" and "over 1,000 bytes" in failed.message
    whole = f"data: {chunk('x' * 1200)}\n\n".encode()  # over the bound, complete in one read
    failed = await failure_of(streaming([whole], max_response_bytes=1000))
    assert failed.code == "server_error" and "over 1,000 bytes" in failed.message


async def test_an_empty_data_line_is_no_event():
    body = f"data:\n\ndata: {chunk('Hi')}\n\ndata: [DONE]\n\n".encode()
    backend = streaming([body])
    texts: list[str] = []
    try:
        result = await backend.complete(turn(), texts.append)
    finally:
        await backend.aclose()
    assert texts == ["Hi"] and result.text == "Hi"


# --- failures ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("reply", "code", "attempts", "named"), [
    (Reply(status=500, error="boom"), "server_error", 3, "HTTP 500"),
    (Reply(status=503, error="busy"), "server_error", 3, "HTTP 503"),
    (Reply(status=429, error="slow down", headers={"retry-after-ms": "5"}), "rate_limit_exceeded", 3, "HTTP 429"),
    (Reply(status=400, error="This model's maximum context length is 8192 tokens."), "invalid_prompt", 1,
     "maximum context length"),
])
async def test_backend_errors_are_retried_then_become_the_runs_last_error(reply, code, attempts, named):
    with FakeChatServer() as fake:
        fake.script(*[reply] * 3)
        sleeps = Sleeps()
        backend = backend_for(fake.base_url, sleeps)
        try:
            with pytest.raises(BackendFailure) as caught:
                await backend.complete(turn(), lambda text: None)
        finally:
            await backend.aclose()
    assert caught.value.code == code
    assert named in caught.value.message
    assert len(fake.requests) == attempts and len(sleeps.delays) == attempts - 1
    assert "sk-backend-secret" not in caught.value.message


async def test_a_timeout_and_an_unreachable_backend_are_server_errors():
    with FakeChatServer() as fake:
        fake.script(*[Reply(text="late", delay=3)] * 2)
        timed_out = await failure_of(backend_for(fake.base_url, timeout=0.2, max_retries=1))
    assert timed_out.code == "server_error" and "timed out" in timed_out.message
    refused = await failure_of(backend_for(unreachable_url(), max_retries=1))
    assert refused.code == "server_error" and "could not be reached" in refused.message


def test_settings_take_the_backend_key_only_and_name_the_flag(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-client-key-abcdefgh")
    assert backend_settings("http://127.0.0.1:9/v1", environ={}).secret() == NO_KEY
    assert backend_settings("http://127.0.0.1:9/v1",
                            environ={"SYNCER_BACKEND_API_KEY": "sk-b"}).secret() == "sk-b"
    with pytest.raises(UsageError, match=r"^--backend: expected an http\(s\) URL .*, got 'ftp://x'$"):
        backend_settings("ftp://x", environ={})  # the validator's words, not pydantic's prefix


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # the SDK's notice on the Assistants API
def test_the_fake_replays_a_recorded_run_stream_at_its_token_pace(emulator):
    # bench/bench_backend.py's floor: a real run's events, sent by the fake itself to the SDK.
    server = emulator()
    headers = {"Authorization": "Bearer sk-test", "OpenAI-Beta": "assistants=v2"}
    assistant = httpx.post(server.base_url + "/assistants", json={"model": "gpt-4o"}, headers=headers).json()
    recorded = httpx.post(server.base_url + "/threads/runs", headers=headers, timeout=30, json={
        "assistant_id": assistant["id"], "stream": True,
        "thread": {"messages": [{"role": "user", "content": "Say something."}]}}).text
    frames = [frame + "\r\n\r\n" for frame in recorded.split("\r\n\r\n") if frame.strip()]
    recorded_events = [frame.split("\r\n", 1)[0].removeprefix("event: ") for frame in frames]
    assert recorded_events.count("thread.message.delta") >= 2
    with FakeChatServer(lambda body: Reply(first_token=0.05, pace=0.02)) as fake:
        assert httpx.post(fake.base_url + "/threads/runs", json={}).status_code == 404  # nothing recorded
        httpx.put(fake.url + "/_fake/run-stream", json=frames).raise_for_status()
        sdk = openai.OpenAI(base_url=fake.base_url, api_key="sk-test", max_retries=0)
        with sdk.beta.threads.create_and_run(assistant_id=assistant["id"], stream=True,
                                             thread={"messages": [{"role": "user", "content": "tag 1"}]}) as stream:
            arrivals = [(event.event, time.monotonic()) for event in stream]
        assert [name for name, _ in arrivals] == [name for name in recorded_events if name != "done"]
        deltas = [at for name, at in arrivals if name == "thread.message.delta"]
        assert all(later - earlier >= 0.015 for earlier, later in itertools.pairwise(deltas))
        (timing,) = httpx.get(fake.url + "/_fake/requests").json()
        assert timing["tag"] == "tag 1"
        assert timing["finished_at"] - timing["first_token_at"] >= 0.02 * (len(deltas) - 1) - 0.005
