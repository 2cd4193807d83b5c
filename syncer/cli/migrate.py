"""`syncer migrate`: mirrored threads → conversations on a Responses-API server."""

from __future__ import annotations

import asyncio
import sys
from typing import Any

import click

from syncer.api.client import AssistantsClient
from syncer.cli import render
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
from syncer.migrate.execute import MigrateOutcome
from syncer.migrate.execute import migrate as migrate_mirror
from syncer.migrate.plan import MigratePlan


@cli.command()
@click.option("--from", "from_", type=click.Path(dir_okay=False),
              help="The mirror to migrate from (default: the one given by --db).")
@click.option("--thread", "thread_ids", multiple=True, metavar="ID",
              help="Migrate this thread (repeatable; default: every mirrored thread).")
@click.option("--dry-run", is_flag=True, help="Show the counts and requests; write nothing.")
@click.option("-y", "--yes", is_flag=True, help="Migrate without asking (required without a terminal).")
@click.option("--concurrency", type=click.IntRange(1, 64), default=4, show_default=True,
              help="Threads migrated at the same time (items stay in order).")
@lock_timeout_option
@db_option
@json_option
@silent_option
@connection_options
def migrate(from_: str | None, thread_ids: tuple[str, ...], dry_run: bool, yes: bool,
            concurrency: int, lock_timeout: float, db_path: str, json_: bool, silent: bool,
            **connection: Any) -> None:
    """Turn mirrored threads into Conversations on a Responses-API server.

    Each thread becomes one conversation (metadata syncer:thread_id): its messages in order,
    and each run's function calls with their recorded outputs before the reply, with the
    original call_ids. 20 items a request. The mirror alone is read: the source server may be
    gone. migrate_map in the mirror makes a rerun write nothing twice and finish a migration
    that was interrupted. What cannot be carried is counted with the reason. Exits 1 if any
    thread failed. One migration at a time per mirror (--lock-timeout to wait for the other).
    """

    source = from_ or db_path
    settings = client_settings(**connection)

    def planned(plan: MigratePlan) -> None:
        summary = plan.summary()
        for line in summary["blocked"]:
            status(f"Blocked: {line}")
        for orphan in plan.possible_orphans:
            status(f"Warning: {orphan}: an earlier migration was interrupted while creating "
                   "its conversation; one may exist on the target without being recorded "
                   "(possible orphan); it is created again")
        if not dry_run:
            status(f"Migrating {summary['threads']['selected']} threads into {plan.target}: "
                   f"{summary['items_to_send']} items to send in {plan.write_requests} "
                   "write requests", silent or json_)

    async def run() -> MigrateOutcome:
        async with AssistantsClient(settings) as client:
            return await migrate_mirror(
                client, source, confirm_on_terminal("migrate", yes),
                thread_ids=list(thread_ids) or None, dry_run=dry_run, concurrency=concurrency,
                lock_timeout=lock_timeout, on_plan=planned,
                progress=lambda line: status(line, silent))

    outcome = asyncio.run(run())
    if outcome.declined:
        status("Migration cancelled; nothing written.")
        sys.exit(1)
    report = outcome.report
    if report is None:  # a dry run
        summary = outcome.plan.summary()
        if json_:
            echo_json({**summary, "dry_run": True})
        else:
            _echo_lines(render.migrate_summary(summary, dry_run=True))
            _echo_not_carried(summary)
        sys.exit(0)
    for orphan in report.orphans:
        status(f"Warning: {orphan}: its create got no answer and was sent again; the first "
               "one may exist on the target without being recorded (possible orphan)")
    summary = report.as_dict()
    if json_:
        echo_json({**summary, "dry_run": False})
    else:
        for line in report.errors:
            click.echo(f"Error: {line}", err=True)
        _echo_lines(render.migrate_summary(summary, created=report.created))
        _echo_not_carried(summary)
        click.echo(f"{report.requests} requests sent.")
    sys.exit(1 if report.errors else 0)


def _echo_lines(lines: list[str], err: bool = False) -> None:
    for line in lines:
        click.echo(line, err=err)


def _echo_not_carried(summary: dict[str, Any]) -> None:
    for entry in summary["not_carried"]:
        click.echo(f"Not carried: {entry['why']} ({entry['count']}):")
        for where in entry["where"]:
            click.echo(f"  - {where}")
