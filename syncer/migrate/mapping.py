"""``migrate_map``: which conversation holds each mirrored thread on a target, and how far.

One row per (thread, target server): ``status`` is ``pending`` (the create may have been sent,
its answer not recorded), ``created`` (the conversation exists, items are under way) or
``done``; ``items_done`` counts the items known to be on the conversation. The connection is
autocommit, so each row is on disk before the next request goes out. The key is never stored:
the target is named by its base URL (plus organisation/project).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from syncer.mirror.schema import timestamp


@dataclass(frozen=True)
class MapRow:
    thread_id: str
    conversation_id: str | None
    status: str  # pending | created | done
    items_done: int
    items_total: int


def read_map(conn: sqlite3.Connection, target: str) -> dict[str, MapRow]:
    """The target's rows by thread id (none when the mirror predates the table: a dry run
    opens an old mirror read-only)."""
    exists = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'migrate_map'").fetchone()
    if not exists:
        return {}
    rows = conn.execute(
        "SELECT thread_id, conversation_id, status, items_done, items_total FROM migrate_map "
        "WHERE target = ?", (target,))
    return {row[0]: MapRow(row[0], row[1], row[2], int(row[3] or 0), int(row[4] or 0)) for row in rows}


def record(conn: sqlite3.Connection, thread_id: str, target: str, conversation_id: str | None,
           status: str, items_done: int, items_total: int) -> None:
    conn.execute(
        "INSERT INTO migrate_map (thread_id, target, conversation_id, status, items_done, "
        "items_total, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (thread_id, target) "
        "DO UPDATE SET conversation_id = excluded.conversation_id, status = excluded.status, "
        "items_done = excluded.items_done, items_total = excluded.items_total, "
        "updated_at = excluded.updated_at",
        (thread_id, target, conversation_id, status, items_done, items_total, timestamp()),
    )


def forget(conn: sqlite3.Connection, thread_id: str, target: str) -> None:
    conn.execute("DELETE FROM migrate_map WHERE thread_id = ? AND target = ?", (thread_id, target))
