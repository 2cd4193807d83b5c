"""The mirror database: its shape as data, numbered migrations, and the only writer.

The shape is a contract (the demo, the docs, Datasette and the archive commands rely on it):

- ``assistants``, ``threads``, ``messages``, ``runs``, ``run_steps``: ``id`` TEXT PRIMARY KEY,
  one column per top-level API field (nested values as JSON text, queryable with
  ``json_extract``), plus the bookkeeping columns ``first_seen_at``, ``last_seen_at`` and
  ``deleted_at`` (ISO 8601 UTC). Fields a newer server sends become new columns, never dropped.
  ``messages.text`` holds the plain text of the message's text parts.
- Foreign keys ``messages.thread_id → threads.id``, ``runs.thread_id → threads.id``,
  ``run_steps.run_id → runs.id``, each indexed.
- FTS5 (made with sqlite-utils ``enable_fts``, so Datasette finds ``messages_fts`` and
  ``assistants_fts``) on ``messages.text`` and on assistants' name, description, instructions.
- ``tracked_threads`` (the thread registry), ``sync_state`` (cursors, one row per list),
  ``syncs`` (one row per sync), ``meta`` (which server the mirror belongs to), ``migrations``.

Rows are written in the server's list order (oldest first), so within a thread
``ORDER BY created_at, rowid`` is the server's order even where ``created_at`` ties.

``SHAPE`` declares the tables; ``ensure_shape`` applies it idempotently. Changes that cannot be
expressed by "create what is missing" go into ``MIGRATIONS`` (numbered, append-only, recorded
in the ``migrations`` table). Every write goes through ``Store``; each ``write_page`` call is one
transaction holding a page of objects together with the cursors that cover it, so a sync killed
at any moment leaves a database from which the next sync resumes exactly.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlite_utils

from syncer.errors import MirrorError

# --- the shape, as data ----------------------------------------------------------------------

INT, TEXT, FLOAT, JSON = "INTEGER", "TEXT", "FLOAT", "JSON"
BOOKKEEPING = ("first_seen_at", "last_seen_at", "deleted_at")

#: API-object tables: column → type. JSON columns hold objects and arrays as JSON text (TEXT).
OBJECT_TABLES: dict[str, dict[str, str]] = {
    "assistants": {
        "id": TEXT, "object": TEXT, "created_at": INT, "name": TEXT, "description": TEXT,
        "model": TEXT, "instructions": TEXT, "tools": JSON, "tool_resources": JSON,
        "metadata": JSON, "temperature": FLOAT, "top_p": FLOAT, "response_format": JSON,
    },
    "threads": {
        "id": TEXT, "object": TEXT, "created_at": INT, "tool_resources": JSON, "metadata": JSON,
    },
    "messages": {
        "id": TEXT, "object": TEXT, "created_at": INT, "thread_id": TEXT, "status": TEXT,
        "incomplete_details": JSON, "completed_at": INT, "incomplete_at": INT, "role": TEXT,
        "content": JSON, "assistant_id": TEXT, "run_id": TEXT, "attachments": JSON,
        "metadata": JSON, "text": TEXT,
    },
    "runs": {
        "id": TEXT, "object": TEXT, "created_at": INT, "thread_id": TEXT, "assistant_id": TEXT,
        "status": TEXT, "required_action": JSON, "last_error": JSON, "expires_at": INT,
        "started_at": INT, "cancelled_at": INT, "failed_at": INT, "completed_at": INT,
        "incomplete_details": JSON, "model": TEXT, "instructions": TEXT, "tools": JSON,
        "metadata": JSON, "usage": JSON, "temperature": FLOAT, "top_p": FLOAT,
        "max_prompt_tokens": INT, "max_completion_tokens": INT, "truncation_strategy": JSON,
        "tool_choice": JSON, "parallel_tool_calls": INT, "response_format": JSON,
    },
    "run_steps": {
        "id": TEXT, "object": TEXT, "created_at": INT, "assistant_id": TEXT, "thread_id": TEXT,
        "run_id": TEXT, "type": TEXT, "status": TEXT, "step_details": JSON, "last_error": JSON,
        "expired_at": INT, "cancelled_at": INT, "failed_at": INT, "completed_at": INT,
        "metadata": JSON, "usage": JSON,
    },
}

#: Columns syncer derives rather than copies (not API fields).
DERIVED_COLUMNS = {"messages": ("text",)}

FOREIGN_KEYS: dict[str, list[tuple[str, str, str]]] = {
    "messages": [("thread_id", "threads", "id")],
    "runs": [("thread_id", "threads", "id")],
    "run_steps": [("run_id", "runs", "id")],
}

#: Extra (non-FK) indexes that the readers need.
INDEXES: dict[str, list[tuple[str, ...]]] = {
    "messages": [("thread_id", "created_at"), ("run_id",)],
    "runs": [("thread_id", "created_at"), ("status",)],
    "run_steps": [("run_id", "created_at"), ("thread_id",)],
}

FTS: dict[str, list[str]] = {
    "messages": ["text"],
    "assistants": ["name", "description", "instructions"],
}

BOOKKEEPING_TABLES: dict[str, dict[str, Any]] = {
    "tracked_threads": {"columns": {"id": str, "added_at": str, "source": str}, "pk": "id"},
    # One row per list: ("assistants", ""), ("messages", thread), ("runs", thread), ("steps", run).
    # ``cursor``: id of the newest object mirrored in the server's order (everything up to it
    # is mirrored). ``pending``: 1 while the list must be re-read (a run's steps after the run
    # changed), cleared in the same transaction as the page that completes it.
    "sync_state": {
        "columns": {"list": str, "parent_id": str, "cursor": str, "pending": int,
                    "updated_at": str},
        "pk": ("list", "parent_id"),
    },
    "syncs": {
        "columns": {"id": int, "started_at": str, "finished_at": str, "status": str,
                    "full": int, "base_url": str, "requests": int, "new": int,
                    "changed": int, "deleted": int, "errors": str},
        "pk": "id",
    },
    "meta": {"columns": {"key": str, "value": str}, "pk": "key"},
}

TABLE_ORDER = ("assistants", "threads", "messages", "runs", "run_steps")


def now_iso() -> str:
    """The current time as fixed-width ISO 8601 UTC (sortable as text)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def message_text(content: Any) -> str:
    """The plain text of a message's ``text`` parts, joined by blank lines."""
    if not isinstance(content, list):
        return ""
    parts = []
    for part in content:
        if isinstance(part, dict) and part.get("type") == "text":
            text = part.get("text")
            value = text.get("value") if isinstance(text, dict) else text
            if isinstance(value, str):
                parts.append(value)
    return "\n\n".join(parts)


_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
"""Compact JSON text for nested values (one encoder, built once: this runs per field)."""


def to_row(table: str, obj: dict[str, Any]) -> dict[str, Any]:
    """The row for one API object: objects and arrays as JSON text, scalars as they are.

    A field that may be a string or an object (``tool_choice``, ``response_format``) is
    stored as plain text when it is a string (``auto``) and as JSON text when it is an object.
    """
    row: dict[str, Any] = {}
    for key, value in obj.items():
        row[key] = _dumps(value) if isinstance(value, dict | list) else value
    if table == "messages":
        row["text"] = message_text(obj.get("content"))
    return row


def row_to_object(table: str, row: dict[str, Any]) -> dict[str, Any]:
    """The API object a row was made from (bookkeeping and derived columns left out).

    JSON text of an object or array is decoded (in declared JSON columns and in columns a newer
    server added); ``parallel_tool_calls`` comes back as a boolean.
    """
    declared = OBJECT_TABLES[table]
    skip = set(BOOKKEEPING) | set(DERIVED_COLUMNS.get(table, ()))
    obj: dict[str, Any] = {}
    for key, value in row.items():
        if key in skip:
            continue
        kind = declared.get(key)
        if kind in (JSON, None) and isinstance(value, str) and value[:1] in "{[":
            with contextlib.suppress(ValueError):
                value = json.loads(value)
        elif kind == INT and key == "parallel_tool_calls" and value is not None:
            value = bool(value)
        obj[key] = value
    return obj


# --- migrations ---------------------------------------------------------------------------------

Migration = Callable[[sqlite_utils.Database], None]
#: Append-only: (number, name, function). Never edit or reorder an applied migration.
MIGRATIONS: list[tuple[int, str, Migration]] = []


def migration(number: int, name: str) -> Callable[[Migration], Migration]:
    def register(fn: Migration) -> Migration:
        MIGRATIONS.append((number, name, fn))
        return fn

    return register


@migration(1, "initial shape")
def _m001_initial(db: sqlite_utils.Database) -> None:
    ensure_shape(db)


@migration(2, "replay tables: replays, replay_turns")
def _m002_replay_tables(db: sqlite_utils.Database) -> None:
    # Owned by `syncer replay` (syncer/replay/records.py); frozen once released.
    from syncer.replay.records import create_replay_tables

    create_replay_tables(db)


@migration(3, "restore_map: archived ids to the ids restore created on a target server")
def _m003_restore_map(db: sqlite_utils.Database) -> None:
    # Owned by `syncer restore` (syncer/archive/restore.py). status: pending (the create may
    # have been sent), created (thread made, messages under way), done. kind: assistant,
    # thread, message; target: the server's base URL (plus organisation/project).
    db.table("restore_map").create(
        {"kind": str, "source_id": str, "target": str, "target_id": str, "status": str,
         "updated_at": str},
        pk=("kind", "source_id", "target"),
        if_not_exists=True,
    )


def ensure_shape(db: sqlite_utils.Database) -> None:
    """Create whatever part of ``SHAPE`` is missing (tables, columns, indexes, FTS). Idempotent."""
    for name, spec in BOOKKEEPING_TABLES.items():
        table = db.table(name)
        if not table.exists():
            table.create(spec["columns"], pk=spec["pk"])
    for name in TABLE_ORDER:
        columns = OBJECT_TABLES[name]
        table = db.table(name)
        wanted = {col: (str if kind in (TEXT, JSON) else int if kind == INT else float)
                  for col, kind in columns.items()}
        for col in BOOKKEEPING:
            wanted[col] = str
        if not table.exists():
            table.create(wanted, pk="id", foreign_keys=FOREIGN_KEYS.get(name, []))
        else:
            existing = set(table.columns_dict)
            for col, kind in wanted.items():
                if col not in existing:
                    table.add_column(col, kind)
        existing_indexes = {tuple(index.columns) for index in table.indexes}
        wanted_indexes = [(fk[0],) for fk in FOREIGN_KEYS.get(name, [])] + INDEXES.get(name, [])
        for columns_ in wanted_indexes:
            if columns_ not in existing_indexes:
                table.create_index(columns_, if_not_exists=True)
                existing_indexes.add(columns_)
    for name, fts_columns in FTS.items():
        if not db[f"{name}_fts"].exists():
            # Our own triggers (below) fire only when the indexed columns change, so
            # bookkeeping updates (last_seen_at) do not churn the index.
            db.table(name).enable_fts(fts_columns, create_triggers=False, tokenize="porter")
        _ensure_fts_triggers(db, name, fts_columns)


def _ensure_fts_triggers(db: sqlite_utils.Database, name: str, columns: list[str]) -> None:
    cols = ", ".join(f"[{c}]" for c in columns)
    old = ", ".join(f"old.[{c}]" for c in columns)
    new = ", ".join(f"new.[{c}]" for c in columns)
    fts = f"[{name}_fts]"
    db.executescript(f"""
        CREATE TRIGGER IF NOT EXISTS [{name}_ai] AFTER INSERT ON [{name}] BEGIN
          INSERT INTO {fts} (rowid, {cols}) VALUES (new.rowid, {new});
        END;
        CREATE TRIGGER IF NOT EXISTS [{name}_ad] AFTER DELETE ON [{name}] BEGIN
          INSERT INTO {fts} ({fts}, rowid, {cols}) VALUES('delete', old.rowid, {old});
        END;
        CREATE TRIGGER IF NOT EXISTS [{name}_au] AFTER UPDATE OF {cols} ON [{name}] BEGIN
          INSERT INTO {fts} ({fts}, rowid, {cols}) VALUES('delete', old.rowid, {old});
          INSERT INTO {fts} (rowid, {cols}) VALUES (new.rowid, {new});
        END;
    """)


def apply_migrations(db: sqlite_utils.Database) -> list[int]:
    """Apply the migrations not yet recorded; returns the numbers applied."""
    if not db["migrations"].exists():
        db.table("migrations").create({"id": int, "name": str, "applied_at": str}, pk="id")
    done = {row["id"] for row in db["migrations"].rows}
    known = {number for number, _, _ in MIGRATIONS}
    if done - known:
        raise MirrorError(
            f"{db_path_of(db)} was written by a newer syncer (migration {max(done)}); upgrade syncer"
        )
    applied = []
    for number, name, fn in sorted(MIGRATIONS, key=lambda m: m[0]):
        if number in done:
            continue
        with db.atomic():
            fn(db)
            db.table("migrations").insert({"id": number, "name": name, "applied_at": now_iso()})
        applied.append(number)
    return applied


def db_path_of(db: sqlite_utils.Database) -> str:
    row = db.execute("PRAGMA database_list").fetchone()
    return row[2] if row and row[2] else ":memory:"


# --- the writer -------------------------------------------------------------------------------


@dataclass
class PageResult:
    """What one ``write_page`` changed."""

    new: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)


@dataclass
class StateUpdate:
    """A ``sync_state`` row to write in the same transaction as a page."""

    list: str
    parent_id: str
    cursor: str | None = None
    pending: bool = False
    keep_cursor: bool = False  # only change ``pending``


def _create_private(path: str) -> None:
    """Create a new mirror file readable by its owner only: it holds private conversations.

    SQLite gives the -wal and -shm files the main file's permissions, so they follow.
    An existing file is left as its owner set it.
    """
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        pass
    except OSError as error:
        raise MirrorError(f"{path}: cannot create the mirror ({error.strerror})") from None


class Store:
    """The mirror database: opened, shaped, and written only through this class."""

    def __init__(self, db: sqlite_utils.Database, path: str):
        self.db = db
        self.path = path
        self._columns: dict[str, list[str]] = {}

    # -- opening -------------------------------------------------------------------------

    @classmethod
    def open(cls, path: str | Path, *, create: bool = True) -> Store:
        """Open (and create or upgrade) the mirror at ``path``.

        Raises ``MirrorError`` for a file that is not a SQLite database, or is damaged.
        """
        path = str(path)
        if not create and not Path(path).exists():
            raise MirrorError(f"{path}: no mirror here yet (run `syncer sync` first)")
        try:
            if create and path != ":memory:":
                _create_private(path)
            # isolation_level=None: autocommit; transactions are explicit (``_transaction``).
            conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            db = sqlite_utils.Database(conn)
            db.execute("PRAGMA journal_mode=WAL")
            # NORMAL in WAL mode survives a killed process (not a power cut) and is much faster.
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute("PRAGMA foreign_keys=ON")
            db.execute("PRAGMA busy_timeout=10000")
            if create:
                apply_migrations(db)
                ensure_shape(db)
            elif not db["migrations"].exists():
                raise MirrorError(f"{path}: not a syncer mirror (no migrations table)")
        except sqlite3.DatabaseError as error:
            raise MirrorError(f"{path}: not a usable mirror database ({error})") from None
        return cls(db, path)

    def close(self) -> None:
        self.db.conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _transaction(self) -> _Transaction:
        return _Transaction(self.db.conn)

    def columns(self, table: str) -> list[str]:
        if table not in self._columns:
            self._columns[table] = list(self.db[table].columns_dict)
        return self._columns[table]

    # -- meta: which server the mirror belongs to ----------------------------------------

    def meta(self) -> dict[str, str]:
        return {row["key"]: row["value"] for row in self.db["meta"].rows}

    def check_server(self, base_url: str, organization: str | None, project: str | None,
                     *, force: bool = False) -> None:
        """Refuse (``MirrorError``) a server other than the recorded one unless ``force``.

        Writes nothing: a sync checks first and records (``claim_server``) only once the
        server has answered, so a failed ``--force`` sync leaves the mirror's owner as it was.
        """
        wanted = _server_meta(base_url, organization, project)
        current = self.meta()
        if "base_url" in current and not force:
            for key, value in wanted.items():
                if current.get(key, "") != value:
                    raise MirrorError(
                        f"{self.path} mirrors {key} {current.get(key) or '(none)'!r}, not "
                        f"{value or '(none)'!r}; use another --db, or --force to sync into it anyway"
                    )

    def claim_server(self, base_url: str, organization: str | None, project: str | None,
                     *, force: bool = False) -> None:
        """Record the server on first use; refuse another one unless ``force``."""
        self.check_server(base_url, organization, project, force=force)
        wanted = _server_meta(base_url, organization, project)
        current = self.meta()
        with self._transaction():
            self.db.table("meta").upsert_all(
                [{"key": k, "value": v} for k, v in wanted.items()], pk="key")
            if "created_at" not in current:
                self.db.table("meta").insert({"key": "created_at", "value": now_iso()}, pk="key")

    # -- the thread registry -----------------------------------------------------------------

    def track_threads(self, ids: Iterable[str], source: str) -> list[str]:
        """Add thread ids to the registry; returns the ones that were not tracked yet."""
        added = []
        now = now_iso()
        with self._transaction():
            for thread_id in ids:
                cursor = self.db.execute(
                    "INSERT OR IGNORE INTO tracked_threads (id, added_at, source) VALUES (?, ?, ?)",
                    [thread_id, now, source])
                if cursor.rowcount:
                    added.append(thread_id)
        return added

    def untrack_threads(self, ids: Iterable[str]) -> list[str]:
        """Stop syncing these threads (their mirrored rows stay); returns those removed."""
        removed = []
        with self._transaction():
            for thread_id in ids:
                if self.db.execute("DELETE FROM tracked_threads WHERE id = ?",
                                   [thread_id]).rowcount:
                    removed.append(thread_id)
        return removed

    def tracked_threads(self) -> list[dict[str, Any]]:
        return list(self.db.query(
            "SELECT t.id, t.added_at, t.source, th.deleted_at IS NOT NULL AS deleted,"
            " th.id IS NOT NULL AS mirrored"
            " FROM tracked_threads t LEFT JOIN threads th ON th.id = t.id ORDER BY t.added_at, t.id"))

    # -- sync state ----------------------------------------------------------------------------

    def state(self, list_: str, parent_id: str = "") -> tuple[str | None, bool]:
        row = self.db.execute(
            "SELECT cursor, pending FROM sync_state WHERE list = ? AND parent_id = ?",
            [list_, parent_id]).fetchone()
        return (row[0], bool(row[1])) if row else (None, False)

    def pending_step_runs(self, thread_id: str) -> list[str]:
        """Runs of this thread whose steps must be (re)read, oldest first."""
        return [row[0] for row in self.db.execute(
            "SELECT s.parent_id FROM sync_state s JOIN runs r ON r.id = s.parent_id"
            " WHERE s.list = 'steps' AND s.pending = 1 AND r.thread_id = ?"
            " ORDER BY r.created_at, r.rowid", [thread_id])]

    def _write_state(self, update: StateUpdate, now: str) -> None:
        if update.keep_cursor:
            self.db.execute(
                "INSERT INTO sync_state (list, parent_id, cursor, pending, updated_at)"
                " VALUES (?, ?, NULL, ?, ?) ON CONFLICT (list, parent_id) DO UPDATE SET"
                " pending = excluded.pending, updated_at = excluded.updated_at",
                [update.list, update.parent_id, int(update.pending), now])
        else:
            self.db.execute(
                "INSERT INTO sync_state (list, parent_id, cursor, pending, updated_at)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT (list, parent_id) DO UPDATE SET"
                " cursor = excluded.cursor, pending = excluded.pending,"
                " updated_at = excluded.updated_at",
                [update.list, update.parent_id, update.cursor, int(update.pending), now])

    # -- object writes ---------------------------------------------------------------------

    def write_page(self, table: str, objects: Sequence[dict[str, Any]],
                   states: Sequence[StateUpdate] = (),
                   before_commit: Callable[[PageResult], Sequence[StateUpdate]] | None = None,
                   ) -> PageResult:
        """Upsert one page of API objects (in server order, oldest first) and its cursors.

        One transaction: the rows, ``last_seen_at`` of the unchanged ones, the ``states``, and
        whatever ``before_commit(result)`` returns (state that depends on what changed).
        A row that was marked deleted and is seen again loses its ``deleted_at``.
        """
        now = now_iso()
        rows = [to_row(table, obj) for obj in objects]
        result = PageResult()
        with self._transaction():
            if rows:
                self._add_missing_columns(table, rows)
                columns = self.columns(table)
                existing = self._existing(table, [row["id"] for row in rows], columns)
                inserts = []
                for row in rows:
                    old = existing.get(row["id"])
                    if old is None:
                        inserts.append(row)
                        result.new.append(row["id"])
                    elif old["deleted_at"] is not None or any(
                            old.get(key) != value for key, value in row.items()):
                        self._update_row(table, row, now)
                        result.changed.append(row["id"])
                    else:
                        result.unchanged.append(row["id"])
                if inserts:
                    api_columns = [c for c in columns if c not in BOOKKEEPING]
                    names = ", ".join(f"[{c}]" for c in [*api_columns, *BOOKKEEPING])
                    marks = ", ".join("?" * (len(api_columns) + len(BOOKKEEPING)))
                    self.db.conn.executemany(
                        f"INSERT INTO [{table}] ({names}) VALUES ({marks})",
                        [[row.get(c) for c in api_columns] + [now, now, None] for row in inserts])
                if result.unchanged:
                    self._touch(table, result.unchanged, now)
            for update in states:
                self._write_state(update, now)
            if before_commit is not None:
                for update in before_commit(result):
                    self._write_state(update, now)
        return result

    def _existing(self, table: str, ids: list[str], columns: list[str]) -> dict[str, dict]:
        found: dict[str, dict] = {}
        names = ", ".join(f"[{c}]" for c in columns)
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            marks = ", ".join("?" * len(chunk))
            cursor = self.db.conn.execute(
                f"SELECT {names} FROM [{table}] WHERE id IN ({marks})", chunk)
            for values in cursor:
                row = dict(zip(columns, values, strict=True))
                found[row["id"]] = row
        return found

    def _update_row(self, table: str, row: dict[str, Any], now: str) -> None:
        sets = ", ".join(f"[{key}] = ?" for key in row if key != "id")
        self.db.conn.execute(
            f"UPDATE [{table}] SET {sets}, last_seen_at = ?, deleted_at = NULL WHERE id = ?",
            [value for key, value in row.items() if key != "id"] + [now, row["id"]])

    def _touch(self, table: str, ids: list[str], now: str) -> None:
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            marks = ", ".join("?" * len(chunk))
            self.db.conn.execute(
                f"UPDATE [{table}] SET last_seen_at = ? WHERE id IN ({marks})", [now, *chunk])

    def _add_missing_columns(self, table: str, rows: list[dict[str, Any]]) -> None:
        """Fields a newer server sends become columns (sqlite-utils infers their type)."""
        known = set(self.columns(table))
        unknown = [row for row in rows if not known.issuperset(row)]
        if not unknown:
            return
        new_values: dict[str, list] = {}
        for row in unknown:
            for key, value in row.items():
                if key not in known:
                    new_values.setdefault(key, []).append(value)
        for key, values in new_values.items():
            sample = [{key: v} for v in values if v is not None] or [{key: ""}]
            kind = sqlite_utils.suggest_column_types(sample)[key]
            self.db.table(table).add_column(key, kind)
        self._columns.pop(table, None)

    def mark_deleted(self, table: str, where: str, params: Sequence[Any],
                     states: Sequence[StateUpdate] = ()) -> int:
        """Set ``deleted_at`` on the live rows matching ``where``; returns how many."""
        now = now_iso()
        with self._transaction():
            count = self.db.execute(
                f"UPDATE [{table}] SET deleted_at = ? WHERE deleted_at IS NULL AND ({where})",
                [now, *params]).rowcount
            for update in states:
                self._write_state(update, now)
        return count

    def thread_deleted(self, thread_id: str) -> int:
        """A mirrored thread answered 404: mark it and everything in it deleted."""
        now = now_iso()
        count = 0
        with self._transaction():
            for table, where in (("threads", "id = ?"), ("messages", "thread_id = ?"),
                                 ("runs", "thread_id = ?"), ("run_steps", "thread_id = ?")):
                count += self.db.execute(
                    f"UPDATE [{table}] SET deleted_at = ? WHERE deleted_at IS NULL AND {where}",
                    [now, thread_id]).rowcount
        return count

    def is_mirrored(self, table: str, object_id: str) -> bool:
        return self.db.execute(f"SELECT 1 FROM [{table}] WHERE id = ?",
                               [object_id]).fetchone() is not None

    # -- the syncs log --------------------------------------------------------------------

    def start_sync(self, base_url: str, full: bool) -> int:
        with self._transaction():
            cursor = self.db.execute(
                "INSERT INTO syncs (started_at, status, full, base_url, requests, new, changed,"
                " deleted, errors) VALUES (?, 'running', ?, ?, 0, 0, 0, 0, '[]')",
                [now_iso(), int(full), base_url])
        return int(cursor.lastrowid or 0)

    def finish_sync(self, sync_id: int, *, status: str, requests: int, new: int, changed: int,
                    deleted: int, errors: list[str]) -> None:
        with self._transaction():
            self.db.execute(
                "UPDATE syncs SET finished_at = ?, status = ?, requests = ?, new = ?,"
                " changed = ?, deleted = ?, errors = ? WHERE id = ?",
                [now_iso(), status, requests, new, changed, deleted, _dumps(errors), sync_id])


def _server_meta(base_url: str, organization: str | None, project: str | None) -> dict[str, str]:
    return {"base_url": base_url.rstrip("/"), "organization": organization or "",
            "project": project or ""}


@contextlib.contextmanager
def database_errors(path: str | Path) -> Iterator[None]:
    """Turn SQLite's failures (locked, damaged, disk full …) into a one-line ``MirrorError``.

    Integrity errors stay as they are: they mean a bug in syncer, not a problem of the file.
    """
    try:
        yield
    except sqlite3.IntegrityError:
        raise
    except sqlite3.DatabaseError as error:
        hint = " (another process is writing to it)" if "locked" in str(error) else ""
        raise MirrorError(f"{path}: {error}{hint}") from None


@contextlib.contextmanager
def open_mirror(path: str | Path, *, create: bool = True) -> Iterator[Store]:
    """``Store.open`` as a context manager that also applies ``database_errors``."""
    with database_errors(path), Store.open(path, create=create) as store:
        yield store


class _Transaction:
    """BEGIN IMMEDIATE … COMMIT (or ROLLBACK on error) on an autocommit connection."""

    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn
        self.depth = 0

    def __enter__(self) -> None:
        if not self.conn.in_transaction:
            self.conn.execute("BEGIN IMMEDIATE")
            self.depth = 1

    def __exit__(self, exc_type: object, *exc: object) -> None:
        if not self.depth:
            return
        if exc_type is None:
            self.conn.execute("COMMIT")
        else:
            self.conn.execute("ROLLBACK")
