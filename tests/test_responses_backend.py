"""``--backend``: responses answered by a Chat Completions backend through the same mapping as
runs (the strict fake Chat Completions server of tests/fakes, over loopback)."""

from __future__ import annotations

import json

import openai
import pytest
from fakes.chat_server import FakeChatServer, Reply
from support.backends import CLIENT_KEY, chat_backend

from syncer.emulator import EmulatorConfig, running_server

WEATHER = {"type": "function", "name": "get_weather", "strict": False,
           "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}


@pytest.fixture
def fake():
    with FakeChatServer() as backend:
        yield backend


@pytest.fixture
def sdk(fake):
    with running_server(EmulatorConfig(backend=chat_backend(fake.base_url))) as server:
        client = openai.OpenAI(base_url=server.base_url, api_key=CLIENT_KEY, max_retries=0)
        yield client
        client.close()


def test_a_tool_round_through_previous_response_id(fake, sdk):
    fake.script(Reply(tool_calls=[("get_weather", {"city": "Paris"})]), Reply(text="Sunny, 22 C."))
    first = sdk.responses.create(model="gpt-4o", instructions="Be terse.", tools=[WEATHER],
                                 input="Weather in Paris?")
    call = first.output[0]
    assert (call.type, call.name, json.loads(call.arguments)) == ("function_call", "get_weather",
                                                                 {"city": "Paris"})
    second = sdk.responses.create(model="gpt-4o", tools=[WEATHER], previous_response_id=first.id,
                                  input=[{"type": "function_call_output", "call_id": call.call_id,
                                          "output": "sunny"}])
    assert second.output_text == "Sunny, 22 C."
    asked = fake.requests[1].body
    assert [m["role"] for m in asked["messages"]] == ["user", "assistant", "tool"]  # no instructions
    assert asked["messages"][-1] == {"role": "tool", "tool_call_id": call.call_id, "content": "sunny"}
    assert asked["tools"][0]["function"]["name"] == "get_weather"


def test_a_streamed_reply_and_a_failing_backend(fake, sdk):
    fake.script(Reply(text="One two three four five six seven eight nine ten."))
    with sdk.responses.stream(model="gpt-4o", input="Count") as stream:
        deltas = [e.delta for e in stream if e.type == "response.output_text.delta"]
        final = stream.get_final_response()
    assert "".join(deltas) == final.output_text == "One two three four five six seven eight nine ten."

    fake.script(*[Reply(status=500)] * 3)
    failed = sdk.responses.create(model="gpt-4o", input="hi")
    assert failed.status == "failed" and failed.error.code == "server_error"
