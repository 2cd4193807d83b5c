"""Replay's comparison: similarity, canonical arguments, trajectory diff and verdicts."""

from __future__ import annotations

import pytest

from syncer.canonical import canonical_arguments
from syncer.replay.compare import (
    compare_replays,
    exit_code,
    judge,
    similarity,
    summarize,
    trajectory_diff,
)
from syncer.replay.types import Outcome, Replay, ThreadResult, ToolCall, TurnResult


def call(name: str, args: str) -> ToolCall:
    return ToolCall(name=name, arguments=args)


def test_similarity_collapses_whitespace_and_is_one_for_equal_text():
    assert similarity("Hello   world\n", " Hello world") == 1.0
    assert similarity("", "") == 1.0
    assert similarity("abc", "") == 0.0
    assert 0.0 < similarity("The order ships Monday.", "The order ships Friday.") < 1.0


def test_canonical_json_ignores_key_order_and_spacing_but_keeps_values():
    assert canonical_arguments('{"b": 1, "a": [1, 2]}') == canonical_arguments('{"a":[1,2],"b":1}')
    assert canonical_arguments('{"a": 1}') != canonical_arguments('{"a": 2}')
    assert canonical_arguments("not json") == "not json"


def test_trajectory_diff_reports_names_arguments_order_and_count():
    a, b = call("f", '{"x": 1}'), call("g", "{}")
    same = trajectory_diff([a, b], [call("f", '{ "x":1 }'), b])
    assert same.identical and not same.missing and not same.extra

    swapped = trajectory_diff([a, b], [b, a])
    assert not swapped.identical and swapped.order_changed and not swapped.missing

    changed = trajectory_diff([a, b], [call("f", '{"x": 2}')])
    assert not changed.identical
    assert changed.missing == ['f({"x":1})', "g({})"]
    assert changed.extra == ['f({"x":2})']
    assert (changed.count_recorded, changed.count_new) == (2, 1)


def test_judge_needs_same_trajectory_same_end_and_threshold():
    rec = Outcome(status="completed", reply="It is sunny in Paris.", tool_calls=[call("w", "{}")])
    assert judge(rec, rec.model_copy(), 0.8)[0] == "pass"
    worded = rec.model_copy(update={"reply": "Rain all day, take an umbrella."})
    status, score, _ = judge(rec, worded, 0.8)
    assert status == "regression" and score is not None and score < 0.8
    no_call = rec.model_copy(update={"tool_calls": []})
    status, score, diff = judge(rec, no_call, 0.8)
    assert status == "regression" and score == 1.0 and diff is not None and not diff.identical
    failed = rec.model_copy(update={"status": "failed"})
    assert judge(rec, failed, 0.8)[0] == "regression"
    assert judge(None, rec, 0.8)[0] == "no_baseline"


def _replay(statuses: list[str], rid: str = "rpl_1") -> Replay:
    turns = [
        TurnResult(thread_id="thread_a", index=i, status=s,
                   new=Outcome(run_id=f"run_{i}", reply=f"reply {i}") if s != "not_replayable" else None)
        for i, s in enumerate(statuses)
    ]
    replay = Replay(id=rid, status="complete", started_at=0.0,
                    threads=[ThreadResult(thread_id="thread_a", turns=turns)])
    replay.summary = summarize(replay)
    return replay


@pytest.mark.parametrize(
    ("statuses", "code"),
    [
        (["pass", "pass"], 0),
        (["pass", "no_baseline", "not_replayable"], 0),
        (["pass", "regression"], 3),
        (["missing_tool"], 3),
        (["pass", "error"], 1),
        (["error", "regression"], 3),
    ],
)
def test_exit_codes(statuses, code):
    assert exit_code(_replay(statuses)) == code


def test_summary_counts_each_status_and_runs():
    s = _replay(["pass", "regression", "no_baseline", "not_replayable"]).summary
    assert (s.turns, s.passed, s.regressions, s.no_baseline, s.not_replayable) == (4, 1, 1, 1, 1)
    assert s.runs == 3


def test_compare_replays_uses_first_as_baseline():
    first = _replay(["pass", "pass"], "rpl_1")
    second = _replay(["pass", "pass"], "rpl_2")
    second.threads[0].turns[1].new = Outcome(run_id="run_x", reply="something else entirely")
    result = compare_replays(first, second)
    statuses = [t.status for t in result.all_turns()]
    assert statuses == ["pass", "regression"]
    assert result.all_turns()[1].recorded.reply == "reply 1"
    assert exit_code(result) == 3
