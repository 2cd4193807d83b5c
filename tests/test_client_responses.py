"""The client's Conversations and Responses methods: against the emulator over real HTTP
(loopback), and against a scripted transport for retries and key hygiene."""

from __future__ import annotations

import json

import httpx
import pytest
from pydantic import ValidationError

from syncer.api.client import AssistantsClient
from syncer.api.models.conversations import (
    CreateConversationRequest,
    FunctionCallItem,
    FunctionCallOutputItem,
    MessageItem,
)
from syncer.api.models.responses import CreateResponseRequest
from syncer.api.settings import ClientSettings
from syncer.emulator import EmulatorConfig, running_server
from syncer.errors import BadRequestError, NotFoundError, RateLimitError, UsageError

KEY = "sk-test-responses-client-SECRET42"
TOOL = {"type": "function", "name": "lookup", "parameters": {"type": "object"}, "strict": False}


@pytest.fixture(scope="module")
def server():
    with running_server(EmulatorConfig()) as running:
        yield running


def client_for(server) -> AssistantsClient:
    return AssistantsClient(ClientSettings(api_key=KEY, base_url=server.base_url))


async def test_conversation_lifecycle_and_lazy_paging_both_orders(server):
    async with client_for(server) as client:
        conversation = await client.create_conversation(CreateConversationRequest(
            items=[{"role": "user", "content": f"m{i}"} for i in range(20)], metadata={"k": "v"}))
        added = await client.create_conversation_items(
            conversation.id, {"items": [{"role": "user", "content": f"m{i}"} for i in range(20, 25)]})
        assert [item.content[0].text for item in added] == [f"m{i}" for i in range(20, 25)]
        texts = [f"m{i}" for i in range(25)]

        before = client.requests_sent
        ascending = [i.content[0].text async for i in client.list_conversation_items(conversation.id, limit=4)]
        assert ascending == texts
        assert client.requests_sent - before == 7  # ceil(25 / 4): one request a page

        descending = client.list_conversation_items(conversation.id, order="desc", limit=6)
        first = await anext(descending)
        assert first.content[0].text == "m24"
        sent = client.requests_sent
        rest = [i.content[0].text async for i in descending]
        assert [first.content[0].text, *rest] == texts[::-1]
        assert client.requests_sent - sent == 4  # the first page was fetched once, lazily

        item = await client.retrieve_conversation_item(conversation.id, added[0].id)
        assert isinstance(item, MessageItem) and item.role == "user"
        after_delete = await client.delete_conversation_item(conversation.id, added[0].id)
        assert after_delete.id == conversation.id
        with pytest.raises(NotFoundError) as caught:
            await client.retrieve_conversation_item(conversation.id, added[0].id)
        assert caught.value.request_id.startswith("req_")

        updated = await client.update_conversation(conversation.id, {"metadata": {"v": "2"}})
        assert updated.metadata == {"v": "2"}
        assert (await client.retrieve_conversation(conversation.id)).metadata == {"v": "2"}
        assert (await client.delete_conversation(conversation.id)).deleted is True
        with pytest.raises(NotFoundError):
            await client.retrieve_conversation(conversation.id)


async def test_responses_with_calls_outputs_and_input_items(server):
    async with client_for(server) as client:
        first = await client.create_response(CreateResponseRequest(
            model="gpt-4o", tools=[TOOL], input='@lookup {"word": "syncer"}'))
        call = first.output[0]
        assert isinstance(call, FunctionCallItem) and json.loads(call.arguments) == {"word": "syncer"}
        second = await client.create_response({
            "model": "gpt-4o", "tools": [TOOL], "previous_response_id": first.id,
            "input": [{"type": "function_call_output", "call_id": call.call_id, "output": "a tool"}]})
        assert second.output_text.endswith("- lookup: a tool")
        assert second.usage is not None and second.usage.total_tokens > 0
        assert (await client.retrieve_response(second.id)).output_text == second.output_text
        inputs = [item async for item in client.list_input_items(second.id)]
        assert [item.type for item in inputs] == ["function_call_output"]
        assert (await client.delete_response(second.id)).deleted is True

        with pytest.raises(BadRequestError) as caught:
            await client.create_response({"model": "gpt-4o", "input": "x", "previous_response_id": first.id,
                                          "conversation": "conv_x"})
        assert caught.value.code == "mutually_exclusive_parameters"
        assert caught.value.request_id.startswith("req_")
        with pytest.raises(UsageError):
            await client.create_response({"model": "gpt-4o", "input": "x", "stream": True})


async def test_a_request_model_fails_before_anything_is_sent(server):
    async with client_for(server) as client:
        with pytest.raises(ValidationError, match="items"):
            await client.create_conversation(CreateConversationRequest(
                items=[{"role": "user", "content": "x"}] * 21))
        assert client.requests_sent == 0


async def test_retries_and_key_hygiene():
    answers = [
        httpx.Response(429, json={"error": {"message": f"slow down {KEY}", "type": "requests",
                                            "param": None, "code": "rate_limit_exceeded"}},
                       headers={"retry-after-ms": "10", "x-request-id": "req_429"}),
        httpx.Response(200, json={"id": "conv_1", "object": "conversation", "created_at": 1, "metadata": {}}),
    ]
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return answers.pop(0)

    sleeps: list[float] = []

    async def sleep(delay: float) -> None:
        sleeps.append(delay)

    settings = ClientSettings(api_key=KEY, base_url="http://127.0.0.1:1/v1", max_retries=1)
    async with AssistantsClient(settings, transport=httpx.MockTransport(handler), sleep=sleep) as client:
        conversation = await client.create_conversation()
        assert conversation.id == "conv_1"
        assert sleeps == [0.01]
        assert seen[0].headers["Idempotency-Key"] == seen[1].headers["Idempotency-Key"]
        assert KEY not in repr(client)

        answers.append(answers_429 := httpx.Response(
            429, json={"error": {"message": f"slow down {KEY}", "type": "requests", "param": None,
                                 "code": "rate_limit_exceeded"}}, headers={"x-request-id": "req_2"}))
        answers.append(answers_429)
        with pytest.raises(RateLimitError) as caught:
            await client.retrieve_response("resp_1")
        assert KEY not in str(caught.value)
        assert caught.value.request_id == "req_2"


async def test_a_function_call_output_given_as_content_parts_reads_back(server):
    async with client_for(server) as client:
        conversation = await client.create_conversation(CreateConversationRequest(items=[
            {"type": "function_call", "call_id": "call_p", "name": "lookup", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "call_p",
             "output": [{"type": "input_text", "text": "found"},
                        {"type": "input_file", "file_id": "file_1", "filename": "a.pdf"}]},
        ]))
        items = [item async for item in client.list_conversation_items(conversation.id)]
        assert isinstance(items[1], FunctionCallOutputItem)
        assert [part.type for part in items[1].output] == ["input_text", "input_file"]
        assert items[1].output[0].text == "found"
