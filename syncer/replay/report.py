"""Replay reports: a terminal table per thread, and JSON, JUnit XML or Markdown files.

`write_report(replay, path)` picks the format by extension: ``.xml`` JUnit (one test case
per turn, one test suite per recorded thread, so CI systems show it natively), ``.md``
Markdown with side-by-side replies, anything else JSON (`Replay.model_dump_json`, which
`load_json_report` reads back into an equal object).
"""

from __future__ import annotations

import difflib
import html
import os
import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from syncer.errors import UsageError
from syncer.files import atomic_write
from syncer.replay.compare import collapse_whitespace
from syncer.replay.types import Outcome, Replay, TurnResult

_STATUS_STYLE = {
    "pass": "green",
    "regression": "bold red",
    "missing_tool": "bold red",
    "error": "red",
    "no_baseline": "yellow",
    "not_replayable": "dim",
    "planned": "cyan",
}


# --- small formatting helpers shared by every format ---------------------------------------


def _tokens(outcome: Outcome | None) -> str:
    if outcome is None or not outcome.usage:
        return "-"
    total = outcome.usage.get("total_tokens")
    return "-" if total is None else str(total)


def _seconds(outcome: Outcome | None, digits: int = 2) -> str:
    if outcome is None or outcome.duration_s is None:
        return "-"
    return f"{outcome.duration_s:.{digits}f}"


def _similarity(turn: TurnResult) -> str:
    return "-" if turn.similarity is None else f"{turn.similarity:.3f}"


def _trajectory(turn: TurnResult) -> str:
    diff = turn.trajectory
    if diff is None:
        return "-"
    if diff.identical:
        return f"same ({diff.count_new} calls)"
    parts = []
    if diff.order_changed:
        parts.append("order changed")
    if diff.missing:
        parts.append(f"-{len(diff.missing)} missing")
    if diff.extra:
        parts.append(f"+{len(diff.extra)} extra")
    return f"differ ({', '.join(parts) or 'changed'}): {diff.count_recorded}→{diff.count_new}"


def _short_trajectory(turn: TurnResult) -> str:
    """The trajectory for a narrow table column: ``= 2`` same calls, ``≠ 2→1`` changed."""
    diff = turn.trajectory
    if diff is None:
        return "-"
    if diff.identical:
        return f"= {diff.count_new}"
    return f"≠ {diff.count_recorded}→{diff.count_new}"


def _judge(turn: TurnResult) -> str:
    """The judge's verdict in a few characters: ``pass 4/3`` (new/recorded score), ``error``."""
    verdict = turn.judge
    if verdict is None:
        return "-"
    if verdict.label == "error":
        return "error"
    return f"{verdict.label} {verdict.score}/{verdict.recorded_score}"


def judge_line(turn: TurnResult) -> str:
    """The judge's verdict in one line: label, scores, reason, model and rubric."""
    verdict = turn.judge
    if verdict is None:
        return "not judged"
    if verdict.label == "error":
        return f"error: {verdict.error} ({verdict.model}, rubric {verdict.rubric})"
    return (f"{verdict.label}, new {verdict.score} vs recorded {verdict.recorded_score}: "
            f"{verdict.reason} ({verdict.model}, rubric {verdict.rubric})")


def judge_options(replay: Replay) -> dict[str, Any] | None:
    """The replay's judge (model, base URL, rubric, pass score) when it had one."""
    judge = replay.options.get("judge")
    return judge if isinstance(judge, dict) else None


def failure_reasons(turn: TurnResult, threshold: float, *, short: bool = False) -> list[str]:
    """Why a turn failed (or was skipped), one phrase each (``short``: for the table)."""
    reasons: list[str] = []
    if turn.status == "missing_tool":
        reasons.append(turn.detail or "a tool call had no recorded output")
    if turn.trajectory is not None and not turn.trajectory.identical:
        reasons.append("tool calls differ" if short else "tool calls " + _trajectory(turn))
    if turn.judge is not None and turn.judge.label == "fail":
        # Judged: the judge's verdict decides, not similarity.
        reasons.append(f"judge: {turn.judge.reason}" if short else "judge: " + judge_line(turn))
    if turn.judge is None and turn.similarity is not None and turn.similarity < threshold:
        reasons.append(
            f"text below {threshold}" if short
            else f"similarity {turn.similarity:.3f} < {threshold}"
        )
    if (
        turn.recorded is not None
        and turn.new is not None
        and (turn.recorded.status or "completed") != (turn.new.status or "completed")
    ):
        reasons.append(f"run status {turn.recorded.status} → {turn.new.status}")
    if not reasons and turn.detail:
        reasons.append(turn.detail)
    return reasons


# --- terminal --------------------------------------------------------------------------------


def print_report(replay: Replay, console: Console) -> None:
    """One table per recorded thread, then a one-line summary (write to stdout: it is data)."""
    for thread in replay.threads:
        title = f"{thread.thread_id}"
        if thread.new_thread_id:
            title += f" → {thread.new_thread_id}"
        table = Table(title=title, title_justify="left")
        table.add_column("turn", justify="right", no_wrap=True)
        table.add_column("status", no_wrap=True)
        table.add_column("similarity", justify="right", no_wrap=True)
        table.add_column("tool calls", no_wrap=True)
        judged = any(t.judge is not None for t in thread.turns)
        if judged:
            table.add_column("judge", no_wrap=True)
        table.add_column("tokens", no_wrap=True)
        table.add_column("seconds", no_wrap=True)
        table.add_column("why", ratio=1)
        for turn in thread.turns:
            style = _STATUS_STYLE.get(turn.status, "")
            detail = (
                "; ".join(failure_reasons(turn, replay.threshold, short=True))
                if turn.status != "pass" else ""
            )
            label = turn.status.replace("_", " ")
            table.add_row(
                str(turn.index + 1),
                f"[{style}]{label}[/{style}]" if style else label,
                _similarity(turn),
                _short_trajectory(turn),
                *([_judge(turn)] if judged else []),
                f"{_tokens(turn.recorded)}→{_tokens(turn.new)}",
                f"{_seconds(turn.recorded, 1)}→{_seconds(turn.new, 1)}",
                detail,
            )
        console.print(table)
        if thread.error:
            console.print(f"[red]thread {thread.thread_id}: {thread.error}[/red]")
    console.print(summary_line(replay))


def summary_line(replay: Replay) -> str:
    """``replay rpl_…: 3 threads, 9 turns: 8 pass, 1 regression, …``."""
    s = replay.summary
    parts = [f"{s.passed} pass", f"{s.regressions} regression"]
    if s.missing_tool:
        parts.append(f"{s.missing_tool} missing tool")
    if s.no_baseline:
        parts.append(f"{s.no_baseline} no baseline")
    if s.not_replayable:
        parts.append(f"{s.not_replayable} not replayable")
    if s.errors:
        parts.append(f"{s.errors} error")
    if s.planned:
        parts.append(f"{s.planned} planned")
    judge = judge_options(replay)
    runs = f"{s.runs} runs" if replay.api == "assistants" else f"{s.runs} turns on the Responses API"
    if judge is not None:
        return (
            f"replay {replay.id}: {s.threads} threads, {s.turns} turns: {', '.join(parts)}; "
            f"{runs}; judged by {judge.get('model')} (rubric {judge.get('rubric')}), "
            f"{s.judged} turns; similarity reported ({replay.metric})"
        )
    return (
        f"replay {replay.id}: {s.threads} threads, {s.turns} turns: {', '.join(parts)}; "
        f"{runs}; threshold {replay.threshold} ({replay.metric})"
    )


# --- files -------------------------------------------------------------------------------------


def check_report_path(path: str | os.PathLike[str]) -> Path:
    """Fail before a replay spends any runs when its report could not be written."""
    target = Path(path)
    directory = target.parent if str(target.parent) else Path(".")
    if not directory.is_dir():
        raise UsageError(f"--report {target}: directory {directory} does not exist")
    if target.is_dir():
        raise UsageError(f"--report {target}: is a directory")
    if not os.access(directory, os.W_OK):
        raise UsageError(f"--report {target}: directory {directory} is not writable")
    return target


def write_report(replay: Replay, path: str | os.PathLike[str]) -> Path:
    """Write the report in the format named by the extension, atomically (temp file + rename)."""
    target = check_report_path(path)
    suffix = target.suffix.lower()
    if suffix == ".xml":
        text = junit_xml(replay)
    elif suffix in (".md", ".markdown"):
        text = markdown(replay)
    else:
        text = replay.model_dump_json(indent=2)
    # Never leave a half-written report for CI to parse.
    with atomic_write(target) as handle:
        handle.write(text.encode("utf-8"))
    return target


def load_json_report(path: str | os.PathLike[str]) -> Replay:
    """Read a JSON report back into a `Replay`."""
    return Replay.model_validate_json(Path(path).read_text(encoding="utf-8"))


def junit_xml(replay: Replay) -> str:
    """JUnit XML: ``<testsuites>`` → one ``<testsuite>`` per thread → one ``<testcase>`` per turn.

    Regressions and missing tools are ``<failure>``, server errors ``<error>``, turns not
    judged (no baseline, not replayable) ``<skipped>``.
    """
    s = replay.summary
    # A thread that failed before its first turn is reported as one errored test case.
    thread_cases = sum(1 for t in replay.threads if t.error and not t.turns)
    # Only the attributes the strictest common schema (Jenkins xunit's junit-10.xsd) allows
    # on <testsuites>; skipped counts are on each <testsuite>.
    root = ET.Element(
        "testsuites",
        name=f"syncer replay {replay.id}",
        tests=str(s.turns + thread_cases),
        failures=str(s.regressions + s.missing_tool),
        errors=str(s.errors),
        time=_elapsed(replay),
    )
    for thread in replay.threads:
        failures = sum(1 for t in thread.turns if t.status in ("regression", "missing_tool"))
        thread_case = bool(thread.error and not thread.turns)
        errors = sum(1 for t in thread.turns if t.status == "error") + thread_case
        skipped = sum(
            1 for t in thread.turns if t.status in ("no_baseline", "not_replayable", "planned")
        )
        suite = ET.SubElement(
            root, "testsuite", name=thread.thread_id, tests=str(len(thread.turns) + thread_case),
            failures=str(failures), errors=str(errors), skipped=str(skipped),
            time=f"{sum(t.new.duration_s or 0 for t in thread.turns if t.new):.3f}",
            timestamp=datetime.fromtimestamp(replay.started_at, UTC).isoformat(timespec="seconds"),
        )
        props = ET.SubElement(suite, "properties")
        ET.SubElement(props, "property", name="recorded_thread_id", value=thread.thread_id)
        ET.SubElement(props, "property", name="new_thread_id", value=thread.new_thread_id or "")
        ET.SubElement(props, "property", name="api", value=replay.api)
        ET.SubElement(props, "property", name="metric", value=replay.metric)
        ET.SubElement(props, "property", name="threshold", value=str(replay.threshold))
        judge = judge_options(replay)
        if judge is not None:
            ET.SubElement(props, "property", name="judge_model", value=str(judge.get("model")))
            ET.SubElement(props, "property", name="judge_rubric", value=str(judge.get("rubric")))
        if thread_case:
            case = ET.SubElement(suite, "testcase", classname=thread.thread_id, name="thread")
            ET.SubElement(case, "error", message=thread.error or "error")
        for turn in thread.turns:
            case = ET.SubElement(
                suite, "testcase", classname=thread.thread_id, name=turn.name,
                time=f"{turn.new.duration_s or 0:.3f}" if turn.new else "0",
            )
            reasons = "; ".join(failure_reasons(turn, replay.threshold))
            if turn.status in ("regression", "missing_tool"):
                node = ET.SubElement(case, "failure", message=reasons, type=turn.status)
                node.text = _side_by_side_text(turn)
            elif turn.status == "error":
                ET.SubElement(case, "error", message=turn.detail or "error", type="error")
            elif turn.status in ("no_baseline", "not_replayable", "planned"):
                ET.SubElement(
                    case, "skipped",
                    message=f"{turn.status.replace('_', ' ')}"
                    + (f": {turn.detail}" if turn.detail else ""),
                )
            out = ET.SubElement(case, "system-out")
            out.text = (
                f"similarity: {_similarity(turn)} ({replay.metric})\n"
                f"trajectory: {_trajectory(turn)}\n"
                + (f"judge: {judge_line(turn)}\n" if turn.judge is not None else "")
                + _side_by_side_text(turn)
            )
    ET.indent(root)
    text = ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"
    # ElementTree escapes markup but passes control characters through, which XML 1.0
    # forbids: a reply holding one would make the whole report unreadable to CI.
    return _NOT_XML.sub("\ufffd", text)


_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _elapsed(replay: Replay) -> str:
    if replay.finished_at is None:
        return "0"
    return f"{max(0.0, replay.finished_at - replay.started_at):.3f}"


def _side_by_side_text(turn: TurnResult) -> str:
    recorded = turn.recorded.reply if turn.recorded else ""
    new = turn.new.reply if turn.new else ""
    lines = [f"recorded: {recorded}", f"new:      {new}"]
    if turn.trajectory is not None and not turn.trajectory.identical:
        lines.append("recorded calls: " + ", ".join(turn.trajectory.recorded))
        lines.append("new calls:      " + ", ".join(turn.trajectory.new))
    return "\n".join(lines)


# --- markdown ---------------------------------------------------------------------------------


def _cell(text: str) -> str:
    """Text safe inside a Markdown table cell."""
    return html.escape(text, quote=False).replace("|", "\\|").replace("\n", "<br>") or " "


def markdown(replay: Replay) -> str:
    """A Markdown report: summary, then per thread a table and side-by-side replies per turn."""
    s = replay.summary
    judge = judge_options(replay)
    rule = (
        f"- similarity: {replay.metric}; pass at ≥ {replay.threshold} with an identical tool-call trajectory"
        if judge is None else
        f"- judge: {judge.get('model')} at {judge.get('base_url')}, rubric {judge.get('rubric')}; "
        f"pass on the judge's verdict with an identical tool-call trajectory "
        f"({s.judged} turns judged); similarity ({replay.metric}) reported only"
    )
    out = [
        f"# Replay {replay.id}",
        "",
        f"- target: {replay.target or 'the assistant of each recorded turn'}",
        f"- api: {replay.api}"
        + (" (chained responses carrying the configuration)" if replay.api == "responses" else ""),
        rule,
        (f"- {s.threads} threads, {s.turns} turns: {s.passed} pass, {s.regressions} regression, "
        f"{s.missing_tool} missing tool, {s.no_baseline} no baseline, "
        f"{s.not_replayable} not replayable, {s.errors} error"),
        "",
    ]
    for thread in replay.threads:
        out += [f"## {thread.thread_id}", ""]
        if thread.new_thread_id:
            out += [f"Replayed in `{thread.new_thread_id}`.", ""]
        if thread.error:
            out += [f"**Error:** {_cell(thread.error)}", ""]
        judge_header = ("judge new/rec | ", "--- | ") if judge is not None else ("", "")
        out += [
            "| turn | status | similarity | tool calls | " + judge_header[0]
            + "tokens rec→new | seconds rec→new |",
            "| --- | --- | --- | --- | " + judge_header[1] + "--- | --- |",
        ]
        for turn in thread.turns:
            judge_cell = f"{_judge(turn)} | " if judge is not None else ""
            out.append(
                f"| {turn.index + 1} | {turn.status} | {_similarity(turn)} | "
                f"{_cell(_trajectory(turn))} | {judge_cell}{_tokens(turn.recorded)}→{_tokens(turn.new)} | "
                f"{_seconds(turn.recorded)}→{_seconds(turn.new)} |"
            )
        out.append("")
        for turn in thread.turns:
            out += _markdown_turn(turn, replay.threshold)
    return "\n".join(out).rstrip() + "\n"


def _markdown_turn(turn: TurnResult, threshold: float) -> list[str]:
    out = [f"### {turn.thread_id} · {turn.name}: {turn.status}", ""]
    out.extend(f"> **{message.role}:** {_cell(message.text)}" for message in turn.messages)
    if turn.messages:
        out.append("")
    if turn.run_settings:
        settings = ", ".join(f"`{k}`" for k in sorted(turn.run_settings))
        out += [f"Sent again from the recorded run: {settings}.", ""]
    if turn.judge is not None:
        out += [f"Judge: {_cell(judge_line(turn))}", ""]
    if turn.status != "pass":
        for reason in failure_reasons(turn, threshold):
            out.append(f"- {_cell(reason)}")
        out.append("")
    recorded = turn.recorded.reply if turn.recorded else ""
    new = turn.new.reply if turn.new else ""
    out += [
        "| recorded | new |",
        "| --- | --- |",
        f"| {_cell(recorded)} | {_cell(new)} |",
    ]
    if turn.trajectory is not None:
        rec, now = turn.trajectory.recorded, turn.trajectory.new
        for i in range(max(len(rec), len(now))):
            left = rec[i] if i < len(rec) else ""
            right = now[i] if i < len(now) else ""
            out.append(f"| call: {_cell(left)} | call: {_cell(right)} |")
    out.append("")
    if recorded != new and turn.recorded is not None and turn.new is not None:
        diff = difflib.unified_diff(
            collapse_whitespace(recorded).split(". "),
            collapse_whitespace(new).split(". "),
            "recorded", "new", lineterm="",
        )
        out += ["```diff", *diff, "```", ""]
    return out
