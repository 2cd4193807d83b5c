"""Choosing threads from the mirror and splitting them into turns.

A turn is the run of consecutive messages a person (or a program) added by hand — user
messages, and any hand-made assistant messages between them — up to the next recorded run.
Its baseline is what that run produced: its assistant messages, its tool calls (from the
run steps, with their recorded outputs) or its failed/cancelled status. Messages after the
last run form a final turn with no baseline.

Everything here reads the mirror only (never the server), so threads deleted upstream
replay like any other. `split_turns` is a pure function over mirror rows.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from syncer import markers
from syncer.api.models import message_text
from syncer.canonical import canonical_arguments
from syncer.errors import UsageError
from syncer.mirror.query import fts_query
from syncer.replay.types import InputMessage, Outcome, ToolCall, Turn

Row = Mapping[str, Any]

# Tool types whose results replay cannot reproduce from recorded outputs.
_TERMINAL_TIMES = ("completed_at", "failed_at", "cancelled_at", "incomplete_at", "expired_at")


def _value(raw: Any) -> Any:
    """A nested API value: the mirror stores it as JSON text."""
    if isinstance(raw, str | bytes) and raw[:1] in ("{", "[", b"{", b"["):
        try:
            return json.loads(raw)
        except ValueError:
            return raw
    return raw


def _row_text(row: Row) -> str:
    """The plain text of a message row: the mirror's ``text`` column, else its text parts."""
    text = row.get("text")
    return text if isinstance(text, str) else message_text(_value(row.get("content")))


def _order(row: Row) -> tuple[int, int]:
    # created_at has one-second resolution; ties keep the mirror's insertion order, which is
    # the server's order because the mirror pages lists oldest first.
    return (int(row.get("created_at") or 0), int(row.get("_order") or 0))


def run_tool_calls(steps: Iterable[Row]) -> list[ToolCall]:
    """Every tool call of a run's steps, in recorded order, with its output."""
    calls: list[ToolCall] = []
    for step in sorted(steps, key=_order):
        details = _value(step.get("step_details")) or {}
        if details.get("type") != "tool_calls":
            continue
        for call in details.get("tool_calls") or []:
            kind = call.get("type", "function")
            if kind == "function":
                fn = call.get("function") or {}
                calls.append(
                    ToolCall(
                        type="function",
                        name=fn.get("name", ""),
                        arguments=canonical_arguments(fn.get("arguments") or "{}"),
                        output=fn.get("output"),
                        call_id=call.get("id"),
                    )
                )
            else:
                calls.append(ToolCall(type=kind, call_id=call.get("id")))
    return calls


def run_outcome(run: Row, messages: Iterable[Row], steps: Iterable[Row]) -> Outcome:
    """What a recorded run produced: reply text, tool calls, status, usage and duration."""
    started = run.get("started_at") or run.get("created_at")
    ended = next((run.get(k) for k in _TERMINAL_TIMES if run.get(k)), None)
    replies = [_row_text(m) for m in sorted(messages, key=_order)]
    return Outcome(
        run_id=run["id"],
        assistant_id=run.get("assistant_id"),
        model=run.get("model"),
        status=run.get("status"),
        reply="\n\n".join(r for r in replies if r),
        tool_calls=run_tool_calls(steps),
        usage=_value(run.get("usage")),
        duration_s=float(ended - started) if started and ended else None,
        last_error=_value(run.get("last_error")),
    )


def recorded_run_settings(run: Row, assistant_instructions: str | None = None) -> dict[str, Any]:
    """The run-level parameters a recorded run was created with, to send again on replay.

    A run records only the *effective* value of settings an assistant also has (model,
    instructions, tools, temperature, top_p, response_format), so a per-run override cannot
    be told apart from the assistant's configuration at the time; those are left to the
    target (replay exists to try a changed assistant). Parameters only a run has are the
    caller's choice and are carried when they differ from the API's defaults. So is
    ``additional_instructions``: when the run's instructions are the recorded assistant's
    instructions plus more text, that text was appended to the run and is appended again.
    """
    settings: dict[str, Any] = {}
    tool_choice = _value(run.get("tool_choice"))
    if tool_choice not in (None, "auto"):
        settings["tool_choice"] = tool_choice
    if run.get("parallel_tool_calls") in (0, False):
        settings["parallel_tool_calls"] = False
    truncation = _value(run.get("truncation_strategy"))
    if isinstance(truncation, dict) and truncation.get("type") not in (None, "auto"):
        settings["truncation_strategy"] = truncation
    for name in ("max_prompt_tokens", "max_completion_tokens"):
        if run.get(name) is not None:
            settings[name] = int(run[name])
    instructions = run.get("instructions")
    if assistant_instructions and isinstance(instructions, str) \
            and instructions.startswith(assistant_instructions):
        # Appended on a new line (as the API joins them). Text that merely continues the
        # line is more likely the assistant's own instructions, since shortened: not carried.
        extra = instructions[len(assistant_instructions):]
        if extra.startswith("\n") and extra.strip():
            settings["additional_instructions"] = extra.lstrip("\n")
    return settings


def split_turns(
    thread_id: str,
    messages: Sequence[Row],
    runs: Sequence[Row],
    steps: Sequence[Row],
    assistant_instructions: Mapping[str, str | None] | None = None,
) -> list[Turn]:
    """Split a recorded thread into turns (see the module docstring).

    A run is placed in the conversation at its first message; a run that wrote no message
    (failed, cancelled, or stopped at a tool call) is placed after the hand-made messages
    created no later than it, and never before an earlier run. ``assistant_instructions``
    (assistant id → its mirrored instructions) lets each turn carry the recorded run's
    ``additional_instructions`` (see `recorded_run_settings`).
    """
    assistant_instructions = assistant_instructions or {}
    messages = sorted(messages, key=_order)
    runs = sorted(runs, key=_order)
    run_ids = {r["id"] for r in runs}
    by_run: dict[str, list[Row]] = {}
    hand_made: list[tuple[int, Row]] = []  # (position in the thread, message)
    for position, message in enumerate(messages):
        if message.get("run_id") in run_ids and message.get("role") == "assistant":
            by_run.setdefault(message["run_id"], []).append(message)
        else:
            hand_made.append((position, message))
    steps_by_run: dict[str, list[Row]] = {}
    for step in steps:
        steps_by_run.setdefault(step["run_id"], []).append(step)
    position_of = {m["id"]: i for i, m in enumerate(messages)}

    turns: list[Turn] = []
    cursor = 0  # index into hand_made of the first message not yet in a turn
    for number, run in enumerate(runs):
        written = by_run.get(run["id"], [])
        if written:
            anchor = min(position_of[m["id"]] for m in written)
            take = [m for p, m in hand_made[cursor:] if p < anchor]
        else:
            # Bound by the next run that wrote messages, so a silent run never swallows them.
            later = [
                min(position_of[m["id"]] for m in by_run[r["id"]])
                for r in runs[number + 1 :]
                if by_run.get(r["id"])
            ]
            limit = later[0] if later else len(messages)
            take = [
                m for p, m in hand_made[cursor:]
                if p < limit and _order(m)[0] <= int(run.get("created_at") or 0)
            ]
        cursor += len(take)
        baseline = run_outcome(run, written, steps_by_run.get(run["id"], []))
        unreplayable = sorted({c.type for c in baseline.tool_calls if c.type != "function"})
        turns.append(
            Turn(
                thread_id=thread_id,
                index=len(turns),
                messages=[_input(m) for m in take],
                baseline=baseline,
                replayable=not unreplayable,
                reason=f"the recorded run used {', '.join(unreplayable)}" if unreplayable else None,
                run_settings=recorded_run_settings(
                    run, assistant_instructions.get(run.get("assistant_id") or "")
                ),
            )
        )
    rest = [m for _, m in hand_made[cursor:]]
    if rest:
        turns.append(
            Turn(thread_id=thread_id, index=len(turns), messages=[_input(m) for m in rest])
        )
    return turns


def _input(row: Row) -> InputMessage:
    metadata = _value(row.get("metadata")) or {}
    return InputMessage(
        id=row.get("id"),
        role=row.get("role") or "user",
        text=_row_text(row),
        metadata=metadata if isinstance(metadata, dict) else {},
    )


# --- reading the mirror -----------------------------------------------------------------------


def _rows(conn: sqlite3.Connection, sql: str, params: Iterable[Any] = ()) -> list[dict[str, Any]]:
    return [dict(row) for row in conn.execute(sql, tuple(params))]


def select_threads(
    conn: sqlite3.Connection,
    thread_ids: Iterable[str] = (),
    *,
    all_threads: bool = False,
    query: str | None = None,
    limit: int | None = None,
) -> list[str]:
    """The recorded thread ids to replay, in a stable order.

    Ids must exist in the mirror (deleted upstream is fine). ``query`` is an FTS5 query over
    message text; threads are ranked by their best-matching message.
    """
    ids = list(dict.fromkeys(thread_ids))
    if ids:
        known = {
            r["id"]
            for r in _rows(
                conn, f"SELECT id FROM threads WHERE id IN ({','.join('?' * len(ids))})", ids
            )
        }
        unknown = [t for t in ids if t not in known]
        if unknown:
            raise UsageError(f"not in the mirror: {', '.join(unknown)} (sync it first)")
    elif all_threads:
        ids = [r["id"] for r in _rows(
            conn, f"SELECT id FROM threads WHERE {_NOT_A_REPLAY} ORDER BY created_at, rowid")]
    elif query:
        ids = _search_threads(conn, query)
    else:
        raise UsageError("name threads to replay: THREAD_ID…, --all or --query")
    return ids[:limit] if limit else ids


# Threads a replay created (and a later sync mirrored) are results, not recordings: --all
# and --query leave them out, or every replay-and-sync would add to the next replay.
_NOT_A_REPLAY = f"json_extract(coalesce(metadata, '{{}}'), '$.\"{markers.REPLAY}\"') IS NULL"


def _search_threads(conn: sqlite3.Connection, query: str) -> list[str]:
    # The same query language as `syncer search`: plain words and terms with punctuation
    # are matched as phrases, FTS5 operators pass through.

    match = fts_query(query)
    if not match:
        raise UsageError("--query: the query is empty")
    try:
        rows = _rows(
            conn,
            "SELECT id, min(score) AS best FROM ("
            # `rank` (bm25 by default): bm25() itself cannot be used inside an aggregate.
            " SELECT m.thread_id AS id, messages_fts.rank AS score FROM messages_fts"
            " JOIN messages m ON m.rowid = messages_fts.rowid WHERE messages_fts MATCH ?"
            f") WHERE id IN (SELECT id FROM threads WHERE {_NOT_A_REPLAY})"
            " GROUP BY id ORDER BY best, id",
            [match],
        )
    except sqlite3.OperationalError as error:
        raise UsageError(f"--query: malformed query {query!r} ({error})") from error
    return [r["id"] for r in rows]


def load_turns(conn: sqlite3.Connection, thread_id: str) -> list[Turn]:
    """The turns of one mirrored thread."""
    messages = _rows(
        conn, "SELECT *, rowid AS _order FROM messages WHERE thread_id = ?", [thread_id]
    )
    runs = _rows(conn, "SELECT *, rowid AS _order FROM runs WHERE thread_id = ?", [thread_id])
    steps = _rows(
        conn,
        "SELECT s.*, s.rowid AS _order FROM run_steps s JOIN runs r ON r.id = s.run_id "
        "WHERE r.thread_id = ?",
        [thread_id],
    )
    instructions = {
        r["id"]: r["instructions"]
        for r in _rows(
            conn,
            "SELECT a.id, a.instructions FROM assistants a WHERE a.id IN"
            " (SELECT assistant_id FROM runs WHERE thread_id = ?)",
            [thread_id],
        )
    }
    return split_turns(thread_id, messages, runs, steps, instructions)
