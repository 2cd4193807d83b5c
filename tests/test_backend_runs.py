"""``syncer emulator --backend``: runs executed by a Chat Completions backend.

The official `openai` SDK drives the emulator over real HTTP; the emulator's backend is the
strict fake Chat Completions server (tests/fakes/chat_server.py), also over loopback. Retries
never sleep for real (an injected sleep), timeouts are short.
"""

from __future__ import annotations

import json
import logging
import time
from contextlib import contextmanager
from pathlib import Path

import httpx
import openai
import pytest
from fakes.chat_server import FakeChatServer, Reply, unreachable_url
from support.backends import BACKEND_KEY, CLIENT_KEY, chat_backend, no_sleep

from syncer.emulator import EmulatorConfig, events, running_server, runs, sse
from syncer.emulator.backend_runs import MAX_ROUNDS, RESTARTED
from syncer.emulator.backends.chat import ChatBackend, backend_settings

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "Current weather for a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}
TIME = {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object"}}}


@contextmanager
def emulator_on(url: str, state: Path | None = None, **settings):
    with running_server(EmulatorConfig(backend=chat_backend(url, **settings), state=state)) as server:
        yield server, openai.OpenAI(base_url=server.base_url, api_key=CLIENT_KEY, max_retries=0)


@pytest.fixture
def fake():
    with FakeChatServer() as backend:
        yield backend


@pytest.fixture
def sdk(fake):
    with emulator_on(fake.base_url) as (_, client):
        yield client


def start(client: openai.OpenAI, text: str, tools=(WEATHER,), **assistant):
    agent = client.beta.assistants.create(model="gpt-4o", instructions="You are terse.",
                                          tools=list(tools), **assistant)
    thread = client.beta.threads.create(messages=[{"role": "user", "content": text}])
    return agent, thread


def texts(client: openai.OpenAI, thread_id: str) -> list[tuple[str, str]]:
    messages = client.beta.threads.messages.list(thread_id, order="asc")
    return [(m.role, "".join(p.text.value for p in m.content if p.type == "text")) for m in messages]


def settle(client: openai.OpenAI, thread_id: str, run_id: str, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while True:
        run = client.beta.threads.runs.retrieve(run_id, thread_id=thread_id)
        if run.status not in ("queued", "in_progress", "cancelling") or time.monotonic() > deadline:
            return run
        time.sleep(0.01)


def outputs(run, answers: dict[str, str]):
    return [{"tool_call_id": call.id, "output": answers[call.function.name]}
            for call in run.required_action.submit_tool_outputs.tool_calls]


# --- the tool loop --------------------------------------------------------------------------


def test_one_tool_round_asks_the_client_and_sends_its_output_back_as_a_tool_message(fake, sdk):
    fake.script(Reply(tool_calls=[("get_weather", {"city": "Paris"})]), Reply(text="Sunny, 22 C."))
    agent, thread = start(sdk, "Weather in Paris?")
    run = sdk.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=agent.id)
    assert run.status == "requires_action"
    [call] = run.required_action.submit_tool_outputs.tool_calls
    assert (call.id, call.function.name, json.loads(call.function.arguments)) == (
        "call_1_0", "get_weather", {"city": "Paris"})
    run = sdk.beta.threads.runs.submit_tool_outputs_and_poll(
        run_id=run.id, thread_id=thread.id, tool_outputs=[{"tool_call_id": call.id, "output": '{"c": 22}'}])
    assert run.status == "completed"
    assert texts(sdk, thread.id) == [("user", "Weather in Paris?"), ("assistant", "Sunny, 22 C.")]
    first, second = (r.body for r in fake.requests)
    assert first["messages"] == [{"role": "system", "content": "You are terse."},
                                 {"role": "user", "content": "Weather in Paris?"}]
    assert first["tools"] == [WEATHER] and first["model"] == "gpt-4o"
    assert second["messages"][2:] == [
        {"role": "assistant", "content": None, "tool_calls": [{"id": "call_1_0", "type": "function", "function": {
            "name": "get_weather", "arguments": '{"city": "Paris"}'}}]},
        {"role": "tool", "tool_call_id": "call_1_0", "content": '{"c": 22}'},
    ]


def test_two_rounds_one_call_each_then_the_answer_with_usage_summed(fake, sdk):
    fake.script(Reply(tool_calls=[("get_weather", {"city": "Oslo"})]), Reply(tool_calls=[("get_time", {})]),
                Reply(text="Cold and late."))
    agent, thread = start(sdk, "Weather and time?", tools=(WEATHER, TIME))
    run = sdk.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=agent.id,
                                                parallel_tool_calls=False, temperature=0.3)
    answers = {"get_weather": "-3 C", "get_time": "23:40"}
    rounds = 0
    while run.status == "requires_action":
        rounds += 1
        run = sdk.beta.threads.runs.submit_tool_outputs_and_poll(
            run_id=run.id, thread_id=thread.id, tool_outputs=outputs(run, answers))
    assert (run.status, rounds) == ("completed", 2)
    assert all(r.body["parallel_tool_calls"] is False and r.body["temperature"] == 0.3 for r in fake.requests)
    last = fake.requests[-1].body["messages"]
    assert [(m["role"], m.get("tool_call_id")) for m in last] == [
        ("system", None), ("user", None), ("assistant", None), ("tool", "call_1_0"),
        ("assistant", None), ("tool", "call_2_0")]
    assert [m["content"] for m in last if m["role"] == "tool"] == ["-3 C", "23:40"]
    steps = list(sdk.beta.threads.runs.steps.list(run.id, thread_id=thread.id, order="asc"))
    assert [s.type for s in steps] == ["tool_calls", "tool_calls", "message_creation"]
    assert [s.step_details.tool_calls[0].function.output for s in steps[:2]] == ["-3 C", "23:40"]
    reported = [r.usage for r in fake.requests]
    for step, usage in zip(steps, reported, strict=True):
        assert (step.usage.prompt_tokens, step.usage.completion_tokens) == (
            usage["prompt_tokens"], usage["completion_tokens"])
    assert run.usage.prompt_tokens == sum(u["prompt_tokens"] for u in reported)
    assert run.usage.completion_tokens == sum(u["completion_tokens"] for u in reported)
    assert run.usage.total_tokens == sum(u["total_tokens"] for u in reported)


def test_parallel_calls_are_answered_together(fake, sdk):
    fake.script(Reply(tool_calls=[("get_weather", {"city": "Rome"}), ("get_time", {})]), Reply(text="Done."))
    agent, thread = start(sdk, "Both please", tools=(WEATHER, TIME))
    run = sdk.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=agent.id)
    calls = run.required_action.submit_tool_outputs.tool_calls
    assert [c.function.name for c in calls] == ["get_weather", "get_time"]
    assert fake.requests[0].body["parallel_tool_calls"] is True
    run = sdk.beta.threads.runs.submit_tool_outputs_and_poll(
        run_id=run.id, thread_id=thread.id, tool_outputs=outputs(run, {"get_weather": "warm", "get_time": "noon"}))
    assert run.status == "completed"
    tools = [m for m in fake.requests[1].body["messages"] if m["role"] == "tool"]
    assert [(m["tool_call_id"], m["content"]) for m in tools] == [("call_1_0", "warm"), ("call_1_1", "noon")]


def test_a_second_turn_sends_the_whole_history_with_the_tool_rounds_in_place(fake, sdk):
    fake.script(Reply(tool_calls=[("get_weather", {"city": "Lima"})]), Reply(text="Mild."), Reply(text="You're welcome."))
    agent, thread = start(sdk, "Weather in Lima?")
    run = sdk.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=agent.id)
    sdk.beta.threads.runs.submit_tool_outputs_and_poll(
        run_id=run.id, thread_id=thread.id, tool_outputs=outputs(run, {"get_weather": "18 C"}))
    sdk.beta.threads.messages.create(thread.id, role="user", content="Thanks!")
    run = sdk.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=agent.id,
                                                additional_instructions="Be kind.")
    assert run.status == "completed"
    assert fake.requests[-1].body["messages"] == [
        {"role": "system", "content": "You are terse.\n\nBe kind."},
        {"role": "user", "content": "Weather in Lima?"},
        {"role": "assistant", "content": None, "tool_calls": [{"id": "call_1_0", "type": "function", "function": {
            "name": "get_weather", "arguments": '{"city": "Lima"}'}}]},
        {"role": "tool", "tool_call_id": "call_1_0", "content": "18 C"},
        {"role": "assistant", "content": "Mild."},
        {"role": "user", "content": "Thanks!"},
    ]


def test_text_the_model_writes_with_its_calls_stays_with_them_in_this_run_and_later_ones(fake, sdk):
    fake.script(Reply(text="Let me check.", tool_calls=[("get_weather", {"city": "Kyiv"})]),
                Reply(text="It is warm."), Reply(text="Bye."))
    agent, thread = start(sdk, "Weather in Kyiv?")
    run = sdk.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=agent.id)
    assert run.status == "requires_action"
    sdk.beta.threads.runs.submit_tool_outputs_and_poll(
        run_id=run.id, thread_id=thread.id, tool_outputs=outputs(run, {"get_weather": "25 C"}))
    assert texts(sdk, thread.id) == [("user", "Weather in Kyiv?"), ("assistant", "Let me check."),
                                     ("assistant", "It is warm.")]
    call_round = [
        {"role": "assistant", "content": "Let me check.", "tool_calls": [{"id": "call_1_0", "type": "function",
         "function": {"name": "get_weather", "arguments": '{"city": "Kyiv"}'}}]},
        {"role": "tool", "tool_call_id": "call_1_0", "content": "25 C"},
    ]
    # The next completion of the same run sees what the model wrote with its call.
    assert fake.requests[1].body["messages"][2:] == call_round
    sdk.beta.threads.messages.create(thread.id, role="user", content="Thanks!")
    sdk.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=agent.id)
    # A later run sees the round where it happened: after the text it came with, before the answer.
    assert fake.requests[2].body["messages"][2:] == [
        *call_round, {"role": "assistant", "content": "It is warm."}, {"role": "user", "content": "Thanks!"}]


# --- streaming ------------------------------------------------------------------------------


def test_streaming_relays_the_backends_pieces_as_message_deltas(fake, sdk):
    fake.script(Reply(text="The quick brown fox jumps", pace=0.02))
    agent, thread = start(sdk, "Tell me")
    deltas, names = [], []
    with sdk.beta.threads.runs.create(thread_id=thread.id, assistant_id=agent.id, stream=True) as events:
        for event in events:
            names.append(event.event)
            if event.event == "thread.message.delta":
                deltas += [part.text.value for part in event.data.delta.content]
    assert len(deltas) >= 2
    assert "".join(deltas) == "The quick brown fox jumps" == texts(sdk, thread.id)[-1][1]
    assert names[0] == "thread.run.created" and names[-1] == "thread.run.completed"
    assert names.index("thread.message.created") < names.index("thread.message.delta")
    assert fake.requests[0].body["stream_options"] == {"include_usage": True}


def sse_events(response: httpx.Response) -> list[tuple[str, str]]:
    """The (event, data) pairs of a server-sent event stream, pings left out."""
    found, name, data = [], None, []
    for line in response.iter_lines():
        if line.startswith("event: "):
            name = line[len("event: "):]
        elif line.startswith("data: "):
            data.append(line[len("data: "):])
        elif not line and name is not None:
            found.append((name, "\n".join(data)))
            name, data = None, []
    return found


def test_a_streamed_run_sends_every_event_once_in_the_documented_order(fake, sdk):
    fake.script(Reply(text="One two three", pieces=["One", " two", " three"], pace=0.01))
    agent = sdk.beta.assistants.create(model="gpt-4o", instructions="You are terse.")
    body = {"assistant_id": agent.id, "stream": True,
            "thread": {"messages": [{"role": "user", "content": "Count"}]}}
    with httpx.stream("POST", f"{sdk.base_url}threads/runs", json=body, timeout=10,
                      headers={"Authorization": f"Bearer {CLIENT_KEY}", "OpenAI-Beta": "assistants=v2"}) as response:
        events = sse_events(response)
    assert [name for name, _ in events] == [
        "thread.created", "thread.run.created", "thread.run.queued", "thread.run.in_progress",
        "thread.run.step.created", "thread.run.step.in_progress",
        "thread.message.created", "thread.message.in_progress",
        "thread.message.delta", "thread.message.delta", "thread.message.delta",
        "thread.message.completed", "thread.run.step.completed", "thread.run.completed", "done",
    ]
    data = [json.loads(text) if name != "done" else text for name, text in events]
    assert data[-1] == "[DONE]"
    assert [d["status"] for d in data[1:4]] == ["queued", "queued", "in_progress"]
    assert [d["status"] for d in data[4:8]] == ["in_progress"] * 4
    deltas = [d["delta"]["content"][0] for d in data[8:11]]
    assert [part["text"]["value"] for part in deltas] == ["One", " two", " three"]
    assert "annotations" in deltas[0]["text"] and all("annotations" not in p["text"] for p in deltas[1:])
    message, step, run = data[11:14]
    assert message["status"] == "completed" and message["content"][0]["text"]["value"] == "One two three"
    assert step["status"] == "completed" and step["step_details"]["message_creation"]["message_id"] == message["id"]
    assert run["status"] == "completed" and run["usage"] == step["usage"]
    assert {d["id"] for d in data[8:11]} == {message["id"]} and data[0]["id"] == run["thread_id"]


def test_a_client_that_leaves_mid_stream_stops_its_stream_not_the_run(fake, caplog):
    fake.script(Reply(text=" ".join(["word"] * 30), pace=0.1))  # 3 s of answer
    with emulator_on(fake.base_url) as (server, client):
        agent = client.beta.assistants.create(model="gpt-4o")
        body = {"assistant_id": agent.id, "stream": True,
                "thread": {"messages": [{"role": "user", "content": "Talk"}]}}
        with httpx.stream("POST", f"{server.base_url}/threads/runs", json=body, timeout=10, headers={
                "Authorization": f"Bearer {CLIENT_KEY}", "OpenAI-Beta": "assistants=v2"}) as response:
            lines = response.iter_lines()
            while next(lines) != "event: thread.message.delta":
                pass
            run_id = next(iter(server.emulator.runs.listeners))
        deadline = time.monotonic() + 1.5  # the client left: its stream stops listening at once
        while server.emulator.runs.listeners and time.monotonic() < deadline:
            time.sleep(0.01)
        assert not server.emulator.runs.listeners
        thread_id = server.emulator.store.get("run", run_id)["thread_id"]
        run = settle(client, thread_id, run_id)
        assert run.status == "completed" and texts(client, thread_id)[-1][1] == " ".join(["word"] * 30)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_a_stream_waiting_on_a_slow_model_sends_keep_alive_pings(fake, sdk, monkeypatch):
    monkeypatch.setattr(sse, "PING_EVERY", 0.3)
    monkeypatch.setattr(events, "PING_EVERY", 0.3)
    fake.script(Reply(text="Late but here", first_token=1.0))
    agent, thread = start(sdk, "Take your time")
    body = {"assistant_id": agent.id, "stream": True}
    with httpx.stream("POST", f"{sdk.base_url}threads/{thread.id}/runs", json=body, timeout=10,
                      headers={"Authorization": f"Bearer {CLIENT_KEY}", "OpenAI-Beta": "assistants=v2"}) as response:
        lines = list(response.iter_lines())
    assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
    assert ": ping" in lines  # a comment line: every SSE client skips it
    assert lines.index(": ping") < lines.index("event: thread.message.delta")
    assert lines[-3:] == ["event: done", "data: [DONE]", ""]


def test_a_streamed_tool_round_ends_the_stream_at_requires_action_and_resumes(fake, sdk):
    fake.script(Reply(tool_calls=[("get_weather", {"city": "Bern"})]), Reply(text="Snow, then sun."))
    agent, thread = start(sdk, "Weather?")
    with sdk.beta.threads.runs.create(thread_id=thread.id, assistant_id=agent.id, stream=True) as events:
        names = [event.event for event in events]
    assert names[-1] == "thread.run.requires_action"
    run = sdk.beta.threads.runs.list(thread.id).data[0]
    with sdk.beta.threads.runs.submit_tool_outputs(
            run_id=run.id, thread_id=thread.id, stream=True,
            tool_outputs=outputs(run, {"get_weather": "-1 C"})) as events:
        names = [event.event for event in events]
    assert names[-1] == "thread.run.completed" and "thread.message.delta" in names


def test_polling_clients_see_in_progress_while_the_backend_writes_and_cancel_stops_it(fake, sdk):
    fake.script(Reply(text=" ".join(["word"] * 50), pace=0.2))
    agent, thread = start(sdk, "Write a lot")
    run = sdk.beta.threads.runs.create(thread_id=thread.id, assistant_id=agent.id)
    assert fake.started.wait(5)
    assert sdk.beta.threads.runs.retrieve(run.id, thread_id=thread.id).status == "in_progress"
    cancelled = sdk.beta.threads.runs.cancel(run.id, thread_id=thread.id)
    assert cancelled.status in ("cancelling", "cancelled")
    run = settle(sdk, thread.id, run.id)
    assert run.status == "cancelled"
    deadline = time.monotonic() + 5
    while not fake.requests[0].disconnected and time.monotonic() < deadline:
        time.sleep(0.01)
    assert fake.requests[0].disconnected and not fake.requests[0].finished
    [message] = [m for m in sdk.beta.threads.messages.list(thread.id) if m.role == "assistant"]
    assert message.status == "incomplete"
    again = sdk.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=agent.id)
    assert again.status == "completed"


def test_cancel_during_a_streamed_run_ends_the_stream_with_the_cancelled_run(fake, sdk):
    fake.script(Reply(text=" ".join(["word"] * 50), pace=0.2))
    agent, thread = start(sdk, "Write a lot")
    names, deltas, run_id = [], 0, None
    with sdk.beta.threads.runs.create(thread_id=thread.id, assistant_id=agent.id, stream=True) as events:
        for event in events:
            names.append(event.event)
            if event.event == "thread.run.created":
                run_id = event.data.id
            elif event.event == "thread.message.delta":
                deltas += 1
                if deltas == 2:  # mid-generation, from another request
                    sdk.beta.threads.runs.cancel(run_id, thread_id=thread.id)
    assert names[-1] == "thread.run.cancelled" and "thread.run.completed" not in names
    assert "thread.run.cancelling" in names and deltas < 50
    [message] = [m for m in sdk.beta.threads.messages.list(thread.id) if m.role == "assistant"]
    assert message.status == "incomplete"
    assert not fake.requests[0].finished  # the backend's stream was closed, not read to the end


# --- failures --------------------------------------------------------------------------------


@pytest.mark.parametrize(("replies", "code", "named"), [
    ([Reply(status=500, error="boom")] * 3, "server_error", "HTTP 500"),
    ([Reply(status=429, error="Rate limit reached", headers={"retry-after-ms": "1"})] * 3,
     "rate_limit_exceeded", "HTTP 429"),
    ([Reply(text="late", delay=3)] * 3, "server_error", "timed out"),
    ([Reply(status=400, error="This model's maximum context length is 8192 tokens.")], "invalid_prompt",
     "maximum context length is 8192"),
])
def test_a_failing_backend_fails_the_run_and_the_thread_takes_the_next_one(fake, replies, code, named):
    with emulator_on(fake.base_url, timeout=0.3) as (_, sdk):
        fake.script(*replies)
        agent, thread = start(sdk, "Hello")
        run = sdk.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=agent.id, poll_interval_ms=20)
        assert run.status == "failed"
        assert run.last_error.code == code and named in run.last_error.message
        assert run.failed_at is not None and run.expires_at is None
        again = sdk.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=agent.id,
                                                      poll_interval_ms=20)
        assert again.status == "completed"
        assert texts(sdk, thread.id)[-1] == ("assistant", "Hello from the backend.")


def test_an_unreachable_backend_fails_runs_with_server_error_and_the_api_stays_up():
    with emulator_on(unreachable_url()) as (_, sdk):
        agent, thread = start(sdk, "Hello")
        for _ in range(2):  # the thread still takes runs
            run = sdk.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=agent.id,
                                                        poll_interval_ms=20)
            assert run.status == "failed" and run.last_error.code == "server_error"
            assert "could not be reached" in run.last_error.message
        sdk.beta.threads.messages.create(thread.id, role="user", content="still here")


def test_code_interpreter_fails_the_run_clearly_and_is_never_sent_to_the_backend(fake, sdk):
    agent, thread = start(sdk, "Plot this", tools=({"type": "code_interpreter"}, WEATHER))
    run = sdk.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=agent.id, poll_interval_ms=20)
    assert run.status == "failed" and run.last_error.code == "invalid_prompt"
    assert "code_interpreter cannot run on this server" in run.last_error.message
    assert fake.requests == []
    run = sdk.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=agent.id, tools=[WEATHER],
                                                poll_interval_ms=20)
    assert run.status == "completed" and fake.requests[0].body["tools"] == [WEATHER]


# --- keys -----------------------------------------------------------------------------------


def test_the_backend_never_sees_the_clients_key_and_its_own_key_shows_nowhere(fake, tmp_path, caplog, monkeypatch):
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("SYNCER_BACKEND_API_KEY", BACKEND_KEY)
    state = tmp_path / "state.db"
    backend = ChatBackend(backend_settings(fake.base_url, max_retries=1), sleep=no_sleep)
    seen: list[str] = []
    with running_server(EmulatorConfig(backend=backend, state=state, api_key=CLIENT_KEY)) as server:
        sdk = openai.OpenAI(base_url=server.base_url, api_key=CLIENT_KEY, max_retries=0)
        fake.script(Reply(tool_calls=[("get_weather", {})]), Reply(text="ok"),
                    Reply(status=401, error=f"Incorrect API key provided: {BACKEND_KEY}"),
                    *[Reply(status=500, error=f"upstream said {BACKEND_KEY}")] * 2)
        agent, thread = start(sdk, "Hi")
        run = sdk.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=agent.id)
        run = sdk.beta.threads.runs.submit_tool_outputs_and_poll(
            run_id=run.id, thread_id=thread.id, tool_outputs=outputs(run, {"get_weather": "x"}))
        for _ in range(2):
            failed = sdk.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=agent.id,
                                                           poll_interval_ms=20)
            assert failed.status == "failed"
            seen.append(failed.to_json())
        assert "sk-***" in failed.last_error.message
        with sdk.beta.threads.runs.create(thread_id=thread.id, assistant_id=agent.id, stream=True) as events:
            seen += [event.to_json() for event in events]
        seen += [r.to_json() for r in sdk.beta.threads.runs.list(thread.id)]
        seen += [s.to_json() for r in sdk.beta.threads.runs.list(thread.id)
                 for s in sdk.beta.threads.runs.steps.list(r.id, thread_id=thread.id)]
        seen += [m.to_json() for m in sdk.beta.threads.messages.list(thread.id)]
        seen.append(json.dumps(server.stats()))
    assert fake.requests and all(r.headers["authorization"] == f"Bearer {BACKEND_KEY}" for r in fake.requests)
    for record in fake.requests:
        assert CLIENT_KEY not in json.dumps(record.headers) + json.dumps(record.body)
    everything = "\n".join(seen) + caplog.text + repr(backend) + repr(EmulatorConfig(backend=backend))
    for path in tmp_path.iterdir():
        everything += path.read_bytes().decode("utf-8", "replace")
    assert BACKEND_KEY not in everything and BACKEND_KEY[-8:] not in everything


# --- restart --------------------------------------------------------------------------------


def test_a_run_in_progress_when_the_server_stops_fails_after_a_restart(fake, tmp_path):
    state = tmp_path / "state.db"
    fake.script(Reply(text="never finished", first_token=30))
    with emulator_on(fake.base_url, state=state) as (_, sdk):
        agent, thread = start(sdk, "Hello")
        run = sdk.beta.threads.runs.create(thread_id=thread.id, assistant_id=agent.id)
        deadline = time.monotonic() + 5
        while not fake.requests and time.monotonic() < deadline:
            time.sleep(0.01)
    with emulator_on(fake.base_url, state=state) as (_, sdk):
        after = sdk.beta.threads.runs.retrieve(run.id, thread_id=thread.id)
        assert after.status == "failed"
        assert after.last_error.model_dump() == RESTARTED
        again = sdk.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=agent.id)
        assert again.status == "completed"


# --- what the issue asks beyond the tool loop: bounds, cuts, truncation ---------------------------


def test_file_search_fails_the_run_clearly_and_is_never_sent_to_the_backend(fake, sdk):
    agent, thread = start(sdk, "Find it", tools=({"type": "file_search"},))
    run = sdk.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=agent.id, poll_interval_ms=20)
    assert run.status == "failed" and run.last_error.code == "invalid_prompt"
    assert "file_search cannot run on this server" in run.last_error.message
    assert fake.requests == []


def test_a_model_that_asks_for_tools_past_the_round_bound_fails_the_run(fake, sdk):
    fake.script(*[Reply(tool_calls=[("get_weather", {"city": "Paris"})]) for _ in range(MAX_ROUNDS + 1)])
    agent, thread = start(sdk, "Weather, again and again")
    run = sdk.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=agent.id, poll_interval_ms=20)
    for _ in range(MAX_ROUNDS):
        assert run.status == "requires_action"
        run = sdk.beta.threads.runs.submit_tool_outputs_and_poll(
            run_id=run.id, thread_id=thread.id, tool_outputs=outputs(run, {"get_weather": "sunny"}),
            poll_interval_ms=20)
    assert run.status == "failed" and run.last_error.code == "server_error"
    assert f"more than {MAX_ROUNDS} rounds" in run.last_error.message
    assert len(fake.requests) == MAX_ROUNDS + 1
    fake.script(Reply(text="Done."))
    run = sdk.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=agent.id, tools=[],
                                                poll_interval_ms=20)
    assert run.status == "completed"  # the thread takes the next run


def test_an_answer_cut_at_max_completion_tokens_leaves_the_run_and_message_incomplete(fake, sdk):
    fake.script(Reply(text="The first half of", finish_reason="length"))
    agent, thread = start(sdk, "Tell me everything", tools=())
    run = sdk.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=agent.id,
                                                max_completion_tokens=256, poll_interval_ms=20)
    assert run.status == "incomplete" and run.incomplete_details.reason == "max_completion_tokens"
    assert fake.requests[0].body["max_completion_tokens"] == 256
    [message] = [m for m in sdk.beta.threads.messages.list(thread.id) if m.role == "assistant"]
    assert message.status == "incomplete" and message.content[0].text.value == "The first half of"


def test_truncation_to_the_last_messages_sends_only_those(fake, sdk):
    agent, thread = start(sdk, "one", tools=())
    for text in ("two", "three"):
        sdk.beta.threads.messages.create(thread.id, role="user", content=text)
    run = sdk.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=agent.id, poll_interval_ms=20,
        truncation_strategy={"type": "last_messages", "last_messages": 2})
    assert run.status == "completed"
    assert fake.requests[0].body["messages"] == [{"role": "system", "content": "You are terse."},
                                                 {"role": "user", "content": "two"},
                                                 {"role": "user", "content": "three"}]


def test_a_run_still_generating_at_expires_at_is_stopped_and_expired(fake, monkeypatch):
    # expires_at is whole seconds: 2 leaves the run 1-2 s, time enough to reach the backend.
    monkeypatch.setattr(runs, "EXPIRES_AFTER", 2)
    fake.script(Reply(text="far too slow", first_token=30))
    with emulator_on(fake.base_url) as (_, client):
        agent, thread = start(client, "Hi", tools=())
        run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=agent.id,
                                                       poll_interval_ms=20)
        assert run.status == "expired"
        assert fake.requests[0].disconnected and not fake.requests[0].finished  # the backend was stopped
        fake.script(Reply(text="Quick."))
        monkeypatch.setattr(runs, "EXPIRES_AFTER", 600)
        run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=agent.id,
                                                       poll_interval_ms=20)
        assert run.status == "completed"
