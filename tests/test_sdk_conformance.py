"""The official `openai` SDK, unmodified, drives the emulator over real HTTP.

The SDK is an independent client: if the emulator's paths, shapes, pagination, run
lifecycle or event names were off, the SDK's own helpers (auto-paging, ``create_and_poll``,
``submit_tool_outputs_and_poll``, streams) would fail or its types would not fit.

The SDK builds response objects without validating them, so every object is also
re-validated strictly with the SDK's own pydantic type (`conforms`): a wrong type or a
misnamed field fails there instead of slipping through as a dict.
"""

from __future__ import annotations

import json
from typing import Any

import openai
import pytest
from openai.types.beta import Assistant, AssistantDeleted, Thread, ThreadDeleted
from openai.types.beta.threads import Message, MessageDeleted, Run
from openai.types.beta.threads.runs import (
    FunctionToolCall,
    MessageCreationStepDetails,
    RunStep,
    ToolCallsStepDetails,
)

from syncer.emulator import EmulatorConfig, running_server

# The SDK marks the whole Assistants surface deprecated (the public service is gone).
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}
TIME_TOOL = {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object"}}}


class FakeClock:
    """Seconds since the epoch that only move when a test says so."""

    def __init__(self, now: float = 1_750_000_000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def server():
    with running_server(EmulatorConfig(run_ms=20)) as running:
        yield running


@pytest.fixture
def client(server):
    sdk = openai.OpenAI(base_url=server.base_url, api_key="sk-conformance", max_retries=0)
    yield sdk
    sdk.close()


def conforms(model: type, obj: Any) -> Any:
    """``obj`` re-validated strictly as the SDK type ``model``, with no unknown fields."""
    raw = obj.model_dump(mode="json") if hasattr(obj, "model_dump") else obj
    validated = model.model_validate(raw)
    assert not validated.model_extra, f"fields the SDK does not know: {validated.model_extra}"
    assert isinstance(obj, model)
    return validated


def test_auto_paging_250_assistants_both_orders(client, server):
    created = [
        conforms(Assistant, client.beta.assistants.create(model="gpt-4o", name=f"a{i:03}")).id
        for i in range(250)
    ]

    ascending = list(client.beta.assistants.list(limit=7, order="asc"))
    descending = list(client.beta.assistants.list(limit=13, order="desc"))
    default = list(client.beta.assistants.list())  # desc, 20 a page

    assert [a.id for a in ascending] == created
    assert [a.id for a in descending] == created[::-1]
    assert [a.id for a in default] == created[::-1]
    for assistant in ascending:
        conforms(Assistant, assistant)
    # 250 creates, then ceil(250/7) + ceil(250/13) + ceil(250/20) pages.
    stats = server.stats()
    assert stats["by_route"]["POST /v1/assistants"] == 250
    assert stats["by_route"]["GET /v1/assistants"] == 36 + 20 + 13


def test_assistant_crud(client):
    assistant = client.beta.assistants.create(
        model="gpt-4o",
        name="Weather Desk",
        instructions="Answer about the weather.",
        tools=[WEATHER_TOOL, {"type": "code_interpreter"}],
        metadata={"team": "labs"},
    )
    conforms(Assistant, assistant)
    assert assistant.tools[0].function.name == "get_weather"
    assert assistant.id.startswith("asst_")

    updated = client.beta.assistants.update(assistant.id, name="Weather Desk 2", metadata={"v": "2"})
    assert conforms(Assistant, updated).name == "Weather Desk 2"
    assert client.beta.assistants.retrieve(assistant.id).metadata == {"v": "2"}

    deleted = client.beta.assistants.delete(assistant.id)
    assert conforms(AssistantDeleted, deleted).deleted is True
    with pytest.raises(openai.NotFoundError) as caught:
        client.beta.assistants.retrieve(assistant.id)
    assert caught.value.body["message"] == f"No assistant found with id '{assistant.id}'."
    assert caught.value.request_id.startswith("req_")


def test_threads_and_messages(client):
    thread = client.beta.threads.create(
        messages=[{"role": "user", "content": "Hello"}, {"role": "user", "content": "Again"}],
        metadata={"customer": "42"},
    )
    conforms(Thread, thread)
    message = client.beta.threads.messages.create(
        thread.id, role="user", content=[{"type": "text", "text": "Third"}]
    )
    conforms(Message, message)
    assert message.content[0].text.value == "Third"

    listed = list(client.beta.threads.messages.list(thread.id, order="asc", limit=2))
    assert [m.content[0].text.value for m in listed] == ["Hello", "Again", "Third"]
    for item in listed:
        conforms(Message, item)

    modified = client.beta.threads.messages.update(message.id, thread_id=thread.id, metadata={"k": "v"})
    assert conforms(Message, modified).metadata == {"k": "v"}
    updated = client.beta.threads.update(thread.id, metadata={"customer": "43"})
    assert conforms(Thread, updated).metadata == {"customer": "43"}

    conforms(MessageDeleted, client.beta.threads.messages.delete(message.id, thread_id=thread.id))
    assert len(list(client.beta.threads.messages.list(thread.id))) == 2

    assert conforms(ThreadDeleted, client.beta.threads.delete(thread.id)).deleted is True
    with pytest.raises(openai.NotFoundError):
        client.beta.threads.messages.list(thread.id)


def test_run_with_parallel_function_calls_through_submit_tool_outputs(client):
    assistant = client.beta.assistants.create(
        model="gpt-4o", instructions="Be brief.", tools=[WEATHER_TOOL, TIME_TOOL]
    )
    thread = client.beta.threads.create()
    client.beta.threads.messages.create(
        thread.id, role="user", content='Weather? @get_weather {"city": "Oslo"} and @get_time'
    )

    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id)
    conforms(Run, run)
    assert run.status == "requires_action"
    calls = run.required_action.submit_tool_outputs.tool_calls
    assert [(c.function.name, json.loads(c.function.arguments)) for c in calls] == [
        ("get_weather", {"city": "Oslo"}),
        ("get_time", {}),
    ]
    assert all(c.id.startswith("call_") for c in calls)

    with pytest.raises(openai.BadRequestError) as caught:
        client.beta.threads.runs.submit_tool_outputs(
            run.id, thread_id=thread.id, tool_outputs=[{"tool_call_id": calls[0].id, "output": "x"}]
        )
    assert caught.value.body["message"].startswith("Expected tool outputs for call_ids")

    outputs = ['{"temperature_c": 4}', "12:30"]
    done = client.beta.threads.runs.submit_tool_outputs_and_poll(
        run_id=run.id,
        thread_id=thread.id,
        tool_outputs=[{"tool_call_id": c.id, "output": o} for c, o in zip(calls, outputs, strict=True)],
    )
    conforms(Run, done)
    assert done.status == "completed"
    assert done.usage.total_tokens == done.usage.prompt_tokens + done.usage.completion_tokens > 0
    assert done.expires_at is None and done.completed_at >= done.started_at

    reply = client.beta.threads.messages.list(thread.id, limit=1).data[0]
    conforms(Message, reply)
    assert (reply.role, reply.run_id, reply.assistant_id, reply.status) == (
        "assistant", run.id, assistant.id, "completed"
    )
    for output in outputs:
        assert output in reply.content[0].text.value

    steps = list(client.beta.threads.runs.steps.list(run.id, thread_id=thread.id, order="asc"))
    for step in steps:
        conforms(RunStep, step)
    assert [s.type for s in steps] == ["tool_calls", "message_creation"]
    assert isinstance(steps[0].step_details, ToolCallsStepDetails)
    function_calls = steps[0].step_details.tool_calls
    assert all(isinstance(c, FunctionToolCall) for c in function_calls)
    assert [c.function.output for c in function_calls] == outputs
    assert isinstance(steps[1].step_details, MessageCreationStepDetails)
    assert steps[1].step_details.message_creation.message_id == reply.id
    retrieved = client.beta.threads.runs.steps.retrieve(steps[1].id, thread_id=thread.id, run_id=run.id)
    assert conforms(RunStep, retrieved).id == steps[1].id

    listed_runs = list(client.beta.threads.runs.list(thread.id))
    assert [conforms(Run, r).id for r in listed_runs] == [run.id]


def test_create_thread_and_run_poll_replies_deterministically(client):
    assistant = client.beta.assistants.create(model="gpt-4o", instructions="Be brief.")
    replies = []
    for _ in range(2):
        run = client.beta.threads.create_and_run_poll(
            assistant_id=assistant.id,
            thread={"messages": [{"role": "user", "content": "What is a ledger?"}]},
        )
        conforms(Run, run)
        assert run.status == "completed"
        replies.append(client.beta.threads.messages.list(run.thread_id, limit=1).data[0])
    # Another thread, same conversation: the same reply, byte for byte.
    assert replies[0].thread_id != replies[1].thread_id
    assert replies[0].content[0].text.value == replies[1].content[0].text.value


def test_cancel_run():
    clock = FakeClock()
    with running_server(EmulatorConfig(run_ms=10_000, clock=clock)) as running:
        sdk = openai.OpenAI(base_url=running.base_url, api_key="sk-test", max_retries=0)
        assistant = sdk.beta.assistants.create(model="gpt-4o")
        thread = sdk.beta.threads.create(messages=[{"role": "user", "content": "Take your time"}])
        run = sdk.beta.threads.runs.create(thread_id=thread.id, assistant_id=assistant.id)
        assert run.status == "queued"

        cancelling = sdk.beta.threads.runs.cancel(run.id, thread_id=thread.id)
        assert conforms(Run, cancelling).status == "cancelling"
        clock.now += 3  # a quarter of run_ms later
        cancelled = sdk.beta.threads.runs.retrieve(run.id, thread_id=thread.id)
        assert conforms(Run, cancelled).status == "cancelled"
        assert cancelled.cancelled_at is not None and cancelled.expires_at is None

        with pytest.raises(openai.BadRequestError) as caught:
            sdk.beta.threads.runs.cancel(run.id, thread_id=thread.id)
        assert caught.value.body["message"] == "Cannot cancel run with status 'cancelled'."
        sdk.close()


def test_streaming_events_parse_into_sdk_events(client):
    assistant = client.beta.assistants.create(model="gpt-4o", tools=[WEATHER_TOOL])
    thread = client.beta.threads.create(
        messages=[{"role": "user", "content": 'Umbrella? @get_weather {"city": "Lima"}'}]
    )
    first = list(client.beta.threads.runs.create(thread_id=thread.id, assistant_id=assistant.id, stream=True))
    names = [event.event for event in first]
    assert names[:3] == ["thread.run.created", "thread.run.queued", "thread.run.in_progress"]
    assert names[-1] == "thread.run.requires_action"
    run = first[-1].data
    conforms(Run, run)
    for event in first:
        assert not isinstance(event.data, dict), f"{event.event} did not parse"
        conforms(type(event), event)  # the event's own SDK class, strictly

    call = run.required_action.submit_tool_outputs.tool_calls[0]
    with client.beta.threads.runs.submit_tool_outputs_stream(
        run_id=run.id, thread_id=thread.id, tool_outputs=[{"tool_call_id": call.id, "output": "rain"}]
    ) as stream:
        text = "".join(stream.text_deltas)
        final = stream.get_final_run()
    assert final.status == "completed"
    assert "rain" in text
    reply = client.beta.threads.messages.list(thread.id, limit=1).data[0]
    assert reply.content[0].text.value == text


def test_errors_parse_into_sdk_exceptions(client):
    with pytest.raises(openai.BadRequestError) as caught:
        client.beta.assistants.create(model="gpt-4o", metadata={f"k{i}": "v" for i in range(17)})
    assert caught.value.code == "object_above_max_properties"
    assert caught.value.param == "metadata"
    with pytest.raises(openai.BadRequestError) as caught:
        client.beta.assistants.list(limit=101).data  # noqa: B018 (the request is the point)
    assert caught.value.code == "integer_above_max_value"
    with pytest.raises(openai.NotFoundError):
        client.beta.threads.runs.retrieve("run_missing", thread_id="thread_missing")


def test_wrong_key_is_an_authentication_error():
    with running_server(EmulatorConfig(api_key="sk-right-key-123456")) as running:
        wrong = openai.OpenAI(base_url=running.base_url, api_key="sk-wrong-key-987654", max_retries=0)
        with pytest.raises(openai.AuthenticationError) as caught:
            wrong.beta.assistants.list()
        assert caught.value.code == "invalid_api_key"
        assert "sk-wrong-key-987654" not in str(caught.value)
        right = openai.OpenAI(base_url=running.base_url, api_key="sk-right-key-123456", max_retries=0)
        assert list(right.beta.assistants.list()) == []
        wrong.close()
        right.close()


def test_failed_and_incomplete_runs_parse_and_end_polling(client, server):
    """The SDK's poll treats failed and incomplete as final; their details are its types."""
    assistant = client.beta.assistants.create(model="gpt-4o", tools=[WEATHER_TOOL])
    server.script_faults({"fail_runs": [1]})
    failed = client.beta.threads.create_and_run_poll(
        assistant_id=assistant.id, thread={"messages": [{"role": "user", "content": "hi"}]},
        poll_interval_ms=10,
    )
    conforms(Run, failed)
    assert failed.status == "failed" and failed.failed_at is not None
    assert (failed.last_error.code, failed.last_error.message) == ("server_error", "Sorry, something went wrong.")

    run = client.beta.threads.create_and_run_poll(
        assistant_id=assistant.id, max_completion_tokens=256, poll_interval_ms=10,
        thread={"messages": [{"role": "user", "content": "Forecast? @get_weather"}]},
    )
    call = run.required_action.submit_tool_outputs.tool_calls[0]
    incomplete = client.beta.threads.runs.submit_tool_outputs_and_poll(
        run_id=run.id, thread_id=run.thread_id, poll_interval_ms=10,
        tool_outputs=[{"tool_call_id": call.id, "output": "drizzle " * 300}],
    )
    conforms(Run, incomplete)
    assert incomplete.status == "incomplete"
    assert incomplete.incomplete_details.reason == "max_completion_tokens"
    reply = client.beta.threads.messages.list(run.thread_id, limit=1).data[0]
    assert conforms(Message, reply).status == "incomplete"
    assert reply.incomplete_details.reason == "max_tokens"
