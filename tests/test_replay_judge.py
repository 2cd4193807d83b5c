"""The replay judge (`syncer.replay.judge`) against the strict fake Chat Completions server.

Real HTTP over loopback; retries never sleep for real (an injected sleep). The fake checks
each request like the real endpoint (``response_format`` strict schema included).
"""

from __future__ import annotations

import json
import logging

import pytest
import sqlite_utils
from fakes.chat_server import FakeChatServer, Reply, check_response_format
from fakes.judge import grading, replies_shown, verdict

from syncer.api.settings import ClientSettings
from syncer.errors import UsageError
from syncer.mirror.schema import MIGRATIONS, REPLAY_JUDGE_COLUMNS
from syncer.mirror.store import open_mirror
from syncer.replay.compare import with_verdict
from syncer.replay.judge import (
    RESPONSE_FORMAT,
    Judge,
    JudgeAnswerError,
    blind_order,
    judge_settings,
    load_rubric,
    parse_answer,
    passes,
)
from syncer.replay.types import (
    InputMessage,
    Outcome,
    ToolCall,
    TrajectoryDiff,
    Turn,
    TurnResult,
    Verdict,
)

JUDGE_KEY = "sk-judge-DISTINCTIVE-7f3a9c1e5b"


async def no_sleep(delay: float) -> None:
    """Retries wait for nothing (the delays are the client's, tested elsewhere)."""


def turn_result(new_reply: str = "Sunny, 22 C.", *, thread_id: str = "thread_a", index: int = 1,
                identical: bool = True) -> TurnResult:
    call = ToolCall(name="get_weather", arguments='{"city":"Paris"}', output='{"c": 22}')
    return TurnResult(
        thread_id=thread_id, index=index, status="regression",
        messages=[InputMessage(text="Weather in Paris?")],
        recorded=Outcome(run_id="run_rec", status="completed", reply="It is sunny, 22 C.",
                         tool_calls=[call]),
        new=Outcome(run_id="run_new", status="completed", reply=new_reply, tool_calls=[call]),
        similarity=0.4, trajectory=TrajectoryDiff(identical=identical),
    )


HISTORY = [Turn(thread_id="thread_a", index=0, messages=[InputMessage(text="Hello")],
                baseline=Outcome(reply="Hi! How can I help?"))]


def make_judge(server: FakeChatServer, **settings) -> Judge:
    values = {"base_url": server.base_url, "api_key": JUDGE_KEY, "max_retries": 2,
              "timeout": 5.0, **settings}
    return Judge("judge-model", ClientSettings(**values), sleep=no_sleep)


def sunny(reply: str) -> int:
    return 5 if "unny" in reply else 1


# --- the rubric and settings -------------------------------------------------------------------


def test_the_shipped_rubric_is_versioned_and_asks_for_the_schema_fields():
    rubric = load_rubric()
    assert rubric.version == "syncer-judge-v1"
    assert not rubric.text.startswith("rubric:")
    for field in ("reply_a_score", "reply_b_score", "reason", "Reply A", "Reply B"):
        assert field in rubric.text


def test_a_rubric_file_replaces_it_with_its_own_version_or_a_digest(tmp_path):
    named = tmp_path / "mine.md"
    named.write_text("rubric: strict-v2\nBe harsh.\n")
    assert (load_rubric(named).version, load_rubric(named).text) == ("strict-v2", "Be harsh.")
    plain = tmp_path / "plain.md"
    plain.write_text("Be kind.\n")
    assert load_rubric(plain).version.startswith("plain.md@sha256:")
    empty = tmp_path / "empty.md"
    empty.write_text("  \n")
    with pytest.raises(UsageError, match="empty"):
        load_rubric(empty)
    with pytest.raises(UsageError, match="--rubric"):
        load_rubric(tmp_path / "missing.md")


def test_judge_settings_default_to_the_connection_and_take_their_own_variables():
    connection = ClientSettings(base_url="http://127.0.0.1:9/v1", api_key="sk-conn-123456789",
                                organization="org_1", max_retries=3)
    same = judge_settings(connection, environ={})
    assert (same.base_url, same.secret(), same.organization, same.max_retries) == (
        "http://127.0.0.1:9/v1", "sk-conn-123456789", "org_1", 3)
    own = judge_settings(connection, environ={"SYNCER_JUDGE_BASE_URL": "http://127.0.0.1:7/v1/",
                                              "SYNCER_JUDGE_API_KEY": JUDGE_KEY})
    assert (own.base_url, own.secret(), own.organization, own.max_retries) == (
        "http://127.0.0.1:7/v1", JUDGE_KEY, None, 3)
    with pytest.raises(UsageError, match="SYNCER_JUDGE_BASE_URL"):
        judge_settings(connection, environ={"SYNCER_JUDGE_BASE_URL": "ftp://nowhere"})


def test_a_judge_without_any_key_is_a_usage_error():
    with pytest.raises(UsageError, match="SYNCER_JUDGE_API_KEY"):
        Judge("m", ClientSettings(base_url="http://127.0.0.1:9/v1"))


def test_the_response_format_is_a_strict_schema_the_endpoint_accepts():
    assert check_response_format(RESPONSE_FORMAT) is None
    loose = json.loads(json.dumps(RESPONSE_FORMAT))
    del loose["json_schema"]["schema"]["additionalProperties"]
    assert "additionalProperties" in check_response_format(loose)


# --- blind order and the pass rule -----------------------------------------------------------------


def test_blind_order_is_fixed_per_turn_and_goes_both_ways():
    orders = [blind_order("thread_x", i) for i in range(40)]
    assert orders == [blind_order("thread_x", i) for i in range(40)]
    assert set(orders) == {"recorded-first", "new-first"}


@pytest.mark.parametrize(("new", "recorded", "passed"), [
    (5, 5, True), (4, 5, True), (3, 3, True), (3, 4, False), (1, 2, False), (2, 1, True)])
def test_the_new_reply_passes_when_good_enough_or_no_worse(new, recorded, passed):
    assert passes(new, recorded) is passed


def test_with_a_verdict_the_trajectory_still_decides():
    good = Verdict(passed=True, score=5, recorded_score=5, reason="same", model="m", rubric="r")
    assert with_verdict(turn_result(), good).status == "pass"
    assert with_verdict(turn_result(identical=False), good).status == "regression"
    bad = good.model_copy(update={"passed": False, "score": 1})
    assert with_verdict(turn_result(), bad).status == "regression"
    broken = Verdict(model="m", rubric="r", error="the judge failed: boom")
    errored = with_verdict(turn_result(), broken)
    assert (errored.status, errored.detail, errored.judge.label) == (
        "error", "the judge failed: boom", "error")


# --- parsing strictly -----------------------------------------------------------------------------


def answer(content, finish_reason="stop", **message):
    return {"choices": [{"index": 0, "finish_reason": finish_reason,
                         "message": {"role": "assistant", "content": content, **message}}]}


def test_a_well_formed_answer_parses_and_the_reason_is_one_line():
    content = json.dumps({"reply_a_score": 4, "reply_b_score": 2, "reason": "A is right;\n B is not."})
    assert parse_answer(answer(content)) == (4, 2, "A is right; B is not.")


@pytest.mark.parametrize(("body", "message"), [
    (answer("Reply A is better."), "not JSON"),
    (answer(json.dumps({"reply_a_score": 4, "reply_b_score": 2})), "not the verdict object"),
    (answer(json.dumps({"reply_a_score": 4, "reply_b_score": 2, "reason": "x", "extra": 1})),
     "not the verdict object"),
    (answer(json.dumps({"reply_a_score": 7, "reply_b_score": 2, "reason": "x"})), "not an integer 1-5"),
    (answer(json.dumps({"reply_a_score": "4", "reply_b_score": 2, "reason": "x"})), "not an integer 1-5"),
    (answer(json.dumps({"reply_a_score": True, "reply_b_score": 2, "reason": "x"})), "not an integer 1-5"),
    (answer(json.dumps({"reply_a_score": 4, "reply_b_score": 2, "reason": " "})), "no reason"),
    (answer(json.dumps([4, 2, "x"])), "not the verdict object"),
    (answer('{"reply_a_score": 4, "reply_b_sc', finish_reason="length"), "cut off"),
    (answer(None, refusal="I can't help with that."), "refused: I can't help with that."),
    ({"choices": []}, "no choices"),
])
def test_anything_else_is_a_judge_failure(body, message):
    with pytest.raises(JudgeAnswerError, match=message):
        parse_answer(body)


# --- over loopback ------------------------------------------------------------------------------------


async def test_the_judge_sees_the_conversation_and_both_replies_blind_and_its_verdict_is_unblinded():
    with FakeChatServer(grading(sunny, reason="Reply A says {A}; Reply B says {B}.")) as server:
        judge = make_judge(server)
        try:
            good = await judge.grade(turn_result("Sunny and 22 C."), HISTORY)
            bad = await judge.grade(turn_result("I do not know."), HISTORY)
        finally:
            await judge.aclose()
    order = blind_order("thread_a", 1)
    assert good.status == "pass" and good.judge.passed and good.judge.order == order
    assert (good.judge.score, good.judge.recorded_score) == (5, 5)
    assert bad.status == "regression" and not bad.judge.passed
    assert (bad.judge.score, bad.judge.recorded_score) == (1, 5)
    assert (bad.judge.model, bad.judge.rubric) == ("judge-model", "syncer-judge-v1")
    # "Reply A/B" in the reason are named for what they are.
    assert bad.judge.reason in ("the recorded reply says 5; the new reply says 1.",
                                "the new reply says 1; the recorded reply says 5.")
    request = server.requests[1]
    body = request.body
    assert request.headers["authorization"] == f"Bearer {JUDGE_KEY}"
    assert body["model"] == "judge-model" and body["response_format"] == RESPONSE_FORMAT
    assert body["messages"][0] == {"role": "system", "content": load_rubric().text}
    case = body["messages"][1]["content"]
    assert "[user] Hello\n[assistant] Hi! How can I help?" in case
    assert "[user] Weather in Paris?" in case
    shown = replies_shown(body)
    new, recorded = (shown["B"], shown["A"]) if order == "recorded-first" else (shown["A"], shown["B"])
    assert new.endswith("I do not know.") and recorded.endswith("It is sunny, 22 C.")
    assert 'called get_weather({"city":"Paris"}) → {"c": 22}' in new


async def test_turns_without_a_finished_comparison_are_not_judged():
    with FakeChatServer() as server:
        judge = make_judge(server)
        for status in ("error", "missing_tool", "no_baseline", "not_replayable"):
            skipped = turn_result().model_copy(update={"status": status})
            assert await judge.grade(skipped, []) == skipped
        await judge.aclose()
    assert server.requests == []


async def test_a_failing_judge_is_retried_then_makes_the_turn_an_error_without_its_key(caplog):
    caplog.set_level(logging.INFO)
    with FakeChatServer() as server:
        server.script(*[Reply(status=503, error=f"overloaded (key {JUDGE_KEY})")] * 3)
        judge = make_judge(server)
        result = await judge.grade(turn_result(), HISTORY)
        # A malformed answer and a refusal are failures too.
        server.script(Reply(text="Both fine."), verdict(9, 1))
        garbled = await judge.grade(turn_result(), HISTORY)
        out_of_range = await judge.grade(turn_result(), HISTORY)
        await judge.aclose()
    assert len(server.requests) == 5  # 1 + 2 retries, then one each
    assert result.status == "error" and result.judge.label == "error"
    assert "the judge failed" in result.detail and "503" in result.detail
    assert "not JSON" in garbled.detail and "not an integer 1-5" in out_of_range.detail
    everything = result.model_dump_json() + caplog.text + repr(judge)
    assert "retrying POST" in caplog.text
    assert JUDGE_KEY not in everything and JUDGE_KEY[-8:] not in everything


async def test_a_judge_request_the_endpoint_refuses_is_an_error_not_a_retry():
    with FakeChatServer() as server:
        server.script(Reply(status=400, error="model 'judge-model' does not support json_schema"))
        judge = make_judge(server)
        result = await judge.grade(turn_result(), [])
        await judge.aclose()
    assert len(server.requests) == 1
    assert result.status == "error" and "does not support json_schema" in result.detail


def test_migration_6_adds_the_verdict_columns_to_replay_turns_once(tmp_path):
    # A mirror from before the judge: migrations 1-4 only, one replay turn stored.
    db = sqlite_utils.Database(tmp_path / "old.db")
    db.table("migrations").create({"id": int, "name": str, "applied_at": str}, pk="id")
    for number, name, fn in sorted(MIGRATIONS, key=lambda m: m[0]):
        if number <= 4:
            fn(db)
            db.table("migrations").insert({"id": number, "name": name, "applied_at": "x"})
    db.execute("INSERT INTO replays (id, status, started_at) VALUES ('rpl_1', 'complete', 'x')")
    db.execute("INSERT INTO replay_turns (id, replay_id, recorded_thread_id, turn_index, status,"
               " result, recorded_at) VALUES ('t', 'rpl_1', 'thread_1', 0, 'pass', '{}', 'x')")
    db.conn.commit()
    db.close()
    with open_mirror(tmp_path / "old.db", "write") as store:
        conn = store.db.conn
        columns = {row[1] for row in conn.execute("PRAGMA table_info(replay_turns)")}
        assert set(REPLAY_JUDGE_COLUMNS) <= columns
        assert conn.execute("SELECT judge_verdict, judge_score FROM replay_turns").fetchall() == [
            (None, None)]
        assert 6 in {row[0] for row in conn.execute("SELECT id FROM migrations")}
