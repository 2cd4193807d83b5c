"""`syncer replay --judge` end to end, and replay onto a backend-run assistant.

Everything over loopback: the emulator (deterministic, or `--backend` on the strict fake Chat
Completions server), a real mirror file, the CLI, and a fake judge (the same strict fake
server, answering with scripted verdicts). Retries never wait (SYNCER_RETRY_BASE_DELAY is
shortened by conftest).
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from fakes.chat_server import FakeChatServer, Reply
from fakes.judge import scripted, verdict
from support.junit import assert_valid_junit
from support.replay import (
    API_KEY,
    ASSISTANT,
    WEATHER_TURNS,
    mirror_threads,
    record_thread,
    settings_for,
    stored_turns,
    tool_output,
)

from syncer.api.client import AssistantsClient
from syncer.cli import cli
from syncer.emulator import EmulatorConfig, running_server
from syncer.emulator.backends.chat import ChatBackend, backend_settings
from syncer.mirror.store import open_mirror
from syncer.replay.report import load_json_report

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

JUDGE_KEY = "sk-judge-E2E-DISTINCTIVE-5c0ffee7d1"
BACKEND_KEY = "sk-backend-E2E-0123456789abcdef"


def build_mirror(base_url: str, db_path: Path, turns: list[tuple[list[str], bool]],
                 assistant: dict[str, Any]) -> dict[str, Any]:
    """Record one thread on the server at ``base_url`` and mirror it into ``db_path``."""

    async def build() -> dict[str, Any]:
        async with AssistantsClient(settings_for(base_url)) as client:
            created = (await client.create_assistant(assistant)).model_dump()
            thread = await record_thread(client, created["id"], turns)
            with open_mirror(db_path, "create") as store:
                store.claim_server(base_url, None, None)
                await mirror_threads(client, store, [thread])
            return {"assistant": created["id"], "thread": thread, "db": str(db_path)}

    return asyncio.run(build())


@pytest.fixture(scope="module")
def server():
    with running_server(EmulatorConfig(run_ms=5)) as running:
        yield running


@pytest.fixture
def mirror(server, tmp_path) -> dict[str, Any]:
    return build_mirror(server.base_url, tmp_path / "syncer.db", WEATHER_TURNS, ASSISTANT)


@pytest.fixture
def judge(monkeypatch):
    """The fake judge; SYNCER_JUDGE_* point at it (with a distinctive key)."""
    with FakeChatServer() as fake:
        monkeypatch.setenv("SYNCER_JUDGE_BASE_URL", fake.base_url)
        monkeypatch.setenv("SYNCER_JUDGE_API_KEY", JUDGE_KEY)
        monkeypatch.setenv("SYNCER_MAX_RETRIES", "2")
        yield fake


def run_cli(base_url: str, db: str, *args: str) -> Any:
    return CliRunner().invoke(cli, [
        "replay", "--db", db, "--base-url", base_url, "--api-key", API_KEY,
        "--run-timeout", "30", *args,
    ])


def assert_no_judge_key(*texts: str, files: list[Path] = ()) -> None:
    for text in texts:
        assert JUDGE_KEY not in text and JUDGE_KEY[-8:] not in text
    for path in files:
        if path.exists():
            assert JUDGE_KEY.encode() not in path.read_bytes(), path
            assert JUDGE_KEY[-8:].encode() not in path.read_bytes(), path


# --- judged replays -----------------------------------------------------------------------------


def test_pass_fail_and_a_judge_error_land_in_every_report_and_exit_3(server, mirror, judge,
                                                                      tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    thread = mirror["thread"]
    reports = {ext: tmp_path / f"r.{ext}" for ext in ("json", "md", "xml")}
    results = []
    for path in reports.values():  # one replay per report format, each judged alike
        judge.script(
            scripted(thread, 0, new=5, recorded=5),                  # turn 1: pass
            scripted(thread, 1, new=2, recorded=5),                  # turn 2: fail
            *[Reply(status=503, error=f"judge overloaded {JUDGE_KEY}")] * 3,  # turn 3: error
        )
        results.append(run_cli(server.base_url, mirror["db"], thread, "--model", "gpt-4o-mini",
                               "--judge", "judge-1", "--report", str(path)))
    assert len(judge.requests) == 3 * 5  # the 503 was retried twice (SYNCER_MAX_RETRIES=2)
    assert [r.exit_code for r in results] == [3, 3, 3]
    result = results[0]
    assert result.exit_code == 3, result.output
    data = load_json_report(reports["json"])
    turns = data.all_turns()
    assert [t.status for t in turns] == ["pass", "regression", "error", "no_baseline"]
    assert [t.judge.label if t.judge else None for t in turns] == ["pass", "fail", "error", None]
    assert all(t.similarity is not None and t.similarity < 0.8 for t in turns[:3])
    assert (turns[1].judge.score, turns[1].judge.recorded_score) == (2, 5)
    assert turns[1].judge.reason in ("the recorded reply scores 5, the new reply scores 2.",
                                     "the new reply scores 2, the recorded reply scores 5.")
    assert "the judge failed" in turns[2].detail and "503" in turns[2].detail
    assert data.options["judge"] == {"model": "judge-1", "base_url": judge.base_url,
                                     "rubric": "syncer-judge-v1", "pass_score": 4}
    assert (data.summary.passed, data.summary.regressions, data.summary.errors,
            data.summary.judged) == (1, 1, 1, 3)
    # The judge was asked for structured output with its own key, the conversation so far
    # and both replies.
    first = judge.requests[0]
    assert first.headers["authorization"] == f"Bearer {JUDGE_KEY}"
    assert first.body["model"] == "judge-1"
    assert first.body["response_format"]["type"] == "json_schema"
    second_case = judge.requests[1].body["messages"][1]["content"]
    assert "[user] Hello there" in second_case and "## Reply A" in second_case
    # The table on stdout has the judge's column and reasons.
    assert "judge" in result.output and "fail 2/5" in result.output
    assert "judged by judge-1 (rubric syncer-judge-v1)" in result.output
    # The mirror: verdict columns on replay_turns (migration 6).
    rows = [r for r in stored_turns(mirror["db"]) if r["replay_id"] == data.id]
    rows.sort(key=lambda r: r["turn_index"])
    assert [(r["status"], r["judge_verdict"], r["judge_score"], r["judge_recorded_score"],
             r["judge_model"], r["judge_rubric"]) for r in rows] == [
        ("pass", "pass", 5, 5, "judge-1", "syncer-judge-v1"),
        ("regression", "fail", 2, 5, "judge-1", "syncer-judge-v1"),
        ("error", "error", None, None, "judge-1", "syncer-judge-v1"),
        ("no_baseline", None, None, None, None, None),
    ]
    assert "the judge failed" in rows[2]["judge_reason"]
    # Markdown.
    md = reports["md"].read_text()
    assert "- judge: judge-1 at" in md and "| judge new/rec |" in md
    assert "Judge: fail, new 2 vs recorded 5" in md and "Judge: error: the judge failed" in md
    # JUnit: the fail is a <failure> naming the judge, the judge error an <error>.
    assert_valid_junit(reports["xml"].read_text())
    root = ET.parse(reports["xml"]).getroot()
    cases = {c.get("name"): c for c in root.iter("testcase")}
    failure = cases["turn 2"].find("failure")
    assert failure is not None and "judge: fail, new 2 vs recorded 5" in failure.get("message")
    assert "the judge failed" in cases["turn 3"].find("error").get("message")
    assert cases["turn 1"].find("failure") is None and cases["turn 1"].find("error") is None
    assert "judge: pass" in cases["turn 1"].find("system-out").text
    props = {p.get("name"): p.get("value") for p in root.iter("property")}
    assert (props["judge_model"], props["judge_rubric"]) == ("judge-1", "syncer-judge-v1")
    # The judge's key is nowhere: output, reports, logs, the mirror.
    db = Path(mirror["db"])
    assert_no_judge_key(*(r.output for r in results), caplog.text,
                        files=[*reports.values(), db, Path(f"{db}-wal")])


def test_pass_and_a_judge_error_exit_1_and_a_judge_that_passes_all_exits_0(server, mirror,
                                                                            judge, tmp_path):
    thread = mirror["thread"]
    # Without a judge, the changed model is a regression on every turn...
    plain = run_cli(server.base_url, mirror["db"], thread, "--model", "gpt-4o-mini")
    assert plain.exit_code == 3, plain.output
    # ...a judge that finds the new replies as good passes them: exit 0.
    judge.script(*[scripted(thread, i, new=4, recorded=5) for i in range(3)])
    passed = run_cli(server.base_url, mirror["db"], thread, "--model", "gpt-4o-mini",
                     "--judge", "judge-1", "--json", "-s")
    assert passed.exit_code == 0, passed.output
    assert [t["status"] for t in json.loads(passed.stdout)["threads"][0]["turns"]] == [
        "pass", "pass", "pass", "no_baseline"]
    # A judge that fails on one turn: that turn is an error (never a pass), exit 1; the thread
    # goes on after it.
    judge.script(scripted(thread, 0, new=5, recorded=5), Reply(status=400, error="bad model"),
                 scripted(thread, 2, new=5, recorded=5))
    errored = run_cli(server.base_url, mirror["db"], thread, "--model", "gpt-4o-mini",
                      "--judge", "judge-1", "--json", "-s")
    assert errored.exit_code == 1, errored.output
    turns = json.loads(errored.stdout)["threads"][0]["turns"]
    assert [t["status"] for t in turns] == ["pass", "error", "pass", "no_baseline"]
    assert turns[1]["judge"]["error"] == "the judge failed: " + turns[1]["detail"].removeprefix(
        "the judge failed: ")
    assert "bad model" in turns[1]["detail"]


def test_a_changed_trajectory_fails_even_when_the_judge_passes(server, tmp_path, judge):
    # The recorded thread called get_forecast too; a target without it makes fewer calls.
    forecast = build_mirror(server.base_url, tmp_path / "f.db",
                            [(['Plan: @get_weather {"city": "Oslo"} @get_time {}'], True)],
                            ASSISTANT)
    only_weather = {**ASSISTANT, "tools": [ASSISTANT["tools"][0]]}
    other = asyncio.run(_create(server.base_url, only_weather))
    judge.default = lambda body: verdict(5, 5, "Both are fine.")
    result = run_cli(server.base_url, forecast["db"], forecast["thread"], "--assistant", other,
                     "--judge", "judge-1", "--on-missing-tool", "stub", "--json", "-s")
    turn = json.loads(result.stdout)["threads"][0]["turns"][0]
    assert turn["judge"]["passed"] is True and turn["trajectory"]["identical"] is False
    assert turn["status"] == "regression" and result.exit_code == 3


async def _create(base_url: str, body: dict[str, Any]) -> str:
    async with AssistantsClient(settings_for(base_url)) as client:
        return (await client.create_assistant(body)).id


def test_rubric_file_and_bad_arguments(server, mirror, judge, tmp_path):
    rubric = tmp_path / "rubric.md"
    rubric.write_text("rubric: team-v3\nPrefer replies that name the city.\n")
    judge.default = lambda body: verdict(5, 5, "Both name the city.")
    result = run_cli(server.base_url, mirror["db"], mirror["thread"], "--judge", "judge-1",
                     "--rubric", str(rubric), "--json", "-s")
    assert result.exit_code == 0, result.output
    assert judge.requests[0].body["messages"][0]["content"] == "Prefer replies that name the city."
    data = json.loads(result.stdout)
    assert data["options"]["judge"]["rubric"] == "team-v3"
    assert data["threads"][0]["turns"][0]["judge"]["rubric"] == "team-v3"
    no_judge = run_cli(server.base_url, mirror["db"], mirror["thread"], "--rubric", str(rubric))
    assert no_judge.exit_code == 1 and "--rubric goes with --judge" in no_judge.output
    compare = run_cli(server.base_url, mirror["db"], "--compare", "a", "b", "--judge", "m")
    assert compare.exit_code == 1 and "not with --cleanup or --compare" in compare.output
    # A dry run sends nothing, to the judge either.
    before = len(judge.requests)
    dry = run_cli(server.base_url, mirror["db"], mirror["thread"], "--judge", "judge-1",
                  "--dry-run", "-s")
    assert dry.exit_code == 0 and len(judge.requests) == before


# --- replay onto a backend-run assistant ----------------------------------------------------------


async def no_sleep(delay: float) -> None:
    """The backend's retries wait for nothing."""


def test_replay_onto_a_backend_run_assistant_answers_its_tool_calls_with_recorded_outputs(
        tmp_path, judge):
    weather = ASSISTANT["tools"][0]
    assistant = {**ASSISTANT, "tools": [weather]}
    turns = [(["Weather in Paris?"], True), (["Thanks!"], True)]
    with FakeChatServer() as backend:
        engine = ChatBackend(backend_settings(backend.base_url,
                                              environ={"SYNCER_BACKEND_API_KEY": BACKEND_KEY},
                                              max_retries=0, timeout=10.0), sleep=no_sleep)
        with running_server(EmulatorConfig(backend=engine)) as server:
            # Recorded: the backend calls get_weather, then answers; a second turn.
            backend.script(Reply(tool_calls=[("get_weather", {"city": "Paris"})]),
                           Reply(text="Sunny, 22 C."), Reply(text="You're welcome."))
            recorded = build_mirror(server.base_url, tmp_path / "syncer.db", turns, assistant)
            assert len(backend.requests) == 3
            # Replayed: the backend (say, another model) calls the same tool, answers otherwise.
            backend.script(Reply(tool_calls=[("get_weather", {"city": "Paris"})]),
                           Reply(text="It is sunny in Paris: 22 degrees."),
                           Reply(text="Glad to help!"))
            judge.default = lambda body: verdict(5, 5, "Both answer the question.")
            report = tmp_path / "r.json"
            result = run_cli(server.base_url, recorded["db"], recorded["thread"],
                             "--judge", "judge-1", "--report", str(report), "-s")
            replayed = backend.requests[3:]
    assert result.exit_code == 0, result.output
    data = load_json_report(report)
    first, second = data.all_turns()
    # The new replies are the backend's.
    assert first.new.reply == "It is sunny in Paris: 22 degrees."
    assert second.new.reply == "Glad to help!"
    assert first.recorded.reply == "Sunny, 22 C." and first.similarity < 0.8
    assert (first.status, second.status) == ("pass", "pass")
    assert first.trajectory.identical
    # The recorded output answered the backend's tool call, as a `tool` message.
    recorded_output = tool_output("get_weather", '{"city": "Paris"}')
    assert [c.output for c in first.new.tool_calls] == [recorded_output]
    assert len(replayed) == 3
    call_round = replayed[1].body["messages"][-2:]
    assert call_round[0]["role"] == "assistant" and call_round[0]["tool_calls"][0]["function"] == {
        "name": "get_weather", "arguments": '{"city": "Paris"}'}
    assert call_round[1] == {"role": "tool", "tool_call_id": call_round[0]["tool_calls"][0]["id"],
                             "content": recorded_output}
    # The second turn's completion carries the replayed history, tool round included.
    roles = [m["role"] for m in replayed[2].body["messages"]]
    assert roles == ["system", "user", "assistant", "tool", "assistant", "user"]
    assert replayed[2].body["messages"][4]["content"] == "It is sunny in Paris: 22 degrees."
    # Neither the client's nor the judge's key reached the backend.
    for request in backend.requests:
        assert request.headers["authorization"] == f"Bearer {BACKEND_KEY}"
        assert JUDGE_KEY not in json.dumps(request.body) and API_KEY not in json.dumps(request.body)
    rows = sqlite3.connect(recorded["db"]).execute(
        "SELECT judge_verdict FROM replay_turns ORDER BY turn_index").fetchall()
    assert rows == [("pass",), ("pass",)]
