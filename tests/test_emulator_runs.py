"""Run lifecycle, tool calls, busy threads, expiry and streaming, on an injected clock.

No test sleeps: the clock is a `FakeClock` the test moves; the emulator computes each run's
state from it whenever the run is looked at.
"""

from __future__ import annotations

import json

import httpx
import pytest

from syncer.emulator import EmulatorConfig, create_app
from syncer.emulator import events as events_module
from syncer.emulator.backends import deterministic as model

HEADERS = {"Authorization": "Bearer sk-test", "OpenAI-Beta": "assistants=v2"}
WEATHER = {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}
TIME = {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object"}}}


class FakeClock:
    def __init__(self, now: float = 1_750_000_000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
async def api(clock):
    app = create_app(EmulatorConfig(run_ms=1000, clock=clock))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://emulator/v1",
                                 headers=HEADERS) as client:
        yield client


async def ok(response: httpx.Response) -> dict:
    assert response.status_code == 200, response.text
    return response.json()


async def setup_thread(api, text: str, tools=(WEATHER, TIME), instructions="Be brief.") -> tuple[dict, dict]:
    assistant = await ok(await api.post("/assistants", json={
        "model": "gpt-4o", "instructions": instructions, "tools": list(tools)}))
    thread = await ok(await api.post("/threads", json={"messages": [{"role": "user", "content": text}]}))
    return assistant, thread


async def get_run(api, run: dict) -> dict:
    return await ok(await api.get(f"/threads/{run['thread_id']}/runs/{run['id']}"))


async def test_plain_run_goes_queued_in_progress_completed_as_time_passes(api, clock):
    assistant, thread = await setup_thread(api, "What is a ledger?")
    run = await ok(await api.post(f"/threads/{thread['id']}/runs", json={"assistant_id": assistant["id"]}))
    created = int(clock.now)
    assert run["status"] == "queued"
    assert run["expires_at"] == run["created_at"] + 600 == created + 600
    assert (run["started_at"], run["usage"], run["instructions"]) == (None, None, "Be brief.")
    assert (await get_run(api, run))["status"] == "queued"  # nothing happens without time

    clock.now += 0.3
    running = await get_run(api, run)
    assert running["status"] == "in_progress"
    assert running["started_at"] == created
    messages = (await ok(await api.get(f"/threads/{thread['id']}/messages")))["data"]
    assert (messages[0]["role"], messages[0]["status"], messages[0]["content"]) == ("assistant", "in_progress", [])

    clock.now += 0.8
    done = await get_run(api, run)
    assert done["status"] == "completed"
    assert done["expires_at"] is None and done["completed_at"] == int(clock.now)
    usage = done["usage"]
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"] > 0
    reply = (await ok(await api.get(f"/threads/{thread['id']}/messages")))["data"][0]
    assert (reply["status"], reply["run_id"], reply["assistant_id"]) == ("completed", run["id"], assistant["id"])
    assert reply["completed_at"] == int(clock.now)
    # The reply is the deterministic model's, from the model, instructions and messages only.
    expected = model.reply("gpt-4o", "Be brief.", [("user", "What is a ledger?")])
    assert reply["content"][0]["text"]["value"] == expected

    steps = (await ok(await api.get(f"/threads/{thread['id']}/runs/{run['id']}/steps")))["data"]
    assert [(s["type"], s["status"]) for s in steps] == [("message_creation", "completed")]
    assert steps[0]["step_details"]["message_creation"]["message_id"] == reply["id"]
    assert steps[0]["usage"]["completion_tokens"] > 0


async def test_busy_thread_rejects_messages_and_runs_with_the_real_400s(api, clock):
    assistant, thread = await setup_thread(api, "hello")
    run = await ok(await api.post(f"/threads/{thread['id']}/runs", json={"assistant_id": assistant["id"]}))
    message = await api.post(f"/threads/{thread['id']}/messages", json={"role": "user", "content": "more"})
    assert message.status_code == 400
    assert message.json()["error"]["message"] == (
        f"Can't add messages to {thread['id']} while a run {run['id']} is active.")
    second = await api.post(f"/threads/{thread['id']}/runs", json={"assistant_id": assistant["id"]})
    assert second.status_code == 400
    assert second.json()["error"]["message"] == f"Thread {thread['id']} already has an active run {run['id']}."

    clock.now += 2
    assert (await api.post(f"/threads/{thread['id']}/messages",
                           json={"role": "user", "content": "more"})).status_code == 200
    listed = (await ok(await api.get(f"/threads/{thread['id']}/messages")))["data"]
    assert [m["role"] for m in listed] == ["user", "assistant", "user"]


async def test_tool_calls_outputs_and_final_reply(api, clock):
    text = 'Plan: @get_weather {"city": "Oslo", "days": 2} then @get_time'
    assistant, thread = await setup_thread(api, text)
    run = await ok(await api.post(f"/threads/{thread['id']}/runs", json={"assistant_id": assistant["id"]}))
    clock.now += 1.1
    waiting = await get_run(api, run)
    assert waiting["status"] == "requires_action"
    calls = waiting["required_action"]["submit_tool_outputs"]["tool_calls"]
    assert [(c["type"], c["function"]["name"], json.loads(c["function"]["arguments"])) for c in calls] == [
        ("function", "get_weather", {"city": "Oslo", "days": 2}), ("function", "get_time", {})]
    steps = (await ok(await api.get(f"/threads/{thread['id']}/runs/{run['id']}/steps")))["data"]
    assert [(s["type"], s["status"]) for s in steps] == [("tool_calls", "in_progress")]
    assert [c["function"]["output"] for c in steps[0]["step_details"]["tool_calls"]] == [None, None]

    submit = f"/threads/{thread['id']}/runs/{run['id']}/submit_tool_outputs"
    partial = await api.post(submit, json={"tool_outputs": [{"tool_call_id": calls[0]["id"], "output": "x"}]})
    assert partial.status_code == 400
    assert partial.json()["error"]["message"] == (
        f"Expected tool outputs for call_ids {[c['id'] for c in calls]}, got {[calls[0]['id']]}")
    assert (await get_run(api, run))["status"] == "requires_action"  # the bad submit changed nothing

    outputs = ['{"temperature_c": -3}', "09:15"]
    resumed = await ok(await api.post(submit, json={"tool_outputs": [
        {"tool_call_id": c["id"], "output": o} for c, o in zip(reversed(calls), reversed(outputs), strict=True)]}))
    assert resumed["status"] == "queued" and resumed["required_action"] is None
    again = await api.post(submit, json={"tool_outputs": []})
    assert again.json()["error"]["message"] == 'Runs in status "queued" do not accept tool outputs.'

    clock.now += 1.1
    done = await get_run(api, run)
    assert done["status"] == "completed"
    reply = (await ok(await api.get(f"/threads/{thread['id']}/messages",
                                   params={"run_id": run["id"]})))["data"]
    assert len(reply) == 1
    results = [model.ToolResult("get_weather", calls[0]["function"]["arguments"], outputs[0]),
               model.ToolResult("get_time", "{}", outputs[1])]
    assert reply[0]["content"][0]["text"]["value"] == model.reply("gpt-4o", "Be brief.", [("user", text)], results)
    for output in outputs:
        assert output in reply[0]["content"][0]["text"]["value"]
    steps = (await ok(await api.get(f"/threads/{thread['id']}/runs/{run['id']}/steps",
                                    params={"order": "asc"})))["data"]
    assert [(s["type"], s["status"]) for s in steps] == [("tool_calls", "completed"), ("message_creation", "completed")]
    assert [c["function"]["output"] for c in steps[0]["step_details"]["tool_calls"]] == outputs


@pytest.mark.parametrize(
    ("options", "text", "expected"),
    [
        ({"parallel_tool_calls": False}, "@get_weather and @get_time", ["get_weather"]),
        ({"tool_choice": "none"}, "@get_weather please", []),
        ({"tool_choice": "required"}, "no mention at all", ["get_weather"]),
        ({"tool_choice": {"type": "function", "function": {"name": "get_time"}}}, "@get_weather", ["get_time"]),
        ({}, "mail me at someone@get_weather.com", []),
        ({}, "@unknown_tool {}", []),
    ],
)
async def test_which_tools_a_run_calls(api, clock, options, text, expected):
    assistant, thread = await setup_thread(api, text)
    run = await ok(await api.post(f"/threads/{thread['id']}/runs",
                                  json={"assistant_id": assistant["id"], **options}))
    clock.now += 1.1
    after = await get_run(api, run)
    if expected:
        assert after["status"] == "requires_action"
        calls = after["required_action"]["submit_tool_outputs"]["tool_calls"]
        assert [c["function"]["name"] for c in calls] == expected
    else:
        assert after["status"] == "completed"


async def test_requires_action_past_expires_at_becomes_expired(api, clock):
    assistant, thread = await setup_thread(api, "@get_time")
    run = await ok(await api.post(f"/threads/{thread['id']}/runs", json={"assistant_id": assistant["id"]}))
    clock.now += 599
    assert (await get_run(api, run))["status"] == "requires_action"
    clock.now += 2
    expired = await get_run(api, run)
    assert expired["status"] == "expired"
    assert (expired["expires_at"], expired["required_action"]) == (None, None)
    steps = (await ok(await api.get(f"/threads/{thread['id']}/runs/{run['id']}/steps")))["data"]
    assert steps[0]["status"] == "expired" and steps[0]["expired_at"] == run["created_at"] + 600
    late = await api.post(f"/threads/{thread['id']}/runs/{run['id']}/submit_tool_outputs",
                          json={"tool_outputs": [{"tool_call_id": "call_x", "output": "x"}]})
    assert late.json()["error"]["message"] == 'Runs in status "expired" do not accept tool outputs.'
    # The thread is free again.
    assert (await api.post(f"/threads/{thread['id']}/messages",
                           json={"role": "user", "content": "still there?"})).status_code == 200


async def test_cancel_from_requires_action_and_after_completion(api, clock):
    assistant, thread = await setup_thread(api, "@get_time")
    run = await ok(await api.post(f"/threads/{thread['id']}/runs", json={"assistant_id": assistant["id"]}))
    clock.now += 1.1
    cancel = f"/threads/{thread['id']}/runs/{run['id']}/cancel"
    assert (await ok(await api.post(cancel)))["status"] == "cancelling"
    clock.now += 0.3
    cancelled = await get_run(api, run)
    assert cancelled["status"] == "cancelled" and cancelled["cancelled_at"] == int(clock.now)
    steps = (await ok(await api.get(f"/threads/{thread['id']}/runs/{run['id']}/steps")))["data"]
    assert steps[0]["status"] == "cancelled"
    refused = await api.post(cancel)
    assert refused.status_code == 400
    assert refused.json()["error"]["message"] == "Cannot cancel run with status 'cancelled'."


async def test_additional_instructions_and_messages(api, clock):
    assistant, thread = await setup_thread(api, "Tell me about rivers.", tools=())
    run = await ok(await api.post(f"/threads/{thread['id']}/runs", json={
        "assistant_id": assistant["id"],
        "additional_instructions": "Answer in one line.",
        "additional_messages": [{"role": "user", "content": "And lakes."}],
    }))
    assert run["instructions"] == "Be brief.\n\nAnswer in one line."
    clock.now += 1.1
    assert (await get_run(api, run))["status"] == "completed"
    reply = (await ok(await api.get(f"/threads/{thread['id']}/messages")))["data"][0]
    assert reply["content"][0]["text"]["value"] == model.reply(
        "gpt-4o", "Be brief.\n\nAnswer in one line.",
        [("user", "Tell me about rivers."), ("user", "And lakes.")])


async def test_create_thread_and_run(api, clock):
    assistant, _ = await setup_thread(api, "unused", tools=())
    run = await ok(await api.post("/threads/runs", json={
        "assistant_id": assistant["id"], "model": "gpt-4o-mini",
        "thread": {"messages": [{"role": "user", "content": "Hi"}], "metadata": {"from": "test"}},
    }))
    assert (run["status"], run["model"]) == ("queued", "gpt-4o-mini")
    thread = await ok(await api.get(f"/threads/{run['thread_id']}"))
    assert thread["metadata"] == {"from": "test"}
    clock.now += 1.1
    assert (await get_run(api, run))["status"] == "completed"
    missing = await api.post("/threads/runs", json={"assistant_id": "asst_gone"})
    assert missing.json()["error"]["message"] == "No assistant found with id 'asst_gone'."


def sse_events(body: str) -> list[tuple[str, str]]:
    events = []
    for block in body.replace("\r\n", "\n").split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        if "event" in fields:
            events.append((fields["event"], fields.get("data", "")))
    return events


@pytest.fixture
async def streaming_api():
    app = create_app(EmulatorConfig(run_ms=0))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://emulator/v1",
                                 headers=HEADERS) as client:
        yield client


async def test_streamed_run_events_are_named_as_the_real_api(streaming_api):
    api = streaming_api
    assistant, thread = await setup_thread(api, "Stream please.", tools=())
    response = await api.post(f"/threads/{thread['id']}/runs",
                              json={"assistant_id": assistant["id"], "stream": True})
    assert response.headers["content-type"].startswith("text/event-stream")
    events = sse_events(response.text)
    names = [name for name, _ in events]
    deltas = names.count("thread.message.delta")
    assert deltas >= 2
    assert names == [
        "thread.run.created", "thread.run.queued", "thread.run.in_progress",
        "thread.run.step.created", "thread.run.step.in_progress",
        "thread.message.created", "thread.message.in_progress",
        *["thread.message.delta"] * deltas,
        "thread.message.completed", "thread.run.step.completed", "thread.run.completed", "done",
    ]
    assert events[-1][1] == "[DONE]"
    text = "".join(json.loads(d)["delta"]["content"][0]["text"]["value"]
                   for n, d in events if n == "thread.message.delta")
    completed = json.loads(events[-4][1])
    assert completed["content"][0]["text"]["value"] == text


async def test_streamed_tool_calls_stop_at_requires_action_and_resume(streaming_api):
    api = streaming_api
    assistant, _ = await setup_thread(api, "unused")
    response = await api.post("/threads/runs", json={
        "assistant_id": assistant["id"], "stream": True,
        "thread": {"messages": [{"role": "user", "content": "@get_time"}]}})
    names = [name for name, _ in sse_events(response.text)]
    assert names == [
        "thread.created", "thread.run.created", "thread.run.queued", "thread.run.in_progress",
        "thread.run.step.created", "thread.run.step.in_progress", "thread.run.step.delta",
        "thread.run.requires_action", "done",
    ]
    run = json.loads(sse_events(response.text)[-2][1])
    call = run["required_action"]["submit_tool_outputs"]["tool_calls"][0]
    resumed = await api.post(f"/threads/{run['thread_id']}/runs/{run['id']}/submit_tool_outputs",
                             json={"tool_outputs": [{"tool_call_id": call["id"], "output": "noon"}],
                                   "stream": True})
    names = [name for name, _ in sse_events(resumed.text)]
    assert names[:3] == ["thread.run.step.completed", "thread.run.queued", "thread.run.in_progress"]
    assert names[-2:] == ["thread.run.completed", "done"]


async def test_no_stream_answers_stream_true_with_a_400_naming_stream():
    app = create_app(EmulatorConfig(run_ms=0, stream=False))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://emulator/v1",
                                 headers=HEADERS) as api:
        assistant, thread = await setup_thread(api, "hi")
        refused = await api.post(f"/threads/{thread['id']}/runs",
                                 json={"assistant_id": assistant["id"], "stream": True})
        assert refused.status_code == 400
        assert refused.json()["error"]["param"] == "stream"
        assert (await ok(await api.get(f"/threads/{thread['id']}/runs")))["data"] == []
        plain = await api.post(f"/threads/{thread['id']}/runs", json={"assistant_id": assistant["id"]})
        assert plain.status_code == 200


async def test_runs_list_pages_and_orders(api, clock):
    assistant, thread = await setup_thread(api, "go", tools=())
    ids = []
    for _ in range(5):
        ids.append((await ok(await api.post(f"/threads/{thread['id']}/runs",
                                            json={"assistant_id": assistant["id"]})))["id"])
        clock.now += 1.1
    page = await ok(await api.get(f"/threads/{thread['id']}/runs", params={"limit": 2}))
    assert [r["id"] for r in page["data"]] == ids[::-1][:2] and page["has_more"]
    assert all(r["status"] == "completed" for r in page["data"])
    rest = await ok(await api.get(f"/threads/{thread['id']}/runs",
                                  params={"limit": 10, "after": page["last_id"]}))
    assert [r["id"] for r in rest["data"]] == ids[::-1][2:] and not rest["has_more"]


# --- the other ends of the lifecycle: incomplete (token limits) and failed (fault script) ------


async def test_max_completion_tokens_cuts_the_reply_off_and_the_run_ends_incomplete(api, clock):
    """With tool outputs longer than the limit, the reply is cut at max_completion_tokens."""
    assistant, thread = await setup_thread(api, "Report: @get_weather")
    run = await ok(await api.post(f"/threads/{thread['id']}/runs", json={
        "assistant_id": assistant["id"], "max_completion_tokens": 256}))
    clock.now += 1.1
    call = (await get_run(api, run))["required_action"]["submit_tool_outputs"]["tool_calls"][0]
    output = "sunny " * 400  # 2400 characters: far more than 256 tokens once quoted in the reply
    await ok(await api.post(f"/threads/{thread['id']}/runs/{run['id']}/submit_tool_outputs",
                            json={"tool_outputs": [{"tool_call_id": call["id"], "output": output}]}))
    clock.now += 1.1
    ended = await get_run(api, run)
    assert (ended["status"], ended["incomplete_details"]) == ("incomplete", {"reason": "max_completion_tokens"})
    assert ended["completed_at"] is None and ended["expires_at"] is None
    assert ended["usage"]["completion_tokens"] <= 256
    full = model.reply("gpt-4o", "Be brief.", [("user", "Report: @get_weather")],
                       [model.ToolResult("get_weather", "{}", output)])
    reply = (await ok(await api.get(f"/threads/{thread['id']}/messages")))["data"][0]
    assert (reply["status"], reply["incomplete_details"]) == ("incomplete", {"reason": "max_tokens"})
    assert reply["incomplete_at"] == int(clock.now)
    cut = reply["content"][0]["text"]["value"]
    assert full.startswith(cut) and 0 < len(cut) < len(full)
    # The thread is free again: an incomplete run is over.
    assert (await api.post(f"/threads/{thread['id']}/messages",
                           json={"role": "user", "content": "go on"})).status_code == 200


async def test_max_prompt_tokens_too_small_for_the_thread_ends_incomplete_without_a_reply(api, clock):
    assistant, thread = await setup_thread(api, "word " * 1200, tools=())  # ~1500 prompt tokens
    run = await ok(await api.post(f"/threads/{thread['id']}/runs", json={
        "assistant_id": assistant["id"], "max_prompt_tokens": 256}))
    clock.now += 1.1
    ended = await get_run(api, run)
    assert (ended["status"], ended["incomplete_details"]) == ("incomplete", {"reason": "max_prompt_tokens"})
    reply = (await ok(await api.get(f"/threads/{thread['id']}/messages")))["data"][0]
    assert (reply["role"], reply["status"], reply["content"]) == ("assistant", "incomplete", [])

    # The same thread under a limit it fits in completes as usual.
    fits = await ok(await api.post(f"/threads/{thread['id']}/runs", json={
        "assistant_id": assistant["id"], "max_prompt_tokens": 100_000}))
    clock.now += 1.1
    assert (await get_run(api, fits))["status"] == "completed"


async def test_a_run_the_fault_script_marks_ends_failed_with_last_error(clock):
    app = create_app(EmulatorConfig(run_ms=1000, clock=clock))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://emulator",
                                 headers=HEADERS) as root:
        scripted = await root.post("/_emulator/faults", json={"fail_runs": [2]})
        assert scripted.json()["fail_runs"] == [2]
        api = httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://emulator/v1",
                                headers=HEADERS)
        assistant, thread = await setup_thread(api, "Weather? @get_weather")
        first = await ok(await api.post(f"/threads/{thread['id']}/runs", json={"assistant_id": assistant["id"]}))
        clock.now += 1.1
        assert (await get_run(api, first))["status"] == "requires_action"  # the 1st run is spared
        await ok(await api.post(f"/threads/{thread['id']}/runs/{first['id']}/cancel"))
        clock.now += 1
        second = await ok(await api.post(f"/threads/{thread['id']}/runs", json={"assistant_id": assistant["id"]}))
        clock.now += 0.5
        assert (await get_run(api, second))["status"] == "in_progress"
        clock.now += 0.6
        failed = await get_run(api, second)
        await api.aclose()
    assert failed["status"] == "failed"
    assert failed["last_error"] == {"code": "server_error", "message": "Sorry, something went wrong."}
    assert failed["failed_at"] == int(clock.now) and failed["expires_at"] is None
    assert failed["required_action"] is None and failed["usage"] is not None


async def test_a_failed_run_streams_its_failure(clock):
    app = create_app(EmulatorConfig(run_ms=0, clock=clock))
    app.state.emulator.faults.script({"fail_runs": [1]})
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://emulator/v1",
                                 headers=HEADERS) as api:
        assistant, thread = await setup_thread(api, "hello", tools=())
        async with api.stream("POST", f"/threads/{thread['id']}/runs",
                              json={"assistant_id": assistant["id"], "stream": True}) as response:
            names = [line.removeprefix("event: ").strip() async for line in response.aiter_lines()
                     if line.startswith("event:")]
        run = (await ok(await api.get(f"/threads/{thread['id']}/runs", params={"limit": 1})))["data"][0]
        steps = (await ok(await api.get(f"/threads/{thread['id']}/runs/{run['id']}/steps")))["data"]
        message = (await ok(await api.get(f"/threads/{thread['id']}/messages")))["data"][0]
    assert names[-4:] == ["thread.run.step.failed", "thread.message.incomplete", "thread.run.failed", "done"]
    assert run["status"] == "failed"
    assert [(s["status"], s["last_error"]["code"]) for s in steps] == [("failed", "server_error")]
    assert (message["status"], message["incomplete_details"]) == ("incomplete", {"reason": "run_failed"})


async def test_a_slow_streamed_run_sends_keep_alive_pings(monkeypatch):
    # --run-ms long enough that the deterministic model is silent past PING_EVERY between events.
    monkeypatch.setattr(events_module, "PING_EVERY", 0.2)
    app = create_app(EmulatorConfig(run_ms=1500))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://emulator/v1",
                                 headers=HEADERS) as api:
        assistant, thread = await setup_thread(api, "Slowly, please.", tools=())
        response = await api.post(f"/threads/{thread['id']}/runs",
                                  json={"assistant_id": assistant["id"], "stream": True})
    lines = response.text.split("\r\n")
    assert ": ping" in lines  # a comment line: every SSE client skips it
    assert [name for name, _ in sse_events(response.text)][-2:] == ["thread.run.completed", "done"]
