"""Persistence (``--state``), account files (``--load``) and generated accounts."""

from __future__ import annotations

import json
import sqlite3

import httpx
import pytest

from syncer.emulator import EmulatorConfig, create_app, running_server
from syncer.emulator.generate import generate_account, sample_account_path
from syncer.emulator.loading import load_account_file
from syncer.emulator.storage import ObjectStore as Store
from syncer.errors import UsageError

HEADERS = {"Authorization": "Bearer sk-test", "OpenAI-Beta": "assistants=v2"}
TOOL = {"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}


def test_state_file_keeps_everything_across_a_restart(tmp_path):
    state = tmp_path / "emulator.db"
    config = EmulatorConfig(state=state, run_ms=0)
    with running_server(config) as server, httpx.Client(base_url=server.base_url, headers=HEADERS) as api:
        assistant = api.post("/assistants", json={"model": "gpt-4o", "name": "Keeper", "tools": [TOOL]}).json()
        api.post(f"/assistants/{assistant['id']}", json={"metadata": {"v": "2"}})
        doomed = api.post("/assistants", json={"model": "gpt-4o", "name": "Doomed"}).json()
        api.delete(f"/assistants/{doomed['id']}")
        thread = api.post("/threads", json={"messages": [
            {"role": "user", "content": f"message {i}"} for i in range(5)]}).json()
        messages = api.get(f"/threads/{thread['id']}/messages", params={"order": "asc"}).json()["data"]
        api.delete(f"/threads/{thread['id']}/messages/{messages[1]['id']}")
        api.post(f"/threads/{thread['id']}/messages", json={"role": "user", "content": '@lookup {"q": 1}'})
        run = api.post(f"/threads/{thread['id']}/runs", json={"assistant_id": assistant["id"]}).json()
        waiting = api.get(f"/threads/{thread['id']}/runs/{run['id']}").json()
        assert waiting["status"] == "requires_action"
        before_restart = api.get(f"/threads/{thread['id']}/messages", params={"order": "asc"}).json()

    with sqlite3.connect(state) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"

    with running_server(config) as server, httpx.Client(base_url=server.base_url, headers=HEADERS) as api:
        kept = api.get(f"/assistants/{assistant['id']}").json()
        assert (kept["name"], kept["metadata"]) == ("Keeper", {"v": "2"})
        assert api.get(f"/assistants/{doomed['id']}").status_code == 404
        assert [a["id"] for a in api.get("/assistants").json()["data"]] == [assistant["id"]]
        assert api.get(f"/threads/{thread['id']}/messages", params={"order": "asc"}).json() == before_restart
        # A cursor on the deleted message still pages from where it was.
        after_deleted = api.get(f"/threads/{thread['id']}/messages",
                                params={"order": "asc", "after": messages[1]["id"], "limit": 2}).json()
        assert [m["id"] for m in after_deleted["data"]] == [messages[2]["id"], messages[3]["id"]]
        # The run waiting for tool outputs still waits, still blocks the thread, and resumes.
        busy = api.post(f"/threads/{thread['id']}/messages", json={"role": "user", "content": "x"})
        assert busy.status_code == 400
        call = waiting["required_action"]["submit_tool_outputs"]["tool_calls"][0]
        resumed = api.post(f"/threads/{thread['id']}/runs/{run['id']}/submit_tool_outputs",
                           json={"tool_outputs": [{"tool_call_id": call["id"], "output": "found"}]})
        assert resumed.json()["status"] == "queued"
        done = api.get(f"/threads/{thread['id']}/runs/{run['id']}").json()
        assert done["status"] == "completed"

    with running_server(config) as server, httpx.Client(base_url=server.base_url, headers=HEADERS) as api:
        reply = api.get(f"/threads/{thread['id']}/messages", params={"limit": 1}).json()["data"][0]
        assert reply["run_id"] == run["id"] and "found" in reply["content"][0]["text"]["value"]
        api.delete(f"/threads/{thread['id']}")
    with running_server(config) as server, httpx.Client(base_url=server.base_url, headers=HEADERS) as api:
        assert api.get(f"/threads/{thread['id']}").status_code == 404


def test_in_memory_by_default_nothing_survives(tmp_path):
    with running_server(EmulatorConfig()) as server, httpx.Client(base_url=server.base_url, headers=HEADERS) as api:
        api.post("/assistants", json={"model": "gpt-4o"})
    with running_server(EmulatorConfig()) as server, httpx.Client(base_url=server.base_url, headers=HEADERS) as api:
        assert api.get("/assistants").json()["data"] == []


async def test_sample_account_loads_with_ids_timestamps_and_order():
    account = json.loads(sample_account_path().read_text())
    assert sample_account_path().stat().st_size < 200_000
    assert {key: bool(value) for key, value in account.items()} == {
        "assistants": True, "threads": True, "messages": True, "runs": True, "run_steps": True}
    assert any(s["type"] == "tool_calls" for s in account["run_steps"])
    assert any(len(s["step_details"].get("tool_calls", [])) > 1 for s in account["run_steps"])

    app = create_app(EmulatorConfig(load=sample_account_path()))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://e/v1", headers=HEADERS) as api:
        assistants = (await api.get("/assistants", params={"order": "asc", "limit": 100})).json()["data"]
        assert assistants == account["assistants"]
        for thread in account["threads"]:
            assert (await api.get(f"/threads/{thread['id']}")).json() == thread
            listed = (await api.get(f"/threads/{thread['id']}/messages",
                                    params={"order": "asc", "limit": 100})).json()["data"]
            assert listed == [m for m in account["messages"] if m["thread_id"] == thread["id"]]
            runs = (await api.get(f"/threads/{thread['id']}/runs", params={"order": "asc"})).json()["data"]
            assert runs == [r for r in account["runs"] if r["thread_id"] == thread["id"]]
            for run in runs:
                steps = (await api.get(f"/threads/{thread['id']}/runs/{run['id']}/steps",
                                       params={"order": "asc"})).json()["data"]
                assert steps == [s for s in account["run_steps"] if s["run_id"] == run["id"]]


async def test_replaying_a_generated_account_reproduces_every_reply():
    """Each recorded reply is exactly what the emulator answers to the same conversation."""
    account = generate_account(seed=5, assistants=4, threads=6, messages_per_thread=8,
                               runs_per_thread=3, tool_call_ratio=0.6)
    app = create_app(EmulatorConfig(run_ms=0))
    store = app.state.emulator.store
    for assistant in account["assistants"]:
        store.add("assistant", assistant)
    steps_of = {}
    for step in account["run_steps"]:
        steps_of.setdefault(step["run_id"], []).append(step)
    runs = {run["id"]: run for run in account["runs"]}
    replayed_tool_runs = 0
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://e/v1", headers=HEADERS) as api:
        for thread in account["threads"]:
            history = [m for m in account["messages"] if m["thread_id"] == thread["id"]]
            for index, message in enumerate(history):
                if message["role"] != "assistant":
                    continue
                run = runs[message["run_id"]]
                earlier = [{"role": m["role"], "content": m["content"][0]["text"]["value"]} for m in history[:index]]
                new = (await api.post("/threads/runs", json={
                    "assistant_id": run["assistant_id"], "thread": {"messages": earlier}})).json()
                path = f"/threads/{new['thread_id']}/runs/{new['id']}"
                state = (await api.get(path)).json()
                if state["status"] == "requires_action":
                    recorded = next(s for s in steps_of[run["id"]] if s["type"] == "tool_calls")
                    recorded_calls = recorded["step_details"]["tool_calls"]
                    calls = state["required_action"]["submit_tool_outputs"]["tool_calls"]
                    assert [c["function"] for c in calls] == [
                        {"name": c["function"]["name"], "arguments": c["function"]["arguments"]}
                        for c in recorded_calls]
                    await api.post(f"{path}/submit_tool_outputs", json={"tool_outputs": [
                        {"tool_call_id": c["id"], "output": r["function"]["output"]}
                        for c, r in zip(calls, recorded_calls, strict=True)]})
                    replayed_tool_runs += 1
                    state = (await api.get(path)).json()
                assert state["status"] == "completed"
                reply = (await api.get(f"/threads/{new['thread_id']}/messages", params={"limit": 1})).json()
                assert reply["data"][0]["content"][0]["text"]["value"] == message["content"][0]["text"]["value"]
    assert replayed_tool_runs >= 2


def test_generated_accounts_are_deterministic_and_sized_as_asked():
    one = generate_account(seed=3, assistants=5, threads=10, messages_per_thread=12, runs_per_thread=4)
    two = generate_account(seed=3, assistants=5, threads=10, messages_per_thread=12, runs_per_thread=4)
    other = generate_account(seed=4, assistants=5, threads=10, messages_per_thread=12, runs_per_thread=4)
    assert one == two
    assert one["assistants"][0]["id"] != other["assistants"][0]["id"]
    assert [len(one[k]) for k in ("assistants", "threads", "messages", "runs")] == [5, 10, 120, 40]
    assert len(one["run_steps"]) >= 40
    ids = [o["id"] for objects in one.values() for o in objects]
    assert len(ids) == len(set(ids))


def test_loading_twice_into_a_state_file_adds_nothing_the_second_time(tmp_path):
    path = tmp_path / "state.db"
    first = Store(path)
    counts = load_account_file(first, sample_account_path())
    first.close()
    second = Store(path)
    assert load_account_file(second, sample_account_path()) == dict.fromkeys(counts, 0)
    assert len(second.objects["message"]) == counts["messages"]
    second.close()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "account.json:1: not valid JSON"),
        ("[]", "an account file is a JSON object"),
        ('{"people": []}', "unknown section(s) ['people']"),
        ('{"assistants": [{"id": "asst_1"}]}', "assistants[0]: missing 'created_at'"),
        ('{"messages": [{"id": "msg_1", "created_at": 1, "thread_id": "thread_x"}]}',
         "thread_id 'thread_x' is not in the account"),
        # Nested fields left as JSON text (e.g. copied from a raw SQL dump) are refused, not
        # served until a run trips over them with a 500.
        (('{"threads": [{"id": "thread_1", "created_at": 1}], "runs": [{"id": "run_1", '
         '"created_at": 1, "thread_id": "thread_1", "required_action": "{}"}]}'),
         "runs[0]: required_action: "),
    ],
)
def test_bad_account_files_are_one_line_usage_errors(tmp_path, content, message):
    path = tmp_path / "account.json"
    path.write_text(content)
    with pytest.raises(UsageError) as caught:
        create_app(EmulatorConfig(load=path))
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_missing_account_file(tmp_path):
    with pytest.raises(UsageError, match="no such account file"):
        create_app(EmulatorConfig(load=tmp_path / "nope.json"))
