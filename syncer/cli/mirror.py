"""`syncer sync`, `threads`, `search`, `show` and `status`: the mirror's commands."""

from __future__ import annotations

import asyncio
import sys

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from syncer.api.client import AssistantsClient
from syncer.cli import render
from syncer.cli.main import (
    cli,
    client_settings,
    connection_options,
    db_option,
    echo_json,
    json_option,
    lock_timeout_option,
    run_async,
    silent_option,
    status,
)
from syncer.mirror import query as queries
from syncer.mirror.store import open_mirror
from syncer.mirror.sync import sync_mirror
from syncer.mirror.threads import check_thread_ids, read_threads_file

# --- mirror: sync, threads, search, show, status -----------------------------------------


@cli.command()
@click.option("--thread", "thread_ids", multiple=True, metavar="ID",
              help="Track this thread and sync it (repeatable).")
@click.option("--threads-file", type=click.Path(dir_okay=False),
              help="Track the thread ids in FILE (one a line; blank lines and # comments ignored).")
@click.option("--full", is_flag=True,
              help="Re-read every list from the start and mark what vanished as deleted.")
@click.option("--concurrency", type=click.IntRange(1, 256), default=None,
              help="Requests in flight at once, exactly (threads and their lists are synced "
                   "concurrently). Default: adaptive, from 16 up to 64 while the server's latency "
                   "is the bound, halved whenever a request is retried (429, 5xx).")
@click.option("--force", is_flag=True,
              help="Sync even if the mirror belongs to another server, organisation or project: "
                   "the mirror then follows this server; what it mirrored from the other one is "
                   "kept as it is, never marked deleted.")
@lock_timeout_option
@db_option
@connection_options
@json_option
@silent_option
@run_async
async def sync(thread_ids: tuple[str, ...], threads_file: str | None, full: bool,
               concurrency: int | None, force: bool, lock_timeout: float, db_path: str, base_url: str | None,
               api_key: str | None, max_retries: int | None, timeout: float | None,
               json_: bool, silent: bool) -> None:
    """Mirror all assistants and the tracked threads into the SQLite database.

    Incremental: only what changed since the last sync is read (use --full to re-read
    everything). Safe to interrupt at any moment; the next sync carries on. One sync at a
    time per mirror: a second one is refused, naming the first (or waits: --lock-timeout).
    """

    settings = client_settings(base_url, api_key, max_retries, timeout)
    settings.require_key()  # before the mirror file is created
    extra = check_thread_ids(thread_ids)
    from_file = read_threads_file(threads_file) if threads_file else []
    with open_mirror(db_path, "create", lock="sync", lock_timeout=lock_timeout) as store:
        # Refused before anything is tracked or sent; recorded once the server has answered.
        store.check_server(settings.base_url, settings.organization, settings.project,
                           force=force)
        store.track_threads(extra, source="sync --thread")
        store.track_threads(from_file, source=f"file:{threads_file}")
        del from_file  # tracked now: the sync reads the ids from the mirror as it goes
        tracked = store.tracked_ids()
        if not tracked:
            status("No tracked threads: mirroring assistants only (add threads with "
                   "`syncer threads add ID…` or --thread ID)", silent or json_)
        console = Console(stderr=True)
        # A progress bar only where someone watches: not in pipes, logs or CI.
        progress = Progress(
            TextColumn("syncing"), BarColumn(), MofNCompleteColumn(),
            TextColumn("threads · {task.fields[items]:,} objects ({task.fields[item_rate]:,.0f}/s)"
                       " · {task.fields[rate]:.0f} req/s"),
            TimeElapsedColumn(), console=console, transient=True,
            disable=silent or json_ or not console.is_terminal)
        async with AssistantsClient(settings) as client:
            task = progress.add_task("sync", total=len(tracked), items=0, item_rate=0.0,
                                     rate=0.0)
            started = asyncio.get_running_loop().time()

            def on_items(count: int) -> None:
                elapsed = max(asyncio.get_running_loop().time() - started, 1e-6)
                items = progress.tasks[0].fields["items"] + count
                progress.update(task, items=items, item_rate=items / elapsed,
                                rate=client.requests_sent / elapsed)

            with progress:
                # No bar (a pipe, a log, --json): no updates to it either (one per page).
                watched = not progress.disable
                report = await sync_mirror(
                    store, client, tracked, full=full, concurrency=concurrency, force=force,
                    on_items=on_items if watched else None,
                    on_thread=(lambda: progress.advance(task)) if watched else None)
    if json_:
        echo_json(report.as_dict())
    for error in report.errors:
        click.echo(f"Error: {error}", err=True)
    for name in report.refused_fields:
        click.echo(f"Warning: field {name!r} from the server is not a safe column name; the "
                   "rest of each object is mirrored without it", err=True)
    status(report.summary(), silent)
    if not report.ok:
        sys.exit(1)


@cli.group()
def threads() -> None:
    """The tracked threads: which threads `syncer sync` mirrors.

    Threads cannot be listed through the API, so syncer syncs the ones it is told about.
    """


@threads.command("add")
@click.argument("thread_ids", nargs=-1, metavar="[ID]...")
@click.option("--file", "file_", type=click.Path(dir_okay=False),
              help="Thread ids, one a line (blank lines and # comments ignored).")
@db_option
@silent_option
def threads_add(thread_ids: tuple[str, ...], file_: str | None, db_path: str,
                silent: bool) -> None:
    """Track threads (synced from the next `syncer sync` on)."""

    if not thread_ids and not file_:
        raise click.UsageError("give thread ids, or --file FILE")
    ids = check_thread_ids(thread_ids)
    from_file = read_threads_file(file_) if file_ else []
    with open_mirror(db_path, "create") as store:
        added = store.track_threads(ids, source="cli")
        added += store.track_threads(from_file, source=f"file:{file_}")
    total = len(set(ids) | set(from_file))
    status(f"Tracking {len(added)} new thread(s) ({total - len(added)} already tracked)", silent)


@threads.command("list")
@db_option
@json_option
def threads_list(db_path: str, json_: bool) -> None:
    """The tracked threads, with when and how each was added."""
    with open_mirror(db_path, "read") as store:
        rows = store.tracked_threads()
    if json_:
        echo_json([{**row, "deleted": bool(row["deleted"]), "mirrored": bool(row["mirrored"])}
                   for row in rows])
        return
    for row in rows:
        state = "deleted upstream" if row["deleted"] else (
            "mirrored" if row["mirrored"] else "not synced yet")
        click.echo(f"{row['id']}\t{row['added_at']}\t{row['source']}\t{state}")


@threads.command("remove")
@click.argument("thread_ids", nargs=-1, required=True, metavar="ID...")
@db_option
@silent_option
def threads_remove(thread_ids: tuple[str, ...], db_path: str, silent: bool) -> None:
    """Stop syncing threads. Their mirrored rows stay (and stay searchable).

    An id that was not tracked is an error line (the others are still removed) and exit 1.
    """
    with open_mirror(db_path, "write") as store:
        removed = store.untrack_threads(thread_ids)
    status(f"Stopped tracking {len(removed)} thread(s); their mirrored rows are kept", silent)
    untracked = [thread_id for thread_id in thread_ids if thread_id not in removed]
    for thread_id in untracked:
        click.echo(f"Error: {thread_id} is not tracked (nothing to remove)", err=True)
    if untracked:
        sys.exit(1)


@cli.command()
@click.argument("query")
@click.option("--thread", "thread_id", metavar="ID", help="Only this thread.")
@click.option("--assistant", "assistant_id", metavar="ID",
              help="Only what this assistant wrote or was told (threads it ran on).")
@click.option("--role", type=click.Choice(["user", "assistant"]), help="Only this role.")
@click.option("--since", metavar="DATE", help="Only messages created on or after DATE (YYYY-MM-DD or ISO 8601).")
@click.option("--limit", type=click.IntRange(1, 10_000), default=20, show_default=True,
              help="At most this many hits.")
@click.option("--include-replays", is_flag=True,
              help="Also search the threads `syncer replay` made (left out by default).")
@db_option
@json_option
def search(query: str, thread_id: str | None, assistant_id: str | None, role: str | None,
           since: str | None, limit: int, include_replays: bool, db_path: str,
           json_: bool) -> None:
    """Full-text search over the mirrored messages (offline), best match first.

    Plain words and terms like order-1234 or foo.bar@x.com just work; FTS5 operators
    (AND, OR, NOT, NEAR, "phrases", prefix*) pass through. Exits 1 when nothing matches.
    """

    since_ts = queries.parse_since(since) if since else None
    with open_mirror(db_path, "read") as store:
        hits = queries.search(store, query, thread_id=thread_id, assistant_id=assistant_id,
                              role=role, since=since_ts, limit=limit,
                              include_replays=include_replays)
    if json_:
        echo_json([hit.as_dict() for hit in hits])
    else:
        for line in render.search_hits(hits):
            click.echo(line)
    if not hits:
        status("No matches", json_)
        sys.exit(1)  # as grep does: scripts can test for a match


@cli.command()
@click.argument("thread_id")
@db_option
@json_option
def show(thread_id: str, db_path: str, json_: bool) -> None:
    """A mirrored thread as a transcript (offline): messages oldest first, tool calls with
    their arguments and outputs, and each run's status and token usage."""

    with open_mirror(db_path, "read") as store:
        data = queries.transcript(store, thread_id)
    if json_:
        echo_json(data)
        return
    for line in render.transcript(data):
        click.echo(line)


@cli.command("status")
@db_option
@json_option
def status_command(db_path: str, json_: bool) -> None:
    """What the mirror holds: rows per table, tracked threads, the last sync, its size."""

    with open_mirror(db_path, "read") as store:
        data = queries.status(store)
    if json_:
        echo_json(data)
        return
    for line in render.mirror_status(data):
        click.echo(line)
