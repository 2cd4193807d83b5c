"""Splitting mirrored threads into turns (pure function over mirror rows)."""

from __future__ import annotations

import json

from syncer.replay.select import split_turns

_seq = iter(range(1, 10_000))


def msg(mid, role, text, created, run_id=None, metadata=None):
    return {
        "id": mid, "role": role, "created_at": created, "run_id": run_id, "_order": next(_seq),
        "content": json.dumps([{"type": "text", "text": {"value": text, "annotations": []}}]),
        "metadata": json.dumps(metadata or {}),
    }


def run(rid, created, status="completed", usage=None, **times):
    return {"id": rid, "created_at": created, "status": status, "assistant_id": "asst_1",
            "model": "gpt-4o", "usage": json.dumps(usage) if usage else None,
            "started_at": created, "_order": next(_seq), **times}


def step(sid, rid, created, calls):
    return {"id": sid, "run_id": rid, "created_at": created, "_order": next(_seq),
            "step_details": json.dumps({"type": "tool_calls", "tool_calls": calls})}


def fn(cid, name, args, output):
    return {"id": cid, "type": "function",
            "function": {"name": name, "arguments": args, "output": output}}


def test_turns_group_consecutive_user_messages_up_to_each_run():
    # Everything in the same second: order must come from the mirror, not created_at.
    messages = [
        msg("m1", "user", "hi", 100, metadata={"k": "v"}),
        msg("m2", "user", "are you there?", 100),
        msg("m3", "assistant", "Hello.", 100, run_id="r1"),
        msg("m4", "user", '@get_weather {"city": "Paris"}', 100),
        msg("m5", "assistant", "Sunny.", 100, run_id="r2"),
        msg("m6", "user", "thanks", 100),
    ]
    runs = [run("r1", 100, usage={"total_tokens": 12}, completed_at=103),
            run("r2", 100, completed_at=101)]
    steps = [step("s1", "r2", 100, [fn("c1", "get_weather", '{ "city":"Paris" }', '{"t": 21}'),
                                    fn("c2", "get_time", "{}", "12:00")])]
    turns = split_turns("thread_1", messages, runs, steps)
    assert [[m.text for m in t.messages] for t in turns] == [
        ["hi", "are you there?"], ['@get_weather {"city": "Paris"}'], ["thanks"]]
    assert turns[0].messages[0].metadata == {"k": "v"}
    assert turns[0].baseline.reply == "Hello."
    assert turns[0].baseline.usage == {"total_tokens": 12}
    assert turns[0].baseline.duration_s == 3.0
    calls = turns[1].baseline.tool_calls
    assert [(c.name, c.arguments, c.output) for c in calls] == [
        ("get_weather", '{"city":"Paris"}', '{"t": 21}'), ("get_time", "{}", "12:00")]
    assert turns[2].baseline is None  # trailing: no baseline


def test_silent_failed_run_and_unreplayable_tools():
    messages = [
        msg("m1", "user", "first", 100),
        msg("m2", "user", "second", 105),
        msg("m3", "assistant", "Answer.", 106, run_id="r2"),
    ]
    runs = [run("r1", 101, status="failed", failed_at=102), run("r2", 105, completed_at=106)]
    steps = [step("s1", "r2", 105, [{"id": "ci", "type": "code_interpreter",
                                     "code_interpreter": {"input": "1+1", "outputs": []}}])]
    turns = split_turns("thread_1", messages, runs, steps)
    assert [[m.text for m in t.messages] for t in turns] == [["first"], ["second"]]
    assert turns[0].baseline.status == "failed" and turns[0].baseline.reply == ""
    assert turns[0].replayable
    assert not turns[1].replayable and "code_interpreter" in turns[1].reason


def test_thread_without_runs_is_one_turn_without_baseline():
    turns = split_turns("t", [msg("m1", "user", "hello", 1)], [], [])
    assert len(turns) == 1 and turns[0].baseline is None
    assert split_turns("t", [], [], []) == []
