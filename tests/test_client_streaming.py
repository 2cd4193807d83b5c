"""Following runs: server-sent events, the polling fallback (both triggers), remembering it."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import httpx
import pytest

from syncer.api.client import AssistantsClient
from syncer.api.settings import ClientSettings
from syncer.errors import APIConnectionError, APIResponseError, BadRequestError, RunError

KEY = "sk-test-streaming"
BASE = "http://127.0.0.1:1/v1"


def run(status: str, run_id: str = "run_1", **extra) -> dict:
    return {"id": run_id, "object": "thread.run", "created_at": 1, "thread_id": "thread_1",
            "assistant_id": "asst_1", "status": status, "model": "gpt-4o", **extra}


REQUIRES_ACTION = run("requires_action", required_action={
    "type": "submit_tool_outputs",
    "submit_tool_outputs": {"tool_calls": [{"id": "call_1", "type": "function",
                                            "function": {"name": "lookup", "arguments": "{}"}}]},
})


def sse(*events: tuple[str, object]) -> bytes:
    return "".join(
        f"event: {name}\ndata: {data if isinstance(data, str) else json.dumps(data)}\n\n"
        for name, data in events
    ).encode()


def event_stream(*events: tuple[str, object]) -> httpx.Response:
    return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=sse(*events))


FULL_STREAM = [
    ("thread.run.created", run("queued")), ("thread.run.queued", run("queued")),
    ("thread.run.in_progress", run("in_progress")),
    ("thread.message.delta", {"id": "msg_1", "object": "thread.message.delta",
                              "delta": {"content": []}}),
    ("thread.run.completed", run("completed")), ("done", "[DONE]"),
]


class FakeServer:
    """A thread with one run; how it answers `stream: true` is the mode under test."""

    def __init__(self, stream_answer, polls_until_done: int = 2, poll_headers=None):
        self.stream_answer = stream_answer  # callable(request) -> httpx.Response
        self.polls_until_done = polls_until_done
        self.poll_headers = poll_headers or {}
        self.posts: list[dict] = []
        self.gets = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            body = json.loads(request.read() or b"{}")
            self.posts.append({"path": request.url.path, "body": body})
            if body.get("stream"):
                return self.stream_answer(request)
            return httpx.Response(200, json=run("queued"))
        self.gets += 1
        status = "completed" if self.gets >= self.polls_until_done else "in_progress"
        return httpx.Response(200, json=run(status), headers=self.poll_headers)

    @property
    def streamed_posts(self) -> int:
        return sum(1 for p in self.posts if p["body"].get("stream"))


class Sleeps(list):
    async def __call__(self, seconds: float) -> None:
        self.append(seconds)


def client_for(server, sleeps=None) -> AssistantsClient:
    return AssistantsClient(ClientSettings(api_key=KEY, base_url=BASE),
                            transport=httpx.MockTransport(server),
                            sleep=sleeps if sleeps is not None else Sleeps())


def reject_stream(param: str | None = "stream", message: str = "Streaming is not supported."):
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(400, json={"error": {"message": message, "type":
                                                   "invalid_request_error", "param": param,
                                                   "code": "unsupported_parameter"}})
    return answer


async def test_a_streaming_server_settles_the_run_from_events_alone():
    server = FakeServer(lambda r: event_stream(*FULL_STREAM))
    async with client_for(server) as client:
        result = await client.run_until_settled("thread_1", {"assistant_id": "asst_1"})
        assert client.requests_sent == 1
    assert result.status == "completed" and result.id == "run_1"
    assert server.posts == [{"path": "/v1/threads/thread_1/runs",
                             "body": {"assistant_id": "asst_1", "stream": True}}]
    assert server.gets == 0


async def test_requires_action_settles_with_the_tool_calls():
    server = FakeServer(lambda r: event_stream(("thread.run.created", run("queued")),
                                               ("thread.run.requires_action", REQUIRES_ACTION),
                                               ("done", "[DONE]")))
    async with client_for(server) as client:
        result = await client.run_until_settled("thread_1", {"assistant_id": "asst_1"})
    assert result.status == "requires_action"
    assert result.required_action.submit_tool_outputs.tool_calls[0].id == "call_1"


@pytest.mark.parametrize("rejection", [reject_stream(param="stream"),
                                       reject_stream(param=None, message="'stream' is not allowed")])
async def test_a_400_naming_stream_falls_back_to_polling_and_is_remembered(rejection):
    server, sleeps = FakeServer(rejection, polls_until_done=3), Sleeps()
    async with client_for(server, sleeps) as client:
        first = await client.run_until_settled("thread_1", {"assistant_id": "asst_1"})
        assert first.status == "completed"
        # the rejected request created nothing, so the run is created again without stream
        assert [p["body"] for p in server.posts] == [{"assistant_id": "asst_1", "stream": True},
                                                     {"assistant_id": "asst_1"}]
        assert server.gets == 3 and sleeps == pytest.approx([0.1, 0.15])
        await client.run_until_settled("thread_1", {"assistant_id": "asst_1"})
    assert server.streamed_posts == 1  # never asked again


async def test_a_non_sse_answer_is_the_run_itself_and_is_never_created_twice():
    server = FakeServer(lambda r: httpx.Response(200, json=run("queued")))
    async with client_for(server) as client:
        result = await client.run_until_settled("thread_1", {"assistant_id": "asst_1"})
        assert result.status == "completed"
        assert len(server.posts) == 1  # the server ignored stream and created the run: poll it
        await client.run_until_settled("thread_1", {"assistant_id": "asst_1"})
    assert [p["body"].get("stream") for p in server.posts] == [True, None]


async def test_a_400_about_something_else_is_raised_not_hidden():
    busy = reject_stream(param=None, message="Thread thread_1 already has an active run run_0.")
    server = FakeServer(busy)
    async with client_for(server) as client:
        with pytest.raises(BadRequestError, match="already has an active run"):
            await client.run_until_settled("thread_1", {"assistant_id": "asst_1"})
        assert len(server.posts) == 1
        assert BASE not in client.no_stream


async def test_a_stream_broken_midway_polls_the_existing_run_instead_of_creating_another():
    async def broken() -> AsyncIterator[bytes]:
        yield sse(("thread.run.created", run("queued")), ("thread.run.in_progress",
                                                          run("in_progress")))
        raise httpx.ReadError("connection reset by peer")

    server = FakeServer(lambda r: httpx.Response(200, headers={"content-type":
                                                               "text/event-stream"},
                                                 content=broken()))
    async with client_for(server) as client:
        result = await client.run_until_settled("thread_1", {"assistant_id": "asst_1"})
    assert result.status == "completed"
    assert len(server.posts) == 1 and server.gets == 2


async def test_a_stream_broken_before_any_run_event_is_an_error():
    async def broken() -> AsyncIterator[bytes]:
        yield b": keep-alive\n\n"
        raise httpx.ReadError("connection reset by peer")

    server = FakeServer(lambda r: httpx.Response(200, headers={"content-type":
                                                               "text/event-stream"},
                                                 content=broken()))
    async with client_for(server) as client:
        with pytest.raises(APIConnectionError, match="before the run was created"):
            await client.run_until_settled("thread_1", {"assistant_id": "asst_1"})
    assert len(server.posts) == 1


async def test_a_stream_that_ends_early_is_finished_by_polling():
    server = FakeServer(lambda r: event_stream(("thread.run.created", run("queued")),
                                               ("done", "[DONE]")), polls_until_done=1)
    async with client_for(server) as client:
        result = await client.run_until_settled("thread_1", {"assistant_id": "asst_1"})
    assert result.status == "completed" and server.gets == 1


async def test_a_5xx_to_the_stream_request_is_retried_like_any_request():
    answers = iter([httpx.Response(503, json={"error": {"message": "busy"}}),
                    event_stream(*FULL_STREAM)])
    server, sleeps = FakeServer(lambda r: next(answers)), Sleeps()
    async with client_for(server, sleeps) as client:
        result = await client.run_until_settled("thread_1", {"assistant_id": "asst_1"})
    assert result.status == "completed" and server.streamed_posts == 2 and len(sleeps) == 1


async def test_resume_after_outputs_streams_and_falls_back_the_same_way():
    server = FakeServer(reject_stream(), polls_until_done=1)
    outputs = [{"tool_call_id": "call_1", "output": "42"}]
    async with client_for(server) as client:
        result = await client.resume_after_outputs("thread_1", "run_1", outputs)
    assert result.status == "completed"
    path = "/v1/threads/thread_1/runs/run_1/submit_tool_outputs"
    assert server.posts == [
        {"path": path, "body": {"tool_outputs": outputs, "stream": True}},
        {"path": path, "body": {"tool_outputs": outputs}},
    ]


async def test_resume_after_outputs_over_a_stream():
    server = FakeServer(lambda r: event_stream(("thread.run.queued", run("queued")),
                                               ("thread.run.completed", run("completed"))))
    async with client_for(server) as client:
        result = await client.resume_after_outputs(
            "thread_1", "run_1", [{"tool_call_id": "call_1", "output": "42"}])
    assert result.status == "completed" and server.gets == 0


async def test_wait_for_run_honours_poll_after_ms():
    server, sleeps = FakeServer(None, polls_until_done=3,
                                poll_headers={"openai-poll-after-ms": "250"}), Sleeps()
    async with client_for(server, sleeps) as client:
        result = await client.wait_for_run("thread_1", "run_1")
    assert result.status == "completed" and sleeps == [0.25, 0.25]


async def test_wait_for_run_backs_off_and_times_out_with_a_run_error():
    server, sleeps = FakeServer(None, polls_until_done=10**9), Sleeps()
    async with client_for(server, sleeps) as client:
        with pytest.raises(RunError) as caught:
            await client.wait_for_run("thread_1", "run_1", timeout=5)
    assert str(caught.value) == "run run_1 on thread thread_1 is still in_progress after 5 s"
    assert sleeps[:3] == pytest.approx([0.1, 0.15, 0.225])
    assert max(sleeps) <= 2.0 and sum(sleeps) == pytest.approx(5.0)


async def test_typed_request_models_are_sent_with_only_the_fields_set():
    from syncer.api.models import CreateRunRequest

    server = FakeServer(lambda r: event_stream(*FULL_STREAM))
    async with client_for(server) as client:
        await client.run_until_settled("thread_1", CreateRunRequest(assistant_id="asst_1",
                                                                    temperature=0.5))
    assert server.posts[0]["body"] == {"assistant_id": "asst_1", "temperature": 0.5,
                                       "stream": True}


async def test_a_json_answer_cut_off_midway_is_retried_like_any_dropped_connection():
    async def cut() -> AsyncIterator[bytes]:
        yield b'{"id": "'
        raise httpx.RemoteProtocolError("peer closed connection without sending complete body")

    answers = iter([httpx.Response(200, headers={"content-type": "application/json"},
                                   content=cut()),
                    event_stream(*FULL_STREAM)])
    server, sleeps = FakeServer(lambda r: next(answers)), Sleeps()
    async with client_for(server, sleeps) as client:
        result = await client.run_until_settled("thread_1", {"assistant_id": "asst_1"})
        assert BASE not in client.no_stream  # a dropped answer says nothing about streaming
    assert result.status == "completed" and server.streamed_posts == 2 and len(sleeps) == 1


@pytest.mark.parametrize("rejection", [
    reject_stream(param="metadata", message="'stream' is fine but metadata is not"),
    reject_stream(param=None, message="Invalid upstream model 'x'."),
])
async def test_other_400s_that_merely_contain_the_word_do_not_trigger_the_fallback(rejection):
    server = FakeServer(rejection)
    async with client_for(server) as client:
        with pytest.raises(BadRequestError):
            await client.run_until_settled("thread_1", {"assistant_id": "asst_1"})
    assert len(server.posts) == 1


async def test_an_answer_that_is_neither_events_nor_a_run_is_a_response_error():
    server = FakeServer(lambda r: httpx.Response(200, json={"ok": True},
                                                 headers={"x-request-id": "req_odd"}))
    async with client_for(server) as client:
        with pytest.raises(APIResponseError) as caught:
            await client.run_until_settled("thread_1", {"assistant_id": "asst_1"})
    assert caught.value.request_id == "req_odd"
    assert "neither server-sent events nor a run" in str(caught.value)
    assert len(server.posts) == 1


async def test_an_error_event_is_reported():
    server = FakeServer(lambda r: event_stream(
        ("thread.run.created", run("queued")),
        ("error", {"message": "The server had an error.", "type": "server_error"})))
    async with client_for(server) as client:
        with pytest.raises(APIResponseError) as caught:
            await client.run_until_settled("thread_1", {"assistant_id": "asst_1"})
    assert str(caught.value) == (
        "POST /threads/thread_1/runs: the server sent an error event: The server had an error."
    )


async def test_a_stream_that_never_settles_times_out_naming_the_run():
    async def slow() -> AsyncIterator[bytes]:
        yield sse(("thread.run.created", run("queued")))
        await asyncio.sleep(30)  # cut short by the 0.05 s timeout below

    server = FakeServer(lambda r: httpx.Response(200, headers={"content-type":
                                                               "text/event-stream"},
                                                 content=slow()))
    async with client_for(server) as client:
        with pytest.raises(RunError) as caught:
            await client.run_until_settled("thread_1", {"assistant_id": "asst_1"}, timeout=0.05)
    assert str(caught.value) == "run run_1 on thread thread_1 did not settle within 0.05 s"
