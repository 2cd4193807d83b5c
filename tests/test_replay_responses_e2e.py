"""`syncer replay --api responses` end to end: threads recorded on the emulator's Assistants
endpoints, replayed as chained responses on its Responses endpoints, over real HTTP.

The emulator answers both APIs with the one deterministic model, so the same configuration
must reproduce every recorded reply byte for byte and every tool call; a changed model or
instructions must change every reply.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import xml.etree.ElementTree as ET
from typing import Any

import pytest
import sqlite_utils
from click.testing import CliRunner
from fakes.chat_server import FakeChatServer
from fakes.judge import scripted
from support.junit import assert_valid_junit
from support.replay import (
    API_KEY,
    ASSISTANT,
    WEATHER_TURNS,
    mirror_threads,
    record_thread,
    settings_for,
    stored_turns,
    write_forecast_config,
)

from syncer.api.client import AssistantsClient
from syncer.cli import cli
from syncer.emulator import EmulatorConfig, running_server
from syncer.mirror.schema import MIGRATIONS
from syncer.mirror.store import open_mirror
from syncer.replay.report import load_json_report

# One turn of parallel calls, then one where the run allowed one call at a time.
SERIAL_TURNS: list[tuple[list[str], bool]] = [
    (['Both: @get_weather {"city": "Rome"} @get_time {"tz": "CET"}'], True),
    (['Both again: @get_weather {"city": "Oslo"} @get_time {"tz": "UTC"}'], True),
    (["Thanks"], True),
]
SERIAL_SETTINGS: list[dict[str, Any]] = [{}, {"parallel_tool_calls": False}, {}]


@pytest.fixture(scope="module")
def server():
    with running_server(EmulatorConfig(run_ms=5)) as running:
        yield running


@pytest.fixture(scope="module")
def recorded(server, tmp_path_factory) -> dict[str, Any]:
    db_path = tmp_path_factory.mktemp("mirror") / "syncer.db"

    async def build() -> dict[str, Any]:
        async with AssistantsClient(settings_for(server.base_url)) as client:
            assistant = (await client.create_assistant(ASSISTANT)).model_dump()
            weather = await record_thread(client, assistant["id"], WEATHER_TURNS)
            serial = await record_thread(client, assistant["id"], SERIAL_TURNS, SERIAL_SETTINGS)
            forecast = await record_thread(client, assistant["id"], [
                (['Plan my trip: @get_weather {"city": "Oslo"} @get_forecast {"days": 3}'], True)])
            with open_mirror(db_path, "create") as store:
                store.claim_server(server.base_url, None, None)
                await mirror_threads(client, store, [weather, serial, forecast])
            return {"assistant": assistant["id"], "weather": weather, "serial": serial,
                    "forecast": forecast}

    return {**asyncio.run(build()), "db": str(db_path)}


@pytest.fixture
def mirror(recorded, tmp_path) -> dict[str, Any]:
    copy = tmp_path / "syncer.db"
    source, target = sqlite3.connect(recorded["db"]), sqlite3.connect(copy)
    source.backup(target)
    source.close()
    target.close()
    return {**recorded, "db": str(copy)}


def replay(server, mirror, *args: str) -> Any:
    return CliRunner().invoke(cli, [
        "replay", "--api", "responses", "--db", mirror["db"], "--base-url", server.base_url,
        "--api-key", API_KEY, "--run-timeout", "30", *args,
    ])


async def input_items(base_url: str, response_id: str) -> list[dict[str, Any]]:
    async with AssistantsClient(settings_for(base_url)) as client:
        return [item.model_dump(mode="json", exclude_none=True)
                async for item in client.list_input_items(response_id)]


def test_same_configuration_passes_every_turn_with_identical_replies(server, mirror, tmp_path):
    report = tmp_path / "replay.json"
    before = server.stats()
    result = replay(server, mirror, mirror["weather"], mirror["serial"], "--report", str(report))
    assert result.exit_code == 0, result.output
    data = load_json_report(report)
    assert data.api == "responses" and data.options["api"] == "responses"
    weather, serial = data.threads
    assert [t.status for t in weather.turns] == ["pass", "pass", "pass", "no_baseline"]
    assert [t.status for t in serial.turns] == ["pass", "pass", "pass"]
    for turn in [*weather.turns[:3], *serial.turns]:
        assert turn.similarity == 1.0
        assert turn.trajectory.identical
        assert turn.new.reply == turn.recorded.reply and turn.new.reply
        assert turn.new.run_id.startswith("resp_")
        assert set(turn.new.usage) >= {"input_tokens", "output_tokens", "total_tokens"}
    # Parallel calls, then the same calls one at a time (the recorded run's setting).
    assert [c.name for c in weather.turns[1].new.tool_calls] == ["get_weather", "get_time"]
    assert [c.name for c in serial.turns[0].new.tool_calls] == ["get_weather", "get_time"]
    assert [c.name for c in serial.turns[1].new.tool_calls] == ["get_weather"]
    # Usage in the Responses shape: the turn's responses add up to the recorded run's.
    for turn in [*weather.turns[:3], *serial.turns]:
        assert (turn.new.usage["input_tokens"], turn.new.usage["output_tokens"],
                turn.new.usage["total_tokens"]) == (turn.recorded.usage["prompt_tokens"],
                                                    turn.recorded.usage["completion_tokens"],
                                                    turn.recorded.usage["total_tokens"])
    # Only the Responses endpoints were used: no thread, no run, no assistant.
    sent = {route: n - before["by_route"].get(route, 0)
            for route, n in server.stats()["by_route"].items()
            if n != before["by_route"].get(route, 0)}
    assert sent == {"POST /v1/responses": 10}  # 7 turns + 3 responses answering calls
    # The mirror's rows say which API: replays and replay_turns.
    conn = sqlite3.connect(mirror["db"])
    assert conn.execute("SELECT api, status FROM replays").fetchall() == [("responses", "complete")]
    assert {r[0] for r in conn.execute("SELECT api FROM replay_turns")} == {"responses"}
    assert conn.execute("SELECT count(*) FROM tracked_threads WHERE source = 'replay'"
                        ).fetchone() == (0,)
    conn.close()
    assert len(stored_turns(mirror["db"])) == 7
    assert "pass" in result.output and "Responses API" in result.output
    assert API_KEY not in result.output and API_KEY not in report.read_text()


def test_the_tool_outputs_sent_are_the_recorded_ones(server, mirror, tmp_path):
    report = tmp_path / "replay.json"
    result = replay(server, mirror, mirror["weather"], "--report", str(report))
    assert result.exit_code == 0, result.output
    turn = load_json_report(report).all_turns()[1]
    # What the emulator received as the final response's input: the recorded outputs,
    # answering the calls the model just made (by their call ids).
    received = asyncio.run(input_items(server.base_url, turn.new.run_id))
    assert [(i["type"], i["call_id"], i["output"]) for i in received] == [
        ("function_call_output", c.call_id, r.output)
        for c, r in zip(turn.new.tool_calls, turn.recorded.tool_calls, strict=True)]
    assert all(c.call_id.startswith("call_") for c in turn.new.tool_calls)


@pytest.mark.parametrize("change", ["instructions", "model"])
def test_changed_instructions_or_model_regress(server, mirror, tmp_path, change):
    if change == "instructions":
        path = tmp_path / "instructions.txt"
        path.write_text("You answer questions about the weather. Be verbose.")
        args = ["--instructions-file", str(path)]
    else:
        args = ["--model", "gpt-4o-mini"]
    report = tmp_path / "r.json"
    result = replay(server, mirror, mirror["weather"], *args, "--report", str(report))
    assert result.exit_code == 3, result.output
    turns = load_json_report(report).all_turns()
    assert [t.status for t in turns] == ["regression", "regression", "regression", "no_baseline"]
    assert all(t.similarity < 0.8 for t in turns[:3])
    assert turns[1].trajectory.identical  # the calls follow the user's message, not the config


def test_reports_junit_markdown_json(server, mirror, tmp_path):
    for suffix in ("xml", "md", "json"):
        path = tmp_path / f"report.{suffix}"
        result = replay(server, mirror, mirror["weather"], mirror["forecast"], "--model",
                        "gpt-4o-mini", "--report", str(path))
        assert result.exit_code == 3, result.output
        text = path.read_text(encoding="utf-8")
        if suffix == "xml":
            assert_valid_junit(text)
            root = ET.fromstring(text)
            suites = {s.get("name"): s for s in root.iter("testsuite")}
            assert set(suites) == {mirror["weather"], mirror["forecast"]}
            assert [c.get("name") for c in suites[mirror["weather"]].iter("testcase")] == [
                "turn 1", "turn 2", "turn 3", "turn 4"]
            assert root.get("tests") == "5" and root.get("failures") == "4"
            props = {p.get("name"): p.get("value") for p in root.iter("property")}
            assert props["api"] == "responses"
            failure = suites[mirror["weather"]].find("testcase/failure")
            assert "similarity" in failure.get("message") and "recorded:" in failure.text
        elif suffix == "md":
            assert "- api: responses" in text
            assert f"## {mirror['weather']}" in text and "| recorded | new |" in text
            assert "```diff" in text
        else:
            data = load_json_report(path)
            assert data.api == "responses"
            assert data.summary.regressions == 4 and data.summary.no_baseline == 1
            assert json.loads(text)["api"] == "responses"


@pytest.mark.parametrize("policy", ["fail", "stub", "error-output"])
def test_unrecorded_call_follows_on_missing_tool_with_a_config(server, mirror, tmp_path, policy):
    configs = tmp_path / "assistants"
    write_forecast_config(configs)
    report = tmp_path / "r.json"
    before = server.stats()["by_route"].get("POST /v1/assistants", 0)
    result = replay(server, mirror, mirror["forecast"], "--assistant", "travel-bot",
                    "--config-dir", str(configs), "--on-missing-tool", policy,
                    "--report", str(report))
    assert result.exit_code == 3, result.output
    data = load_json_report(report)
    (turn,) = data.all_turns()
    assert "travel-bot" in data.target
    new_calls = {c.name: c.output for c in turn.new.tool_calls}
    assert set(new_calls) == {"get_weather", "get_forecast"}
    assert new_calls["get_weather"] == turn.recorded.tool_calls[0].output
    if policy == "fail":
        assert turn.status == "missing_tool"
        assert 'get_forecast({"days":3})' in turn.detail
    else:
        assert turn.status == "regression"
        assert turn.trajectory.extra == ['get_forecast({"days":3})']
        assert turn.new.status == "completed"
        expected = "{}" if policy == "stub" else "no recorded output"
        assert expected in new_calls["get_forecast"]
        assert f"- get_forecast: {new_calls['get_forecast']}" in turn.new.reply
    # A config is sent with each request: no assistant is created on the server.
    assert server.stats()["by_route"].get("POST /v1/assistants", 0) == before


def test_code_interpreter_turn_is_not_replayed_and_the_history_carries_on(server, mirror,
                                                                          tmp_path):
    conn = sqlite3.connect(mirror["db"])
    (run_id,) = conn.execute(
        "SELECT run_id FROM run_steps WHERE thread_id = ? AND type = 'tool_calls'",
        [mirror["weather"]]).fetchone()
    conn.execute("UPDATE run_steps SET step_details = ? WHERE run_id = ? AND type = 'tool_calls'", [
        json.dumps({"type": "tool_calls", "tool_calls": [{
            "id": "call_ci", "type": "code_interpreter",
            "code_interpreter": {"input": "print(1)", "outputs": []}}]}), run_id])
    conn.commit()
    conn.close()
    report = tmp_path / "r.json"
    result = replay(server, mirror, mirror["weather"], "--report", str(report))
    assert result.exit_code == 0, result.output
    turns = load_json_report(report).all_turns()
    assert [t.status for t in turns] == ["pass", "not_replayable", "pass", "no_baseline"]
    assert "code_interpreter" in turns[1].detail and turns[1].new is None
    # The skipped turn's messages and recorded reply went in with the next turn's input.
    assert turns[2].similarity == 1.0
    received = asyncio.run(input_items(server.base_url, turns[2].new.run_id))
    assert [i["role"] for i in received] == ["user", "assistant", "user", "user"]


def test_dry_run_sends_nothing_and_names_the_configuration(server, mirror):
    before = server.stats()
    result = replay(server, mirror, "--all", "--dry-run", "--json", "-s")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["status"] == "dry_run" and data["api"] == "responses"
    assert data["summary"]["runs"] == 8
    assert "responses with the configuration of" in data["threads"][0]["turns"][0]["detail"]
    assert server.stats() == before


def test_unknown_assistant_is_one_line(server, mirror):
    result = replay(server, mirror, mirror["weather"], "--assistant", "asst_nope")
    assert result.exit_code == 1
    assert result.output.strip().splitlines()[-1] == "Error: --assistant asst_nope: not in the mirror"
    assert "Traceback" not in result.output


def test_a_missing_call_mid_thread_leaves_the_chain_usable(server, mirror, tmp_path):
    async def build() -> str:
        async with AssistantsClient(settings_for(server.base_url)) as client:
            thread = await record_thread(client, mirror["assistant"], [
                (['Trip: @get_weather {"city": "Oslo"} @get_forecast {"days": 3}'], True),
                (["Thanks, and tomorrow?"], True),
            ])
            with open_mirror(mirror["db"], "create") as store:
                await mirror_threads(client, store, [thread])
            return thread

    thread = asyncio.run(build())
    configs = tmp_path / "assistants"
    write_forecast_config(configs)
    report = tmp_path / "r.json"
    result = replay(server, mirror, thread, "--assistant", "travel-bot",
                    "--config-dir", str(configs), "--report", str(report))
    assert result.exit_code == 3, result.output
    first, second = load_json_report(report).all_turns()
    assert first.status == "missing_tool"
    # The next turn was sent past the unanswered calls (no 400): its input carries the first
    # turn's message, as a thread keeps the messages of a cancelled run.
    assert second.status == "regression" and second.new.status == "completed"
    received = asyncio.run(input_items(server.base_url, second.new.run_id))
    assert [(i["role"], i["content"][0]["text"]) for i in received] == [
        ("user", first.messages[0].text), ("user", second.messages[0].text)]


def test_judged_replay_on_the_responses_api(server, mirror, tmp_path, monkeypatch):
    with FakeChatServer() as fake:
        monkeypatch.setenv("SYNCER_JUDGE_BASE_URL", fake.base_url)
        monkeypatch.setenv("SYNCER_JUDGE_API_KEY", "sk-judge-responses-0123456789")
        thread = mirror["weather"]
        fake.script(scripted(thread, 0, new=5, recorded=5), scripted(thread, 1, new=2, recorded=5),
                    scripted(thread, 2, new=4, recorded=4))
        report = tmp_path / "r.md"
        result = replay(server, mirror, thread, "--judge", "judge-1", "--report", str(report))
    assert result.exit_code == 3, result.output
    text = report.read_text(encoding="utf-8")
    assert "- api: responses" in text and "judge-1" in text
    rows = stored_turns(mirror["db"])
    assert [(r["status"], r["judge_verdict"], r["api"]) for r in rows] == [
        ("pass", "pass", "responses"), ("regression", "fail", "responses"),
        ("pass", "pass", "responses"), ("no_baseline", None, "responses")]


def test_migration_7_marks_older_replays_as_assistants(tmp_path):
    db = sqlite_utils.Database(tmp_path / "old.db")
    db.table("migrations").create({"id": int, "name": str, "applied_at": str}, pk="id")
    for number, name, fn in sorted(MIGRATIONS, key=lambda m: m[0]):
        if number <= 6:
            fn(db)
            db.table("migrations").insert({"id": number, "name": name, "applied_at": "x"})
    db.execute("INSERT INTO replays (id, status, started_at) VALUES ('rpl_1', 'complete', 'x')")
    db.execute("INSERT INTO replay_turns (id, replay_id, recorded_thread_id, turn_index, status,"
               " result, recorded_at) VALUES ('t', 'rpl_1', 'thread_1', 0, 'pass', '{}', 'x')")
    db.conn.commit()
    db.close()
    with open_mirror(tmp_path / "old.db", "write") as store:
        conn = store.db.conn
        assert conn.execute("SELECT api FROM replays").fetchall() == [("assistants",)]
        assert conn.execute("SELECT api FROM replay_turns").fetchall() == [("assistants",)]
        assert 7 in {row[0] for row in conn.execute("SELECT id FROM migrations")}


def test_recorded_run_level_settings_map_onto_the_request(server, mirror, tmp_path):
    settings = [{"additional_instructions": "Answer in French."}, {"parallel_tool_calls": False},
                {"tool_choice": "none", "max_completion_tokens": 400}]

    async def build() -> str:
        async with AssistantsClient(settings_for(server.base_url)) as client:
            thread = await record_thread(client, mirror["assistant"], [
                (["Hello there"], True),
                (['@get_weather {"city": "Rome"} @get_time {"tz": "CET"}'], True),
                (['No tools now: @get_time {"tz": "UTC"}'], True),
            ], settings)
            with open_mirror(mirror["db"], "create") as store:
                await mirror_threads(client, store, [thread])
            return thread

    thread = asyncio.run(build())
    report = tmp_path / "r.json"
    result = replay(server, mirror, thread, "--report", str(report))
    assert result.exit_code == 0, result.output
    turns = load_json_report(report).all_turns()
    assert [(t.status, t.similarity) for t in turns] == [("pass", 1.0)] * 3
    assert [[c.name for c in t.new.tool_calls] for t in turns] == [[], ["get_weather"], []]

    async def response(response_id: str) -> dict[str, Any]:
        async with AssistantsClient(settings_for(server.base_url)) as client:
            return (await client.retrieve_response(response_id)).model_dump(mode="json")

    first, last = (asyncio.run(response(t.new.run_id)) for t in (turns[0], turns[2]))
    assert first["instructions"] == ASSISTANT["instructions"] + "\n\nAnswer in French."
    assert (last["tool_choice"], last["max_output_tokens"]) == ("none", 400)
    assert last["instructions"] == ASSISTANT["instructions"]  # sent again, not inherited
    assert [t["name"] for t in last["tools"]] == ["get_weather", "get_time"]
    assert all(t["strict"] is False and "parameters" in t for t in last["tools"])
