"""`syncer backup`, `export`, `load` and `restore`."""

from __future__ import annotations

import asyncio
import functools
import sys
from collections.abc import Callable
from typing import Any

import click

from syncer.api.client import AssistantsClient
from syncer.archive.backup import backup as take_backup
from syncer.archive.export import export
from syncer.archive.export import load as load_export
from syncer.archive.restore import RestoreOutcome
from syncer.archive.restore import restore as restore_archive
from syncer.cli.main import (
    cli,
    client_settings,
    confirm_on_terminal,
    connection_options,
    db_option,
    echo_json,
    json_option,
    lock_timeout_option,
    silent_option,
    status,
)

# --- archive: backup, export, load, restore ---------------------------------------------------


@cli.command()
@click.argument("out", type=click.Path(dir_okay=False))
@click.option("--force", is_flag=True, help="Overwrite OUT if it exists.")
@db_option
@json_option
@silent_option
def backup(out: str, force: bool, db_path: str, json_: bool, silent: bool) -> None:
    """Snapshot the mirror into OUT (a single SQLite file, owner-only), verified.

    Safe while a sync is writing: the copy is one consistent moment of the mirror, and
    it must pass PRAGMA integrity_check before it is put in place.
    """

    result = take_backup(db_path, out, force=force)
    if json_:
        echo_json({"path": str(result.path), "bytes": result.bytes, "integrity": result.integrity,
                   "tables": result.tables})
    else:
        click.echo(str(result.path))
    rows = sum(result.tables.get(t, 0) for t in ("assistants", "threads", "messages", "runs", "run_steps"))
    status(f"Backed up {db_path} to {result.path}: {result.bytes:,} bytes, {rows:,} API objects, "
           "integrity ok", silent or json_)


@cli.command("export")
@click.argument("directory", type=click.Path(file_okay=False))
@click.option("--format", "fmt", type=click.Choice(["jsonl"]), default="jsonl", show_default=True,
              help="One JSON Lines file per table.")
@click.option("--force", is_flag=True, help="Write into a folder that already holds files.")
@db_option
@json_option
@silent_option
def export_command(directory: str, fmt: str, force: bool, db_path: str, json_: bool,
                   silent: bool) -> None:
    """Export the mirror into DIRECTORY: one JSON Lines file per table and a manifest.

    Lines are the full API objects; manifest.json records counts, the source server, the
    export time, the syncer version and SHA-256 checksums. Files are owner-only.
    """

    result = export(db_path, directory, force=force, fmt=fmt)
    tables = result.manifest["tables"]
    if json_:
        echo_json(result.manifest)
    else:
        for entry in tables.values():
            click.echo(f"{result.directory / entry['file']}\t{entry['count']}")
    objects = sum(e["count"] for n, e in tables.items() if n not in ("tracked_threads", "meta"))
    status(f"Exported {objects:,} API objects from {db_path} to {result.directory}", silent or json_)


@cli.command()
@click.argument("directory", type=click.Path(file_okay=False, exists=True))
@click.option("--force", is_flag=True, help="Load an export of another server's mirror.")
@db_option
@json_option
@silent_option
def load(directory: str, force: bool, db_path: str, json_: bool, silent: bool) -> None:
    """Load an export (from `syncer export`) into a new or existing mirror.

    Every checksum is verified first: a changed file is refused and nothing is written.
    Loading the same export again changes nothing.
    """

    result = load_export(directory, db_path, force=force)
    if json_:
        echo_json({"database": str(result.database), "tables": result.tables,
                   "refused_fields": result.refused_fields})
    else:
        for name, counts in result.tables.items():
            click.echo(f"{name}\tadded {counts['added']}\tupdated {counts['updated']}"
                       f"\tunchanged {counts['unchanged']}")
    for name in result.refused_fields:
        click.echo(f"Warning: field {name!r} in the export is not a safe column name; the rest "
                   "of each object is loaded without it", err=True)
    added = sum(c["added"] + c["updated"] for c in result.tables.values())
    status(f"Loaded {directory} into {db_path}: {added:,} objects added or updated", silent or json_)


@cli.command()
@click.option("--from", "from_", type=click.Path(dir_okay=False),
              help="The archive to restore from (default: the mirror given by --db).")
@click.option("--assistants", "assistants_", is_flag=True, help="Restore assistants.")
@click.option("--threads", "threads_", is_flag=True, help="Restore every archived thread.")
@click.option("--thread", "thread_ids", multiple=True, metavar="ID",
              help="Restore this thread (repeatable).")
@click.option("--include-deleted", is_flag=True,
              help="Also restore objects the mirror marked deleted upstream.")
@click.option("--include-replays", is_flag=True,
              help="Also restore the threads and assistants `syncer replay` made.")
@click.option("--dry-run", is_flag=True, help="Show what would be created, send no writes.")
@click.option("-y", "--yes", is_flag=True, help="Restore without asking (required without a terminal).")
@click.option("--concurrency", type=click.IntRange(1, 64), default=4, show_default=True,
              help="Threads restored at the same time (messages stay in order).")
@lock_timeout_option
@db_option
@json_option
@silent_option
@connection_options
def restore(from_: str | None, assistants_: bool, threads_: bool, thread_ids: tuple[str, ...],
            include_deleted: bool, include_replays: bool, dry_run: bool, yes: bool, concurrency: int,
            lock_timeout: float, db_path: str,
            json_: bool, silent: bool, **connection: Any) -> None:
    """Push archived assistants, threads and messages into the server.

    With no selection flag everything restorable is restored. Ids change; the id map
    (restore_map in the archive) makes a rerun create nothing twice and finish a restore
    that was interrupted. Runs and run steps stay in the archive; restored objects link
    back through metadata syncer:source. What cannot be recreated (image_file ids,
    attachments, tool_resources) is listed. Exits 1 if anything failed to restore.
    One restore at a time per archive (--lock-timeout to wait for the other).
    """

    source = from_ or db_path
    everything = not (assistants_ or threads_ or thread_ids)
    settings = client_settings(**connection)

    async def run() -> RestoreOutcome:
        async with AssistantsClient(settings) as client:
            return await restore_archive(
                client, source, confirm_on_terminal("restore", yes),
                assistants=everything or assistants_, threads=everything or threads_,
                thread_ids=list(thread_ids) or None, include_deleted=include_deleted,
                include_replays=include_replays, dry_run=dry_run, concurrency=concurrency,
                lock_timeout=lock_timeout,
                on_plan=None if json_ else lambda plan: _emit_restore_plan(plan, source, dry_run),
                progress=lambda line: status(line, silent))

    outcome = asyncio.run(run())
    plan, report = outcome.plan, outcome.report
    if outcome.declined:
        status("Restore cancelled; nothing created.")
        sys.exit(1)
    if report is None:  # a dry run
        if json_:
            echo_json({**plan.summary(), "dry_run": True})
        sys.exit(0)
    if json_:
        echo_json({**report.as_dict(), "dry_run": False})
    else:
        for line in report.errors:
            click.echo(f"Error: {line}", err=True)
        created = report.created
        _emit_not_restorable(plan, click.echo)
        for orphan in plan.possible_orphans:
            click.echo(f"Possible orphan: {orphan} (an interrupted restore may have left a copy)")
        if report.planned["requests"]["writes"]:
            click.echo(f"Created {created['assistants']} assistants, {created['threads']} threads, "
                       f"{created['messages']} messages in {plan.target} "
                       f"({report.requests} requests).")
        elif report.errors:
            click.echo(f"Nothing created in {plan.target}.")
        else:
            click.echo(f"Nothing to create: everything selected is already in {plan.target}.")
    sys.exit(1 if report.errors else 0)


def _emit_not_restorable(plan: Any, out: Callable[[str], Any]) -> None:
    if plan.skipped:
        out(f"Not restorable ({len(plan.skipped)}):")
        for item in plan.skipped:
            out(f"  - {item.line()}")


def _emit_restore_plan(plan: Any, source: str, dry_run: bool) -> None:
    """The plan on stdout for a dry run (it is the data asked for), else on stderr."""
    out = functools.partial(click.echo, err=not dry_run)
    summary = plan.summary()
    threads, requests = summary["threads"], summary["requests"]
    out(f"Restore from {source} into {plan.target}:")
    if plan.target_is_source:
        out("Warning: this is the server the archive was mirrored from: what is created are copies "
            "next to the originals (check --base-url / OPENAI_BASE_URL)")
    out(f"  assistants: {len(plan.assistants_new)} to create, {len(plan.assistants_found)} already there")
    out(f"  threads:    {threads['create']} to create, {threads['resume']} to finish, "
        f"{threads['already']} already there")
    out(f"  messages:   {plan.messages_to_create} to create")
    if plan.replays_left_out:
        out(f"  {plan.replays_left_out} objects made by syncer replay left out (--include-replays)")
    if plan.not_selected_deleted:
        out(f"  {plan.not_selected_deleted} objects deleted upstream left out (--include-deleted)")
    if dry_run:
        for obj, _body in plan.assistants_new:
            out(f"  + assistant {obj['id']} ({obj.get('name') or 'unnamed'})")
        for thread in plan.threads:
            if thread.status in ("new", "resume"):
                verb = "+" if thread.status == "new" else "~"
                out(f"  {verb} thread {thread.source['id']} ({thread.remaining} messages)")
    for thread in plan.threads:
        if thread.error:
            out(f"Blocked: thread {thread.source['id']}: {thread.error}")
    for orphan in plan.possible_orphans:
        out(f"Warning: {orphan}: an earlier restore was interrupted while creating it; a copy "
            "may exist on the target without being recorded (possible orphan)")
    if plan.skipped and dry_run:
        _emit_not_restorable(plan, out)
    elif plan.skipped:
        out(f"  {len(plan.skipped)} parts cannot be restored (listed in the report)")
    out(f"{requests['writes']} create requests and {requests['reads']} reads "
        f"({requests['lookups']} lookup requests made to plan)"
        + (" — dry run, nothing created." if dry_run else ""))
