"""`syncer sync`: page every list endpoint into the mirror — incremental, concurrent, crash-safe.

What is read
    All assistants (always the whole list: assistants have no "updated" marker, so any of them
    may have changed; ``ceil(n/100)`` requests). For each tracked thread: ``GET`` the thread,
    then its messages, its runs, and the steps of every run that is new, changed or active.

How a list is read (messages, runs, run steps)
    ``sync_state`` keeps one cursor per list: the id of the newest object mirrored, with every
    older object mirrored too. Rows are always inserted oldest first, so ``rowid`` order is the
    server's order (``created_at`` has one-second ties).

    - No cursor yet: walk the list ``order=asc`` from the start, 100 per page. Each page is
      written in one transaction together with the cursor (its last id). A sync killed at any
      moment resumes after the last committed page: nothing re-read, nothing missed.
    - A cursor: read one page ``order=desc`` (the 100 newest). If the cursor is on it (or it is
      the whole list), the objects above the cursor are new and the rest are compared with the
      mirror, which picks up status changes of recent messages and runs: one request. Otherwise
      more than a page is new: walk ``asc`` from a page before the cursor, so the newest
      mirrored objects are compared again too (the probe page itself is not written).
    - Steps: a run's steps are re-read when the run is new or changed, or still active. The
      need is recorded (``sync_state.pending``) in the same transaction as the run row and
      cleared with the steps' last page, so a crash in between cannot lose steps.
    - A run that was active and is not among the 100 newest is fetched with one ``GET``.

    So a sync with nothing changed costs ``ceil(assistants/100)`` list requests, one ``GET`` per
    thread, two list requests per thread, and one steps list per run still active.

``--full``
    Every list is walked from the start and every object compared; afterwards the objects of
    that list not seen in the walk get ``deleted_at``. A thread that answers 404 gets
    ``deleted_at`` (with its messages, runs and steps) if it was mirrored, and is an error for
    that thread otherwise. Assistants missing from the (always complete) listing get
    ``deleted_at`` on every sync.

Concurrency
    At most ``concurrency`` requests in flight, across threads and lists (a slot taken around
    each request, not while a page is written; by default the number adapts: it grows while the
    server's latency is the bound and halves on retries, see ``syncer.api.limiter``): a thread's messages and runs are read
    concurrently, then the steps of its runs; ``2 * concurrency`` workers take the threads one
    after another, so that every slot stays busy and memory does not grow with the number of
    threads. The database has a single writer (``Store``: one connection, used only from the
    event loop); every page is written atomically with its cursor, and the commits are grouped
    (``Store.group_commits``: every 500 pages or 0.25 s). Retries (429,
    5xx, dropped connections) are the client's; a thread that still fails is reported and the
    rest of the sync carries on.
"""

from __future__ import annotations

import asyncio
import functools
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass, field
from typing import Any

from syncer.api.client import AssistantsClient
from syncer.api.limiter import Slots
from syncer.api.models import ACTIVE_RUN_STATUSES
from syncer.api.pagination import Page, check_object
from syncer.api.retry import SilenceWatch
from syncer.errors import APIError, BadRequestError, NotFoundError, SyncerError
from syncer.mirror.schema import timestamp
from syncer.mirror.store import PageResult, StateUpdate, Store

PAGE_SIZE = 100

#: one list endpoint's pages (the client's ``*_pages`` methods with the parent ids bound)
Lister = Callable[..., AsyncIterator[Page]]


@dataclass
class SyncReport:
    """What a sync did (also written to the ``syncs`` table)."""

    sync_id: int = 0
    threads: int = 0
    threads_failed: int = 0
    requests: int = 0
    new: int = 0
    changed: int = 0
    deleted: int = 0
    items: int = 0
    errors: list[str] = field(default_factory=list)
    refused_fields: list[str] = field(default_factory=list)  # "table.field": not safe as columns
    repointed_from: str | None = None  # this sync moved the mirror from that server (--force)
    kept_previous: int = 0  # threads of the previous server not found here: kept as they were
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.errors

    def as_dict(self) -> dict[str, Any]:
        return {"sync_id": self.sync_id, "ok": self.ok, "threads": self.threads,
                "threads_failed": self.threads_failed, "requests": self.requests,
                "objects_seen": self.items, "new": self.new, "changed": self.changed,
                "deleted": self.deleted, "errors": self.errors,
                "refused_fields": self.refused_fields,
                "repointed_from": self.repointed_from, "kept_previous": self.kept_previous,
                "seconds": round(self.seconds, 3)}

    def summary(self) -> str:
        """The one-line summary printed at the end of a sync."""
        outcome = "ok" if self.ok else f"{len(self.errors)} error(s)"
        line = (f"Synced {self.threads} thread(s): {self.new:,} new, {self.changed:,} changed, "
                f"{self.deleted:,} deleted of {self.items:,} objects seen, "
                f"{self.requests:,} requests in {self.seconds:.1f}s — {outcome}")
        if self.repointed_from:
            line += (f"; the mirror now follows this server instead of {self.repointed_from}: "
                     "what it mirrored from there is kept, never marked deleted")
        if self.kept_previous:
            line += (f"; {self.kept_previous} thread(s) of the previous server, not on this one, "
                     "kept as they were")
        return line


ProgressCallback = Callable[[int], None]


class MirrorSync:
    """One sync of the mirror from one server."""

    def __init__(self, store: Store, client: AssistantsClient, *, full: bool = False,
                 concurrency: int | None = None, force: bool = False,
                 on_items: ProgressCallback | None = None,
                 on_thread: Callable[[], None] | None = None):
        self.store = store
        self.client = client
        self.full = full
        self.force = force
        self.report = SyncReport()
        # At most ``concurrency`` requests in flight, whichever lists they belong to (None:
        # adaptive, see syncer.api.limiter); twice as many workers keep every slot busy while
        # pages are written.
        self._slots = Slots(concurrency, retries=lambda: client.retries)
        self._on_items = on_items or (lambda n: None)
        self._on_thread = on_thread or (lambda: None)
        self._owned_since: str | None = None
        self._silence = SilenceWatch()

    # -- entry point -------------------------------------------------------------------------

    async def run(self, thread_ids: Collection[str]) -> SyncReport:
        """Sync all assistants and the given threads; errors per thread go into the report.

        A failure of the first request (no server, wrong key) is raised: nothing would work.
        A mirror of another server is refused (``MirrorError``) unless ``force``; the server is
        recorded as the mirror's only once it has answered.
        """
        settings = self.client.settings
        settings.require_key()  # no key: nothing to record, nothing written
        self.store.check_server(settings.base_url, settings.organization, settings.project,
                                force=self.force)
        started = time.monotonic()
        requests_before = self.client.requests_sent
        report = self.report
        report.threads = len(thread_ids)
        report.sync_id = self.store.start_sync(self.client.settings.base_url, self.full)
        status = "failed"
        try:
            assistants = self.client.assistant_pages(order="asc", limit=PAGE_SIZE)
            walk_started = timestamp()
            # The first assistants page goes first and alone: a dead server or a bad key
            # fails here once, instead of once per thread.
            more = await self._assistants_page(assistants)
            report.repointed_from = self.store.claim_server(
                settings.base_url, settings.organization, settings.project, force=True,
                since=walk_started)
            # Rows first seen before the mirror was re-pointed are another server's: absent
            # from this one proves nothing, so they are never marked deleted.
            self._owned_since = self.store.repointed_at()

            async def rest_of_assistants() -> None:
                nonlocal more
                while more:
                    more = await self._assistants_page(assistants)
                # The listing was complete: whatever it did not show is gone upstream.
                report.deleted += self.store.mark_deleted(
                    "assistants", f"last_seen_at < ?{self._owned()}",
                    [walk_started, *self._owned_params()])

            queue = iter(thread_ids)

            async def worker() -> None:
                # A bounded pool of workers takes the threads one after another: memory does
                # not grow with the number of tracked threads (no task per thread).
                for thread_id in queue:
                    if self._silence.gone:
                        return  # the server stopped answering: start nothing more
                    try:
                        await self._thread(thread_id)
                        self._silence.ok()
                    except APIError as error:
                        report.threads_failed += 1
                        report.errors.append(f"{thread_id}: {error}")
                        self._silence.failed(error)
                    finally:
                        self._on_thread()

            workers = min(len(thread_ids), 2 * self._slots.most)
            with self.store.group_commits():
                await asyncio.gather(self._guard("assistants", rest_of_assistants()),
                                     *(worker() for _ in range(workers)))
            if self._silence.gone:
                raise self._silence.stop_error(
                    "threads", "what was synced is kept; the next sync carries on")
            # Written into a file that is no longer the mirror: nothing of it would remain.
            self.store.check_file()
            status = "ok" if report.ok else "failed"
        except SyncerError as error:
            report.errors.append(str(error))
            raise
        except (asyncio.CancelledError, KeyboardInterrupt):
            # Ctrl-C or SIGTERM (the CLI handles both alike): stopped, not failed.
            status = "interrupted"
            report.errors.append("sync interrupted")
            raise
        except Exception as error:  # a bug: its name goes into the log, the traceback stays
            report.errors.append(f"{type(error).__name__}: {error}")
            raise
        finally:
            report.requests = self.client.requests_sent - requests_before
            report.seconds = time.monotonic() - started
            if status == "failed" and not report.errors:
                report.errors.append("sync interrupted")
            self.store.finish_sync(report.sync_id, status=status, requests=report.requests,
                                   new=report.new, changed=report.changed,
                                   deleted=report.deleted, errors=report.errors)
        return report

    def _owned(self) -> str:
        """The condition that keeps rows of a previous server out of deletion marking."""
        return " AND first_seen_at >= ?" if self._owned_since else ""

    def _owned_params(self) -> list[str]:
        return [self._owned_since] if self._owned_since else []

    async def _guard(self, what: str, job: Any) -> None:
        try:
            await job
        except APIError as error:
            self.report.errors.append(f"{what}: {error}")

    # -- bookkeeping -----------------------------------------------------------------------

    def _count(self, result: PageResult) -> None:
        for name in result.refused:
            if name not in self.report.refused_fields:
                self.report.refused_fields.append(name)
        self.report.new += len(result.new)
        self.report.changed += len(result.changed)
        seen = len(result.new) + len(result.changed) + len(result.unchanged)
        self.report.items += seen
        if seen:
            self._on_items(seen)

    def _write(self, table: str, objects: Sequence[dict[str, Any]],
               states: Sequence[StateUpdate] = (),
               before_commit: Callable[[PageResult], Sequence[StateUpdate]] | None = None,
               *, fresh: bool = False) -> PageResult:
        result = self.store.write_page(table, objects, states, before_commit, fresh=fresh)
        self._count(result)
        return result

    # -- assistants ----------------------------------------------------------------------------

    async def _assistants_page(self, pages: AsyncIterator[Page]) -> bool:
        """Read and write the next assistants page; True while more follow."""
        try:
            async with self._slots.slot():
                page = await anext(pages)
        except StopAsyncIteration:
            return False
        self._write("assistants", page.data, [StateUpdate("assistants", "", cursor=page.last_id)])
        return page.has_more and bool(page.data)

    # -- one thread ------------------------------------------------------------------------

    async def _get_object(self, path: str, get: Callable[[], Awaitable[dict[str, Any]]]
                          ) -> dict[str, Any]:
        """One object (``get``: the client's request for it, at ``path``), read in a slot."""
        async with self._slots.slot():
            found = await get()
        return check_object(found, f"the answer to GET {path}")

    async def _first_page(self, pages: Lister) -> Page:
        """The newest page of a list, in a slot."""
        newest = pages(order="desc", limit=PAGE_SIZE)
        try:
            async with self._slots.slot():
                return await anext(newest)
        finally:
            await newest.aclose()  # type: ignore[attr-defined]  # an async generator

    async def _pages(self, lister: Lister, *, after: str | None = None) -> AsyncIterator[Page]:
        """Forward pages, each request taking a slot (not held while the page is written)."""
        pages = lister(order="asc", limit=PAGE_SIZE, after=after)
        try:
            while True:
                async with self._slots.slot():
                    try:
                        page = await anext(pages)
                    except StopAsyncIteration:
                        return
                yield page
        finally:
            await pages.aclose()  # type: ignore[attr-defined]  # an async generator

    async def _thread(self, thread_id: str) -> None:
        try:
            thread = await self._get_object(
                f"/threads/{thread_id}", functools.partial(self.client.get_thread_json, thread_id))
        except NotFoundError as error:
            if self.store.is_mirrored("threads", thread_id):
                first_seen = self.store.first_seen("threads", thread_id) or ""
                if self._owned_since and first_seen < self._owned_since:
                    self.report.kept_previous += 1  # the previous server's thread
                    return
                self.report.deleted += self.store.thread_deleted(thread_id)
                return
            raise NotFoundError(
                f"no such thread on the server, and never mirrored ({error.message})",
                status_code=404, request_id=error.request_id) from None
        self._write("threads", [thread])
        messages = functools.partial(self.client.thread_message_pages, thread_id)
        await _all(self._list("messages", thread_id, messages, "messages"),
                   self._runs(thread_id))

    async def _runs(self, thread_id: str) -> None:
        """The thread's runs, then (concurrently) the steps of each run that needs them."""
        seen_runs: set[str] = set()

        def runs_need_steps(result: PageResult) -> list[StateUpdate]:
            seen_runs.update(result.new, result.changed, result.unchanged)
            wanted = list(result.new) + list(result.changed)
            if self.full:
                wanted += result.unchanged
            else:
                wanted += self._still_active(result.unchanged)
            return [StateUpdate("steps", run_id, pending=True, keep_cursor=True)
                    for run_id in wanted]

        runs = functools.partial(self.client.thread_run_pages, thread_id)
        await self._list("runs", thread_id, runs, "runs", runs_need_steps)
        # Runs that were active at the last sync but are not among those just read.
        for run_id in self._active_runs(thread_id, seen_runs):
            run = await self._get_object(f"/threads/{thread_id}/runs/{run_id}",
                                         functools.partial(self.client.get_run_json, thread_id, run_id))
            self._write("runs", [run], before_commit=runs_need_steps)
        await _all(*(self._list("steps", run_id,
                                functools.partial(self.client.run_step_pages, thread_id, run_id),
                                "run_steps", clear_pending=True)
                     for run_id in self.store.pending_step_runs(thread_id)))

    def _still_active(self, run_ids: Sequence[str]) -> list[str]:
        if not run_ids:
            return []
        marks = ", ".join("?" * len(run_ids))
        statuses = ", ".join("?" * len(ACTIVE_RUN_STATUSES))
        return [row[0] for row in self.store.db.execute(
            f"SELECT id FROM runs WHERE id IN ({marks}) AND status IN ({statuses})",
            [*run_ids, *ACTIVE_RUN_STATUSES])]

    def _active_runs(self, thread_id: str, seen: set[str]) -> list[str]:
        statuses = ", ".join("?" * len(ACTIVE_RUN_STATUSES))
        rows = self.store.db.execute(
            f"SELECT id FROM runs WHERE thread_id = ? AND deleted_at IS NULL"
            f" AND status IN ({statuses}) ORDER BY created_at, rowid",
            [thread_id, *ACTIVE_RUN_STATUSES])
        return [row[0] for row in rows if row[0] not in seen]

    # -- one list --------------------------------------------------------------------------

    async def _list(self, kind: str, parent_id: str, pages: Lister, table: str,
                    before_commit: Callable[[PageResult], Sequence[StateUpdate]] | None = None,
                    *, clear_pending: bool = False) -> None:
        """Bring one list up to date (see the module docstring for the strategy)."""
        cursor, _ = self.store.state(kind, parent_id)
        if self.full:
            await self._full_walk(kind, parent_id, pages, table, before_commit, clear_pending)
            return
        if cursor is None:  # never read: its objects are new (write_page checks that cheaply)
            await self._walk(kind, parent_id, pages, table, None, before_commit, clear_pending,
                             fresh=True)
            return
        probe = await self._first_page(pages)
        ids = [obj["id"] for obj in probe.data]
        if cursor in ids or not probe.has_more:
            newest = ids[0] if ids else cursor
            # pending=False: for a run's steps, this page completes them.
            self._write(table, probe.data[::-1], [StateUpdate(kind, parent_id, cursor=newest)],
                        before_commit)
            return
        # More than a page is new. Walk forward from a page *before* the cursor, so that the
        # newest mirrored objects are compared again too (their status may have changed).
        await self._walk(kind, parent_id, pages, table, self._recheck_from(table, parent_id),
                         before_commit, clear_pending)

    def _recheck_from(self, table: str, parent_id: str) -> str | None:
        """The id a page before the newest mirrored object of this list (None: the start)."""
        column = "run_id" if table == "run_steps" else "thread_id"
        row = self.store.db.execute(
            f"SELECT id FROM [{table}] WHERE {column} = ? AND deleted_at IS NULL"
            f" ORDER BY created_at DESC, rowid DESC LIMIT 1 OFFSET {PAGE_SIZE}",
            [parent_id]).fetchone()
        return row[0] if row else None

    async def _walk(self, kind: str, parent_id: str, pages: Lister, table: str, after: str | None,
                    before_commit: Callable[[PageResult], Sequence[StateUpdate]] | None,
                    clear_pending: bool, *, fresh: bool = False) -> None:
        """Forward (``asc``) from ``after``: each page committed with its cursor."""
        cursor = after
        try:
            async for page in self._pages(pages, after=after):
                cursor = page.last_id or cursor
                last = not page.has_more or not page.data
                state = StateUpdate(kind, parent_id, cursor=cursor,
                                    pending=clear_pending and not last)
                self._write(table, page.data, [state], before_commit, fresh=fresh)
        except BadRequestError as error:
            if after is None or error.param != "after":
                raise
            # The cursor object is unknown to the server: read the whole list again.
            await self._walk(kind, parent_id, pages, table, None, before_commit, clear_pending)

    async def _full_walk(self, kind: str, parent_id: str, pages: Lister, table: str,
                         before_commit: Callable[[PageResult], Sequence[StateUpdate]] | None,
                         clear_pending: bool) -> None:
        """Every object from the start; afterwards mark what the walk did not see."""
        old_cursor, _ = self.store.state(kind, parent_id)
        walk_started = timestamp()
        passed = old_cursor is None
        newest: str | None = None
        async for page in self._pages(pages):
            ids = [obj["id"] for obj in page.data]
            passed = passed or old_cursor in ids
            newest = page.last_id or newest
            last = not page.has_more or not page.data
            # The cursor only moves forward (past the old one), so a crash mid-walk leaves it
            # meaning what it always means.
            cursor = newest if (passed or last) else old_cursor
            state = StateUpdate(kind, parent_id, cursor=cursor,
                                pending=clear_pending and not last)
            self._write(table, page.data, [state], before_commit)
        column = "run_id" if table == "run_steps" else "thread_id"
        self.report.deleted += self.store.mark_deleted(
            table, f"{column} = ? AND last_seen_at < ?{self._owned()}",
            [parent_id, walk_started, *self._owned_params()])


async def _all(*jobs: Any) -> None:
    """Run ``jobs`` concurrently and let every one finish; then raise the first error."""
    results = await asyncio.gather(*jobs, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result


def minimum_requests(assistants: int, lists: Sequence[int], threads: int) -> int:
    """The fewest requests that can mirror an account: every list costs ``max(1, ceil(n/100))``
    (an empty list still costs one), plus one ``GET`` per thread."""
    pages = max(1, math.ceil(assistants / PAGE_SIZE))
    pages += sum(max(1, math.ceil(n / PAGE_SIZE)) for n in lists)
    return pages + threads


async def sync_mirror(store: Store, client: AssistantsClient, thread_ids: Collection[str], *,
                      full: bool = False, concurrency: int | None = None, force: bool = False,
                      on_items: ProgressCallback | None = None,
                      on_thread: Callable[[], None] | None = None) -> SyncReport:
    """Sync all assistants and ``thread_ids`` from ``client``'s server into ``store``.

    ``force``: sync even if the mirror belongs to another server, organisation or project.
    """
    return await MirrorSync(store, client, full=full, concurrency=concurrency, force=force,
                            on_items=on_items, on_thread=on_thread).run(thread_ids)
