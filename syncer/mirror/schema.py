"""The mirror's shape as data, and its numbered migrations: the only code that shapes the file.

The shape is a contract (the demo, the docs, Datasette and the archive commands rely on it):

- ``assistants``, ``threads``, ``messages``, ``runs``, ``run_steps``: ``id`` TEXT PRIMARY KEY,
  one column per top-level API field (nested values as JSON text, queryable with
  ``json_extract``), plus the bookkeeping columns ``first_seen_at``, ``last_seen_at`` and
  ``deleted_at``. Fields a newer server sends become new columns, never dropped.
  ``messages.text`` holds the plain text of the message's text parts.
- Foreign keys ``messages.thread_id → threads.id``, ``runs.thread_id → threads.id``,
  ``run_steps.run_id → runs.id``, each indexed (by a composite index that starts with it).
- FTS5 (made with sqlite-utils ``enable_fts``, so Datasette finds ``messages_fts`` and
  ``assistants_fts``) on ``messages.text`` and on assistants' name, description, instructions.
- ``tracked_threads`` (the thread registry), ``sync_state`` (cursors, one row per list),
  ``syncs`` (one row per sync), ``meta`` (which server the mirror belongs to), ``migrations``;
  ``replays`` and ``replay_turns`` (written by `syncer replay`), ``restore_map`` (by `syncer
  restore`), ``migrate_map`` (by `syncer migrate`).
- Every timestamp syncer itself writes (``first_seen_at``, ``last_seen_at``, ``deleted_at``,
  syncs, replays, maps, migrations) is one format: ISO 8601 UTC with microseconds,
  ``2026-11-30T12:00:00.000000Z`` (``timestamp()`` below), sortable as text. API
  fields stay exactly as the server sent them (``created_at`` is the API's integer).

``OBJECT_TABLES``, ``BOOKKEEPING_TABLES``, ``FOREIGN_KEYS``, ``INDEXES`` and ``FTS`` declare the
tables; ``ensure_shape`` applies them idempotently. Changes that cannot be expressed by "create
what is missing" go into ``MIGRATIONS`` (numbered, append-only, recorded in ``migrations``).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import sqlite_utils

from syncer import markers
from syncer.errors import MirrorError

# --- syncer's one timestamp format -------------------------------------------------------------

TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def timestamp(moment: float | None = None) -> str:
    """A time (now, or epoch seconds) as syncer's one timestamp format: fixed-width ISO 8601
    UTC with microseconds, sortable as text."""
    when = datetime.now(UTC) if moment is None else datetime.fromtimestamp(moment, UTC)
    # TIMESTAMP_FORMAT, written the fast way (a sync takes one per page): "+00:00" -> "Z".
    return when.isoformat(timespec="microseconds")[:-6] + "Z"


def epoch(value: str) -> float:
    """A ``timestamp()`` back as epoch seconds."""
    return datetime.strptime(value, TIMESTAMP_FORMAT).replace(tzinfo=UTC).timestamp()


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


# --- migrations ---------------------------------------------------------------------------------

Migration = Callable[[sqlite_utils.Database], None]
#: Append-only: (number, name, function). Never edit or reorder an applied migration.
#: The full-text tokenizer: Porter stemming over unicode61, whose tokens are letters, numbers,
#: private-use characters and "other symbols" (So: emoji and pictographs such as 🚀 ✅ ☎), so
#: ``syncer search 🚀`` finds them. Math and currency signs stay separators (``5€``, ``x≠y``
#: split as before); a symbol written against a word joins it (``great🚀`` is one token).
FTS_TOKENIZE = "porter unicode61 categories 'L* N* Co So'"

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
    # Written by `syncer replay` (syncer/replay/records.py); frozen once released.
    for statement in REPLAY_TABLES_SQL.split(";"):
        if statement.strip():
            db.execute(statement)


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


@migration(5, "migrate_map: mirrored threads to the conversations migrate made on a target server")
def _m005_migrate_map(db: sqlite_utils.Database) -> None:
    # Owned by `syncer migrate` (syncer/migrate/mapping.py). status: pending (the create may
    # have been sent), created (conversation made, items under way), done. items_done: items
    # known to be on the conversation; target: the server's base URL (plus organisation/project).
    db.table("migrate_map").create(
        {"thread_id": str, "target": str, "conversation_id": str, "status": str,
         "items_done": int, "items_total": int, "updated_at": str},
        pk=("thread_id", "target"),
        if_not_exists=True,
    )


@migration(9, "drop the indexes that repeat the first column of a composite index")
def _m009_drop_prefix_indexes(db: sqlite_utils.Database) -> None:
    # messages(thread_id, created_at), runs(thread_id, created_at) and run_steps(run_id,
    # created_at) serve every lookup these did; each cost an index write per inserted row.
    for index in ("idx_messages_thread_id", "idx_runs_thread_id", "idx_run_steps_run_id"):
        db.execute(f"DROP INDEX IF EXISTS [{index}]")


#: True for a thread a replay made (``syncer:replay`` in its metadata): spelled exactly as
#: migration 10's partial index, so SQLite answers "which threads are replays" from the index.
REPLAY_THREAD = f"json_extract(metadata, '$.\"{markers.REPLAY}\"') IS NOT NULL"


@migration(10, "index the threads a replay made (search leaves them out)")
def _m010_replay_threads(db: sqlite_utils.Database) -> None:
    # Partial: only replay threads are in it, so it costs nothing for the others; a search
    # asks it whether there are any before filtering its matches by thread.
    db.execute(f"CREATE INDEX IF NOT EXISTS threads_replay ON threads (id) WHERE {REPLAY_THREAD}")


@migration(11, "index the tracked threads in the order a sync walks them")
def _m011_tracked_threads_order(db: sqlite_utils.Database) -> None:
    # A sync reads the ids a thousand at a time by (added_at, id) (syncer.mirror.store.TrackedIds).
    db.execute("CREATE INDEX IF NOT EXISTS tracked_threads_order ON tracked_threads (added_at, id)")


# Migration 2's body: replay's tables (as released; migration 4 made the times text).
REPLAY_TABLES_SQL = """
CREATE TABLE IF NOT EXISTS replays (
    id TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    started_at REAL NOT NULL,
    finished_at REAL,
    base_url TEXT,
    target TEXT,
    threshold REAL,
    metric TEXT,
    options TEXT,
    threads TEXT,
    summary TEXT,
    error TEXT
);
CREATE TABLE IF NOT EXISTS replay_turns (
    id TEXT PRIMARY KEY,
    replay_id TEXT NOT NULL REFERENCES replays(id),
    recorded_thread_id TEXT NOT NULL REFERENCES threads(id),
    turn_index INTEGER NOT NULL,
    new_thread_id TEXT,
    recorded_run_id TEXT,
    new_run_id TEXT,
    status TEXT NOT NULL,
    similarity REAL,
    metric TEXT,
    trajectory_identical INTEGER,
    recorded_reply TEXT,
    new_reply TEXT,
    recorded_tool_calls TEXT,
    new_tool_calls TEXT,
    recorded_usage TEXT,
    new_usage TEXT,
    recorded_duration_s REAL,
    new_duration_s REAL,
    detail TEXT,
    result TEXT NOT NULL,
    recorded_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS replay_turns_replay_id ON replay_turns(replay_id);
CREATE INDEX IF NOT EXISTS replay_turns_recorded_thread_id ON replay_turns(recorded_thread_id);
"""



@migration(4, "one timestamp format: replays, replay_turns and restore_map times as ISO 8601 text")
def _m004_timestamps(db: sqlite_utils.Database) -> None:
    # replays.started_at / finished_at and replay_turns.recorded_at were epoch REAL;
    # restore_map.updated_at was ISO without fractions. All become timestamp()'s format.
    for table, columns in (("replays", ("started_at", "finished_at")),
                           ("replay_turns", ("recorded_at",))):
        for column in columns:
            rows = db.execute(f"SELECT rowid, [{column}] FROM [{table}] "
                              f"WHERE typeof([{column}]) IN ('real', 'integer')").fetchall()
            db.conn.executemany(f"UPDATE [{table}] SET [{column}] = ? WHERE rowid = ?",
                                [(timestamp(value), rowid) for rowid, value in rows])
        db.table(table).transform(types=dict.fromkeys(columns, str))
    db.execute("UPDATE restore_map SET updated_at = substr(updated_at, 1, 19) || '.000000Z' "
               "WHERE length(updated_at) = 20 AND updated_at LIKE '%Z'")


@migration(6, "replay_turns: the judge's verdict (syncer replay --judge)")
def _m006_replay_judge(db: sqlite_utils.Database) -> None:
    # Written by `syncer replay --judge` (syncer/replay/records.py); NULL for turns not judged.
    # judge_verdict: pass | fail | error; scores are the rubric's 1-5 for each reply.
    table = db.table("replay_turns")
    existing = set(table.columns_dict)
    for column, kind in REPLAY_JUDGE_COLUMNS.items():
        if column not in existing:
            table.add_column(column, kind)


REPLAY_JUDGE_COLUMNS: dict[str, type] = {
    "judge_verdict": str, "judge_score": int, "judge_recorded_score": int,
    "judge_reason": str, "judge_model": str, "judge_rubric": str,
}


@migration(7, "replays, replay_turns: the API replayed on (syncer replay --api)")
def _m007_replay_api(db: sqlite_utils.Database) -> None:
    # assistants (runs on a new thread) or responses (chained responses); rows written
    # before this migration were all replayed on the Assistants API.
    for name in ("replays", "replay_turns"):
        if "api" not in db.table(name).columns_dict:
            db.execute(f"ALTER TABLE [{name}] ADD COLUMN api TEXT NOT NULL DEFAULT 'assistants'")


@migration(8, "full-text search indexes emoji and other pictographs (unicode61 with So)")
def _m008_fts_symbols(db: sqlite_utils.Database) -> None:
    # The indexes are rebuilt with FTS_TOKENIZE by ensure_shape, which runs right after the
    # migrations (and again on any later open, should this one be interrupted).
    for name in FTS:
        row = db.execute("SELECT sql FROM sqlite_master WHERE name = ?", [f"{name}_fts"]).fetchone()
        if row and "categories" not in row[0]:  # built with the old tokenizer
            db.execute(f"DROP TABLE [{name}_fts]")


def ensure_shape(db: sqlite_utils.Database) -> None:
    """Create whatever part of the declared shape is missing (tables, columns, indexes, FTS).
    Idempotent."""
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
        wanted_indexes = [*INDEXES.get(name, [])]
        # A foreign key's column is indexed on its own unless a composite index starts with it
        # (the composite serves the same lookups; a second index only costs inserts and space).
        wanted_indexes += [(fk[0],) for fk in FOREIGN_KEYS.get(name, [])
                           if not any(index[0] == fk[0] for index in wanted_indexes)]
        for columns_ in wanted_indexes:
            if columns_ not in existing_indexes:
                table.create_index(columns_, if_not_exists=True)
                existing_indexes.add(columns_)
    for name, fts_columns in FTS.items():
        if not db[f"{name}_fts"].exists():
            # Our own triggers (below) fire only when the indexed columns change, so
            # bookkeeping updates (last_seen_at) do not churn the index.
            db.table(name).enable_fts(fts_columns, create_triggers=False, tokenize=FTS_TOKENIZE)
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
            db.table("migrations").insert({"id": number, "name": name, "applied_at": timestamp()})
        applied.append(number)
    return applied


def db_path_of(db: sqlite_utils.Database) -> str:
    row = db.execute("PRAGMA database_list").fetchone()
    return row[2] if row and row[2] else ":memory:"
