"""What a migration would do: the selected threads as items, checked against ``migrate_map``
and the target server (read requests only).

For each thread:

- not in the map → ``new`` (a map row still ``pending`` means an earlier run may have created
  the conversation and been killed before recording it: a *possible orphan*, reported; the
  conversation is created again);
- in the map and ``done`` with every item → the conversation is fetched once: there → ``done``,
  deleted on the target → ``new`` (migrated afresh);
- otherwise (half filled, or the mirror has items since) → its items are listed on the target
  and matched against the planned ones, in order: those found count as sent and the rest are
  ``resume``d; an item migrate did not send makes it ``blocked`` (left alone).

When the plan made no request at all (every thread new), one read checks the server and key
before anything is written.
"""

from __future__ import annotations

import contextlib
import sqlite3
from dataclasses import dataclass, field
from typing import Any

from syncer import markers
from syncer.api.client import AssistantsClient
from syncer.api.models.conversations import MAX_CONVERSATION_ITEMS
from syncer.errors import BadRequestError, MirrorError, NotFoundError, UsageError
from syncer.migrate.items import REASONS, NotCarried, ThreadItems, thread_items
from syncer.migrate.mapping import MapRow, read_map
from syncer.mirror.rows import row_to_object
from syncer.mirror.store import Store, open_mirror

#: A conversation id no server has: reading it checks the server answers and the key is good.
PROBE_ID = "conv_syncer_probe"


def open_source(path: str, *, dry_run: bool = False, lock_timeout: float = 0.0) -> Store:
    """The mirror to migrate from: read-only for a dry run, else upgraded by the migrations
    (``migrate_map`` is one) with the migrate lock held until the store is closed
    (``syncer.mirror.lock``: a second migration from this mirror is refused, or waits up to
    ``lock_timeout`` s). Rows come back as ``sqlite3.Row``; the connection is autocommit."""
    hint = "give the mirror with --from or --db"
    if dry_run:
        store = open_mirror(path, "read", missing_hint=hint)
    else:
        store = open_mirror(path, "write", missing_hint=hint, lock="migrate", lock_timeout=lock_timeout)
    store.conn.row_factory = sqlite3.Row
    return store


@dataclass
class ThreadPlan:
    """One thread: its items, and how many of them are already on its conversation."""

    thread: ThreadItems
    status: str = "new"  # new | resume | done | blocked
    conversation_id: str | None = None
    items_done: int = 0
    error: str | None = None
    afresh: bool = False  # its earlier conversation was deleted on the target

    @property
    def thread_id(self) -> str:
        return self.thread.thread_id

    @property
    def writes(self) -> int:
        """Write requests still needed: the create (with the first 20 items), then one per 20."""
        remaining = len(self.thread.items) - self.items_done
        if self.status == "new":
            return 1 + _chunks(max(0, remaining - MAX_CONVERSATION_ITEMS))
        return _chunks(remaining) if self.status == "resume" else 0


def _chunks(count: int) -> int:
    return -(-count // MAX_CONVERSATION_ITEMS)


@dataclass
class MigratePlan:
    target: str
    threads: list[ThreadPlan] = field(default_factory=list)
    possible_orphans: list[str] = field(default_factory=list)
    replays_left_out: int = 0
    lookup_requests: int = 0

    @property
    def write_requests(self) -> int:
        return sum(t.writes for t in self.threads)

    def not_carried(self) -> list[NotCarried]:
        return [lost for t in self.threads for lost in t.thread.not_carried]

    def summary(self) -> dict[str, Any]:
        """Counts for the summary table and ``--json``."""
        count = {status: sum(t.status == status for t in self.threads)
                 for status in ("new", "resume", "done", "blocked")}
        reasons: dict[str, list[NotCarried]] = {}
        for lost in self.not_carried():
            reasons.setdefault(lost.reason, []).append(lost)
        return {
            "target": self.target,
            "threads": {"selected": len(self.threads), "create": count["new"],
                        "resume": count["resume"], "already": count["done"],
                        "blocked": count["blocked"], "replays_left_out": self.replays_left_out},
            "messages": sum(t.thread.messages for t in self.threads),
            "function_calls": sum(t.thread.function_calls for t in self.threads),
            "items": sum(len(t.thread.items) for t in self.threads),
            "items_to_send": sum(len(t.thread.items) - t.items_done for t in self.threads
                                 if t.status in ("new", "resume")),
            "requests": {"writes": self.write_requests, "lookups": self.lookup_requests},
            "not_carried": [
                {"reason": reason, "why": REASONS[reason], "count": len(found),
                 "where": [f"thread {lost.thread_id}: {lost.what}" for lost in found]}
                for reason, found in sorted(reasons.items())
            ],
            "possible_orphans": list(self.possible_orphans),
            "blocked": [f"thread {t.thread_id}: {t.error}" for t in self.threads if t.error],
        }


def select_threads(conn: sqlite3.Connection, thread_ids: list[str] | None
                   ) -> tuple[list[dict[str, Any]], int]:
    """The threads to migrate, oldest first, and how many replay threads were left out.

    Named threads must be in the mirror. Without names: every mirrored thread (deleted upstream
    too: the mirror may be all that is left of it) except the ones a replay created.
    """
    def decoded(row: sqlite3.Row) -> dict[str, Any]:
        obj = row_to_object("threads", dict(row))
        obj["_deleted_at"] = row["deleted_at"]
        return obj

    if thread_ids:
        found = []
        for thread_id in dict.fromkeys(thread_ids):
            row = conn.execute("SELECT * FROM threads WHERE id = ?", (thread_id,)).fetchone()
            if row is None:
                raise UsageError(f"{thread_id}: no such thread in the mirror")
            found.append(decoded(row))
        return found, 0
    rows = [decoded(row) for row in conn.execute("SELECT * FROM threads ORDER BY created_at, rowid")]
    kept = [t for t in rows if not markers.is_replay(t)]
    return kept, len(rows) - len(kept)


async def build_plan(conn: sqlite3.Connection, client: AssistantsClient,
                     thread_ids: list[str] | None = None) -> MigratePlan:
    """What migrating into the client's server would do. Sends read requests only."""
    plan = MigratePlan(target=client.settings.server_key)
    threads, plan.replays_left_out = select_threads(conn, thread_ids)
    mapped = read_map(conn, plan.target)
    for thread in threads:
        entry = ThreadPlan(thread=thread_items(conn, thread))
        row = mapped.get(entry.thread_id)
        if row is not None and row.conversation_id:
            await _check_target(client, plan, entry, row)
        elif row is not None:
            plan.possible_orphans.append(f"thread {entry.thread_id}")
        plan.threads.append(entry)
    if plan.lookup_requests == 0 and plan.threads:
        await probe(client, plan)
    return plan


async def probe(client: AssistantsClient, plan: MigratePlan) -> None:
    """One read before any write: an unreachable server or a wrong key stops here (a 404 or
    400 for the made-up id is the expected answer)."""
    plan.lookup_requests += 1
    with contextlib.suppress(NotFoundError, BadRequestError):
        await client.retrieve_conversation(PROBE_ID)


async def _check_target(client: AssistantsClient, plan: MigratePlan, entry: ThreadPlan,
                        row: MapRow) -> None:
    entry.conversation_id = row.conversation_id
    assert row.conversation_id is not None
    try:
        if row.status == "done" and row.items_done == len(entry.thread.items):
            plan.lookup_requests += 1
            await client.retrieve_conversation(row.conversation_id)
            entry.status, entry.items_done = "done", row.items_done
            return
        entry.status = "resume"
        entry.items_done = await count_sent(client, plan, row.conversation_id, entry.thread.items)
    except NotFoundError:
        # Deleted on the target since: migrated afresh.
        entry.status, entry.conversation_id, entry.items_done, entry.afresh = "new", None, 0, True
    except MirrorError as error:
        entry.status, entry.error = "blocked", str(error)


async def count_sent(client: AssistantsClient, plan: MigratePlan | None, conversation_id: str,
                     planned: list[dict[str, Any]]) -> int:
    """How many of ``planned`` the conversation holds: its items, listed oldest first, must be
    the first planned ones in order; anything else means someone else wrote to it."""
    count = 0
    async for page in client.conversation_item_pages(conversation_id, order="asc", limit=100):
        if plan is not None:
            plan.lookup_requests += 1
        for item in page.data:
            if count >= len(planned) or not same_item(planned[count], item):
                raise MirrorError(
                    f"its conversation {conversation_id} holds items migrate did not send "
                    f"({item.get('id')}); not touching it")
            count += 1
    return count


def same_item(planned: dict[str, Any], found: dict[str, Any]) -> bool:
    """Whether an item on the target is the planned one (as the server renders it)."""
    if planned["type"] != found.get("type"):
        return False
    if planned["type"] == "message":
        return bool(planned["role"] == found.get("role")
                    and [_part(p) for p in planned["content"]] == [_part(p) for p in found.get("content") or []])
    keys = ("call_id", "name", "arguments") if planned["type"] == "function_call" else ("call_id", "output")
    return all(planned[key] == found.get(key) for key in keys)


def _part(part: Any) -> tuple[Any, ...]:
    if not isinstance(part, dict):
        return (part,)
    kind = part.get("type")
    if kind == "input_image":
        return (kind, part.get("image_url"), part.get("detail") or "auto")
    return (kind, part.get("text"), part.get("refusal"))
