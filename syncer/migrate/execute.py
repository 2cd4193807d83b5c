"""Carrying out a migration plan, crash-safe through ``migrate_map``.

Per thread: the intent is recorded (``pending``) before the conversation is created with its
metadata and first 20 items; its id is recorded (``created``) as soon as it is known; the rest
of the items go 20 a request, ``items_done`` recorded after each; ``done`` at the end. A kill
at any moment leaves the map saying what the next run must check: a ``pending`` row is a
possible orphan (conversations cannot be listed), a ``created`` one is completed from what the
server holds (`syncer.migrate.plan.count_sent`). Threads go concurrently, but creates one at a
time, so a kill orphans at most one conversation.

The client never resends these writes on its own: a write whose answer was lost (no answer, a
5xx) may have taken effect, and a server need not honour Idempotency-Key. Before sending a
chunk again, the conversation's items are listed (a chunk that landed is counted, never added
twice); a create sent again is reported as a possible orphan.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from syncer.api.client import AssistantsClient
from syncer.api.models.conversations import MAX_CONVERSATION_ITEMS
from syncer.api.retry import RETRYABLE_STATUSES, retry_delay
from syncer.errors import (
    APIConnectionError,
    APIError,
    APIStatusError,
    AuthenticationError,
    MirrorError,
    PermissionDeniedError,
)
from syncer.migrate.mapping import forget, record
from syncer.migrate.plan import MigratePlan, ThreadPlan, build_plan, count_sent, open_source

Progress = Callable[[str], None]
T = TypeVar("T")
#: Errors that stop the whole migration (every other one stops its thread only).
FATAL = (AuthenticationError, PermissionDeniedError, APIConnectionError)


@dataclass
class MigrateReport:
    plan: MigratePlan
    planned: dict[str, Any] = field(default_factory=dict)  # the plan's summary before it ran
    conversations: dict[str, str] = field(default_factory=dict)  # thread id → conversation id
    created: dict[str, int] = field(default_factory=lambda: {"conversations": 0, "items": 0})
    errors: list[str] = field(default_factory=list)
    requests: int = 0
    orphans: list[str] = field(default_factory=list)  # creates sent again after a lost answer

    def as_dict(self) -> dict[str, Any]:
        return {**self.planned, "created": dict(self.created), "errors": list(self.errors),
                "conversations": dict(self.conversations), "requests_sent": self.requests,
                "possible_orphans": [*self.planned.get("possible_orphans", []), *self.orphans]}


def _retryable(error: APIError) -> bool:
    return isinstance(error, APIConnectionError) or (
        isinstance(error, APIStatusError)
        and (error.status_code in RETRYABLE_STATUSES or error.status_code >= 500))


def _may_have_landed(error: APIError) -> bool:
    """Whether a failed write may still have taken effect: no answer, or a server error."""
    return isinstance(error, APIConnectionError) or (
        isinstance(error, APIStatusError) and error.status_code >= 500)


async def _write(client: AssistantsClient, send: Callable[[], Awaitable[T]],
                    before_resend: Callable[[], Awaitable[None]]) -> T:
    """``send()`` (a write sent with no retry of the client's own), retried as the client
    would, but calling ``before_resend()`` first whenever the failed attempt may have landed."""
    settings = client.settings
    for attempt in range(settings.max_retries + 1):
        try:
            return await send()
        except APIError as error:
            if not _retryable(error) or attempt == settings.max_retries:
                error.attempts = attempt + 1
                raise
            await client.sleep(retry_delay(attempt, None, base=settings.retry_base_delay,
                                           maximum=settings.retry_max_delay))
            if _may_have_landed(error):
                await before_resend()
    raise AssertionError("unreachable: the loop returns or raises")  # pragma: no cover


async def execute(conn: sqlite3.Connection, client: AssistantsClient, plan: MigratePlan,
                  progress: Progress | None = None, *, concurrency: int = 4) -> MigrateReport:
    """Create and fill the conversations the plan needs, recording each step in ``migrate_map``."""
    report = MigrateReport(plan=plan, planned=plan.summary())
    say = progress or (lambda _line: None)
    start = client.requests_sent
    create_lock = asyncio.Lock()
    slots = asyncio.Semaphore(max(1, concurrency))

    async def one(thread: ThreadPlan) -> None:
        async with slots:
            try:
                await _migrate_thread(conn, client, plan.target, thread, report, say, create_lock)
            except FATAL:
                raise
            except (APIError, MirrorError) as error:
                report.errors.append(f"thread {thread.thread_id}: {error}")

    for thread in plan.threads:
        if thread.error:
            report.errors.append(f"thread {thread.thread_id}: {thread.error}")
    try:
        await asyncio.gather(*(one(t) for t in plan.threads if not t.error))
    finally:
        report.requests = client.requests_sent - start
    return report


async def _migrate_thread(conn: sqlite3.Connection, client: AssistantsClient, target: str,
                          thread: ThreadPlan, report: MigrateReport, say: Progress,
                          create_lock: asyncio.Lock) -> None:
    items = thread.thread.items
    total = len(items)
    if thread.status == "done":
        report.conversations[thread.thread_id] = thread.conversation_id or ""
        return
    if thread.conversation_id is None:
        first = items[:MAX_CONVERSATION_ITEMS]
        async with create_lock:
            record(conn, thread.thread_id, target, None, "pending", 0, total)

            async def create() -> Any:
                return await client.create_conversation(
                    {"metadata": thread.thread.metadata, "items": first}, max_retries=0)

            async def orphaned() -> None:
                report.orphans.append(f"thread {thread.thread_id}")

            try:
                created = await _write(client, create, orphaned)
            except APIStatusError as error:
                if error.status_code < 500:  # refused: nothing was created, no orphan
                    forget(conn, thread.thread_id, target)
                raise
            thread.conversation_id, thread.items_done = created.id, len(first)
            record(conn, thread.thread_id, target, created.id, "created", len(first), total)
        report.created["conversations"] += 1
        report.created["items"] += len(first)
    else:
        # Until it is done again, the next run must list the conversation rather than trust
        # the map: a kill may land while items are being added.
        record(conn, thread.thread_id, target, thread.conversation_id, "created",
               thread.items_done, total)
    conversation_id = thread.conversation_id
    report.conversations[thread.thread_id] = conversation_id

    async def add() -> None:
        chunk = items[thread.items_done:thread.items_done + MAX_CONVERSATION_ITEMS]
        if chunk:  # empty when a recount found the chunk had landed after all
            await client.create_conversation_items(conversation_id, {"items": chunk}, max_retries=0)
            thread.items_done += len(chunk)
            report.created["items"] += len(chunk)

    async def recount() -> None:
        found = await count_sent(client, None, conversation_id, items)
        report.created["items"] += found - thread.items_done
        thread.items_done = found
        record(conn, thread.thread_id, target, conversation_id, "created", found, total)

    while thread.items_done < total:
        await _write(client, add, recount)
        record(conn, thread.thread_id, target, conversation_id, "created", thread.items_done, total)
    record(conn, thread.thread_id, target, conversation_id, "done", total, total)
    say(f"thread {thread.thread_id} → {conversation_id} ({total} items)")



# --- the whole flow: open, plan, confirm, execute ---------------------------------------------


@dataclass
class MigrateOutcome:
    """What `migrate` did: the plan, and the report (None for a dry run or when declined)."""

    plan: MigratePlan
    report: MigrateReport | None = None
    declined: bool = False


async def migrate(
    client: AssistantsClient,
    source: str,
    confirm: Callable[[str], bool],
    *,
    thread_ids: list[str] | None = None,
    dry_run: bool = False,
    concurrency: int = 4,
    lock_timeout: float = 0.0,
    on_plan: Callable[[MigratePlan], None] | None = None,
    progress: Progress | None = None,
) -> MigrateOutcome:
    """Migrate the mirror at ``source`` into the client's server: plan, confirm, execute.

    A dry run reads the mirror only; otherwise the migrate lock is held throughout
    (`open_source`). ``on_plan`` sees the plan first; ``confirm`` is asked only when there is
    something to write.
    """
    store = open_source(source, dry_run=dry_run, lock_timeout=lock_timeout)
    try:
        plan = await build_plan(store.conn, client, thread_ids)
        if on_plan:
            on_plan(plan)
        if dry_run:
            return MigrateOutcome(plan)
        if plan.write_requests and not confirm("Migrate into this server?"):
            return MigrateOutcome(plan, declined=True)
        report = await execute(store.conn, client, plan, progress, concurrency=concurrency)
        return MigrateOutcome(plan, report)
    finally:
        store.close()
