"""The emulator's Responses and Conversations endpoints over plain HTTP: persistence
(``--state``), latency, faults, headers, limits, and item pagination as property tests."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from syncer.emulator import EmulatorConfig, create_app, running_server

AUTH = {"Authorization": "Bearer sk-test"}  # no OpenAI-Beta: these APIs need none
TOOL = {"type": "function", "name": "lookup", "parameters": {"type": "object"}}


def in_process(config: EmulatorConfig | None = None) -> httpx.AsyncClient:
    app = create_app(config or EmulatorConfig())
    return httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://emulator/v1",
                             headers=AUTH)


def test_state_file_keeps_conversations_items_and_responses(tmp_path):
    config = EmulatorConfig(state=tmp_path / "emulator.db")
    with running_server(config) as server, httpx.Client(base_url=server.base_url, headers=AUTH) as api:
        conversation = api.post("/conversations", json={
            "items": [{"role": "user", "content": f"m{i}"} for i in range(4)], "metadata": {"k": "v"}}).json()
        listed = api.get(f"/conversations/{conversation['id']}/items", params={"order": "asc"}).json()
        api.delete(f"/conversations/{conversation['id']}/items/{listed['data'][1]['id']}")
        called = api.post("/responses", json={"model": "gpt-4o", "tools": [TOOL], "input": "@lookup"}).json()
        in_conversation = api.post("/responses", json={
            "model": "gpt-4o", "conversation": conversation["id"], "input": "next"}).json()
        before = api.get(f"/conversations/{conversation['id']}/items", params={"order": "asc"}).json()
        doomed = api.post("/responses", json={"model": "gpt-4o", "input": "bye"}).json()
        api.delete(f"/responses/{doomed['id']}")

    with running_server(config) as server, httpx.Client(base_url=server.base_url, headers=AUTH) as api:
        assert api.get(f"/conversations/{conversation['id']}").json() == conversation
        assert api.get(f"/conversations/{conversation['id']}/items", params={"order": "asc"}).json() == before
        # a cursor on the deleted item still pages from where it was
        after = api.get(f"/conversations/{conversation['id']}/items",
                        params={"order": "asc", "after": listed["data"][1]["id"], "limit": 1}).json()
        assert [i["id"] for i in after["data"]] == [listed["data"][2]["id"]]
        assert api.get(f"/responses/{in_conversation['id']}").json() == in_conversation
        assert api.get(f"/responses/{called['id']}/input_items").json()["data"][0]["content"][0]["text"] == "@lookup"
        assert api.get(f"/responses/{doomed['id']}").status_code == 404
        # a stored response can still be continued
        call = called["output"][0]
        resumed = api.post("/responses", json={
            "model": "gpt-4o", "tools": [TOOL], "previous_response_id": called["id"],
            "input": [{"type": "function_call_output", "call_id": call["call_id"], "output": "found"}]})
        assert resumed.status_code == 200, resumed.text
        assert resumed.json()["output"][0]["content"][0]["text"].endswith("- lookup: found")


async def test_no_beta_header_needed_but_assistants_still_require_it():
    async with in_process() as client:
        assert (await client.post("/conversations", json={})).status_code == 200
        assert (await client.post("/responses", json={"model": "m", "input": "hi"})).status_code == 200
        refused = await client.get("/assistants")
        assert refused.status_code == 400 and refused.json()["error"]["code"] == "invalid_beta"


async def test_latency_and_faults_apply():
    async with in_process(EmulatorConfig(latency_ms=60)) as client:
        started = time.perf_counter()
        await client.post("/conversations", json={})
        assert time.perf_counter() - started >= 0.06
    async with in_process(EmulatorConfig(fault_rate=1.0, seed=1)) as client:
        statuses = set()
        for _ in range(10):
            try:
                statuses.add((await client.post("/responses", json={"model": "m", "input": "x"})).status_code)
            except httpx.RemoteProtocolError:
                statuses.add("drop")
        assert 200 not in statuses


async def test_scripted_run_failure_fails_a_response():
    app = create_app(EmulatorConfig())
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://emulator") as raw:
        await raw.post("/_emulator/faults", json={"fail_runs": [1]})
        failed = (await raw.post("/v1/responses", headers=AUTH, json={"model": "m", "input": "x"})).json()
        assert failed["status"] == "failed" and failed["error"]["code"] == "server_error"
        assert failed["output"] == []
        body = (await raw.post("/v1/responses", headers=AUTH,
                               json={"model": "m", "input": "x", "stream": True})).text
        assert "event: response.completed" in body


async def test_pairing_is_checked_when_a_response_is_created_not_when_items_are_added():
    async with in_process() as client:
        conversation = (await client.post("/conversations", json={"items": [
            {"role": "user", "content": "hi"},
            {"type": "function_call", "call_id": "call_a", "name": "lookup", "arguments": "{}"}]})).json()
        refused = await client.post("/responses", json={"model": "m", "conversation": conversation["id"]})
        assert refused.status_code == 400
        assert refused.json()["error"]["message"] == "No tool output found for function call call_a."
        added = await client.post(f"/conversations/{conversation['id']}/items", json={"items": [
            {"type": "function_call_output", "call_id": "call_a", "output": "ok"}]})
        assert added.status_code == 200
        answered = await client.post("/responses", json={"model": "m", "conversation": conversation["id"]})
        assert answered.status_code == 200, answered.text
        assert answered.json()["output"][0]["content"][0]["text"].endswith("- lookup: ok")


@pytest.mark.parametrize(("body", "param", "code"), [
    ({"items": [{"role": "user", "content": "x"}] * 21}, "items", "array_above_max_length"),
    ({"metadata": {f"k{i}": "v" for i in range(17)}}, "metadata", "object_above_max_properties"),
    ({"items": [{"role": "robot", "content": "x"}]}, "items[0].role", "invalid_value"),
    ({"items": [{"type": "function_call", "call_id": "c"}]}, "items[0].name", "missing_required_parameter"),
    ({"colour": "blue"}, "colour", "unknown_parameter"),
])
async def test_conversation_limits(body, param, code):
    async with in_process() as client:
        answer = await client.post("/conversations", json=body)
        assert answer.status_code == 400
        assert (answer.json()["error"]["param"], answer.json()["error"]["code"]) == (param, code)


@pytest.mark.parametrize(("body", "param", "code"), [
    ({"input": "x"}, "model", "missing_required_parameter"),
    ({"model": "m", "input": 3}, "input", "invalid_type"),
    ({"model": "m", "input": "x", "max_output_tokens": 2}, "max_output_tokens", "integer_below_min_value"),
    ({"model": "m", "input": "x", "temperature": 3}, "temperature", "decimal_above_max_value"),
    ({"model": "m", "input": "x", "tools": [{"type": "function", "name": "bad name"}]}, "tools[0].name",
     "invalid_value"),
    ({"model": "m", "input": "x", "previous_response_id": "resp_nope"}, "previous_response_id",
     "previous_response_not_found"),
])
async def test_response_limits(body, param, code):
    async with in_process() as client:
        answer = await client.post("/responses", json=body)
        assert answer.status_code == 400
        assert (answer.json()["error"]["param"], answer.json()["error"]["code"]) == (param, code)


async def test_max_output_tokens_cuts_the_reply_and_store_false_keeps_nothing():
    async with in_process() as client:
        cut = (await client.post("/responses", json={"model": "m", "input": "x", "max_output_tokens": 16})).json()
        assert cut["status"] == "incomplete"
        assert cut["incomplete_details"] == {"reason": "max_output_tokens"}
        assert cut["usage"]["output_tokens"] <= 16
        unstored = (await client.post("/responses", json={"model": "m", "input": "x", "store": False})).json()
        assert (await client.get(f"/responses/{unstored['id']}")).status_code == 404


# --- item pagination, as for the Assistants lists ------------------------------------------------


async def _walk(client: httpx.AsyncClient, path: str, limit: int, order: str | None) -> list[str]:
    seen: list[str] = []
    params: dict[str, Any] = {"limit": limit}
    if order:
        params["order"] = order
    while True:
        page = (await client.get(path, params=params)).json()
        data = page["data"]
        assert page["first_id"] == (data[0]["id"] if data else None)
        assert page["last_id"] == (data[-1]["id"] if data else None)
        seen += [item["id"] for item in data]
        if not page["has_more"]:
            return seen
        assert len(data) == limit
        params["after"] = page["last_id"]


@pytest.mark.parametrize("order", ["asc", "desc", None])
@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batches=st.lists(st.integers(min_value=1, max_value=20), max_size=6),
       limit=st.integers(min_value=1, max_value=25), deleted=st.sets(st.integers(0, 119)))
def test_item_walks_return_every_item_once_in_order(batches, limit, order, deleted):
    async def scenario() -> None:
        async with in_process() as client:
            conversation = (await client.post("/conversations", json={})).json()
            path = f"/conversations/{conversation['id']}/items"
            ids: list[str] = []
            for size in batches:
                added = (await client.post(path, json={"items": [
                    {"role": "user", "content": str(len(ids) + i)} for i in range(size)]})).json()
                ids += [item["id"] for item in added["data"]]
            for index in sorted(deleted):
                if index < len(ids):
                    assert (await client.delete(f"{path}/{ids[index]}")).status_code == 200
            live = [item_id for i, item_id in enumerate(ids) if i not in deleted]
            expected = live if order == "asc" else live[::-1]  # the default order is desc
            assert await _walk(client, path, limit, order) == expected

    asyncio.run(scenario())


def test_a_response_context_is_the_turn_a_run_gives_a_model_backend():
    from syncer.emulator import items
    from syncer.emulator.backends.base import ToolCall, ToolRound
    from syncer.emulator.replies import turn_for

    context = [items.from_input(raw) for raw in [
        {"role": "user", "content": "@lookup"},
        {"type": "function_call", "call_id": "call_1", "name": "lookup", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "call_1", "output": "found"},
        {"role": "assistant", "content": "It is found."},
        {"role": "user", "content": "@lookup again"},
        {"type": "function_call", "call_id": "call_2", "name": "lookup", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "call_2", "output": "again"},
    ]]
    response = {"model": "m", "instructions": None, "tools": [TOOL | {"description": None}],
                "tool_choice": {"type": "function", "name": "lookup"}, "parallel_tool_calls": False,
                "temperature": 1.0, "top_p": 1.0, "text": None, "max_output_tokens": 64}
    turn = turn_for(context, response)
    first, second = ToolRound((ToolCall("call_1", "lookup", "{}"),), {"call_1": "found"}), \
        ToolRound((ToolCall("call_2", "lookup", "{}"),), {"call_2": "again"})
    assert list(turn.history) == [("user", "@lookup"), first, ("assistant", "It is found."),
                                  ("user", "@lookup again")]
    assert list(turn.rounds) == [second]
    assert turn.tools == [{"type": "function", "function": {
        "name": "lookup", "parameters": {"type": "object"}, "description": None}}]
    assert turn.tool_choice == {"type": "function", "function": {"name": "lookup"}}
    assert (turn.instructions, turn.parallel_tool_calls, turn.max_completion_tokens) == ("", False, 64)
