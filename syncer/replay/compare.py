"""Comparing a replayed turn with its recorded baseline: pure functions, no I/O.

Text and tool-call trajectory are judged separately: a turn passes when the trajectory is
identical (same names, same canonical arguments, same order, same count) and the text
similarity is at least the threshold.
"""

from __future__ import annotations

import difflib
import re
from collections import Counter

from syncer.canonical import canonical_arguments
from syncer.replay.types import (
    FAILING_STATUSES,
    Outcome,
    Replay,
    Summary,
    ThreadResult,
    ToolCall,
    TrajectoryDiff,
    TurnResult,
    TurnStatus,
    Verdict,
)

_WHITESPACE = re.compile(r"\s+")

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_REGRESSION = 3


def collapse_whitespace(text: str) -> str:
    """``text`` with every run of whitespace turned into one space, ends stripped."""
    return _WHITESPACE.sub(" ", text).strip()


def similarity(recorded: str, new: str) -> float:
    """Character-level similarity 0-1 of two replies (difflib ratio, whitespace collapsed).

    Two empty replies (e.g. both runs only called tools, or both failed) are identical: 1.0.
    ``autojunk`` is off so long replies are not judged by a heuristic subset of characters.
    """
    a, b = collapse_whitespace(recorded), collapse_whitespace(new)
    if a == b:
        return 1.0
    return difflib.SequenceMatcher(None, a, b, autojunk=False).ratio()


def call_signature(call: ToolCall) -> str:
    """``name(canonical args)``: what the trajectory diff compares."""
    if call.type != "function":
        return f"{call.type}()"
    return f"{call.name}({canonical_arguments(call.arguments)})"


def trajectory_diff(recorded: list[ToolCall], new: list[ToolCall]) -> TrajectoryDiff:
    """Compare two tool-call trajectories by name, canonical arguments, order and count."""
    rec = [call_signature(c) for c in recorded]
    now = [call_signature(c) for c in new]
    rec_count, new_count = Counter(rec), Counter(now)
    missing = list((rec_count - new_count).elements())
    extra = list((new_count - rec_count).elements())
    same_multiset = not missing and not extra
    return TrajectoryDiff(
        identical=rec == now,
        recorded=rec,
        new=now,
        missing=missing,
        extra=extra,
        order_changed=same_multiset and rec != now,
        count_recorded=len(rec),
        count_new=len(now),
    )


def judge(
    recorded: Outcome | None, new: Outcome, threshold: float
) -> tuple[TurnStatus, float | None, TrajectoryDiff | None]:
    """The verdict for one turn: status, similarity and trajectory diff.

    The run's final status is part of the trajectory: a recorded failure reproduced as a
    failure matches; a completed run that now fails (or the other way round) is a regression.
    """
    if recorded is None:
        return "no_baseline", None, None
    score = similarity(recorded.reply, new.reply)
    diff = trajectory_diff(recorded.tool_calls, new.tool_calls)
    same_end = (recorded.status or "completed") == (new.status or "completed")
    passed = diff.identical and same_end and score >= threshold
    return ("pass" if passed else "regression"), score, diff


def with_verdict(result: TurnResult, verdict: Verdict) -> TurnResult:
    """``result`` judged by an LLM judge (``--judge``): it passes on the judge's verdict and an
    identical trajectory with the same final run status; similarity stays reported but no
    longer decides. A judge that failed makes the turn an ``error``, never a pass."""
    if verdict.label == "error":
        return result.model_copy(update={"status": "error", "judge": verdict,
                                         "detail": verdict.error})
    same_end = (
        result.recorded is not None and result.new is not None
        and (result.recorded.status or "completed") == (result.new.status or "completed")
    )
    trajectory_ok = result.trajectory is None or result.trajectory.identical
    status: TurnStatus = "pass" if verdict.passed and trajectory_ok and same_end else "regression"
    return result.model_copy(update={"status": status, "judge": verdict})


# Which `Summary` counter each turn status adds to.
_SUMMARY_FIELD = {
    "pass": "passed",
    "regression": "regressions",
    "missing_tool": "missing_tool",
    "no_baseline": "no_baseline",
    "not_replayable": "not_replayable",
    "error": "errors",
    "planned": "planned",
}


def summarize(replay: Replay) -> Summary:
    """Counts over every turn of a replay."""
    summary = Summary(threads=len(replay.threads))
    for turn in replay.all_turns():
        summary.turns += 1
        counter = _SUMMARY_FIELD.get(turn.status)
        if counter is not None:
            setattr(summary, counter, getattr(summary, counter) + 1)
        if turn.new is not None and turn.new.run_id:
            summary.runs += 1
        if turn.judge is not None:
            summary.judged += 1
    summary.errors += sum(1 for t in replay.threads if t.error and not t.turns)
    if replay.status == "dry_run":
        summary.runs = summary.planned + summary.no_baseline
    return summary


def exit_code(replay: Replay) -> int:
    """0 every turn passed (or was not judged), 1 an error, 3 at least one regression.

    A regression outranks an error so CI learns that behaviour changed even when one
    other thread could not be replayed.
    """
    turns = replay.all_turns()
    if any(t.status in FAILING_STATUSES for t in turns):
        return EXIT_REGRESSION
    if replay.status in ("error", "interrupted") or replay.error:
        return EXIT_ERROR
    if any(t.status == "error" for t in turns) or any(t.error for t in replay.threads):
        return EXIT_ERROR
    return EXIT_OK


def compare_replays(first: Replay, second: Replay, threshold: float | None = None) -> Replay:
    """Compare two stored replays turn by turn, without a server.

    The result is shaped like a replay (so every report format works): for each recorded
    thread and turn both replays share, ``recorded`` is the first replay's new outcome and
    ``new`` the second's. Turns only one replay has are reported as errors.
    """
    threshold = first.threshold if threshold is None else threshold
    by_key = {(t.thread_id, t.index): t for t in first.all_turns()}
    seen: set[tuple[str, int]] = set()
    threads: dict[str, list[TurnResult]] = {}
    for turn in second.all_turns():
        key = (turn.thread_id, turn.index)
        seen.add(key)
        before = by_key.get(key)
        threads.setdefault(turn.thread_id, []).append(
            _compare_turn(before, turn, threshold, first.id, second.id)
        )
    for key, before in by_key.items():
        if key not in seen:
            threads.setdefault(key[0], []).append(
                TurnResult(
                    thread_id=key[0], index=key[1], status="error", messages=before.messages,
                    recorded=before.new, detail=f"turn only in replay {first.id}",
                )
            )
    result = Replay(
        id=f"{first.id}..{second.id}",
        status="complete",
        started_at=second.started_at,
        finished_at=second.finished_at,
        target=second.target,
        options={"compare": [first.id, second.id]},
        threshold=threshold,
        threads=[
            ThreadResult(thread_id=tid, turns=sorted(turns, key=lambda t: t.index))
            for tid, turns in threads.items()
        ],
    )
    result.summary = summarize(result)
    return result


def _compare_turn(
    before: TurnResult | None, after: TurnResult, threshold: float, first_id: str, second_id: str
) -> TurnResult:
    if before is None:
        return TurnResult(
            thread_id=after.thread_id, index=after.index, status="error",
            messages=after.messages, new=after.new, detail=f"turn only in replay {second_id}",
        )
    if before.new is None or after.new is None:
        skipped = before if before.new is None else after
        status: TurnStatus = "not_replayable" if skipped.status == "not_replayable" else "error"
        return TurnResult(
            thread_id=after.thread_id, index=after.index, status=status,
            messages=after.messages, recorded=before.new, new=after.new,
            detail=f"no new run in replay {first_id if before.new is None else second_id}"
            f" ({skipped.status}: {skipped.detail or '-'})",
        )
    verdict, score, diff = judge(before.new, after.new, threshold)
    return TurnResult(
        thread_id=after.thread_id, index=after.index, status=verdict, messages=after.messages,
        recorded=before.new, new=after.new, similarity=score, trajectory=diff,
    )
