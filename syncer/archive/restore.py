"""Pushing archived assistants, threads and messages from a mirror into a server.

Ids change on restore, so every object restored is recorded in the source mirror's
``restore_map`` table (kind, source id, target server, target id, status). That map makes a
restore idempotent (a second run creates nothing) and resumable (a killed run picks up where
it stopped):

- assistants carry ``syncer:source`` in their metadata, so one listing of the target finds
  any assistant created in the instant before a kill, even if the map never heard of it; one
  whose 16 metadata pairs leave no room has its intent recorded (``pending``) before the
  create, and the listing finds it by model, name, instructions and metadata;
- a thread's *intent* is recorded (status ``pending``) before it is created, with its first
  32 messages in the same request. Threads cannot be listed, so a pending intent found by the
  next run means a thread may have been created and lost: it is reported as a possible
  orphan and created again. Threads are restored concurrently, but their creates go one at a
  time, so a kill leaves at most one such orphan;
- further messages are created in order, and a resumed thread's messages are listed on the
  target first, so a message created just before a kill is counted, never sent twice;
  messages archived after a restore are appended by the next one.

Runs and run steps cannot be recreated through the API: they stay in the archive, and the
restored thread links back to its original through ``syncer:source``. Parts the target
cannot get back (``image_file`` ids, attachments, ``tool_resources``, file annotations,
refusals) are listed in the report rather than dropped silently.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

from syncer import markers
from syncer.api.client import AssistantsClient
from syncer.api.models import MAX_METADATA_PAIRS
from syncer.api.retry import SilenceWatch
from syncer.api.settings import server_key
from syncer.errors import (
    APIError,
    APIStatusError,
    AuthenticationError,
    MirrorError,
    NotFoundError,
    PermissionDeniedError,
    UsageError,
)
from syncer.mirror.rows import row_to_object
from syncer.mirror.schema import epoch, timestamp
from syncer.mirror.store import Store, open_mirror

# Messages sent inside the thread create (the API takes at most 32 there); the rest go one
# request each. A thread and its first messages in one request: fewer requests, and a thread
# is never left without its opening messages.
MAX_INLINE_MESSAGES = 32

# Configuration fields an assistant is created with; everything else it has is server-made.
ASSISTANT_FIELDS = (
    "model", "name", "description", "instructions", "tools", "metadata",
    "temperature", "top_p", "response_format", "reasoning_effort",
)

Progress = Callable[[str], None]
_KEPT = "what was restored is recorded in restore_map; run restore again to finish"


# --- reading the mirror ----------------------------------------------------------------------


def _decode(table: str, row: sqlite3.Row) -> dict[str, Any]:
    """The archived API object (the store decodes its JSON columns), plus ``_deleted_at``."""
    values = dict(row)
    obj = row_to_object(table, values)
    obj["_deleted_at"] = values.get("deleted_at")
    return obj


def _rows(conn: sqlite3.Connection, table: str, where: str = "",
          params: Iterable[Any] = ()) -> list[dict[str, Any]]:
    # created_at has one-second resolution: ties keep the mirror's insertion order, which is
    # the server's order because sync writes lists oldest first.
    sql = f"SELECT * FROM [{table}] {where} ORDER BY created_at, rowid"
    return [_decode(table, row) for row in conn.execute(sql, tuple(params))]


def open_archive(path: str, *, lock_timeout: float = 0.0) -> Store:
    """The source mirror, upgraded by the migrations (``restore_map`` is one of them), with its
    restore lock held until the store is closed (``syncer.mirror.lock``).

    Its connection is autocommit: each ``restore_map`` write is on disk before the next
    request goes out.
    """
    store = open_mirror(path, "write", missing_hint="give the archive with --from or --db",
                        lock="restore", lock_timeout=lock_timeout)
    store.conn.row_factory = sqlite3.Row
    return store


# --- what can be recreated ---------------------------------------------------------------------


@dataclass
class Skipped:
    """Something in the archive the target cannot get back."""

    kind: str  # assistant | thread | message
    source_id: str
    what: str
    thread_id: str | None = None

    def line(self) -> str:
        where = f"{self.kind} {self.source_id}"
        if self.thread_id:
            where += f" (thread {self.thread_id})"
        return f"{where}: {self.what} not restored"


def _with_source(metadata: Any, source_id: str) -> tuple[dict[str, str], bool]:
    """The metadata to send, with ``syncer:source`` when the 16-pair limit leaves room."""
    meta = dict(metadata or {}) if isinstance(metadata, dict) else {}
    if markers.SOURCE in meta or len(meta) < MAX_METADATA_PAIRS:
        meta[markers.SOURCE] = source_id
        return meta, True
    return meta, False


def _tool_resources_lost(resources: Any) -> str | None:
    """A description of the files/vector stores a ``tool_resources`` refers to, if any."""
    if not isinstance(resources, dict):
        return None
    parts = []
    for tool, value in sorted(resources.items()):
        if not isinstance(value, dict):
            continue
        for key, ids in sorted(value.items()):
            if isinstance(ids, list) and ids:
                parts.append(f"{tool}.{key} [{', '.join(map(str, ids))}]")
            elif key == "vector_stores" and ids:
                parts.append(f"{tool}.{key}")
    return f"tool_resources {'; '.join(parts)}" if parts else None


def assistant_body(obj: dict[str, Any]) -> tuple[dict[str, Any], list[str], bool]:
    """The create request for an archived assistant, what it loses, and whether it is tagged."""
    body = {name: obj[name] for name in ASSISTANT_FIELDS if obj.get(name) is not None}
    body["metadata"], tagged = _with_source(obj.get("metadata"), obj["id"])
    lost = [lost for lost in [_tool_resources_lost(obj.get("tool_resources"))] if lost]
    if not tagged:
        lost.append(f"link to the source ({markers.SOURCE}: metadata already has 16 pairs)")
    return body, lost, tagged


def thread_body(obj: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The create request for an archived thread (metadata only) and what it loses."""
    metadata, tagged = _with_source(obj.get("metadata"), obj["id"])
    lost = [lost for lost in [_tool_resources_lost(obj.get("tool_resources"))] if lost]
    if not tagged:
        lost.append(f"link to the source ({markers.SOURCE}: metadata already has 16 pairs)")
    return {"metadata": metadata}, lost


def message_body(obj: dict[str, Any]) -> tuple[dict[str, Any] | None, list[str]]:
    """The create request for an archived message (None when nothing of it can be sent)."""
    parts: list[dict[str, Any]] = []
    lost: list[str] = []
    for part in obj.get("content") or []:
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text":
            text = part.get("text") or {}
            parts.append({"type": "text", "text": text.get("value", "")})
            annotations = text.get("annotations") or []
            if annotations:
                files = sorted({
                    str((a.get(a.get("type", "")) or {}).get("file_id"))
                    for a in annotations if isinstance(a, dict)
                })
                lost.append(f"{len(annotations)} text annotation(s) [{', '.join(files)}]")
        elif kind == "image_url":
            parts.append({"type": "image_url", "image_url": part.get("image_url")})
        elif kind == "image_file":
            file_id = (part.get("image_file") or {}).get("file_id")
            lost.append(f"image_file part [{file_id}]")
        elif kind == "refusal":
            lost.append("refusal part")
        else:
            lost.append(f"{kind or 'unknown'} part")
    attachments = obj.get("attachments") or []
    if attachments:
        ids = ", ".join(str(a.get("file_id")) for a in attachments if isinstance(a, dict))
        lost.append(f"attachments [{ids}]")
    if not parts:
        lost.append("the whole message (no text or image_url content to send)")
        return None, lost
    metadata, _ = _with_source(obj.get("metadata"), obj["id"])
    # One text part goes as a plain string: the form every Assistants server accepts.
    content: Any = parts[0]["text"] if len(parts) == 1 and parts[0]["type"] == "text" else parts
    return {"role": obj.get("role") or "user", "content": content, "metadata": metadata}, lost


# --- the plan ------------------------------------------------------------------------------------


@dataclass
class ThreadRestore:
    """One archived thread: what is already on the target and what remains to send."""

    source: dict[str, Any]
    body: dict[str, Any]
    messages: list[tuple[str, dict[str, Any]]]  # (source message id, create body), in order
    target_id: str | None = None  # set when the thread exists on the target already
    found: list[tuple[str, str]] = field(default_factory=list)  # messages found on the target
    done_messages: int = 0  # messages already on the target
    status: str = "new"  # new | resume | done | blocked
    error: str | None = None  # why a thread cannot be restored (status "blocked")

    @property
    def remaining(self) -> int:
        return len(self.messages) - self.done_messages

    @property
    def inline(self) -> int:
        """How many messages go inside the thread create."""
        return min(MAX_INLINE_MESSAGES, len(self.messages)) if self.status == "new" else 0

    @property
    def requests(self) -> tuple[int, int]:
        """(writes, reads) this thread still needs: the create (with its first messages and one
        listing of their new ids per 100) and one request per further message."""
        if self.status not in ("new", "resume"):
            return 0, 0
        creates = 1 if self.status == "new" else 0
        reads = -(-self.inline // 100) if self.inline else 0
        return max(0, creates + self.remaining - self.inline), reads


@dataclass
class RestorePlan:
    """Everything a restore would do, computed from the mirror, the map and read-only lookups."""

    target: str
    assistants_new: list[tuple[dict[str, Any], dict[str, Any]]] = field(default_factory=list)
    assistants_found: list[tuple[str, str, str]] = field(default_factory=list)  # src, tgt, how
    threads: list[ThreadRestore] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    possible_orphans: list[str] = field(default_factory=list)
    not_selected_deleted: int = 0
    replays_left_out: int = 0  # objects a replay made (--include-replays brings them)
    lookup_requests: int = 0
    target_is_source: bool = False  # restoring into the account the archive mirrors

    @property
    def threads_new(self) -> list[ThreadRestore]:
        return [t for t in self.threads if t.status == "new"]

    @property
    def messages_to_create(self) -> int:
        return sum(t.remaining for t in self.threads if t.status in ("new", "resume"))

    @property
    def write_requests(self) -> int:
        return len(self.assistants_new) + sum(t.requests[0] for t in self.threads)

    @property
    def read_requests(self) -> int:
        """Reads the restore itself will make (listing the ids of messages sent inline)."""
        return sum(t.requests[1] for t in self.threads)

    def summary(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "assistants": {"create": len(self.assistants_new), "already": len(self.assistants_found)},
            "threads": {
                "create": len(self.threads_new),
                "resume": sum(t.status == "resume" for t in self.threads),
                "already": sum(t.status == "done" for t in self.threads),
                "blocked": sum(t.status == "blocked" for t in self.threads),
            },
            "messages": {"create": self.messages_to_create},
            "requests": {"writes": self.write_requests, "reads": self.read_requests,
                         "lookups": self.lookup_requests},
            "possible_orphans": list(self.possible_orphans),
            "not_restorable": [s.line() for s in self.skipped],
            "skipped_deleted": self.not_selected_deleted,
            "skipped_replays": self.replays_left_out,
            "target_is_source": self.target_is_source,
        }


def target_key(settings: Any) -> str:
    """How the map names a target server: its base URL, plus organisation/project if set."""
    return server_key(str(settings.base_url), getattr(settings, "organization", None),
                      getattr(settings, "project", None))


def _map(conn: sqlite3.Connection, kind: str, target: str) -> dict[str, sqlite3.Row]:
    return {
        row["source_id"]: row
        for row in conn.execute(
            "SELECT * FROM restore_map WHERE kind = ? AND target = ?", (kind, target)
        )
    }


def _record(conn: sqlite3.Connection, kind: str, source_id: str, target: str,
            target_id: str | None, status: str) -> None:
    # Autocommit: the map is on disk before the next request goes out.
    conn.execute(
        "INSERT INTO restore_map (kind, source_id, target, target_id, status, updated_at) "
        "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (kind, source_id, target) DO UPDATE SET "
        "target_id = excluded.target_id, status = excluded.status, updated_at = excluded.updated_at",
        (kind, source_id, target, target_id, status, timestamp()),
    )


def _forget(conn: sqlite3.Connection, kind: str, source_id: str, target: str) -> None:
    conn.execute("DELETE FROM restore_map WHERE kind = ? AND source_id = ? AND target = ?",
                 (kind, source_id, target))


def _selected_threads(conn: sqlite3.Connection, thread_ids: list[str] | None,
                      include_deleted: bool) -> tuple[list[dict[str, Any]], int]:
    if thread_ids:
        rows = []
        for thread_id in thread_ids:
            found = _rows(conn, "threads", "WHERE id = ?", (thread_id,))
            if not found:
                raise UsageError(f"{thread_id}: no such thread in the mirror")
            rows.extend(found)
        return rows, 0
    rows = _rows(conn, "threads")
    kept = [r for r in rows if include_deleted or not r["_deleted_at"]]
    return kept, len(rows) - len(kept)


def _without_replays(rows: list[dict[str, Any]], include_replays: bool,
                     plan: RestorePlan) -> list[dict[str, Any]]:
    """Leave out what ``syncer replay`` made (``syncer:replay``) unless asked for."""
    if include_replays:
        return rows
    kept = [row for row in rows if not markers.is_replay(row)]
    plan.replays_left_out += len(rows) - len(kept)
    return kept


def _messages(conn: sqlite3.Connection, thread: dict[str, Any],
              include_deleted: bool) -> list[dict[str, Any]]:
    # A thread deleted upstream has every message marked deleted with it: restoring such a
    # thread (named with --thread, or --include-deleted) brings its messages along.
    if include_deleted or thread["_deleted_at"]:
        return _rows(conn, "messages", "WHERE thread_id = ?", (thread["id"],))
    return _rows(conn, "messages", "WHERE thread_id = ? AND deleted_at IS NULL", (thread["id"],))


async def _target_assistants(client: AssistantsClient, plan: RestorePlan) -> list[dict[str, Any]]:
    """The target's assistants, oldest first."""
    items: list[dict[str, Any]] = []
    async for page in client.assistant_pages(order="asc", limit=100):
        plan.lookup_requests += 1
        items.extend(page.data)
    return items


# An untagged assistant whose create was interrupted is recognised by what it was created with.
# Only fields a server keeps exactly as sent (tools may come back with defaults filled in).
_IDENTITY_FIELDS = ("model", "name", "instructions", "metadata")
# Clock skew allowed between this machine (the intent's time) and the server (created_at).
_CLOCK_SKEW_S = 600


def _interrupted_create(items: list[dict[str, Any]], body: dict[str, Any], since: str | None,
                        taken: set[str]) -> str | None:
    """The target assistant an interrupted create of ``body`` made, if the listing shows one.

    Assistants can be listed, so unlike a thread, an assistant without room for
    ``syncer:source`` is still found: created no earlier than the recorded intent, with the
    same model, name, instructions and (full, 16-pair) metadata, and not already mapped.
    """
    try:
        start = epoch(since or "")
    except ValueError:
        return None
    for item in items:
        if item["id"] in taken or (item.get("created_at") or 0) < start - _CLOCK_SKEW_S:
            continue
        if all(item.get(name) == body.get(name) for name in _IDENTITY_FIELDS):
            return str(item["id"])
    return None


async def plan_restore(
    conn: sqlite3.Connection,
    client: AssistantsClient,
    *,
    assistants: bool = True,
    threads: bool = True,
    thread_ids: list[str] | None = None,
    include_deleted: bool = False,
    include_replays: bool = False,
) -> RestorePlan:
    """What a restore into the client's server would do. Sends only read requests.

    Threads and assistants a replay made (``syncer:replay``) are left out unless
    ``include_replays`` (or the thread is named in ``thread_ids``).
    """
    plan = RestorePlan(target=target_key(client.settings))
    target = plan.target
    # The usual connection settings are often the account the mirror was synced from: every
    # create would then be a copy beside its original. Said in the plan, not refused (bringing
    # back what was deleted upstream, with --include-deleted, is a reason to do it).
    meta = {row[0]: row[1] for row in conn.execute("SELECT key, value FROM meta")}
    if meta.get("base_url"):
        plan.target_is_source = target == target_key(SimpleNamespace(
            base_url=meta["base_url"], organization=meta.get("organization"),
            project=meta.get("project")))

    if assistants:
        mapped = _map(conn, "assistant", target)
        items = await _target_assistants(client, plan)
        existing = {item["id"] for item in items}
        by_source: dict[str, str] = {}
        for item in items:
            source = (item.get("metadata") or {}).get(markers.SOURCE)
            if source and source not in by_source:  # oldest wins if duplicates exist
                by_source[source] = item["id"]
        # Target assistants that already stand for some archived one.
        taken = set(by_source.values()) | {
            row["target_id"] for row in mapped.values() if row["target_id"]}
        for obj in _without_replays(_rows(conn, "assistants"), include_replays, plan):
            if obj["_deleted_at"] and not include_deleted:
                plan.not_selected_deleted += 1
                continue
            body, lost, tagged = assistant_body(obj)
            plan.skipped.extend(Skipped("assistant", obj["id"], what) for what in lost)
            row = mapped.get(obj["id"])
            if row is not None and row["status"] == "done" and row["target_id"] in existing:
                plan.assistants_found.append((obj["id"], row["target_id"], "map"))
            elif obj["id"] in by_source:
                plan.assistants_found.append((obj["id"], by_source[obj["id"]], markers.SOURCE))
            elif row is not None and row["status"] == "pending" and not tagged and (
                    found := _interrupted_create(items, body, row["updated_at"], taken)):
                taken.add(found)
                plan.assistants_found.append((obj["id"], found, "interrupted create"))
            else:
                plan.assistants_new.append((obj, body))

    if threads or thread_ids:
        mapped = _map(conn, "thread", target)
        sent = {row[0] for row in conn.execute(
            "SELECT source_id FROM restore_map WHERE kind = 'message' AND target = ?", (target,))}
        rows, deleted = _selected_threads(conn, thread_ids, include_deleted)
        if not thread_ids:
            rows = _without_replays(rows, include_replays, plan)
        plan.not_selected_deleted += deleted
        for obj in rows:
            body, lost = thread_body(obj)
            plan.skipped.extend(Skipped("thread", obj["id"], what) for what in lost)
            messages = []
            for message in _messages(conn, obj, include_deleted):
                mbody, mlost = message_body(message)
                plan.skipped.extend(
                    Skipped("message", message["id"], what, thread_id=obj["id"]) for what in mlost
                )
                if mbody is not None:
                    messages.append((message["id"], mbody))
            thread = ThreadRestore(source=obj, body=body, messages=messages)
            row = mapped.get(obj["id"])
            if row is not None and row["target_id"]:
                thread.target_id = row["target_id"]
                if row["status"] == "done":
                    # Messages archived since the last restore (a later sync) are appended
                    # after the ones the map says were sent.
                    done = 0
                    while done < len(messages) and messages[done][0] in sent:
                        done += 1
                    thread.done_messages = done
                    thread.status = "done" if done == len(messages) else "resume"
                    if any(message_id in sent for message_id, _ in messages[done:]):
                        # New archived messages sit between restored ones: appending would
                        # change the order, so the copy is left as it is.
                        thread.status = "blocked"
                        thread.error = (f"archived messages were added before ones already "
                                        f"restored to {thread.target_id}; not appending")
                else:
                    thread.status = "resume"
                    try:
                        thread.found = await _count_restored(client, plan, thread)
                        thread.done_messages = len(thread.found)
                    except NotFoundError:
                        # The half-restored copy was deleted on the target: start it afresh.
                        thread.target_id, thread.status = None, "new"
                    except MirrorError as error:
                        thread.status, thread.error = "blocked", str(error)
            elif row is not None and row["status"] == "pending":
                plan.possible_orphans.append(f"thread {obj['id']}")
            plan.threads.append(thread)
    return plan


async def _count_restored(client: AssistantsClient, plan: RestorePlan | None,
                          thread: ThreadRestore) -> list[tuple[str, str]]:
    """The thread's messages already on the target, (source id, target id), oldest first.

    They go in order, so they are the first of the archived ones; a message restore did not
    send means someone else wrote to the copy, and the thread is left alone.
    """
    found: list[tuple[str, str]] = []
    async for page in client.thread_message_pages(str(thread.target_id), order="asc", limit=100):
        if plan is not None:
            plan.lookup_requests += 1
        for item in page.data:
            source = (item.get("metadata") or {}).get(markers.SOURCE)
            count = len(found)
            expected = thread.messages[count][0] if count < len(thread.messages) else None
            if expected is None or (source is not None and source != expected):
                raise MirrorError(
                    f"its copy {thread.target_id} on the target has messages this restore did "
                    f"not send ({item['id']}); not touching it"
                )
            found.append((expected, item["id"]))
    return found


# --- doing it --------------------------------------------------------------------------------------


@dataclass
class RestoreReport:
    """What a restore did."""

    plan: RestorePlan
    created: dict[str, int] = field(default_factory=lambda: {"assistants": 0, "threads": 0, "messages": 0})
    errors: list[str] = field(default_factory=list)
    ids: dict[str, str] = field(default_factory=dict)  # source id → target id
    requests: int = 0
    # The plan's summary as it was before anything was done (executing a plan advances its
    # threads' progress, so a summary taken afterwards would count what is left, not what was
    # planned).
    planned: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.planned:
            self.planned = self.plan.summary()

    def as_dict(self) -> dict[str, Any]:
        """The plan as it was, and what was done (``created``, ``errors``, ``requests_sent``)."""
        return {**self.planned, "created": dict(self.created), "errors": list(self.errors),
                "ids": dict(self.ids), "requests_sent": self.requests}


async def execute(
    conn: sqlite3.Connection, client: AssistantsClient, plan: RestorePlan, progress: Progress | None = None,
    *, concurrency: int = 4,
) -> RestoreReport:
    """Carry out a plan: create what is missing, recording every step in ``restore_map``.

    An error on one thread is reported and the rest go on; a 401/403 stops everything.
    """
    report = RestoreReport(plan=plan)
    say = progress or (lambda _message: None)
    target = plan.target
    start = client.requests_sent

    for source, target_id, _how in plan.assistants_found:
        _record(conn, "assistant", source, target, target_id, "done")
        report.ids[source] = target_id
    silence = SilenceWatch()
    for obj, body in plan.assistants_new:
        if silence.gone:
            raise silence.stop_error("objects", _KEPT)
        try:
            _record(conn, "assistant", obj["id"], target, None, "pending")
            created = await client.create_assistant(body)
            _record(conn, "assistant", obj["id"], target, created.id, "done")
            report.ids[obj["id"]] = created.id
            report.created["assistants"] += 1
            say(f"assistant {obj['id']} → {created.id}")
            silence.ok()
        except (AuthenticationError, PermissionDeniedError):
            raise
        except APIError as error:
            report.errors.append(f"assistant {obj['id']}: {error}")
            silence.failed(error)

    # Threads go concurrently (their messages in order within each), but thread *creates* are
    # serialised by a lock: at most one create is ever in flight, so a kill can orphan at most
    # one thread — and its recorded intent names it.
    create_lock = asyncio.Lock()
    slots = asyncio.Semaphore(max(1, concurrency))

    async def one(thread: ThreadRestore) -> None:
        async with slots:
            if silence.gone:
                return  # the server stopped answering: start nothing more
            try:
                await _restore_thread(conn, client, target, thread, report, say, create_lock)
                silence.ok()
            except (AuthenticationError, PermissionDeniedError):
                raise
            except (APIError, MirrorError) as error:
                report.errors.append(f"thread {thread.source['id']}: {error}")
                silence.failed(error)

    for thread in plan.threads:
        if thread.error:
            report.errors.append(f"thread {thread.source['id']}: {thread.error}")
    await asyncio.gather(*(one(t) for t in plan.threads if not t.error))
    if silence.gone:
        raise silence.stop_error("objects", _KEPT)
    report.requests = client.requests_sent - start
    return report


async def _restore_thread(conn: sqlite3.Connection, client: AssistantsClient, target: str, thread: ThreadRestore,
                          report: RestoreReport, say: Progress, create_lock: asyncio.Lock) -> None:
    source_id = thread.source["id"]
    if thread.status == "done":
        report.ids[source_id] = thread.target_id or ""
        return
    if thread.target_id is None:
        inline = thread.messages[:thread.inline]
        body = {**thread.body, "messages": [b for _, b in inline]} if inline else thread.body
        async with create_lock:
            # The intent goes to disk first: if we die between the create and the next write,
            # the next run sees "pending" and reports the thread it cannot find as a possible
            # orphan.
            _record(conn, "thread", source_id, target, None, "pending")
            try:
                created = await client.create_thread(body)
            except APIStatusError as error:
                if error.status_code < 500:
                    # A 4xx answer means nothing was created: no orphan to report later.
                    _forget(conn, "thread", source_id, target)
                raise
            thread.target_id = created.id
            _record(conn, "thread", source_id, target, thread.target_id, "created")
        report.created["threads"] += 1
        # The ids the server gave the messages sent with the thread.
        thread.found = await _count_restored(client, None, thread)
        thread.done_messages = len(thread.found)
        report.created["messages"] += len(thread.found)
    else:
        # Messages go out now: until the thread is done again, the next run must list the
        # copy's messages rather than trust the map (a kill may land mid-create).
        _record(conn, "thread", source_id, target, thread.target_id, "created")
    for message_id, found_id in thread.found:  # counted on the target
        _record(conn, "message", message_id, target, found_id, "done")
    report.ids[source_id] = thread.target_id
    for message_id, body in thread.messages[thread.done_messages:]:
        message = await client.create_message(str(thread.target_id), body)
        _record(conn, "message", message_id, target, message.id, "done")
        thread.done_messages += 1
        report.created["messages"] += 1
    _record(conn, "thread", source_id, target, thread.target_id, "done")
    say(f"thread {source_id} → {thread.target_id} ({len(thread.messages)} messages)")


# --- the whole flow: open, plan, confirm, execute ---------------------------------------------------


@dataclass
class RestoreOutcome:
    """What `restore` did: the plan, and the report (None for a dry run or when declined)."""

    plan: RestorePlan
    report: RestoreReport | None = None
    declined: bool = False


async def restore(
    client: AssistantsClient,
    source: str,
    confirm: Callable[[str], bool],
    *,
    assistants: bool = True,
    threads: bool = True,
    thread_ids: list[str] | None = None,
    include_deleted: bool = False,
    include_replays: bool = False,
    dry_run: bool = False,
    concurrency: int = 4,
    lock_timeout: float = 0.0,
    on_plan: Callable[[RestorePlan], None] | None = None,
    progress: Progress | None = None,
) -> RestoreOutcome:
    """Restore the archive at ``source`` into the client's server: plan, confirm, execute.

    The archive's restore lock is held throughout (taken before the id map is read, so a
    second restore waits or is refused and never plans from a map the first is writing).
    ``on_plan`` sees the plan first; ``confirm`` is asked only when there is something to
    create. With nothing to create the plan is still executed: the report then holds the id
    map and any blocked thread, in the shape of any other restore.
    """
    store = open_archive(source, lock_timeout=lock_timeout)
    try:
        plan = await plan_restore(store.conn, client, assistants=assistants, threads=threads,
                                  thread_ids=thread_ids, include_deleted=include_deleted,
                                  include_replays=include_replays)
        if on_plan:
            on_plan(plan)
        if dry_run:
            return RestoreOutcome(plan)
        if plan.write_requests and not confirm("Restore into this server?"):
            return RestoreOutcome(plan, declined=True)
        report = await execute(store.conn, client, plan, progress, concurrency=concurrency)
        return RestoreOutcome(plan, report)
    finally:
        store.close()
