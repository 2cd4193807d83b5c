"""The official `openai` SDK, unmodified, drives the emulator's Responses and Conversations APIs
over real HTTP (uvicorn on loopback).

As in test_sdk_conformance.py, every object is re-validated strictly with the SDK's own
pydantic type (`conforms`): no field the SDK does not know, none it requires missing.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import openai
import pytest
from openai.types.conversations import (
    Conversation,
    ConversationDeletedResource,
    ConversationItem,
    ConversationItemList,
    Message,
)
from openai.types.responses import (
    Response,
    ResponseFunctionToolCall,
    ResponseFunctionToolCallItem,
    ResponseFunctionToolCallOutputItem,
    ResponseInputMessageItem,
    ResponseItemList,
    ResponseOutputMessage,
    ResponseStreamEvent,
)
from openai.types.shared import ErrorObject
from pydantic import TypeAdapter

from syncer.emulator import EmulatorConfig, running_server

WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "Current weather for a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    "strict": False,
}
TIME = {"type": "function", "name": "get_time", "parameters": {"type": "object"}, "strict": False}


@pytest.fixture(scope="module")
def server():
    with running_server(EmulatorConfig(run_ms=20)) as running:
        yield running


@pytest.fixture
def client(server):
    sdk = openai.OpenAI(base_url=server.base_url, api_key="sk-conformance", max_retries=0)
    yield sdk
    sdk.close()


def conforms(model: Any, obj: Any) -> Any:
    """``obj`` re-validated strictly as the SDK type ``model``, with no unknown fields anywhere."""
    raw = obj.model_dump(mode="json", by_alias=True) if hasattr(obj, "model_dump") else obj
    validated = TypeAdapter(model).validate_python(raw)
    _no_extra(validated)
    return validated


def _no_extra(value: Any) -> None:
    if isinstance(value, list):
        for item in value:
            _no_extra(item)
    elif hasattr(value, "model_extra"):
        assert not value.model_extra, f"{type(value).__name__}: fields the SDK does not know: {value.model_extra}"
        for name in type(value).model_fields:
            _no_extra(getattr(value, name))


def conforming_items(items: Any) -> list[Any]:
    """Every item of a (paged) listing, each re-validated as the SDK's ``ConversationItem``."""
    return [conforms(ConversationItem, item) for item in items]


def conforming_error(error: openai.APIStatusError) -> ErrorObject:
    """An error's body, re-validated as the SDK's ``ErrorObject``; it carries a request id."""
    assert error.request_id.startswith("req_")
    return conforms(ErrorObject, error.body)


def user(text: str) -> dict[str, Any]:
    return {"role": "user", "content": text}


# --- conversations ----------------------------------------------------------------------------


def test_conversation_with_20_items_and_21_refused(client):
    conversation = client.conversations.create(
        items=[user(f"message {i}") for i in range(20)], metadata={"team": "labs"}
    )
    conforms(Conversation, conversation)
    assert conversation.id.startswith("conv_")
    assert conversation.metadata == {"team": "labs"}
    items = conforming_items(client.conversations.items.list(conversation.id, order="asc"))
    assert [i.content[0].text for i in items] == [f"message {i}" for i in range(20)]

    with pytest.raises(openai.BadRequestError) as caught:
        client.conversations.create(items=[user("x")] * 21)
    conforming_error(caught.value)
    assert caught.value.body["param"] == "items"
    assert caught.value.body["code"] == "array_above_max_length"
    assert caught.value.request_id.startswith("req_")


def test_items_page_each_exactly_once_in_both_orders(client):
    conversation = client.conversations.create()
    for start in range(0, 47, 20):
        added = client.conversations.items.create(
            conversation.id, items=[user(f"m{i:02}") for i in range(start, min(start + 20, 47))]
        )
        conforms(ConversationItemList, added)
    texts = [f"m{i:02}" for i in range(47)]
    for limit in (1, 3, 7, 20):
        ascending = client.conversations.items.list(conversation.id, order="asc", limit=limit)
        descending = client.conversations.items.list(conversation.id, order="desc", limit=limit)
        assert [i.content[0].text for i in conforming_items(ascending)] == texts
        assert [i.content[0].text for i in conforming_items(descending)] == texts[::-1]
    default = client.conversations.items.list(conversation.id)  # desc, 20 a page
    page = conforms(ConversationItemList, default)
    assert page.has_more is True and len(page.data) == 20
    assert page.first_id == page.data[0].id and page.last_id == page.data[-1].id


def test_items_added_retrieved_deleted_and_conversation_updated_and_deleted(client):
    conversation = client.conversations.create()
    added = client.conversations.items.create(conversation.id, items=[
        {"type": "message", "role": "user", "content": [
            {"type": "input_text", "text": "look"},
            {"type": "input_image", "image_url": "https://example.com/a.png", "detail": "low"},
        ]},
        {"type": "message", "role": "assistant", "content": "An image."},
        # pairing is not checked when adding items
        {"type": "function_call", "call_id": "call_1", "name": "get_time", "arguments": "{}"},
    ])
    assert [i.type for i in added.data] == ["message", "message", "function_call"]
    user_item, assistant_item, call = added.data
    conforms(Message, user_item)
    conforms(Message, assistant_item)
    conforms(ResponseFunctionToolCallItem, call)
    assert assistant_item.content[0].type == "output_text"
    assert assistant_item.content[0].annotations == []
    assert user_item.content[1].image_url == "https://example.com/a.png"

    output = client.conversations.items.create(
        conversation.id, items=[{"type": "function_call_output", "call_id": "call_1", "output": "noon"}]
    ).data[0]
    conforms(ResponseFunctionToolCallOutputItem, output)
    got = client.conversations.items.retrieve(output.id, conversation_id=conversation.id)
    assert conforms(ResponseFunctionToolCallOutputItem, got).output == "noon"

    after_delete = client.conversations.items.delete(assistant_item.id, conversation_id=conversation.id)
    assert conforms(Conversation, after_delete).id == conversation.id
    with pytest.raises(openai.NotFoundError):
        client.conversations.items.retrieve(assistant_item.id, conversation_id=conversation.id)
    remaining = [i.id for i in conforming_items(client.conversations.items.list(conversation.id, order="asc"))]
    assert remaining == [user_item.id, call.id, output.id]

    updated = client.conversations.update(conversation.id, metadata={"v": "2"})
    assert conforms(Conversation, updated).metadata == {"v": "2"}
    assert conforms(Conversation, client.conversations.retrieve(conversation.id)).metadata == {"v": "2"}
    deleted = client.conversations.delete(conversation.id)
    assert conforms(ConversationDeletedResource, deleted).deleted is True
    with pytest.raises(openai.NotFoundError) as caught:
        client.conversations.retrieve(conversation.id)
    assert conforming_error(caught.value).message == f"Conversation with id '{conversation.id}' not found."


# --- responses --------------------------------------------------------------------------------


def test_text_response_retrieved_and_input_items_listed(client):
    response = client.responses.create(model="gpt-4o", input="Hello there", instructions="Be brief.",
                                       metadata={"case": "text"})
    conforms(Response, response)
    assert response.id.startswith("resp_") and response.status == "completed"
    assert response.output_text and response.instructions == "Be brief."
    message = conforms(ResponseOutputMessage, response.output[0])
    assert message.role == "assistant" and message.content[0].annotations == []
    usage = response.usage
    assert usage.total_tokens == usage.input_tokens + usage.output_tokens > 0
    assert usage.input_tokens_details.cached_tokens == 0

    again = client.responses.retrieve(response.id)
    assert conforms(Response, again).output_text == response.output_text
    inputs = client.responses.input_items.list(response.id)
    page = conforms(ResponseItemList, inputs)
    assert len(page.data) == 1
    conforms(ResponseInputMessageItem, inputs.data[0])
    assert inputs.data[0].content[0].text == "Hello there"

    client.responses.delete(response.id)
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(response.id)


def test_function_calls_answered_through_previous_response_id(client):
    first = client.responses.create(
        model="gpt-4o", tools=[WEATHER, TIME],
        input='What now? @get_weather {"city": "Paris"} and @get_time',
    )
    conforms(Response, first)
    calls = [conforms(ResponseFunctionToolCall, item) for item in first.output]
    assert [(c.name, json.loads(c.arguments)) for c in calls] == [
        ("get_weather", {"city": "Paris"}), ("get_time", {}),
    ]
    assert first.output_text == ""

    # A missing output is refused.
    with pytest.raises(openai.BadRequestError) as caught:
        client.responses.create(model="gpt-4o", tools=[WEATHER, TIME], previous_response_id=first.id,
                                input=[{"type": "function_call_output", "call_id": calls[0].call_id,
                                        "output": "sunny"}])
    assert conforming_error(caught.value).message == f"No tool output found for function call {calls[1].call_id}."

    second = client.responses.create(
        model="gpt-4o", tools=[WEATHER, TIME], previous_response_id=first.id,
        input=[{"type": "function_call_output", "call_id": c.call_id, "output": out}
               for c, out in zip(calls, ["sunny", "noon"], strict=True)],
    )
    conforms(Response, second)
    assert second.previous_response_id == first.id
    assert second.instructions is None  # not inherited
    assert second.output_text.endswith("Tool results:\n- get_weather: sunny\n- get_time: noon")

    # An output without its call is refused too.
    with pytest.raises(openai.BadRequestError) as caught:
        client.responses.create(model="gpt-4o", input=[
            user("hi"), {"type": "function_call_output", "call_id": "call_nope", "output": "x"}])
    assert "call_nope" in conforming_error(caught.value).message


def test_one_call_per_response_without_parallel_tool_calls(client):
    response = client.responses.create(
        model="gpt-4o", tools=[WEATHER, TIME], parallel_tool_calls=False,
        input="@get_time then @get_weather",
    )
    conforms(Response, response)
    assert [item.name for item in response.output] == ["get_time"]
    assert response.parallel_tool_calls is False


def test_response_in_a_conversation_appends_input_and_output(client):
    conversation = client.conversations.create(items=[user("Earlier message")])
    response = client.responses.create(model="gpt-4o", conversation=conversation.id, input="Next one")
    assert conforms(Response, response).conversation.id == conversation.id
    items = conforming_items(client.conversations.items.list(conversation.id, order="asc"))
    assert [(i.role, i.content[0].text) for i in items] == [
        ("user", "Earlier message"), ("user", "Next one"), ("assistant", response.output_text),
    ]
    assert items[-1].id == response.output[0].id
    # The conversation's items are the context: a second response reads all of them.
    second = client.responses.create(model="gpt-4o", conversation={"id": conversation.id}, input="More")
    assert conforms(Response, second).output_text != response.output_text
    assert len(conforming_items(client.conversations.items.list(conversation.id))) == 5


def test_conversation_with_previous_response_id_is_refused(client):
    conversation = client.conversations.create()
    first = client.responses.create(model="gpt-4o", input="hi")
    with pytest.raises(openai.BadRequestError) as caught:
        client.responses.create(model="gpt-4o", input="x", conversation=conversation.id,
                                previous_response_id=first.id)
    assert conforming_error(caught.value).code == "mutually_exclusive_parameters"
    assert list(client.conversations.items.list(conversation.id)) == []  # nothing changed


def test_stream_text_assembles_the_final_response(client):
    deltas = []
    with client.responses.stream(model="gpt-4o", input="Tell me a story") as stream:
        numbers = []
        for event in stream:
            numbers.append(event.sequence_number)
            if event.type == "response.output_text.delta":
                deltas.append(event.delta)
        final = stream.get_final_response()
    assert numbers == list(range(len(numbers)))
    assert len(deltas) >= 2
    assert "".join(deltas) == final.output_text != ""
    stored = conforms(Response, client.responses.retrieve(final.id))
    assert stored.output_text == final.output_text


def test_stream_function_call_assembles_the_final_response(client):
    with client.responses.stream(model="gpt-4o", tools=[WEATHER],
                                 input='@get_weather {"city": "Rome"}') as stream:
        kinds = [event.type for event in stream]
        final = stream.get_final_response()
    assert "response.function_call_arguments.delta" in kinds
    assert kinds[-1] == "response.completed"
    call = final.output[0]
    assert (call.type, call.name, json.loads(call.arguments)) == ("function_call", "get_weather", {"city": "Rome"})
    stored = conforms(Response, client.responses.retrieve(final.id))
    assert stored.output[0].arguments == call.arguments


@pytest.mark.parametrize("text", ["hi", '@get_weather {"city": "Rome"}'])
def test_raw_stream_events_are_the_sdk_types(client, text):
    stream = client.responses.create(model="gpt-4o", input=text, tools=[WEATHER], stream=True)
    events = list(stream)
    for event in events:
        conforms(ResponseStreamEvent, event)
    assert [e.type for e in events][:2] == ["response.created", "response.in_progress"]


def test_error_shapes(client, server):
    with pytest.raises(openai.NotFoundError) as caught:
        client.responses.retrieve("resp_missing")
    assert caught.value.body == {"message": "Response with id 'resp_missing' not found.",
                                 "type": "invalid_request_error", "param": None, "code": None}
    conforming_error(caught.value)
    with pytest.raises(openai.BadRequestError) as caught:
        client.conversations.create(metadata={f"k{i}": "v" for i in range(17)})
    conforming_error(caught.value)
    assert caught.value.body["code"] == "object_above_max_properties"
    with pytest.raises(openai.BadRequestError) as caught:
        client.conversations.create(metadata={"k" * 65: "v"})
    assert caught.value.body["param"] == "metadata"
    with pytest.raises(openai.BadRequestError) as caught:
        client.conversations.create(metadata={"k": "v" * 513})
    assert caught.value.body["code"] == "string_above_max_length"
    # No key at all (the SDK refuses to send without one, so plain HTTP): 401 in the real shape.
    answer = httpx.post(f"{server.base_url}/responses", json={"model": "gpt-4o", "input": "hi"})
    assert answer.status_code == 401
    assert set(answer.json()["error"]) == {"message", "type", "param", "code"}
    conforms(ErrorObject, answer.json()["error"])
    assert answer.headers["x-request-id"].startswith("req_")


def test_wrong_key_is_an_authentication_error():
    with running_server(EmulatorConfig(api_key="sk-right")) as server:
        sdk = openai.OpenAI(base_url=server.base_url, api_key="sk-wrong-key-123456", max_retries=0)
        with pytest.raises(openai.AuthenticationError) as caught:
            sdk.responses.create(model="gpt-4o", input="hi")
        assert conforming_error(caught.value).code == "invalid_api_key"
        assert "sk-wrong-key-123456" not in str(caught.value.body)
        sdk.close()


def test_function_call_output_given_as_content_parts(client):
    """``output`` may be content parts (the SDK's ResponseFunctionCallOutputItemListParam), in a
    conversation's items and in a response's input; the model reads their text."""
    conversation = client.conversations.create(items=[
        user("@get_time"),
        {"type": "function_call", "call_id": "call_parts", "name": "get_time", "arguments": "{}"},
    ])
    parts = [{"type": "input_text", "text": "noon"},
             {"type": "input_image", "image_url": "https://example.com/clock.png"},
             {"type": "input_file", "file_url": "https://example.com/clock.pdf", "filename": "clock.pdf"}]
    added = client.conversations.items.create(conversation.id, items=[
        {"type": "function_call_output", "call_id": "call_parts", "output": parts}]).data[0]
    output = conforms(ResponseFunctionToolCallOutputItem, added)
    assert [part.type for part in output.output] == ["input_text", "input_image", "input_file"]
    assert output.output[1].detail == "auto"
    got = client.conversations.items.retrieve(added.id, conversation_id=conversation.id)
    assert conforms(ResponseFunctionToolCallOutputItem, got).output == output.output

    answered = client.responses.create(model="gpt-4o", tools=[TIME], conversation=conversation.id)
    assert conforms(Response, answered).output_text.endswith("- get_time: noon")

    first = client.responses.create(model="gpt-4o", tools=[TIME], input="@get_time")
    second = client.responses.create(model="gpt-4o", tools=[TIME], previous_response_id=first.id, input=[
        {"type": "function_call_output", "call_id": first.output[0].call_id,
         "output": [{"type": "input_text", "text": "half past"}]}])
    assert conforms(Response, second).output_text.endswith("- get_time: half past")
    listed = client.responses.input_items.list(second.id)
    assert conforms(ResponseItemList, listed).data[0].output[0].text == "half past"
