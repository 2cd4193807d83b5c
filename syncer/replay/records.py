"""A replay's own records in the mirror: tables ``replays`` and ``replay_turns``.

The tables are created by a numbered migration of the mirror (``syncer.mirror.store``);
`REPLAY_TABLES_SQL` is that migration's body. Rows are written as the replay goes: the
``replays`` row first (status ``running``), then one ``replay_turns`` row per finished
turn, each in its own transaction, then the final status and summary. A replay killed
part-way therefore leaves whole turn rows only and a ``replays`` row still marked
``running`` (or ``interrupted`` when it could say so); rerunning makes a new replay.

Each turn row keeps the comparison as queryable columns and the full `TurnResult` as JSON
(``result``), so `load_replay` rebuilds a replay for ``--compare`` without a server.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from syncer.canonical import json_data
from syncer.errors import UsageError
from syncer.mirror.schema import epoch, timestamp
from syncer.mirror.store import Store
from syncer.replay.types import Replay, Summary, ThreadResult, TurnResult


def _json(value: Any) -> str | None:
    """A column's JSON text (None stays NULL)."""
    return None if value is None else json.dumps(json_data(value), ensure_ascii=False)


def mirrors_server(store: Store, base_url: str) -> bool:
    """Whether the mirror belongs to the server at ``base_url`` (then new threads are tracked)."""
    return store.meta().get("base_url", "").rstrip("/") == base_url.rstrip("/")


class MirrorRecorder:
    """Writes a replay's progress into the mirror as it happens; tracks new threads."""

    def __init__(self, store: Store, *, track_threads: bool):
        self.store = store
        self.conn: sqlite3.Connection = store.conn
        self.track_threads = track_threads

    def _write(self, sql: str, params: tuple[Any, ...] | dict[str, Any]) -> None:
        # Autocommit: each statement is its own transaction, so a crash never leaves half a turn.
        self.conn.execute(sql, params)

    def started(self, replay: Replay) -> None:
        self._write(
            "INSERT INTO replays (id, status, started_at, base_url, target, threshold, metric,"
            " options, api) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (replay.id, "running", timestamp(replay.started_at), replay.base_url, replay.target,
             replay.threshold, replay.metric, _json(replay.options), replay.api),
        )

    def thread_created(self, replay: Replay, recorded_thread_id: str, new_thread_id: str) -> None:
        if self.track_threads:
            self.store.track_threads([new_thread_id], source="replay")

    def turn_done(self, replay: Replay, thread: ThreadResult, turn: TurnResult) -> None:
        rec, new = turn.recorded, turn.new
        self._write(
            "INSERT INTO replay_turns (id, replay_id, recorded_thread_id, turn_index,"
            " new_thread_id, recorded_run_id, new_run_id, status, similarity, metric,"
            " trajectory_identical, recorded_reply, new_reply, recorded_tool_calls,"
            " new_tool_calls, recorded_usage, new_usage, recorded_duration_s, new_duration_s,"
            " detail, result, recorded_at, judge_verdict, judge_score, judge_recorded_score,"
            " judge_reason, judge_model, judge_rubric, api)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?,"
            " ?, ?, ?, ?, ?, ?, ?)",
            (
                f"{replay.id}:{turn.thread_id}:{turn.index}", replay.id, turn.thread_id,
                turn.index, thread.new_thread_id, rec.run_id if rec else None,
                new.run_id if new else None, turn.status, turn.similarity, turn.metric,
                None if turn.trajectory is None else int(turn.trajectory.identical),
                rec.reply if rec else None, new.reply if new else None,
                _json(rec.tool_calls) if rec else None, _json(new.tool_calls) if new else None,
                _json(rec.usage) if rec else None, _json(new.usage) if new else None,
                rec.duration_s if rec else None, new.duration_s if new else None,
                turn.detail, turn.model_dump_json(), timestamp(), *_judge_columns(turn),
                replay.api,
            ),
        )

    def finished(self, replay: Replay) -> None:
        threads = [
            {"thread_id": t.thread_id, "new_thread_id": t.new_thread_id, "error": t.error}
            for t in replay.threads
        ]
        self._write(
            "UPDATE replays SET status = ?, finished_at = ?, threads = ?, summary = ?, error = ?"
            " WHERE id = ?",
            (replay.status, None if replay.finished_at is None else timestamp(replay.finished_at),
             _json(threads), _json(replay.summary),
             replay.error, replay.id),
        )


def _judge_columns(turn: TurnResult) -> tuple[Any, ...]:
    """``judge_verdict … judge_rubric`` of a turn row (all NULL when the turn was not judged)."""
    verdict = turn.judge
    if verdict is None:
        return (None,) * 6
    return (verdict.label, verdict.score, verdict.recorded_score,
            verdict.error or verdict.reason, verdict.model, verdict.rubric)


def load_replay(conn: sqlite3.Connection, replay_id: str) -> Replay:
    """A stored replay, rebuilt from its rows (for ``--compare``)."""
    try:
        row = conn.execute("SELECT * FROM replays WHERE id = ?", (replay_id,)).fetchone()
    except sqlite3.OperationalError as error:
        raise UsageError(f"no replays in this mirror yet ({error})") from error
    if row is None:
        raise UsageError(f"no replay {replay_id} in the mirror")
    turns = [
        TurnResult.model_validate_json(r["result"])
        for r in conn.execute(
            "SELECT result FROM replay_turns WHERE replay_id = ? ORDER BY rowid", (replay_id,)
        )
    ]
    meta = {t["thread_id"]: t for t in json.loads(row["threads"] or "[]")}
    order = list(dict.fromkeys([*meta, *(t.thread_id for t in turns)]))
    threads = []
    for thread_id in order:
        info = meta.get(thread_id, {})
        mine = sorted((t for t in turns if t.thread_id == thread_id), key=lambda t: t.index)
        threads.append(ThreadResult(
            thread_id=thread_id,
            new_thread_id=info.get("new_thread_id") or next(
                (t.new_thread_id for t in mine if t.new_thread_id), None),
            turns=mine, error=info.get("error"),
        ))
    return Replay(
        id=row["id"], status=row["status"], started_at=epoch(row["started_at"]),
        finished_at=None if row["finished_at"] is None else epoch(row["finished_at"]), base_url=row["base_url"], target=row["target"],
        options=json.loads(row["options"] or "{}"), threshold=row["threshold"],
        metric=row["metric"], threads=threads,
        summary=Summary.model_validate_json(row["summary"]) if row["summary"] else Summary(),
        error=row["error"], api=row["api"],
    )
