"""The mirror database: the one way in (``open_mirror``) and the only writer (``Store``).

Every write goes through ``Store``; each ``write_page`` call is one transaction holding a page
of objects together with the cursors that cover it, so a sync killed at any moment leaves a
database from which the next sync resumes exactly. Inside ``group_commits()`` (a sync) those
transactions are savepoints of one longer transaction, committed every few pages or fractions
of a second: a commit holds whole pages with their cursors only, so the guarantee is the same
(a killed sync re-reads at most the pages of the last uncommitted group). Rows are written in the server's list order
(oldest first), so within a thread ``ORDER BY created_at, rowid`` is the server's order even
where ``created_at`` ties.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import sqlite_utils

from syncer.canonical import compact_json
from syncer.errors import MirrorError
from syncer.files import create_private
from syncer.mirror.checkpoint import Checkpointer
from syncer.mirror.lock import MirrorLock, acquire
from syncer.mirror.rows import refused_fields, to_row
from syncer.mirror.schema import BOOKKEEPING, apply_migrations, ensure_shape, timestamp

# --- the writer -------------------------------------------------------------------------------


@dataclass
class PageResult:
    """What one ``write_page`` changed."""

    new: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)  # "table.field" names not mirrored


@dataclass
class StateUpdate:
    """A ``sync_state`` row to write in the same transaction as a page."""

    list: str
    parent_id: str
    cursor: str | None = None
    pending: bool = False
    keep_cursor: bool = False  # only change ``pending``


class Store:
    """The mirror database: opened, shaped, and written only through this class."""

    def __init__(self, db: sqlite_utils.Database, path: str, lock: MirrorLock | None = None):
        self.db = db
        self.path = path
        self.lock = lock
        self._columns: dict[str, list[str]] = {}
        self._identity = _file_identity(path)
        # group_commits(): the open group's limits and progress (None: one commit per write).
        self._group: _Group | None = None

    # -- opening -------------------------------------------------------------------------

    def close(self) -> None:
        try:
            self.db.conn.close()
        finally:
            if self.lock is not None:
                self.lock.release()

    def check_file(self) -> None:
        """``MirrorError`` if the file this store has open was deleted or replaced meanwhile.

        SQLite keeps writing to an open file that was unlinked (or renamed over): everything
        written would vanish with the connection, so a sync checks before it reports success.
        """
        if self._identity is None:
            return
        now = _file_identity(self.path)
        if now != self._identity:
            what = "deleted" if now is None else "replaced by another file"
            raise MirrorError(f"{self.path}: the mirror file was {what} while syncer had it "
                              "open; what this command wrote is lost")

    def __enter__(self) -> Store:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: object) -> None:
        self.close()
        # SQLite's failures (locked, damaged, disk full …) become one line. Integrity errors
        # stay as they are: they mean a bug in syncer, not a problem of the file.
        if isinstance(exc, sqlite3.DatabaseError) and not isinstance(exc, sqlite3.IntegrityError):
            hint = " (another process is writing to it)" if "locked" in str(exc) else ""
            raise MirrorError(f"{self.path}: {exc}{hint}") from None

    @property
    def conn(self) -> sqlite3.Connection:
        """The underlying connection."""
        return self.db.conn

    def _transaction(self) -> _Transaction:
        return _Transaction(self.db.conn, savepoint=self._group is not None)

    @contextlib.contextmanager
    def group_commits(self, pages: int = 500, seconds: float = 0.25) -> Iterator[None]:
        """Commit the writes made inside this block in groups: after ``pages`` writes or
        ``seconds``, whichever comes first, and at the end (also on an error: every write
        inside is whole or rolled back to its savepoint). Each write stays atomic with its
        cursors; only fewer COMMITs are paid (a sync writes thousands of pages). Each COMMIT
        writes the FTS index's pending terms as a new segment: 500 pages to a commit instead of
        50 took a sync's writes from 3.5 to 3.1 s of CPU (fewer, larger segments to merge).
        """
        if self._group is not None:
            yield
            return
        # A file's WAL is copied back by a thread of its own meanwhile (``Checkpointer``).
        checkpointer = Checkpointer(self.path) if self._identity is not None else None
        self._group = _Group(pages, seconds, checkpointer)
        try:  # from here on the thread is stopped whatever fails
            if checkpointer is not None:
                # The writer checkpoints only when the log is long: the thread's checkpoint of
                # the last group rarely ends before the writer's next group begins, and the log
                # starts again from its beginning only when a group begins with all of it
                # copied. The writer's checkpoint copies the little the thread has not yet.
                self.conn.execute(f"PRAGMA wal_autocheckpoint={GROUP_AUTOCHECKPOINT_PAGES}")
            # Each write's SAVEPOINT keeps the pages it changes in a statement journal, by
            # default a temporary file: in memory it is one write's changes (a page of objects),
            # and a sync of 74,080 objects takes 3.5 s of CPU for its writes instead of 4.5 s.
            # Only for the group: a migration's CREATE INDEX keeps its temporary files on disk.
            self.conn.execute("PRAGMA temp_store=MEMORY")
            yield
        finally:
            self._group = None
            try:
                if self.conn.in_transaction:
                    self.conn.execute("COMMIT")
            finally:
                if checkpointer is not None:
                    checkpointer.close()
                if not self.conn.in_transaction:
                    self.conn.execute("PRAGMA temp_store=DEFAULT")
                    if checkpointer is not None:
                        self.conn.execute(f"PRAGMA wal_autocheckpoint={AUTOCHECKPOINT_PAGES}")

    def _written(self) -> None:
        """One write done: commit the group if it is full or old enough."""
        group = self._group
        if group is None or not self.conn.in_transaction:
            return
        group.writes += 1
        if group.writes >= group.pages or time.monotonic() - group.started >= group.seconds:
            self.conn.execute("COMMIT")
            group.writes, group.started = 0, time.monotonic()
            if group.checkpointer is not None:
                group.checkpointer.nudge()

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
                        f"{value or '(none)'!r}; use another --db, or --force to make it follow this server (what it holds is kept, never marked deleted)"
                    )

    def claim_server(self, base_url: str, organization: str | None, project: str | None,
                     *, force: bool = False, since: str | None = None) -> str | None:
        """Record the server on first use; refuse another one unless ``force``.

        Re-pointing the mirror to another server (``force``) records when (``since``, default
        now) in ``meta.repointed_at``: rows first seen before then are the previous server's,
        and a sync never marks them deleted (``repointed_at``). Returns the previous server's
        base URL when this call re-points the mirror, else None.
        """
        self.check_server(base_url, organization, project, force=force)
        wanted = _server_meta(base_url, organization, project)
        current = self.meta()
        previous = None
        if "base_url" in current and any(current.get(k, "") != v for k, v in wanted.items()):
            previous = current["base_url"]
            wanted = {**wanted, "repointed_at": since or timestamp(),
                      "previous_base_url": previous}
        with self._transaction():
            self.db.table("meta").upsert_all(
                [{"key": k, "value": v} for k, v in wanted.items()], pk="key")
            if "created_at" not in current:
                self.db.table("meta").insert({"key": "created_at", "value": timestamp()}, pk="key")
        return previous

    def repointed_at(self) -> str | None:
        """When the mirror was last re-pointed to another server (rows older are its)."""
        return self.meta().get("repointed_at")

    def first_seen(self, table: str, object_id: str) -> str | None:
        row = self.db.execute(f"SELECT first_seen_at FROM [{table}] WHERE id = ?",
                              [object_id]).fetchone()
        return row[0] if row else None

    # -- the thread registry -----------------------------------------------------------------

    def track_threads(self, ids: Iterable[str], source: str) -> list[str]:
        """Add thread ids to the registry; returns the ones that were not tracked yet."""
        now = timestamp()
        wanted = list(dict.fromkeys(ids))
        if not wanted:
            return []
        with self._transaction():
            # One read of the registry and one batched insert: linear (a million ids in seconds).
            known = {row[0] for row in self.db.execute("SELECT id FROM tracked_threads")}
            added = [thread_id for thread_id in wanted if thread_id not in known]
            del known
            self.db.conn.executemany(
                "INSERT INTO tracked_threads (id, added_at, source) VALUES (?, ?, ?)",
                ((thread_id, now, source) for thread_id in sorted(added)))  # b-tree order
        return added

    def untrack_threads(self, ids: Iterable[str]) -> list[str]:
        """Stop syncing these threads (their mirrored rows stay); returns those removed."""
        removed: list[str] = []
        with self._transaction():
            removed.extend(
                thread_id for thread_id in ids
                if self.db.execute("DELETE FROM tracked_threads WHERE id = ?", [thread_id]).rowcount)
        return removed

    def tracked_ids(self) -> TrackedIds:
        """The tracked threads' ids as a sync walks them: read as it goes, a thousand at a time
        (a sync's memory does not follow the number of tracked threads)."""
        return TrackedIds(self.db.conn)

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
                   *, fresh: bool = False) -> PageResult:
        """Upsert one page of API objects (in server order, oldest first) and its cursors.

        One transaction: the rows, ``last_seen_at`` of the unchanged ones, the ``states``, and
        whatever ``before_commit(result)`` returns (state that depends on what changed).
        A row that was marked deleted and is seen again loses its ``deleted_at``.

        ``fresh``: the objects are expected to be new (a list never read before), so they are
        inserted without first looking each one up (a tenth of a sync's write time); if one is
        in the mirror after all, that attempt is rolled back and the page is written the usual
        way. The result is the same either way.
        """
        if fresh:
            try:
                return self._write_page(table, objects, states, before_commit, fresh=True)
            except sqlite3.IntegrityError:
                pass  # an id already mirrored (or a broken reference, which fails again below)
        return self._write_page(table, objects, states, before_commit, fresh=False)

    def _write_page(self, table: str, objects: Sequence[dict[str, Any]],
                    states: Sequence[StateUpdate],
                    before_commit: Callable[[PageResult], Sequence[StateUpdate]] | None,
                    *, fresh: bool) -> PageResult:
        now = timestamp()
        rows = [to_row(table, obj) for obj in objects]
        result = PageResult()
        for obj in objects:
            for name in refused_fields(table, obj):
                if f"{table}.{name}" not in result.refused:
                    result.refused.append(f"{table}.{name}")
        try:
            self._write_rows(table, rows, states, before_commit, result, now, fresh=fresh)
        except BaseException:
            self._columns.pop(table, None)  # a column this write added is rolled back with it
            raise
        self._written()
        return result

    def _write_rows(self, table: str, rows: list[dict[str, Any]], states: Sequence[StateUpdate],
                    before_commit: Callable[[PageResult], Sequence[StateUpdate]] | None,
                    result: PageResult, now: str, *, fresh: bool) -> None:
        with self._transaction():
            if rows:
                self._add_missing_columns(table, rows)
                columns = self.columns(table)
                existing = {} if fresh else self._existing(table, [row["id"] for row in rows],
                                                           columns)
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

    def _existing(self, table: str, ids: list[str],
                  columns: list[str]) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
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
        new_values: dict[str, list[Any]] = {}
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
        now = timestamp()
        with self._transaction():
            count = self.db.execute(
                f"UPDATE [{table}] SET deleted_at = ? WHERE deleted_at IS NULL AND ({where})",
                [now, *params]).rowcount
            for update in states:
                self._write_state(update, now)
        return count

    def thread_deleted(self, thread_id: str) -> int:
        """A mirrored thread answered 404: mark it and everything in it deleted."""
        now = timestamp()
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
                [timestamp(), int(full), base_url])
        return int(cursor.lastrowid or 0)

    def finish_sync(self, sync_id: int, *, status: str, requests: int, new: int, changed: int,
                    deleted: int, errors: list[str]) -> None:
        with self._transaction():
            self.db.execute(
                "UPDATE syncs SET finished_at = ?, status = ?, requests = ?, new = ?,"
                " changed = ?, deleted = ?, errors = ? WHERE id = ?",
                [timestamp(), status, requests, new, changed, deleted, compact_json(errors), sync_id])


def _server_meta(base_url: str, organization: str | None, project: str | None) -> dict[str, str]:
    return {"base_url": base_url.rstrip("/"), "organization": organization or "",
            "project": project or ""}


def _file_identity(path: str) -> tuple[int, int] | None:
    if path == ":memory:":
        return None
    try:
        stat = os.stat(path)
    except FileNotFoundError:
        return None
    return stat.st_dev, stat.st_ino


class TrackedIds(Collection[str]):
    """The ids in ``tracked_threads`` when it was made, in the order they were added
    (``added_at``, then id), read in batches through migration 11's index; ids added later
    are not in it (their ``added_at`` is later), ids removed meanwhile are skipped."""

    BATCH = 1000

    def __init__(self, conn: sqlite3.Connection):
        self._conn = conn
        self._until = conn.execute("SELECT max(added_at) FROM tracked_threads").fetchone()[0] or ""

    def __len__(self) -> int:
        return int(self._conn.execute("SELECT count(*) FROM tracked_threads WHERE added_at <= ?",
                                      [self._until]).fetchone()[0])

    def __contains__(self, thread_id: object) -> bool:
        return self._conn.execute("SELECT 1 FROM tracked_threads WHERE id = ? AND added_at <= ?",
                                  [thread_id, self._until]).fetchone() is not None

    def __iter__(self) -> Iterator[str]:
        after = ("", "")
        while True:
            rows = self._conn.execute(
                "SELECT added_at, id FROM tracked_threads WHERE (added_at, id) > (?, ?)"
                " AND added_at <= ? ORDER BY added_at, id LIMIT ?",
                [*after, self._until, self.BATCH]).fetchall()
            if not rows:
                return
            for _, thread_id in rows:
                yield thread_id
            after = rows[-1]


Mode = Literal["read", "write", "create"]
CACHE_KIB = 16 * 1024
#: SQLite's default for ``wal_autocheckpoint``, back after a group of commits turned it off.
AUTOCHECKPOINT_PAGES = 1000
#: ... and during a group of commits, whose WAL a thread copies back (``Checkpointer``): the
#: log's bound (16 MiB at 4 KiB pages; without it the log grew by all a sync wrote).
GROUP_AUTOCHECKPOINT_PAGES = 4000


def open_mirror(path: str | os.PathLike[str], mode: Mode = "read", *, missing_hint: str | None = None,
                mirror_only: bool = True, lock: str | None = None,
                lock_timeout: float = 0.0) -> Store:
    """The one way into a mirror file. Use as ``with open_mirror(path, mode) as store:``.

    - ``"read"``: an existing mirror, read-only (``mode=ro``): nothing is migrated or written;
    - ``"write"``: an existing mirror, upgraded by the migrations (restore, replay, threads);
    - ``"create"``: like write, creating the file (owner-only) when it does not exist (sync).

    A file that is missing (read, write), not SQLite, damaged, or not a syncer mirror is a
    one-line ``MirrorError``; a SQLite that is not a mirror is refused without a byte changed.
    ``missing_hint`` replaces the advice given for a missing file; ``mirror_only=False`` (backup)
    takes any SQLite database.

    ``lock`` (``"sync"``, ``"restore"``, ``"migrate"``; write and create only): take that
    operation's lock on the mirror (``syncer.mirror.lock``) before anything is read, waiting up
    to ``lock_timeout`` seconds for another holder; released when the store is closed.
    """
    path = str(path)
    held = None
    if lock is not None and mode != "read" and path != ":memory:":
        held = acquire(path, lock, timeout=lock_timeout)
    try:
        return _open(path, mode, missing_hint, mirror_only, held)
    except BaseException:
        if held is not None:
            held.release()
        raise


def _read_uri(path: str) -> str:
    """The read-only URI of ``path``: ``mode=ro``, and ``immutable=1`` where nothing can write.

    A file on a read-only mount, or one whose file and folder this user cannot write, cannot
    have a writer: ``immutable`` then lets SQLite read it without the ``-shm`` it could not
    create (a WAL mirror copied there must have been checkpointed, as ``backup`` files are).
    """
    uri = f"{Path(path).resolve().as_uri()}?mode=ro"
    folder = os.path.dirname(os.path.abspath(path))
    if not os.access(path, os.W_OK) and not os.access(folder, os.W_OK):
        uri += "&immutable=1"
    return uri


def _open(path: str, mode: Mode, missing_hint: str | None, mirror_only: bool,
          held: MirrorLock | None) -> Store:
    is_new = False
    if mode == "create" and path != ":memory:":
        try:
            is_new = create_private(path)
        except OSError as error:
            raise MirrorError(f"{path}: cannot create the mirror ({error.strerror})") from None
    elif not Path(path).is_file():
        advice = f"({missing_hint})" if missing_hint else "yet (run `syncer sync` first)"
        raise MirrorError(f"{path}: no mirror here {advice}")
    try:
        if mirror_only and not is_new and path != ":memory:" and not _has_migrations(path):
            raise MirrorError(f"{path}: not a syncer mirror (no migrations table)")
        if mode == "read":
            conn = sqlite3.connect(_read_uri(path), uri=True,
                                   isolation_level=None, check_same_thread=False)
        else:
            # isolation_level=None: autocommit; transactions are explicit (``_transaction``).
            conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        db = sqlite_utils.Database(conn)
        db.execute("PRAGMA busy_timeout=10000")
        if mode != "read":
            # A 16 MB page cache (SQLite's default is 2 MB): on a mirror of millions of
            # messages the indexes and FTS segments a sync touches stay cached (15,000 messages
            # into a 1 GB mirror: 0.85 s CPU with 16 MB, 1.25-5.4 s with the default, no better
            # with 64 MB). Filled only as pages are used, and small enough that a sync's memory
            # stays flat in the mirror's size. (Not for readers: the pragma reads the file at
            # once, before the command's own work.)
            db.execute(f"PRAGMA cache_size=-{CACHE_KIB}")
            db.execute("PRAGMA journal_mode=WAL")
            # NORMAL in WAL mode survives a killed process (not a power cut) and is much faster.
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute("PRAGMA foreign_keys=ON")
            apply_migrations(db)
            ensure_shape(db)
    except sqlite3.DatabaseError as error:
        raise MirrorError(f"{path}: not a usable mirror database ({error})") from None
    return Store(db, path, held)


def _has_migrations(path: str) -> bool:
    """Whether the SQLite file at ``path`` is a syncer mirror, looked at without changing it."""
    probe = sqlite3.connect(_read_uri(path), uri=True)
    try:
        return probe.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = "
                             "'migrations'").fetchone() is not None
    finally:
        probe.close()


@dataclass
class _Group:
    """The open group of ``Store.group_commits``."""

    pages: int
    seconds: float
    checkpointer: Checkpointer | None = None
    writes: int = 0
    started: float = field(default_factory=time.monotonic)


class _Transaction:
    """BEGIN IMMEDIATE … COMMIT (or ROLLBACK on error) on an autocommit connection.

    ``savepoint``: inside a group of commits, open the transaction if none is open (the group
    commits it) and make this one a SAVEPOINT of it, released or rolled back on its own.
    """

    def __init__(self, conn: sqlite3.Connection, savepoint: bool = False):
        self.conn = conn
        self.savepoint = savepoint
        self.depth = 0

    def __enter__(self) -> None:
        if self.savepoint:
            if not self.conn.in_transaction:
                self.conn.execute("BEGIN IMMEDIATE")
            self.conn.execute("SAVEPOINT page")
            self.depth = 2
        elif not self.conn.in_transaction:
            self.conn.execute("BEGIN IMMEDIATE")
            self.depth = 1

    def __exit__(self, exc_type: object, *exc: object) -> None:
        if self.depth == 2:
            if exc_type is not None:
                self.conn.execute("ROLLBACK TO page")
            self.conn.execute("RELEASE page")
        elif self.depth == 1:
            if exc_type is None:
                self.conn.execute("COMMIT")
            else:
                self.conn.execute("ROLLBACK")
