"""The client against the real emulator: runs over a stream or by polling, lists, errors.

Runs use uvicorn on loopback (real HTTP, real server-sent events); list walks use the same
app in-process through ``httpx.ASGITransport``, which keeps the many-page walks fast.
"""

from __future__ import annotations

import json

import httpx
import pytest

from syncer.api import models
from syncer.api.client import AssistantsClient
from syncer.api.settings import ClientSettings
from syncer.emulator import EmulatorConfig, create_app, running_server
from syncer.errors import AuthenticationError, BadRequestError, NotFoundError

KEY = "sk-test-e2e-client-SECRET99"
RUN_ROUTE = "GET /v1/threads/{thread_id}/runs/{run_id}"
CREATE_RUN_ROUTE = "POST /v1/threads/{thread_id}/runs"
SUBMIT_ROUTE = "POST /v1/threads/{thread_id}/runs/{run_id}/submit_tool_outputs"

LOOKUP = {"type": "function", "function": {
    "name": "lookup", "description": "Look a word up.",
    "parameters": {"type": "object", "properties": {"word": {"type": "string"}}},
}}


class Bodies(httpx.AsyncBaseTransport):
    """Real HTTP; keeps the JSON body of every POST (to see whether `stream` was asked)."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.posts: list[tuple[str, dict]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            self.posts.append((request.url.path, json.loads(request.content or b"{}")))
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


async def tool_call_round_trip(client: AssistantsClient) -> tuple[models.Run, models.Run]:
    assistant = await client.create_assistant({"model": "gpt-4o", "name": "Lookup",
                                               "tools": [LOOKUP]})
    thread = await client.create_thread()
    await client.create_message(thread.id, {"role": "user",
                                            "content": 'Define it: @lookup {"word": "cobalt"}'})
    paused = await client.run_until_settled(thread.id, {"assistant_id": assistant.id}, timeout=30)
    call = paused.required_action.submit_tool_outputs.tool_calls[0]
    done = await client.resume_after_outputs(
        thread.id, paused.id, [{"tool_call_id": call.id, "output": "a blue metal"}], timeout=30)
    return paused, done


async def test_a_streaming_server_runs_a_tool_call_round_trip_without_polling():
    transport = Bodies()
    with running_server(EmulatorConfig(run_ms=20)) as server:
        settings = ClientSettings(api_key=KEY, base_url=server.base_url)
        async with AssistantsClient(settings, transport=transport) as client:
            paused, done = await tool_call_round_trip(client)
            messages = [m async for m in client.list_messages(done.thread_id)]
        routes = server.stats()["by_route"]
    assert paused.status == "requires_action"
    assert paused.required_action.submit_tool_outputs.tool_calls[0].function.name == "lookup"
    assert done.status == "completed" and done.id == paused.id
    assert routes.get(RUN_ROUTE, 0) == 0  # everything came over the event streams
    assert routes[CREATE_RUN_ROUTE] == 1 and routes[SUBMIT_ROUTE] == 1
    reply = messages[-1]
    assert reply.role == "assistant" and "a blue metal" in reply.content[0].text.value


async def test_a_server_that_refuses_streams_is_polled_and_not_asked_again():
    transport = Bodies()
    with running_server(EmulatorConfig(run_ms=20, stream=False)) as server:
        settings = ClientSettings(api_key=KEY, base_url=server.base_url)
        async with AssistantsClient(settings, transport=transport) as client:
            paused, done = await tool_call_round_trip(client)
            second = await client.run_until_settled(done.thread_id,
                                                    {"assistant_id": done.assistant_id},
                                                    timeout=30)
            runs = [r.id async for r in client.list_runs(done.thread_id)]
        routes = server.stats()["by_route"]
    assert paused.status == "requires_action" and done.status == "completed"
    assert second.status == "completed"
    run_posts = [body for path, body in transport.posts if path.endswith(("/runs",
                                                                          "/submit_tool_outputs"))]
    # asked once, refused with a 400 naming `stream`; then plain requests only
    assert [body.get("stream") for body in run_posts] == [True, None, None, None]
    assert routes[RUN_ROUTE] >= 2  # polled
    assert runs == [done.id, second.id]  # the refused request created nothing


@pytest.fixture
async def asgi_client():
    app = create_app(EmulatorConfig())
    settings = ClientSettings(api_key=KEY, base_url="http://emulator.test/v1")
    async with AssistantsClient(settings, transport=httpx.ASGITransport(app=app)) as client:
        yield client
    app.state.emulator.close()


@pytest.mark.parametrize("order", ["asc", "desc"])
@pytest.mark.parametrize("limit", [1, 4, 100])
async def test_walks_over_the_emulator_return_every_object_once(asgi_client, order, limit):
    created = [(await asgi_client.create_assistant({"model": "gpt-4o", "name": f"n{i}"})).id
               for i in range(13)]
    seq = created if order == "asc" else created[::-1]
    forward = [a["id"] async for a in asgi_client.paginate("/assistants", order=order,
                                                           limit=limit)]
    assert forward == seq
    after = [a["id"] async for a in asgi_client.paginate("/assistants", order=order,
                                                         limit=limit, after=seq[3])]
    assert after == seq[4:]
    backward = [a["id"] async for a in asgi_client.paginate("/assistants", order=order,
                                                            limit=limit, before=seq[10])]
    assert backward == seq[:10][::-1]
    pages = [p async for p in asgi_client.pages("/assistants", order=order, limit=limit,
                                                before=seq[10])]
    assert [o["id"] for o in pages[0].data] == seq[max(0, 10 - limit):10]


async def test_emulator_errors_arrive_with_code_param_and_request_id(asgi_client):
    with pytest.raises(NotFoundError) as missing:
        await asgi_client.retrieve_assistant("asst_missing")
    assert str(missing.value).startswith(
        "HTTP 404 invalid_request_error: No assistant found with id 'asst_missing'. (request id req_")
    too_many = {f"k{i}": "v" for i in range(17)}
    with pytest.raises(BadRequestError) as invalid:
        await asgi_client.create_assistant({"model": "gpt-4o", "metadata": too_many})
    error = invalid.value
    assert (error.code, error.param) == ("object_above_max_properties", "metadata")
    assert error.request_id and error.request_id.startswith("req_")
    with pytest.raises(BadRequestError) as bad_limit:
        [a async for a in asgi_client.paginate("/assistants", limit=101)]
    assert bad_limit.value.param == "limit"


async def test_a_wrong_key_is_refused_without_showing_it():
    app = create_app(EmulatorConfig(api_key="sk-the-right-key-000000"))
    settings = ClientSettings(api_key=KEY, base_url="http://emulator.test/v1")
    async with AssistantsClient(settings, transport=httpx.ASGITransport(app=app)) as client:
        with pytest.raises(AuthenticationError) as caught:
            await client.retrieve_assistant("asst_1")
    app.state.emulator.close()
    assert caught.value.code == "invalid_api_key"
    assert KEY not in str(caught.value) and KEY[-8:] not in str(caught.value)


MODEL = {"model": "gpt-4o"}
LIMITS = [
    ({**MODEL, "metadata": {f"k{i}": "v" for i in range(17)}}, "object_above_max_properties",
     "metadata"),
    ({**MODEL, "metadata": {"k" * 65: "v"}}, "string_above_max_length", "metadata"),
    ({**MODEL, "metadata": {"key": "v" * 513}}, "string_above_max_length", "metadata.key"),
    ({**MODEL, "name": "n" * 257}, "string_above_max_length", "name"),
    ({**MODEL, "description": "d" * 513}, "string_above_max_length", "description"),
    ({**MODEL, "instructions": "i" * 256_001}, "string_above_max_length", "instructions"),
    ({**MODEL, "tools": [{"type": "code_interpreter"}] * 129}, "array_above_max_length", "tools"),
    ({**MODEL, "tools": [{"type": "function", "function": {"name": "no spaces"}}]},
     "invalid_value", "tools[0].function.name"),
    ({**MODEL, "temperature": 2.5}, "decimal_above_max_value", "temperature"),
    ({**MODEL, "top_p": 1.5}, "decimal_above_max_value", "top_p"),
    ({**MODEL, "bogus": 1}, "unknown_parameter", "bogus"),
]


@pytest.mark.parametrize(("body", "code", "param"), LIMITS,
                         ids=[f"{c}:{p}" for _, c, p in LIMITS])
async def test_every_limit_comes_back_as_a_bad_request_with_code_param_and_request_id(
        asgi_client, body, code, param):
    with pytest.raises(BadRequestError) as caught:
        await asgi_client.create_assistant(body)
    error = caught.value
    assert (error.status_code, error.error_type, error.code, error.param) == (
        400, "invalid_request_error", code, param)
    assert error.request_id and error.request_id.startswith("req_")
    assert str(error).startswith(f"HTTP 400 {code}: ") and f"'{param}'" in error.message
    assert str(error).endswith(f"(request id {error.request_id})")


@pytest.mark.parametrize("stream", [True, False])
async def test_failed_and_incomplete_runs_settle_as_typed_runs(stream):
    """A run that fails or stops short is settled (not waited on) and parses into `models.Run`."""
    with running_server(EmulatorConfig(run_ms=20, stream=stream)) as server:
        server.script_faults({"fail_runs": [1]})
        settings = ClientSettings(api_key=KEY, base_url=server.base_url)
        async with AssistantsClient(settings) as client:
            assistant = await client.create_assistant({"model": "gpt-4o"})
            thread = await client.create_thread({"messages": [{"role": "user", "content": "hi"}]})
            failed = await client.run_until_settled(thread.id, {"assistant_id": assistant.id},
                                                    timeout=30)
            long = "word " * 2000
            await client.create_message(thread.id, {"role": "user", "content": long})
            short = await client.run_until_settled(
                thread.id, {"assistant_id": assistant.id, "max_prompt_tokens": 256}, timeout=30)
    assert failed.status == "failed" and failed.last_error.code == "server_error"
    assert short.status == "incomplete" and short.incomplete_details.reason == "max_prompt_tokens"
