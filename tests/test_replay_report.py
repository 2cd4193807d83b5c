"""Replay reports: JUnit XML structure, JSON round trip, Markdown and the terminal table."""

from __future__ import annotations

from rich.console import Console
from support.junit import assert_valid_junit

from syncer.replay.compare import judge, summarize
from syncer.replay.report import load_json_report, print_report, write_report
from syncer.replay.types import (
    InputMessage,
    Outcome,
    Replay,
    ThreadResult,
    ToolCall,
    TurnResult,
)


def sample_replay() -> Replay:
    rec = Outcome(run_id="run_a", status="completed", reply="Sunny | 21 <C>",
                  tool_calls=[ToolCall(name="weather", arguments='{"city":"Paris"}', output="21")],
                  usage={"total_tokens": 30}, duration_s=2.0)
    good = rec.model_copy(update={"run_id": "run_b", "duration_s": 0.1})
    bad = rec.model_copy(update={"run_id": "run_c", "reply": "Rain.", "tool_calls": []})
    turns = []
    for i, new in enumerate([good, bad]):
        status, score, diff = judge(rec, new, 0.8)
        turns.append(TurnResult(thread_id="thread_one", index=i, status=status, recorded=rec,
                                new=new, similarity=score, trajectory=diff,
                                messages=[InputMessage(text=f"question {i}")]))
    turns.append(TurnResult(thread_id="thread_one", index=2, status="no_baseline",
                            new=Outcome(run_id="run_d", reply="ok")))
    other = ThreadResult(thread_id="thread_two", new_thread_id="thread_new2", turns=[
        TurnResult(thread_id="thread_two", index=0, status="not_replayable",
                   detail="the recorded run used code_interpreter")])
    replay = Replay(id="rpl_x", status="complete", started_at=10.0, finished_at=12.5,
                    threads=[ThreadResult(thread_id="thread_one", new_thread_id="thread_new1",
                                          turns=turns), other])
    replay.summary = summarize(replay)
    return replay


def test_junit_follows_the_common_schema_even_with_control_characters_and_thread_errors(
        tmp_path):
    replay = sample_replay()
    replay.threads[0].turns[0].new.reply = "bell \x07 and nul \x00 in a reply"
    replay.threads.append(ThreadResult(thread_id="thread_three",
                                       error="HTTP 500 server_error (request id req_1)"))
    replay.summary = summarize(replay)
    text = write_report(replay, tmp_path / "replay.xml").read_text(encoding="utf-8")
    root = assert_valid_junit(text)
    (errored,) = root.find("testsuite[@name='thread_three']").findall("testcase")
    assert "HTTP 500" in errored.find("error").get("message")
    assert "bell \ufffd and nul \ufffd" in text


def test_junit_is_xml_with_a_suite_per_thread_and_a_case_per_turn(tmp_path):
    path = write_report(sample_replay(), tmp_path / "replay.xml")
    root = assert_valid_junit(path.read_text(encoding="utf-8"))
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("4", "1", "0")
    assert [s.get("skipped") for s in root.findall("testsuite")] == ["1", "1"]
    suites = root.findall("testsuite")
    assert [s.get("name") for s in suites] == ["thread_one", "thread_two"]
    cases = suites[0].findall("testcase")
    assert [(c.get("classname"), c.get("name")) for c in cases] == [
        ("thread_one", "turn 1"), ("thread_one", "turn 2"), ("thread_one", "turn 3")]
    assert cases[0].find("failure") is None and cases[0].find("skipped") is None
    failure = cases[1].find("failure")
    assert failure is not None and "tool calls differ" in failure.get("message")
    assert "similarity" in failure.get("message")
    assert cases[2].find("skipped").get("message") == "no baseline"
    assert "code_interpreter" in suites[1].find("testcase/skipped").get("message")


def test_json_report_round_trips(tmp_path):
    replay = sample_replay()
    path = write_report(replay, tmp_path / "replay.json")
    assert load_json_report(path) == replay


def test_markdown_has_side_by_side_replies_escaped(tmp_path):
    replay = sample_replay()
    replay.threads[0].turns[0].run_settings = {"tool_choice": "none"}
    text = write_report(replay, tmp_path / "r.md").read_text()
    assert "Sent again from the recorded run: `tool_choice`." in text
    assert "| recorded | new |" in text
    assert "Sunny \\| 21 &lt;C&gt;" in text  # a pipe in a reply does not break the table
    assert "### thread_one · turn 2: regression" in text
    assert "difflib" in text  # the metric is named


def test_terminal_table_names_each_thread_and_summary():
    console = Console(record=True, width=200)
    print_report(sample_replay(), console)
    out = console.export_text()
    assert "thread_one → thread_new1" in out and "thread_two" in out
    assert "2 threads, 4 turns: 1 pass, 1 regression, 1 no baseline, 1 not replayable" in out
