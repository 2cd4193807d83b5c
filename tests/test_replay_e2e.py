"""`syncer replay` end to end: the emulator over real HTTP, a real mirror file, the CLI.

Threads are recorded by talking to the emulator like any client would (several user turns,
parallel function calls answered with tool outputs), then copied into a mirror with the
store's own writer. The emulator's model is deterministic, so replaying a thread on the
assistant that produced it must reproduce every reply exactly, and any change of model or
instructions must change every reply.
"""

from __future__ import annotations

import asyncio
import json
import re
import sqlite3
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from support.junit import assert_valid_junit  # the JUnit schema's rules, shared
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
from syncer.mirror.store import open_mirror
from syncer.replay.report import load_json_report


@pytest.fixture(scope="module")
def server():
    with running_server(EmulatorConfig(run_ms=5)) as running:
        yield running


@pytest.fixture(scope="module")
def recorded(server, tmp_path_factory) -> dict[str, Any]:
    """A mirror holding two recorded threads, and the ids that matter."""
    db_path = tmp_path_factory.mktemp("mirror") / "syncer.db"

    async def build() -> dict[str, Any]:
        async with AssistantsClient(settings_for(server.base_url)) as client:
            assistant = (await client.create_assistant(ASSISTANT)).model_dump()
            weather = await record_thread(client, assistant["id"], WEATHER_TURNS)
            # Asks for a function the recorded assistant did not have: its run called only
            # get_weather, so a target that has get_forecast asks for an unrecorded call.
            forecast = await record_thread(client, assistant["id"], [
                (['Plan my trip: @get_weather {"city": "Oslo"} @get_forecast {"days": 3}'], True)])
            with open_mirror(db_path, "create") as store:
                store.claim_server(server.base_url, None, None)
                await mirror_threads(client, store, [weather, forecast])
            return {"assistant": assistant["id"], "weather": weather, "forecast": forecast}

    ids = asyncio.run(build())
    return {**ids, "db": str(db_path)}


@pytest.fixture
def mirror(recorded, tmp_path) -> dict[str, Any]:
    """A private copy of the recorded mirror for one test (tests write replay rows)."""
    copy = tmp_path / "syncer.db"
    source = sqlite3.connect(recorded["db"])
    target = sqlite3.connect(copy)
    source.backup(target)
    source.close()
    target.close()
    return {**recorded, "db": str(copy)}


def replay(server, mirror, *args: str) -> Any:
    return CliRunner().invoke(cli, [
        "replay", "--db", mirror["db"], "--base-url", server.base_url, "--api-key", API_KEY,
        "--run-timeout", "30", *args,
    ])


def test_replay_on_the_same_assistant_passes_every_turn(server, mirror, tmp_path):
    report = tmp_path / "replay.json"
    result = replay(server, mirror, mirror["weather"], "--report", str(report))
    assert result.exit_code == 0, result.output
    data = load_json_report(report)
    turns = data.all_turns()
    assert [t.status for t in turns] == ["pass", "pass", "pass", "no_baseline"]
    for turn in turns[:3]:
        assert turn.similarity == 1.0
        assert turn.trajectory.identical
        assert turn.new.reply == turn.recorded.reply and turn.new.reply
        assert turn.new.usage == turn.recorded.usage
    # The parallel calls were answered with the recorded outputs, in the recorded order.
    calls = turns[1].new.tool_calls
    assert [c.name for c in calls] == ["get_weather", "get_time"]
    assert [c.output for c in calls] == [c.output for c in turns[1].recorded.tool_calls]
    assert turns[2].messages[1].text == "One more thing: is it windy?"
    assert data.summary.passed == 3 and data.summary.no_baseline == 1
    # Stored in the mirror, linked to the recorded thread; the new thread is tracked.
    rows = stored_turns(mirror["db"])
    assert [(r["recorded_thread_id"], r["turn_index"], r["status"]) for r in rows] == [
        (mirror["weather"], i, s) for i, s in enumerate(["pass", "pass", "pass", "no_baseline"])]
    conn = sqlite3.connect(mirror["db"])
    new_thread = data.threads[0].new_thread_id
    assert conn.execute("SELECT source FROM tracked_threads WHERE id = ?",
                        [new_thread]).fetchone() == ("replay",)
    assert conn.execute("SELECT status FROM replays WHERE id = ?", [data.id]).fetchone() == (
        "complete",)
    assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
    conn.close()
    # The terminal table names the thread and every turn.
    assert mirror["weather"] in result.output and "3 pass" in result.output
    # The key is nowhere: not in the output, the report or the database.
    assert API_KEY not in result.output and API_KEY not in report.read_text()
    for name in (mirror["db"], mirror["db"] + "-wal"):
        if Path(name).exists():
            assert API_KEY.encode() not in Path(name).read_bytes()


@pytest.mark.parametrize("change", ["instructions", "model"])
def test_changed_instructions_or_model_are_regressions(server, mirror, tmp_path, change):
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
    # Tool calls depend on the user's message, not the instructions: the trajectory is the
    # same, and is reported apart from the text.
    assert turns[1].trajectory.identical


async def replay_assistants(base_url: str) -> list[dict[str, Any]]:
    async with AssistantsClient(settings_for(base_url)) as client:
        return [a async for a in client.paginate("/assistants")
                if "syncer:replay" in (a.get("metadata") or {})]


@pytest.mark.parametrize("policy", ["fail", "stub", "error-output"])
def test_unrecorded_tool_call_follows_on_missing_tool(server, mirror, tmp_path, policy):
    configs = tmp_path / "assistants"
    write_forecast_config(configs)
    report = tmp_path / "r.json"
    result = replay(server, mirror, mirror["forecast"], "--assistant", "travel-bot",
                    "--config-dir", str(configs), "--on-missing-tool", policy,
                    "--report", str(report))
    assert result.exit_code == 3, result.output
    data = load_json_report(report)
    (turn,) = data.all_turns()
    assert "travel-bot" in data.target
    new_calls = {c.name: c.output for c in turn.new.tool_calls}
    assert set(new_calls) == {"get_weather", "get_forecast"}
    # The recorded call is still answered from the recording.
    assert new_calls["get_weather"] == turn.recorded.tool_calls[0].output
    if policy == "fail":
        assert turn.status == "missing_tool"
        assert 'get_forecast({"days":3})' in turn.detail
        assert turn.new.status == "cancelled"
    else:
        assert turn.status == "regression"  # the trajectory gained a call
        assert turn.trajectory.extra == ['get_forecast({"days":3})']
        assert turn.new.status == "completed"
        expected = "{}" if policy == "stub" else "no recorded output"
        assert expected in new_calls["get_forecast"]
        assert f"- get_forecast: {new_calls['get_forecast']}" in turn.new.reply
    # The temporary assistant made from the config is gone again.
    assert asyncio.run(replay_assistants(server.base_url)) == []


def test_junit_report_names_each_thread_and_turn(server, mirror, tmp_path):
    path = tmp_path / "junit.xml"
    result = replay(server, mirror, mirror["weather"], mirror["forecast"], "--concurrency", "2",
                    "--model", "gpt-4o-mini", "--report", str(path))
    assert result.exit_code == 3, result.output
    root = ET.parse(path).getroot()
    suites = {s.get("name"): s for s in root.iter("testsuite")}
    assert set(suites) == {mirror["weather"], mirror["forecast"]}
    names = [c.get("name") for c in suites[mirror["weather"]].iter("testcase")]
    assert names == ["turn 1", "turn 2", "turn 3", "turn 4"]
    assert all(c.get("classname") == mirror["weather"]
               for c in suites[mirror["weather"]].iter("testcase"))
    assert suites[mirror["forecast"]].find("testcase/failure") is not None
    assert root.get("tests") == "5" and root.get("failures") == "4"
    assert [s.get("skipped") for s in root.iter("testsuite")].count("1") == 1
    assert_valid_junit(path.read_text(encoding="utf-8"))
    failure = suites[mirror["weather"]].find("testcase/failure")
    assert "similarity" in failure.get("message") and "recorded:" in failure.text


def test_compare_two_stored_replays_offline(server, mirror, tmp_path):
    first = replay(server, mirror, mirror["weather"], "--json", "-s")
    second = replay(server, mirror, mirror["weather"], "--model", "gpt-4o-mini", "--json", "-s")
    ids = [json.loads(r.stdout)["id"] for r in (first, second)]
    same = replay(server, mirror, "--compare", ids[0], ids[0], "--base-url", "http://127.0.0.1:9/v1")
    assert same.exit_code == 0, same.output
    changed = replay(server, mirror, "--compare", ids[0], ids[1], "--json",
                     "--base-url", "http://127.0.0.1:9/v1")
    assert changed.exit_code == 3
    statuses = [t["status"] for th in json.loads(changed.stdout)["threads"] for t in th["turns"]]
    assert statuses == ["regression"] * 4  # the no-baseline turn is compared across replays too
    # JSON reports compare the same way, and with the same exit codes, even with no mirror.
    reports = [tmp_path / "first.json", tmp_path / "second.json"]
    for output, path in zip((first, second), reports, strict=True):
        path.write_text(output.stdout)
    from_files = CliRunner().invoke(cli, ["replay", "--compare", *map(str, reports), "--json",
                                          "--db", str(tmp_path / "none.db")])
    assert from_files.exit_code == 3, from_files.output
    assert json.loads(from_files.stdout)["summary"] == json.loads(changed.stdout)["summary"]
    mixed = replay(server, mirror, "--compare", ids[0], str(reports[0]))
    assert mixed.exit_code == 0, mixed.output
    (tmp_path / "bad.json").write_text("{}")
    bad = replay(server, mirror, "--compare", ids[0], str(tmp_path / "bad.json"))
    assert bad.exit_code == 1
    assert bad.stderr.startswith(f"Error: --compare {tmp_path / 'bad.json'}: not a replay JSON report")


def test_dry_run_sends_nothing(server, mirror):
    before = server.stats()
    result = replay(server, mirror, "--all", "--dry-run", "--json", "-s")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["status"] == "dry_run"
    # weather: 3 turns with a baseline + 1 trailing turn; forecast: 1 turn.
    assert data["summary"]["runs"] == 5
    assert server.stats() == before
    assert stored_turns(mirror["db"]) == []


def test_last_turn_mode_regenerates_only_the_final_reply(server, mirror, tmp_path):
    async def build() -> str:
        async with AssistantsClient(settings_for(server.base_url)) as client:
            thread = await record_thread(client, mirror["assistant"], WEATHER_TURNS[:3])
            with open_mirror(mirror["db"], "create") as store:
                await mirror_threads(client, store, [thread])
            return thread

    thread = asyncio.run(build())
    report = tmp_path / "r.json"
    result = replay(server, mirror, thread, "--mode", "last-turn", "--report", str(report))
    assert result.exit_code == 0, result.output
    data = load_json_report(report)
    (turn,) = data.all_turns()
    assert (turn.index, turn.status, turn.similarity) == (2, "pass", 1.0)
    assert turn.new.reply == turn.recorded.reply

    async def new_thread() -> tuple[list[tuple[str, str]], int]:
        async with AssistantsClient(settings_for(server.base_url)) as client:
            path = f"/threads/{data.threads[0].new_thread_id}"
            messages = [(m["role"], m["content"][0]["text"]["value"])
                        async for m in client.paginate(f"{path}/messages", order="asc")]
            return messages, len([r async for r in client.paginate(f"{path}/runs")])

    messages, runs = asyncio.run(new_thread())
    # The whole recorded history was seeded (user messages and recorded replies), one run made.
    assert runs == 1
    assert [role for role, _ in messages] == [
        "user", "assistant", "user", "assistant", "user", "user", "assistant"]
    assert messages[2][1] == WEATHER_TURNS[1][0][0]
    assert messages[-1][1] == turn.recorded.reply


def test_bad_arguments_exit_1_with_one_line(server, mirror):
    for args, message in [
        ((), "name the threads to replay"),
        (("thread_nope",), "not in the mirror: thread_nope"),
        (("--all", "--threshold", "2"), "Invalid value for '--threshold'"),
        (("--all", "--assistant", "nobody"), "--assistant nobody: not an asst_ id"),
    ]:
        result = replay(server, mirror, *args)
        assert result.exit_code == 1, (args, result.output)
        assert message in result.output
        assert "Traceback" not in result.output


def test_unreachable_server_is_an_error_not_a_regression(mirror):
    result = CliRunner().invoke(cli, [
        "replay", mirror["weather"], "--db", mirror["db"], "--base-url", "http://127.0.0.1:9/v1",
        "--api-key", API_KEY, "--max-retries", "0"])
    assert result.exit_code == 1, result.output
    assert result.output.splitlines()[-1].startswith("Error: POST http://127.0.0.1:9/v1/threads")
    assert "no answer from the server" in result.output and "Traceback" not in result.output
    assert API_KEY not in result.output


@pytest.mark.parametrize(("signal_name", "left_as"), [("SIGKILL", "running"),
                                                      ("SIGINT", "interrupted"),
                                                      ("SIGTERM", "interrupted")])
def test_killed_replay_leaves_mirror_consistent_and_rerun_completes(tmp_path, signal_name,
                                                                    left_as):
    """Killed part-way: whole turn rows only, nothing mirrored lost; a rerun is complete.

    SIGKILL gives the replay no chance to say anything (its row stays ``running``); Ctrl-C
    (SIGINT), and SIGTERM handled alike, let it mark itself ``interrupted`` and exit 130.
    """
    import os
    import signal
    import subprocess
    import sys
    import time

    db_path = tmp_path / "syncer.db"
    # Latency makes each turn take a few hundred milliseconds, so the kill lands mid-replay.
    with running_server(EmulatorConfig(run_ms=5, latency_ms=25)) as slow:

        async def build() -> str:
            async with AssistantsClient(settings_for(slow.base_url)) as client:
                assistant = (await client.create_assistant(ASSISTANT)).model_dump()
                thread = await record_thread(client, assistant["id"], WEATHER_TURNS)
                with open_mirror(db_path, "create") as store:
                    store.claim_server(slow.base_url, None, None)
                    await mirror_threads(client, store, [thread])
                return thread

        thread = asyncio.run(build())
        conn = sqlite3.connect(db_path)
        before = conn.execute("SELECT count(*) FROM messages").fetchone()
        env = {**os.environ, "OPENAI_API_KEY": API_KEY}
        proc = subprocess.Popen(
            [sys.executable, "-m", "syncer", "replay", thread, "--db", str(db_path),
             "--base-url", slow.base_url, "-s"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        try:
            while time.monotonic() < deadline:
                try:
                    done = conn.execute("SELECT count(*) FROM replay_turns").fetchone()[0]
                except sqlite3.OperationalError:
                    done = 0  # the replay tables appear with the replay's first write
                if done >= 1:
                    break
                time.sleep(0.01)
            os.kill(proc.pid, getattr(signal, signal_name))
        finally:
            proc.wait(timeout=30)
        assert proc.returncode == (-9 if signal_name == "SIGKILL" else 130)
        rows = conn.execute("SELECT id, status FROM replays").fetchall()
        assert len(rows) == 1 and rows[0][1] == left_as
        partial = conn.execute("SELECT result FROM replay_turns").fetchall()
        assert 1 <= len(partial) < 4
        for (result,) in partial:  # every stored turn is whole
            assert json.loads(result)["status"] in ("pass", "no_baseline")
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        assert conn.execute("SELECT count(*) FROM messages").fetchone() == before

        rerun = CliRunner().invoke(cli, [
            "replay", thread, "--db", str(db_path), "--base-url", slow.base_url,
            "--api-key", API_KEY, "--json", "-s"])
        assert rerun.exit_code == 0, rerun.output
        new_id = json.loads(rerun.stdout)["id"]
        assert new_id != rows[0][0]
        assert conn.execute("SELECT status FROM replays WHERE id = ?", [new_id]).fetchone() == (
            "complete",)
        assert [r[0] for r in conn.execute(
            "SELECT status FROM replay_turns WHERE replay_id = ? ORDER BY turn_index", [new_id])
        ] == ["pass", "pass", "pass", "no_baseline"]
        conn.close()


def test_query_selects_threads_and_deleted_upstream_still_replays(server, mirror, tmp_path):
    async def delete_upstream() -> None:
        async with AssistantsClient(settings_for(server.base_url)) as client:
            await client.delete_thread(mirror["weather"])

    asyncio.run(delete_upstream())  # the mirror keeps it; replay reads only the mirror
    report = tmp_path / "r.json"
    result = replay(server, mirror, "--query", "windy", "--limit", "5", "--report", str(report))
    assert result.exit_code == 0, result.output
    data = load_json_report(report)
    assert [t.thread_id for t in data.threads] == [mirror["weather"]]
    assert data.summary.passed == 3


async def _assistant(base_url: str, body: dict[str, Any]) -> str:
    async with AssistantsClient(settings_for(base_url)) as client:
        return (await client.create_assistant(body)).model_dump()["id"]


def test_target_by_id_and_by_managed_name(server, mirror, tmp_path):
    changed = {**ASSISTANT, "instructions": "Different instructions entirely."}
    by_id = asyncio.run(_assistant(server.base_url, changed))
    same = {**ASSISTANT, "name": "managed-bot", "metadata": {"syncer:name": "managed-bot"}}
    asyncio.run(_assistant(server.base_url, same))
    result = replay(server, mirror, mirror["weather"], "--assistant", by_id, "--json", "-s")
    assert result.exit_code == 3
    assert json.loads(result.stdout)["target"] == by_id
    result = replay(server, mirror, mirror["weather"], "--assistant", "managed-bot",
                    "--config-dir", str(tmp_path / "none"), "--json", "-s")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["summary"]["passed"] == 3


def test_cleanup_deletes_only_leftover_replay_assistants(server, mirror):
    leftover = asyncio.run(_assistant(server.base_url, {
        "model": "gpt-4o", "name": "crashed", "metadata": {"syncer:replay": "rpl_crashed"}}))
    keep = asyncio.run(_assistant(server.base_url, {"model": "gpt-4o", "name": "unmanaged"}))
    result = replay(server, mirror, "--cleanup", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["deleted"] == [leftover]
    assert asyncio.run(replay_assistants(server.base_url)) == []

    async def exists(assistant_id: str) -> bool:
        async with AssistantsClient(settings_for(server.base_url)) as client:
            return assistant_id in [a["id"] async for a in client.paginate("/assistants")]

    assert asyncio.run(exists(keep))


def test_query_with_punctuation_and_malformed_query(server, mirror):
    result = replay(server, mirror, "--query", "@get_weather", "--dry-run", "--json", "-s")
    assert result.exit_code == 0, result.output
    ids = {t["thread_id"] for t in json.loads(result.stdout)["threads"]}
    assert ids == {mirror["weather"], mirror["forecast"]}
    none = replay(server, mirror, "--query", "zebra", "--json")
    assert none.exit_code == 0 and json.loads(none.stdout)["threads"] == []
    assert "no mirrored thread matched: nothing was replayed" in none.stderr
    bad = replay(server, mirror, "--query", '"unbalanced', "--dry-run")
    assert bad.exit_code == 1
    assert "--query: malformed query" in bad.output and "Traceback" not in bad.output


def test_polling_server_and_run_timeout(tmp_path):
    """A server that does not stream is polled; a run slower than --run-timeout is an error."""
    db_path = tmp_path / "syncer.db"
    # Runs long enough that the timed-out one cannot finish by itself before it is cancelled,
    # even on a busy machine.
    with running_server(EmulatorConfig(run_ms=600, stream=False)) as polled:

        async def build() -> str:
            async with AssistantsClient(settings_for(polled.base_url)) as client:
                assistant = (await client.create_assistant(ASSISTANT)).model_dump()
                thread = await record_thread(client, assistant["id"], WEATHER_TURNS[:2])
                with open_mirror(db_path, "create") as store:
                    store.claim_server(polled.base_url, None, None)
                    await mirror_threads(client, store, [thread])
                return thread

        thread = asyncio.run(build())
        args = ["replay", thread, "--db", str(db_path), "--base-url", polled.base_url,
                "--api-key", API_KEY, "--json", "-s"]
        ok = CliRunner().invoke(cli, args)
        assert ok.exit_code == 0, ok.output
        assert [t["status"] for t in json.loads(ok.stdout)["threads"][0]["turns"]] == [
            "pass", "pass"]

        slow = CliRunner().invoke(cli, [*args, "--run-timeout", "0.05"])
        assert slow.exit_code == 1, slow.output
        data = json.loads(slow.stdout)
        (turn,) = data["threads"][0]["turns"]  # the thread stops at the failed turn
        # "is still queued after …", or, when even the first answer took longer than the
        # timeout (a busy machine), "did not settle within …".
        assert turn["status"] == "error"
        assert re.search(r"is still \w+ after|did not settle within", turn["detail"]), turn

        assert data["threads"][0]["error"].startswith("stopped at turn 1")

        async def new_runs() -> list[str]:
            async with AssistantsClient(settings_for(polled.base_url)) as client:
                path = f"/threads/{data['threads'][0]['new_thread_id']}/runs"
                return [r["status"] async for r in client.paginate(path)]

        # Not left running (no run at all when the timeout struck before one was created).
        assert set(asyncio.run(new_runs())) <= {"cancelled", "cancelling"}


def test_every_sample_thread_replays_exactly_on_its_own_assistant(tmp_path):
    """The demo's premise: the packaged sample account is what the deterministic model says."""
    from syncer.emulator.generate import sample_account_path
    from syncer.mirror.schema import TABLE_ORDER
    from syncer.replay.runner import ReplayOptions
    from syncer.replay.session import Selection, replay_from_mirror

    account = json.loads(sample_account_path().read_text())
    db_path = tmp_path / "syncer.db"
    with running_server(EmulatorConfig(load=sample_account_path(), run_ms=5)) as sample:
        with open_mirror(db_path, "create") as store:
            store.claim_server(sample.base_url, None, None)
            for table in TABLE_ORDER:
                store.write_page(table, account[table])
        result = asyncio.run(replay_from_mirror(
            settings_for(sample.base_url), db_path, Selection(all_threads=True),
            ReplayOptions(concurrency=8, run_timeout=30)))
    turns = result.all_turns()
    assert len(result.threads) == len(account["threads"])
    assert len([t for t in turns if t.recorded]) == len(account["runs"])
    assert all(t.status in ("pass", "no_baseline") for t in turns), [
        (t.thread_id, t.index, t.status, t.similarity) for t in turns if t.status != "pass"]
    assert all(t.similarity == 1.0 for t in turns if t.status == "pass")


def test_code_interpreter_turn_is_listed_not_replayed_and_does_not_fail(server, mirror, tmp_path):
    # Make the mirror say the second turn's run used code_interpreter.
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
    # The recorded reply stood in for the skipped turn, so the next turn saw the same history.
    assert turns[2].similarity == 1.0
    assert "not replayable" in result.output


def test_mirror_made_by_sync_replays_and_next_sync_mirrors_the_new_thread(server, recorded,
                                                                          tmp_path):
    db = str(tmp_path / "synced.db")
    connection = ["--db", db, "--base-url", server.base_url, "--api-key", API_KEY, "-s"]
    first = CliRunner().invoke(cli, ["sync", "--thread", recorded["forecast"], *connection])
    assert first.exit_code == 0, first.output
    result = CliRunner().invoke(cli, ["replay", recorded["forecast"], "--json", *connection])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert [t["status"] for t in data["threads"][0]["turns"]] == ["pass"]
    new_thread = data["threads"][0]["new_thread_id"]
    again = CliRunner().invoke(cli, ["sync", *connection])
    assert again.exit_code == 0, again.output
    conn = sqlite3.connect(db)
    # (The weather thread is deleted upstream by another test; the forecast one stays.)
    roles = [r[0] for r in conn.execute(
        "SELECT role FROM messages WHERE thread_id = ? ORDER BY created_at, rowid", [new_thread])]
    assert roles == ["user", "assistant"]
    # The user message was replayed with its text and metadata.
    replayed, original = (conn.execute(
        "SELECT text, metadata FROM messages WHERE thread_id = ? AND role = 'user'",
        [tid]).fetchone() for tid in (new_thread, recorded["forecast"]))
    assert replayed == original and json.loads(replayed[1])["n"]
    assert conn.execute("SELECT count(*) FROM run_steps WHERE thread_id = ?",
                        [new_thread]).fetchone() == (2,)  # the tool calls and the message
    assert conn.execute("SELECT count(*) FROM replay_turns WHERE new_thread_id = ?",
                        [new_thread]).fetchone() == (1,)
    conn.close()
    # The mirrored replay thread is a result, not a recording: --all and --query skip it.
    for selection in (["--all"], ["--query", "Oslo"]):
        planned = CliRunner().invoke(cli, ["replay", *selection, "--dry-run", "--json",
                                           *connection])
        assert planned.exit_code == 0, planned.output
        assert [t["thread_id"] for t in json.loads(planned.stdout)["threads"]] == [
            recorded["forecast"]]


def test_trailing_turn_with_unrecorded_call_is_no_baseline_not_a_regression(server, mirror):
    async def build() -> str:
        async with AssistantsClient(settings_for(server.base_url)) as client:
            thread = await record_thread(client, mirror["assistant"], [
                (["hello"], True), (['@get_time {"tz": "UTC"}'], False)])
            with open_mirror(mirror["db"], "create") as store:
                await mirror_threads(client, store, [thread])
            return thread

    thread = asyncio.run(build())
    result = replay(server, mirror, thread, "--json", "-s")
    assert result.exit_code == 0, result.output
    turns = json.loads(result.stdout)["threads"][0]["turns"]
    assert [t["status"] for t in turns] == ["pass", "no_baseline"]
    assert 'get_time({"tz":"UTC"})' in turns[1]["detail"]
    assert turns[1]["new"]["status"] == "cancelled"


# Run-level parameters of the recorded runs: what each run saw besides its assistant.
RUN_LEVEL = [
    {"additional_instructions": "Answer in French."},
    {"parallel_tool_calls": False},  # the model then calls only get_weather
    {"tool_choice": "none", "truncation_strategy": {"type": "last_messages", "last_messages": 1}},
]


def test_recorded_run_level_settings_are_sent_again(server, mirror, tmp_path):
    """A faithful replay: the same assistant with the recorded runs' own parameters passes."""
    async def build() -> str:
        async with AssistantsClient(settings_for(server.base_url)) as client:
            thread = await record_thread(client, mirror["assistant"], [
                (["Hello there"], True),
                (['@get_weather {"city": "Rome"} @get_time {"tz": "CET"}'], True),
                (['No tools now: @get_time {"tz": "UTC"}'], True),
            ], RUN_LEVEL)
            with open_mirror(mirror["db"], "create") as store:
                await mirror_threads(client, store, [thread])
            return thread

    thread = asyncio.run(build())
    planned = replay(server, mirror, thread, "--dry-run", "--json", "-s")
    details = [t["detail"] for t in json.loads(planned.stdout)["threads"][0]["turns"]]
    assert "with the recorded additional_instructions" in details[0]
    assert "with the recorded parallel_tool_calls" in details[1]
    assert "with the recorded tool_choice, truncation_strategy" in details[2]

    report = tmp_path / "r.json"
    result = replay(server, mirror, thread, "--report", str(report))
    assert result.exit_code == 0, result.output
    turns = load_json_report(report).all_turns()
    assert [(t.status, t.similarity) for t in turns] == [("pass", 1.0)] * 3
    assert [t.run_settings for t in turns] == RUN_LEVEL
    assert [[c.name for c in t.new.tool_calls] for t in turns] == [[], ["get_weather"], []]

    async def new_run(run_id: str) -> dict[str, Any]:
        async with AssistantsClient(settings_for(server.base_url)) as client:
            return await client.request(
                "GET", f"/threads/{turns[0].new_thread_id}/runs/{run_id}")

    first = asyncio.run(new_run(turns[0].new.run_id))
    assert first["instructions"] == ASSISTANT["instructions"] + "\n\nAnswer in French."
    # On another assistant the appended text is appended to *its* instructions: the change
    # of assistant still shows.
    other = asyncio.run(_assistant(server.base_url, {**ASSISTANT, "instructions": "Be loud."}))
    changed = replay(server, mirror, thread, "--assistant", other, "--json", "-s")
    assert changed.exit_code == 3, changed.output
    (thread_result,) = json.loads(changed.stdout)["threads"]
    assert [t["status"] for t in thread_result["turns"]] == ["regression"] * 3
    run = asyncio.run(new_run_on(server.base_url, thread_result["new_thread_id"],
                                 thread_result["turns"][0]["new"]["run_id"]))
    assert run["instructions"] == "Be loud.\n\nAnswer in French."


async def new_run_on(base_url: str, thread_id: str, run_id: str) -> dict[str, Any]:
    async with AssistantsClient(settings_for(base_url)) as client:
        return await client.request("GET", f"/threads/{thread_id}/runs/{run_id}")


def test_wrong_key_stops_the_whole_replay_with_one_line(mirror):
    with running_server(EmulatorConfig(api_key=API_KEY)) as strict:
        result = CliRunner().invoke(cli, [
            "replay", "--all", "--db", mirror["db"], "--base-url", strict.base_url,
            "--api-key", "sk-wrong-but-secret-42", "--concurrency", "1"])
        requests = strict.stats()["requests"]
    assert result.exit_code == 1, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and "401" in errors[0] and "request id" in errors[0], result.output
    assert "Traceback" not in result.output and "wrong-but-secret" not in result.output
    # It stopped at the first refusal instead of trying every thread in turn.
    assert requests == 1
    conn = sqlite3.connect(mirror["db"])
    assert conn.execute("SELECT status FROM replays").fetchall() == [("error",)]
    conn.close()


def test_report_path_is_checked_before_any_run(server, mirror, tmp_path):
    before = server.stats()
    result = replay(server, mirror, mirror["weather"], "--report",
                    str(tmp_path / "missing" / "r.xml"))
    assert result.exit_code == 1
    assert "--report" in result.output and "does not exist" in result.output
    assert server.stats() == before


def test_threshold_decides_the_text_verdict_but_never_a_changed_trajectory(server, mirror):
    lenient = replay(server, mirror, mirror["weather"], "--model", "gpt-4o-mini",
                     "--threshold", "0", "--json", "-s")
    assert lenient.exit_code == 0, lenient.output  # every reply changed, nothing below 0
    turns = json.loads(lenient.stdout)["threads"][0]["turns"]
    assert [t["status"] for t in turns] == ["pass", "pass", "pass", "no_baseline"]
    assert all(t["similarity"] < 0.8 for t in turns[:3])
    strict = replay(server, mirror, mirror["weather"], "--threshold", "1", "--json", "-s")
    assert strict.exit_code == 0, strict.output  # identical replies meet even 1.0
    # A changed trajectory fails whatever the threshold.
    configs = mirror["db"] + ".configs"
    write_forecast_config(Path(configs))
    trajectory = replay(server, mirror, mirror["forecast"], "--assistant", "travel-bot",
                        "--config-dir", configs, "--on-missing-tool", "stub",
                        "--threshold", "0", "--json", "-s")
    assert trajectory.exit_code == 3, trajectory.output


def test_interrupted_replay_cancels_the_run_it_was_following(tmp_path):
    """Ctrl-C (the replay's task cancelled) mid-run: the run is cancelled, the temporary
    assistant deleted."""
    from syncer.replay.runner import ReplayOptions
    from syncer.replay.session import Selection, replay_from_mirror

    db_path = tmp_path / "syncer.db"
    with running_server(EmulatorConfig(run_ms=5)) as quick:
        async def build() -> str:
            async with AssistantsClient(settings_for(quick.base_url)) as client:
                assistant = (await client.create_assistant(ASSISTANT)).model_dump()
                thread = await record_thread(client, assistant["id"], WEATHER_TURNS[:1])
                with open_mirror(db_path, "create") as store:
                    store.claim_server(quick.base_url, None, None)
                    await mirror_threads(client, store, [thread])
                return thread

        thread = asyncio.run(build())
    # Replayed on a server whose runs take a minute: the replay is still following its
    # first run when it is interrupted.
    with running_server(EmulatorConfig(run_ms=60_000, stream=False)) as slow:
        configs = tmp_path / "assistants"
        write_forecast_config(configs)

        async def interrupt() -> str:
            settings = settings_for(slow.base_url)
            async with AssistantsClient(settings) as client:
                options = ReplayOptions(run_timeout=120)
                # On a config: the temporary assistant must go too.
                task = asyncio.create_task(replay_from_mirror(
                    settings, db_path, Selection([thread]), options, client=client,
                    assistant="travel-bot", config_dir=configs))
                # Wait (for an event, not for time) until the run exists and is being polled.
                while not slow.stats()["by_route"].get("GET /v1/threads/{thread_id}/runs/{run_id}"):  # noqa: ASYNC110
                    await asyncio.sleep(0.01)  # another server's counter: nothing to await
                task.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await task
                conn = sqlite3.connect(db_path)
                (new_thread,) = conn.execute(
                    "SELECT json_extract(threads, '$[0].new_thread_id') FROM replays").fetchone()
                status = conn.execute("SELECT status FROM replays").fetchone()
                conn.close()
                assert status == ("interrupted",)
                return [r["status"] async for r in client.paginate(f"/threads/{new_thread}/runs")]

        statuses = asyncio.run(interrupt())
        assert asyncio.run(replay_assistants(slow.base_url)) == []
        assert slow.stats()["by_route"]["DELETE /v1/assistants/{assistant_id}"] == 1
    assert statuses in (["cancelled"], ["cancelling"])
