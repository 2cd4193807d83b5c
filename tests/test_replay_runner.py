"""Replay's runner without a server: which recorded output answers a call, run-level settings."""

from __future__ import annotations

import json

from syncer.replay.runner import RecordedOutputs
from syncer.replay.select import recorded_run_settings
from syncer.replay.types import ToolCall


def call(name: str, args: str, output: str) -> ToolCall:
    return ToolCall(name=name, arguments=args, output=output)


def test_exact_match_in_the_turn_comes_before_the_same_call_elsewhere_in_the_thread():
    earlier = call("get_weather", '{"city":"Paris"}', "earlier turn")
    own = call("get_weather", '{"city":"Paris"}', "this turn")
    outputs = RecordedOutputs([own], [earlier, own])
    # Arguments compare as canonical JSON: key order and spacing do not matter.
    assert outputs.match("get_weather", '{ "city": "Paris" }') == "this turn"


def test_exact_match_anywhere_in_the_thread_comes_before_a_name_match_in_the_turn():
    own = call("get_weather", '{"city":"Oslo"}', "oslo, this turn")
    elsewhere = call("get_weather", '{"city":"Paris"}', "paris, earlier turn")
    outputs = RecordedOutputs([own], [elsewhere, own])
    assert outputs.match("get_weather", '{"city":"Paris"}') == "paris, earlier turn"


def test_name_only_matches_take_recorded_calls_in_order_turn_first_each_once():
    own = [call("lookup", '{"q":"a"}', "first"), call("lookup", '{"q":"b"}', "second")]
    elsewhere = call("lookup", '{"q":"c"}', "third, from another turn")
    outputs = RecordedOutputs(own, [elsewhere, *own])
    answers = [outputs.match("lookup", json.dumps({"q": q})) for q in ("x", "y", "z")]
    assert answers == ["first", "second", "third, from another turn"]
    assert outputs.match("lookup", '{"q":"w"}') is None  # every recorded call used up
    assert outputs.match("other", "{}") is None


def test_an_exact_call_made_twice_reuses_its_output_rather_than_a_name_match():
    outputs = RecordedOutputs([call("f", "{}", "f's output"), call("f", '{"x":1}', "other")], [])
    assert outputs.match("f", "{}") == "f's output"
    assert outputs.match("f", "{}") == "f's output"


def run_row(**fields):
    return {"id": "run_1", "tool_choice": "auto", "parallel_tool_calls": 1,
            "truncation_strategy": json.dumps({"type": "auto", "last_messages": None}),
            "max_prompt_tokens": None, "max_completion_tokens": None, **fields}


def test_run_level_settings_carried_only_when_the_caller_chose_them():
    assert recorded_run_settings(run_row(instructions="Be brief."), "Be brief.") == {}
    chosen = recorded_run_settings(run_row(
        tool_choice=json.dumps({"type": "function", "function": {"name": "f"}}),
        parallel_tool_calls=0, max_completion_tokens=200,
        truncation_strategy=json.dumps({"type": "last_messages", "last_messages": 3}),
        instructions="Be brief.\n\nAnswer in French.",
    ), "Be brief.")
    assert chosen == {
        "tool_choice": {"type": "function", "function": {"name": "f"}},
        "parallel_tool_calls": False, "max_completion_tokens": 200,
        "truncation_strategy": {"type": "last_messages", "last_messages": 3},
        "additional_instructions": "Answer in French.",
    }


def test_instructions_that_only_look_longer_are_not_taken_for_appended_ones():
    # The assistant's instructions were since shortened ("Be brief. Use emoji." → "Be brief."):
    # re-appending the rest would hide exactly the change a replay should show.
    assert recorded_run_settings(run_row(instructions="Be brief. Use emoji."), "Be brief.") == {}
    # A run whose instructions replaced the assistant's: not carried either (the run records
    # only the effective text, which an assistant changed since would look like too).
    assert recorded_run_settings(run_row(instructions="Something else."), "Be brief.") == {}


def test_last_turn_mode_keeps_the_whole_threads_recorded_outputs():
    from syncer.replay.runner import ThreadPlan, last_turn_plan
    from syncer.replay.types import InputMessage, Outcome, Turn

    first = Turn(thread_id="t", index=0, messages=[InputMessage(text="weather?")],
                 baseline=Outcome(reply="Sunny.", tool_calls=[call("w", "{}", "21C")]))
    last = Turn(thread_id="t", index=1, messages=[InputMessage(text="and now?")],
                baseline=Outcome(reply="Still sunny."))
    plan = last_turn_plan(ThreadPlan("t", [first, last]))
    (merged,) = plan.turns
    assert [(m.role, m.text) for m in merged.messages] == [
        ("user", "weather?"), ("assistant", "Sunny."), ("user", "and now?")]
    # A call the final run repeats is still answered from the earlier turn's recording.
    assert RecordedOutputs(merged.baseline.tool_calls, plan.recorded_calls()).match("w", "{}") \
        == "21C"
