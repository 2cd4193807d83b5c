"""Cross-API determinism: one conversation through the Assistants endpoints and through the
Responses endpoints (chained by ``previous_response_id``, or in a conversation) gets the
byte-identical replies and the same tool calls, because both ask the one deterministic model
with the same inputs (model, instructions, roles and texts, tool outputs).
"""

from __future__ import annotations

import json
from typing import Any

import openai
import pytest

from syncer.emulator import EmulatorConfig, running_server

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

MODEL = "gpt-4o"
INSTRUCTIONS = "You answer questions about the weather."
FUNCTIONS = [
    {"name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}},
    {"name": "get_time", "parameters": {"type": "object"}},
]
OUTPUTS = {"get_weather": "sunny, 24 C", "get_time": "12:00"}
TURNS = [
    "Hello, who are you?",
    'Weather and time please: @get_weather {"city": "Paris"} and @get_time',
    "Thanks! And tomorrow?",
    "@get_time",
]

Turn = tuple[list[tuple[str, dict[str, Any]]], str]  # (calls made, reply)


@pytest.fixture(scope="module")
def sdk():
    with running_server(EmulatorConfig(run_ms=10)) as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="sk-determinism", max_retries=0)
        yield client
        client.close()


def through_assistants(sdk: openai.OpenAI, parallel: bool) -> list[Turn]:
    assistant = sdk.beta.assistants.create(
        model=MODEL, instructions=INSTRUCTIONS,
        tools=[{"type": "function", "function": f} for f in FUNCTIONS],
    )
    thread = sdk.beta.threads.create()
    turns: list[Turn] = []
    for text in TURNS:
        sdk.beta.threads.messages.create(thread.id, role="user", content=text)
        run = sdk.beta.threads.runs.create_and_poll(
            thread_id=thread.id, assistant_id=assistant.id, parallel_tool_calls=parallel, poll_interval_ms=5
        )
        calls = []
        if run.status == "requires_action":
            requested = run.required_action.submit_tool_outputs.tool_calls
            calls = [(c.function.name, json.loads(c.function.arguments)) for c in requested]
            run = sdk.beta.threads.runs.submit_tool_outputs_and_poll(
                run_id=run.id, thread_id=thread.id, poll_interval_ms=5,
                tool_outputs=[{"tool_call_id": c.id, "output": OUTPUTS[c.function.name]} for c in requested],
            )
        assert run.status == "completed"
        reply = sdk.beta.threads.messages.list(thread.id, order="desc", limit=1).data[0]
        turns.append((calls, reply.content[0].text.value))
    return turns


def through_responses(sdk: openai.OpenAI, parallel: bool, in_conversation: bool) -> list[Turn]:
    tools = [{"type": "function", "strict": False, **f} for f in FUNCTIONS]
    options: dict[str, Any] = {"model": MODEL, "instructions": INSTRUCTIONS, "tools": tools,
                               "parallel_tool_calls": parallel}
    conversation = sdk.conversations.create() if in_conversation else None
    previous: str | None = None
    turns: list[Turn] = []

    def create(input_items: Any) -> Any:
        nonlocal previous
        where = {"conversation": conversation.id} if conversation else (
            {"previous_response_id": previous} if previous else {})
        response = sdk.responses.create(input=input_items, **where, **options)
        previous = response.id
        return response

    for text in TURNS:
        response = create(text)
        calls = [item for item in response.output if item.type == "function_call"]
        if calls:
            response = create([{"type": "function_call_output", "call_id": c.call_id,
                                "output": OUTPUTS[c.name]} for c in calls])
        turns.append(([(c.name, json.loads(c.arguments)) for c in calls], response.output_text))
    return turns


@pytest.mark.parametrize("parallel", [True, False])
def test_same_conversation_same_replies_and_calls_through_both_apis(sdk, parallel):
    assistants = through_assistants(sdk, parallel)
    chained = through_responses(sdk, parallel, in_conversation=False)
    conversation = through_responses(sdk, parallel, in_conversation=True)
    assert chained == assistants
    assert conversation == assistants
    # The tool calls really happened, as many per response as parallel_tool_calls allows.
    expected_calls = [("get_weather", {"city": "Paris"}), ("get_time", {})]
    assert assistants[1][0] == (expected_calls if parallel else expected_calls[:1])
    assert assistants[3][0] == [("get_time", {})]
    assert assistants[1][1].endswith(f"- get_time: {OUTPUTS['get_time']}" if parallel
                                     else f"- get_weather: {OUTPUTS['get_weather']}")


def test_other_instructions_give_other_replies(sdk):
    first = sdk.responses.create(model=MODEL, input="Hello", instructions="A")
    second = sdk.responses.create(model=MODEL, input="Hello", instructions="B")
    same = sdk.responses.create(model=MODEL, input="Hello", instructions="A")
    assert first.output_text != second.output_text
    assert first.output_text == same.output_text
