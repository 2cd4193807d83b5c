"""Every object the emulator serves, in SQLite: a file with ``--state``, else in memory.

SQLite is the truth the server answers from, so the server's memory does not grow with the
account (a list page is one indexed query; its objects' JSON text is spliced into the body
without being decoded). Handlers still work on plain dicts: `ObjectStore.get` decodes an
object, and while anyone holds it (a request, a run's task, the store's `RECENT_READS` last
decoded objects) every `get` of that id answers the same dict (a weak identity map), so changes
made in place are seen by everyone; whoever changes an object calls `ObjectStore.save`, which
writes it through.

The file holds one row per object: ``objects(id, kind, parent, created_at, seq, data, extra,
deleted, run_id)`` where ``data`` is the API object as JSON, ``extra`` the emulator's private
bookkeeping (a run's progress, a response's context), ``deleted`` marks tombstones so cursors
pointing at deleted objects keep working (also after a restart), and ``run_id`` is a message's
run (the messages list's ``run_id`` filter). Lists are ordered by ``(created_at, seq)``.
Without ``--state`` the same tables live in an in-memory database: one code path, and a page
costs no more than from Python lists (bench/bench_emulator.py).
"""

from __future__ import annotations

import copy
import json
import secrets
import sqlite3
import string
import weakref
from collections import deque
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, cast, overload

from syncer.api.models import ACTIVE_RUN_STATUSES
from syncer.canonical import compact_json
from syncer.emulator.collection import DEFAULT_LIMIT, Page
from syncer.emulator.http_errors import bad_request
from syncer.errors import UsageError

ALPHABET = string.ascii_letters + string.digits
ID_PREFIX = {
    "assistant": "asst",
    "thread": "thread",
    "message": "msg",
    "run": "run",
    "step": "step",
    "call": "call",
    "conversation": "conv",
    "response": "resp",
    "function_call": "fc",
    "function_call_output": "fco",
}
KINDS = ("assistant", "thread", "message", "run", "step", "conversation", "item", "response")
#: Kinds no list endpoint serves (they have no collection).
UNLISTED = ("thread", "conversation", "response")
_ID_TABLE = bytes(ord(ALPHABET[b % len(ALPHABET)]) for b in range(256))
#: How many objects read from the file last stay decoded after their last user let go (the
#: assistant every run of a thread reads, say): their next `get` needs no query, no decoding.
RECENT_READS = 64


def new_id(kind: str) -> str:
    """A fresh, unguessable id with the real prefix (``asst_…``, ``msg_…``, ``call_…``)."""
    return f"{ID_PREFIX[kind]}_" + id_suffix(secrets.token_bytes(24))


def id_suffix(random_bytes: bytes) -> str:
    """24 random bytes as 24 letters and digits (~142 bits; the modulo bias is harmless)."""
    return random_bytes.translate(_ID_TABLE).decode("ascii")


class Obj(dict):  # type: ignore[type-arg]
    """An API object as a dict that the identity map can hold weakly."""

    __slots__ = ("__weakref__",)

    def __deepcopy__(self, memo: dict[int, Any]) -> dict[str, Any]:
        # A snapshot (an event's object) is a plain dict: copy's fast path for dicts, not the
        # generic reconstruction a dict subclass would get.
        return {key: copy.deepcopy(value, memo) for key, value in self.items()}


def encode(obj: dict[str, Any]) -> str:
    """An object's JSON as a response renders it (compact, UTF-8), so pages splice it as is."""
    return compact_json(obj)


class ObjectStore:
    """The emulator's objects and lists (see the module docstring)."""

    def __init__(self, path: str | Path | None = None):
        self._db = _StateFile(None if path is None else Path(path))
        self.persistent = path is not None
        self._live: weakref.WeakValueDictionary[tuple[str, str], Obj] = weakref.WeakValueDictionary()
        self._recent: deque[Obj] = deque(maxlen=RECENT_READS)
        #: run id → the emulator's private progress record (see runs.py); response id → its
        #: context and input items (see responses.py). Persisted as the object's ``extra``.
        self.progress = Progress(self._db)
        #: thread id → id of its run that is not finished yet
        self.active_run: dict[str, str] = self._db.active_runs()
        self._seq = self._db.last_seq()
        self.objects = {kind: KindView(self, kind) for kind in KINDS}

    # --- reading -----------------------------------------------------------------------------

    def get(self, kind: str, object_id: str) -> dict[str, Any] | None:
        found = self._live.get((kind, object_id))
        if found is not None:
            return found
        data = self._db.data(kind, object_id)
        return None if data is None else self._hold(kind, object_id, data)

    def has(self, kind: str, object_id: str) -> bool:
        return (kind, object_id) in self._live or self._db.data(kind, object_id, probe=True) is not None

    def parent_of(self, object_id: str) -> str | None:
        return self._db.parent(object_id)

    def collection(self, kind: str, parent: str = "") -> StoredList:
        return StoredList(self, kind, parent)

    def page(self, kind: str, parent: str, params: dict[str, Any]) -> tuple[Page, list[dict[str, Any]]]:
        """One page of a list, and its objects."""
        page, rows = self.collection(kind, parent).rows(**params)
        return page, [self._hold(kind, object_id, data) for object_id, data in rows]

    def page_json(self, kind: str, parent: str, params: dict[str, Any]) -> bytes:
        """One page of a list as the response body, its objects' stored JSON spliced in."""
        page, rows = self.collection(kind, parent).rows(**params)
        live = [self._live.get((kind, object_id)) for object_id, _ in rows]
        data = ",".join(text if obj is None else encode(obj) for (_, text), obj in zip(rows, live, strict=True))
        first = json.dumps(rows[0][0]) if rows else "null"
        last = json.dumps(rows[-1][0]) if rows else "null"
        has_more = "true" if page.has_more else "false"
        body = f'{{"object":"list","data":[{data}],"first_id":{first},"last_id":{last},"has_more":{has_more}}}'
        return body.encode()

    def run_messages(self, run_id: str) -> StoredList:
        """The messages a run created, as a list that pages like any other."""
        return StoredList(self, "message", None, run_id=run_id)

    def thread_messages(self, thread_id: str) -> list[dict[str, Any]]:
        """All of a thread's messages, oldest first."""
        return [self._hold("message", object_id, data)
                for object_id, data in self._db.list_rows("message", thread_id, None)]

    # --- writing -----------------------------------------------------------------------------

    def add(self, kind: str, obj: dict[str, Any], parent: str = "") -> dict[str, Any]:
        """Store a new object at the end of its list (by created_at, then insertion)."""
        self._seq += 1
        held = obj if isinstance(obj, Obj) else Obj(obj)
        run_id = obj.get("run_id") if kind == "message" else None
        # Items have no created_at: their lists are in insertion order.
        self._db.insert(obj["id"], kind, parent, obj.get("created_at", 0), self._seq, encode(obj),
                        self.progress.encoded(obj["id"]), run_id or None)
        self._live[(kind, obj["id"])] = held
        self._release_settled(kind, obj)
        return held

    def save(self, kind: str, obj: dict[str, Any]) -> None:
        """Write an object through after a change."""
        object_id = obj["id"]
        held = self._live.get((kind, object_id))
        if held is not None and held is not obj:  # a copy was changed: the held dict follows it
            held.clear()
            held.update(obj)
        self._db.update(object_id, encode(obj), self.progress.encoded(object_id))
        self._release_settled(kind, obj)

    def delete(self, kind: str, object_id: str) -> None:
        """Delete an object; a thread takes its messages, runs and steps with it."""
        if not self.has(kind, object_id):
            return
        self._live.pop((kind, object_id), None)
        self.progress.release(object_id)
        if kind == "thread":
            self._db.delete_thread(object_id)
            self.active_run.pop(object_id, None)
        else:
            self._db.tombstone(object_id)

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Group many writes in one transaction (loading an account)."""
        with self._db.transaction():
            yield

    def close(self) -> None:
        self._db.close()

    # --- internals -------------------------------------------------------------------------------

    def _release_settled(self, kind: str, obj: dict[str, Any]) -> None:
        """A response's record and a finished run's are written: read them from the file if needed."""
        if kind == "response" or (kind == "run" and obj.get("status") not in ACTIVE_RUN_STATUSES):
            self.progress.release(obj["id"])

    def _hold(self, kind: str, object_id: str, data: str) -> Obj:
        found = self._live.get((kind, object_id))
        if found is None:
            found = self._live[(kind, object_id)] = Obj(json.loads(data))
            self._recent.append(found)
        return found


class KindView(Mapping[str, dict[str, Any]]):
    """``store.objects[kind]``: the live objects of one kind, by id, read from the store."""

    def __init__(self, store: ObjectStore, kind: str):
        self._store = store
        self._kind = kind

    def __getitem__(self, object_id: str) -> dict[str, Any]:
        found = self._store.get(self._kind, object_id)
        if found is None:
            raise KeyError(object_id)
        return found

    def __contains__(self, object_id: object) -> bool:
        return isinstance(object_id, str) and self._store.has(self._kind, object_id)

    def __iter__(self) -> Iterator[str]:
        return iter(self._store._db.ids_of(self._kind))

    def __len__(self) -> int:
        return len(self._store._db.ids_of(self._kind))


class StoredList:
    """One list the API serves (a kind under a parent, or a run's messages), paged in SQL
    exactly as the real API pages (see `syncer.emulator.collection.Collection.page`)."""

    def __init__(self, store: ObjectStore, kind: str, parent: str | None, run_id: str | None = None):
        self._store = store
        self._kind = kind
        self._parent = parent
        self._run_id = run_id

    def ids(self) -> list[str]:
        """All live ids, oldest first."""
        return [object_id for object_id, _ in self._store._db.list_rows(
            self._kind, self._parent, self._run_id, with_data=False)]

    def page(self, **params: Any) -> Page:
        return self.rows(**params)[0]

    def rows(
        self,
        *,
        limit: int = DEFAULT_LIMIT,
        order: str = "desc",
        after: str | None = None,
        before: str | None = None,
    ) -> tuple[Page, list[tuple[str, str]]]:
        """One page and its rows (id, JSON): ``after`` the objects following the cursor in the
        requested order, ``before`` the objects immediately preceding it (still in the requested
        order); ``has_more``: more lie beyond the page in the direction of travel."""
        low = high = None  # exclusive bounds on (created_at, seq)
        if order == "asc":
            low = self._cursor(after, "after")
            high = self._cursor(before, "before")
        else:
            high = self._cursor(after, "after")
            low = self._cursor(before, "before")
        from_low_end = (order == "asc") != (before is not None and after is None)
        rows = self._store._db.page_rows(self._kind, self._parent, self._run_id, low, high,
                                         ascending=from_low_end, limit=limit + 1)
        has_more = len(rows) > limit
        rows = rows[:limit]  # in the order they were read: outwards from the page's end
        if from_low_end != (order == "asc"):
            rows.reverse()
        return Page(ids=[object_id for object_id, _ in rows], has_more=has_more), rows

    def _cursor(self, object_id: str | None, param: str) -> tuple[int, int] | None:
        if object_id is None:
            return None
        # Deleted objects stay cursors of their list; a run's messages list knows live ones only.
        key = self._store._db.key(object_id, self._kind, self._parent, self._run_id)
        if key is None:
            raise bad_request(
                f"Invalid '{param}': no object with id '{object_id}' in this list.",
                param=param,
                code="invalid_value",
            )
        return key


class Progress:
    """The emulator's private records (``extra``): cached while in use, else read from the file."""

    def __init__(self, db: _StateFile):
        self._db = db
        self._held: dict[str, dict[str, Any]] = {}

    @overload
    def get(self, object_id: str) -> dict[str, Any] | None: ...
    @overload
    def get(self, object_id: str, default: dict[str, Any]) -> dict[str, Any]: ...

    def get(self, object_id: str, default: dict[str, Any] | None = None) -> dict[str, Any] | None:
        found = self._held.get(object_id)
        if found is None:
            kind, extra = self._db.extra(object_id)
            if extra is None:
                return default
            found = cast(dict[str, Any], json.loads(extra))
            if kind == "run":  # changed in place while the run moves; responses' are read only
                self._held[object_id] = found
        return found

    def __getitem__(self, object_id: str) -> dict[str, Any]:
        found = self.get(object_id)
        if found is None:
            raise KeyError(object_id)
        return found

    def __setitem__(self, object_id: str, record: dict[str, Any]) -> None:
        self._held[object_id] = record

    def pop(self, object_id: str, default: Any = None) -> Any:
        return self._held.pop(object_id, default)

    def release(self, object_id: str) -> None:
        self._held.pop(object_id, None)

    def encoded(self, object_id: str) -> str | None:
        """The record to write with its object (None: none held, the file keeps its own)."""
        record = self._held.get(object_id)
        return None if record is None else compact_json(record)


class _StateFile:
    """The SQLite database behind the store (a ``--state`` file in WAL mode, or in memory)."""

    SCHEMA = """
    CREATE TABLE IF NOT EXISTS objects (
        id TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        parent TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        seq INTEGER NOT NULL,
        data TEXT NOT NULL,
        extra TEXT,
        deleted INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX IF NOT EXISTS objects_seq ON objects (seq);
    """
    #: Added after the first state files were written (applied to old files on open).
    LISTS = """
    CREATE INDEX IF NOT EXISTS objects_list ON objects (kind, parent, created_at, seq);
    CREATE INDEX IF NOT EXISTS objects_run_messages ON objects (run_id, created_at, seq)
        WHERE run_id IS NOT NULL;
    """
    COLUMNS = "id, kind, parent, created_at, seq, data, extra, deleted, run_id"

    def __init__(self, path: Path | None):
        self._in_transaction = False
        try:
            if path is not None:
                path.parent.mkdir(parents=True, exist_ok=True)
            # The server's event loop runs in another thread than the one that built the app.
            self.conn = sqlite3.connect(":memory:" if path is None else path,
                                        check_same_thread=False, isolation_level=None)
        except (OSError, sqlite3.Error) as error:
            raise UsageError(f"{path}: cannot open state file: {error}") from None
        try:
            tables = {row[0] for row in self.conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table'")}
            # Refuse another program's database (a mirror, say): adding our table to it, or
            # answering from it, would mix two things the user keeps apart.
            if tables and "objects" not in tables:
                raise UsageError(
                    f"{path}: not an emulator state file (it has tables "
                    f"{', '.join(sorted(tables))}); give a new or an emulator --state file"
                )
            if path is not None:
                self.conn.execute("PRAGMA journal_mode=WAL")
                self.conn.execute("PRAGMA synchronous=NORMAL")
            self.conn.executescript(self.SCHEMA)
            columns = {row[1] for row in self.conn.execute("PRAGMA table_info(objects)")}
            if "run_id" not in columns:
                with self.transaction():
                    self.conn.execute("ALTER TABLE objects ADD COLUMN run_id TEXT")
                    self.conn.execute(
                        "UPDATE objects SET run_id = json_extract(data, '$.run_id')"
                        " WHERE kind = 'message' AND deleted = 0")
            self.conn.executescript(self.LISTS)
        except sqlite3.Error as error:
            self.conn.close()
            raise UsageError(f"{path}: not an emulator state file ({error})") from None
        except UsageError:
            self.conn.close()
            raise

    # --- reading -------------------------------------------------------------------------------

    def data(self, kind: str, object_id: str, probe: bool = False) -> str | None:
        row = self.conn.execute(
            f"SELECT {'1' if probe else 'data'} FROM objects WHERE id = ? AND kind = ? AND deleted = 0",
            (object_id, kind)).fetchone()
        return None if row is None else row[0]

    def parent(self, object_id: str) -> str | None:
        row = self.conn.execute("SELECT parent FROM objects WHERE id = ? AND deleted = 0",
                                (object_id,)).fetchone()
        return row[0] if row and row[0] else None

    def extra(self, object_id: str) -> tuple[str | None, str | None]:
        row = self.conn.execute("SELECT kind, extra FROM objects WHERE id = ? AND deleted = 0",
                                (object_id,)).fetchone()
        return (None, None) if row is None else (row[0], row[1])

    def ids_of(self, kind: str) -> list[str]:
        return [row[0] for row in self.conn.execute(
            "SELECT id FROM objects WHERE kind = ? AND deleted = 0 ORDER BY seq", (kind,))]

    def active_runs(self) -> dict[str, str]:
        """thread id → its run that is not finished (read once, at start)."""
        marks = ",".join("?" * len(ACTIVE_RUN_STATUSES))
        return dict(self.conn.execute(
            "SELECT parent, id FROM objects WHERE kind = 'run' AND deleted = 0"
            f" AND json_extract(data, '$.status') IN ({marks}) ORDER BY seq",
            tuple(ACTIVE_RUN_STATUSES)))

    def last_seq(self) -> int:
        return int(self.conn.execute("SELECT coalesce(max(seq), 0) FROM objects").fetchone()[0])

    def _where(self, kind: str, parent: str | None, run_id: str | None) -> tuple[str, list[Any]]:
        if run_id is not None:
            return "run_id = ? AND kind = ?", [run_id, kind]
        return "kind = ? AND parent = ?", [kind, parent]

    def key(self, object_id: str, kind: str, parent: str | None, run_id: str | None) -> tuple[int, int] | None:
        """A cursor's place in its list: deleted objects keep theirs (not in a run's messages)."""
        where, args = self._where(kind, parent, run_id)
        live = " AND deleted = 0" if run_id is not None else ""
        row = self.conn.execute(f"SELECT created_at, seq FROM objects WHERE id = ? AND {where}{live}",
                                [object_id, *args]).fetchone()
        return None if row is None else (row[0], row[1])

    def list_rows(self, kind: str, parent: str | None, run_id: str | None,
                  with_data: bool = True) -> list[tuple[str, str]]:
        where, args = self._where(kind, parent, run_id)
        return self.conn.execute(
            f"SELECT id, {'data' if with_data else 'NULL'} FROM objects WHERE {where} AND deleted = 0"
            " ORDER BY created_at, seq", args).fetchall()

    def page_rows(self, kind: str, parent: str | None, run_id: str | None,
                  low: tuple[int, int] | None, high: tuple[int, int] | None,
                  ascending: bool, limit: int) -> list[tuple[str, str]]:
        """Up to ``limit`` live rows strictly between ``low`` and ``high``, read from the low
        end upwards (``ascending``) or from the high end downwards."""
        where, args = self._where(kind, parent, run_id)
        if low is not None:
            where += " AND (created_at, seq) > (?, ?)"
            args += list(low)
        if high is not None:
            where += " AND (created_at, seq) < (?, ?)"
            args += list(high)
        direction = "ASC" if ascending else "DESC"
        return self.conn.execute(
            f"SELECT id, data FROM objects WHERE {where} AND deleted = 0"
            f" ORDER BY created_at {direction}, seq {direction} LIMIT ?", [*args, limit]).fetchall()

    def rows(self) -> Iterator[tuple[Any, ...]]:
        yield from self.conn.execute(f"SELECT {self.COLUMNS} FROM objects ORDER BY seq")

    # --- writing -------------------------------------------------------------------------------

    def insert(self, object_id: str, kind: str, parent: str, created_at: int, seq: int, data: str,
               extra: str | None, run_id: str | None) -> None:
        self.conn.execute(
            f"INSERT OR REPLACE INTO objects ({self.COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, 0, ?)",
            (object_id, kind, parent, created_at, seq, data, extra, run_id),
        )

    def update(self, object_id: str, data: str, extra: str | None) -> None:
        self.conn.execute("UPDATE objects SET data = ?, extra = coalesce(?, extra) WHERE id = ?",
                          (data, extra, object_id))

    def tombstone(self, object_id: str) -> None:
        self.conn.execute("UPDATE objects SET deleted = 1, data = '{}', extra = NULL WHERE id = ?",
                          (object_id,))

    def delete_thread(self, thread_id: str) -> None:
        """A thread with its messages, runs and the runs' steps (no tombstones: all gone)."""
        with self.transaction():
            self.conn.execute(
                "DELETE FROM objects WHERE kind = 'step' AND parent IN"
                " (SELECT id FROM objects WHERE kind = 'run' AND parent = ?)", (thread_id,))
            self.conn.execute("DELETE FROM objects WHERE kind IN ('message', 'run') AND parent = ?",
                              (thread_id,))
            self.conn.execute("DELETE FROM objects WHERE id = ?", (thread_id,))

    @contextmanager
    def transaction(self) -> Iterator[None]:
        if self._in_transaction:
            yield
            return
        self._in_transaction = True
        self.conn.execute("BEGIN")
        try:
            yield
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        else:
            self.conn.execute("COMMIT")
        finally:
            self._in_transaction = False

    def close(self) -> None:
        self.conn.close()
