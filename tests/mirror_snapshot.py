"""Snapshots of a mirror for comparing two of them (sync, crash and fault tests)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from syncer.mirror.schema import BOOKKEEPING, TABLE_ORDER


def api_rows(db: Path) -> dict[str, dict[str, tuple]]:
    """The API-object columns of every row (what "identical" means), by table and id."""
    conn = sqlite3.connect(db)
    snapshot = {}
    for table in TABLE_ORDER:
        cursor = conn.execute(f"SELECT * FROM [{table}] ORDER BY rowid")
        names = [d[0] for d in cursor.description]
        keep = [i for i, n in enumerate(names) if n not in BOOKKEEPING]
        snapshot[table] = {row[0]: tuple(row[i] for i in keep) for row in cursor}
    # The order within each thread (run), which readers get from ORDER BY created_at, rowid.
    for table, parent in (("messages", "thread_id"), ("runs", "thread_id"),
                          ("run_steps", "run_id")):
        order: dict[str, list[str]] = {}
        for parent_id, object_id in conn.execute(
                f"SELECT {parent}, id FROM [{table}] ORDER BY created_at, rowid"):
            order.setdefault(parent_id, []).append(object_id)
        snapshot[f"{table} order"] = order  # type: ignore[assignment]
    conn.close()
    return snapshot
