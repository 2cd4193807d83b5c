"""Every object the emulator serves, in memory, optionally persisted in SQLite (``--state``).

The store is a set of dictionaries (id → API object as a plain dict) plus one ordered
`Collection` per list the API serves: assistants; each thread's messages and runs; each
run's steps; each conversation's items (conversations and responses are not listed).
Handlers mutate the dicts in place and call `ObjectStore.save` so a state file sees every change
(write-through; the in-memory copy is always the truth the server answers from).

The state file holds one row per object: ``objects(id, kind, parent, created_at, seq, data,
extra, deleted)`` where ``data`` is the API object as JSON, ``extra`` the emulator's private
bookkeeping (a run's progress), and ``deleted`` marks tombstones so cursors pointing at
deleted objects keep working after a restart.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import string
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from syncer.api.models import ACTIVE_RUN_STATUSES
from syncer.emulator.collection import Collection, Page
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


def new_id(kind: str) -> str:
    """A fresh, unguessable id with the real prefix (``asst_…``, ``msg_…``, ``call_…``)."""
    return f"{ID_PREFIX[kind]}_" + id_suffix(secrets.token_bytes(24))


def id_suffix(random_bytes: bytes) -> str:
    """24 random bytes as 24 letters and digits (~142 bits; the modulo bias is harmless)."""
    return random_bytes.translate(_ID_TABLE).decode("ascii")


class ObjectStore:
    """The emulator's objects and lists."""

    def __init__(self, path: str | Path | None = None):
        self.objects: dict[str, dict[str, dict[str, Any]]] = {kind: {} for kind in KINDS}
        #: run id → the emulator's private progress record (see runs.py); response id → its
        #: context and input items (see responses.py). Persisted as the object's ``extra``.
        self.progress: dict[str, dict[str, Any]] = {}
        #: thread id → id of its run that is not finished yet
        self.active_run: dict[str, str] = {}
        self._parent: dict[str, str] = {}  # message/run id → thread id, step id → run id
        self._lists: dict[tuple[str, str], Collection] = {}
        self._run_messages: dict[str, list[str]] = {}  # run id → message ids it created
        self._seq = 0
        self._seqs: dict[str, int] = {}  # id → insertion number (ties on created_at)
        self._db: _StateFile | None = None
        if path is not None:
            self._db = _StateFile(Path(path))
            self._load_state()

    # --- reading -----------------------------------------------------------------------------

    def get(self, kind: str, object_id: str) -> dict[str, Any] | None:
        return self.objects[kind].get(object_id)

    def parent_of(self, object_id: str) -> str | None:
        return self._parent.get(object_id)

    def collection(self, kind: str, parent: str = "") -> Collection:
        key = (kind, parent)
        found = self._lists.get(key)
        if found is None:
            found = self._lists[key] = Collection()
        return found

    def page(self, kind: str, parent: str, params: dict[str, Any]) -> tuple[Page, list[dict[str, Any]]]:
        """One page of a list, and its objects."""
        page = self.collection(kind, parent).page(**params)
        return page, [self.objects[kind][object_id] for object_id in page.ids]

    def run_messages(self, run_id: str) -> Collection:
        """The messages a run created, as a list that pages like any other."""
        result = Collection()
        for object_id in self._run_messages.get(run_id, []):
            message = self.objects["message"].get(object_id)
            if message is not None:
                result.add(object_id, message["created_at"], self._seq_of(object_id))
        return result

    def thread_messages(self, thread_id: str) -> list[dict[str, Any]]:
        """All of a thread's messages, oldest first."""
        messages = self.objects["message"]
        return [messages[i] for i in self.collection("message", thread_id).ids()]

    # --- writing -----------------------------------------------------------------------------

    def add(self, kind: str, obj: dict[str, Any], parent: str = "") -> dict[str, Any]:
        """ObjectStore a new object at the end of its list (by created_at, then insertion)."""
        self._seq += 1
        object_id = obj["id"]
        self.objects[kind][object_id] = obj
        self._seqs[object_id] = self._seq
        if parent:
            self._parent[object_id] = parent
        if kind not in UNLISTED:
            # Items have no created_at: their lists are in insertion order.
            self.collection(kind, parent).add(object_id, obj.get("created_at", 0), self._seq)
        if kind == "message" and obj.get("run_id"):
            self._run_messages.setdefault(obj["run_id"], []).append(object_id)
        self.save(kind, obj)
        return obj

    def save(self, kind: str, obj: dict[str, Any]) -> None:
        """Persist an object after a change (no-op in memory)."""
        if self._db is not None:
            object_id = obj["id"]
            self._db.upsert(
                object_id,
                kind,
                self._parent.get(object_id, ""),
                obj.get("created_at", 0),
                self._seqs[object_id],
                obj,
                self.progress.get(object_id),
            )

    def delete(self, kind: str, object_id: str) -> None:
        """Delete an object; a thread takes its messages, runs and steps with it."""
        obj = self.objects[kind].pop(object_id, None)
        if obj is None:
            return
        parent = self._parent.get(object_id, "")
        if kind not in UNLISTED:
            self.collection(kind, parent).remove(object_id)
        if kind == "response":
            self.progress.pop(object_id, None)
        removed = [object_id]
        if kind == "thread":
            removed += self._drop_thread_children(object_id)
            self.active_run.pop(object_id, None)
        if self._db is not None:
            if kind == "thread":
                self._db.delete(removed)
            else:
                self._db.tombstone(object_id)

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Group many writes in one transaction (loading an account)."""
        if self._db is None:
            yield
            return
        with self._db.transaction():
            yield

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    # --- internals -------------------------------------------------------------------------------

    def _seq_of(self, object_id: str) -> int:
        return self._seqs.get(object_id, 0)

    def _drop_thread_children(self, thread_id: str) -> list[str]:
        removed: list[str] = []
        for kind in ("message", "run"):
            collection = self._lists.pop((kind, thread_id), None)
            for child in collection.ids() if collection else []:
                self.objects[kind].pop(child, None)
                self._parent.pop(child, None)
                removed.append(child)
                if kind == "run":
                    self.progress.pop(child, None)
                    self._run_messages.pop(child, None)
                    steps = self._lists.pop(("step", child), None)
                    for step in steps.ids() if steps else []:
                        self.objects["step"].pop(step, None)
                        self._parent.pop(step, None)
                        removed.append(step)
        return removed

    def _load_state(self) -> None:
        assert self._db is not None
        for row in self._db.rows():
            object_id, kind, parent, created_at, seq, data, extra, deleted = row
            self._seq = max(self._seq, seq)
            if deleted:
                if kind not in UNLISTED:
                    self.collection(kind, parent).forget(object_id, created_at, seq)
                continue
            obj = json.loads(data)
            self.objects[kind][object_id] = obj
            self._seqs[object_id] = seq
            if parent:
                self._parent[object_id] = parent
            if kind not in UNLISTED:
                self.collection(kind, parent).add(object_id, created_at, seq)
            if kind == "message" and obj.get("run_id"):
                self._run_messages.setdefault(obj["run_id"], []).append(object_id)
            if extra:
                self.progress[object_id] = json.loads(extra)
            if kind == "run" and obj.get("status") in ACTIVE_RUN_STATUSES:
                self.active_run[parent] = object_id


class _StateFile:
    """The SQLite file behind ``--state`` (WAL; one writer: this process)."""

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

    def __init__(self, path: Path):
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            # The server's event loop runs in another thread than the one that built the app.
            self.conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
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
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA synchronous=NORMAL")
            self.conn.executescript(self.SCHEMA)
        except sqlite3.Error as error:
            self.conn.close()
            raise UsageError(f"{path}: not an emulator state file ({error})") from None
        except UsageError:
            self.conn.close()
            raise
        self._in_transaction = False

    def rows(self) -> Iterator[tuple[Any, ...]]:
        yield from self.conn.execute(
            "SELECT id, kind, parent, created_at, seq, data, extra, deleted FROM objects ORDER BY seq"
        )

    def upsert(self, object_id: str, kind: str, parent: str, created_at: int, seq: int,
               data: dict[str, Any], extra: dict[str, Any] | None) -> None:
        self.conn.execute(
            "INSERT OR REPLACE INTO objects (id, kind, parent, created_at, seq, data, extra, deleted)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, 0)",
            (object_id, kind, parent, created_at, seq, json.dumps(data),
             json.dumps(extra) if extra is not None else None),
        )

    def tombstone(self, object_id: str) -> None:
        self.conn.execute("UPDATE objects SET deleted = 1, data = '{}', extra = NULL WHERE id = ?",
                          (object_id,))

    def delete(self, object_ids: list[str]) -> None:
        with self.transaction():
            self.conn.executemany("DELETE FROM objects WHERE id = ?", [(i,) for i in object_ids])

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
