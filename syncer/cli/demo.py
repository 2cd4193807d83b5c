"""`syncer demo`: the whole product in one command, offline.

Starts the emulator in-process on a free loopback port with the sample account shipped in
`syncer/data/`, then walks through each capability in turn. Each step is a function that
takes the `Demo` context; capabilities append their step to `STEPS`.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import sqlite3
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.table import Table
from rich.text import Text
from ruamel.yaml import YAML

from syncer.api.client import AssistantsClient
from syncer.api.models import Assistant
from syncer.api.settings import ClientSettings
from syncer.archive.restore import RestoreReport, restore
from syncer.cli import render
from syncer.emulator import EmulatorConfig, running_server
from syncer.emulator.generate import sample_account_path
from syncer.errors import SyncerError
from syncer.gitops.apply import apply_directory, plan_directory
from syncer.gitops.config import load_configs
from syncer.gitops.plan import Plan
from syncer.migrate.execute import MigrateReport
from syncer.migrate.execute import migrate as migrate_mirror
from syncer.mirror import query as queries
from syncer.mirror.schema import TABLE_ORDER
from syncer.mirror.store import open_mirror
from syncer.mirror.sync import SyncReport, sync_mirror
from syncer.replay.compare import exit_code
from syncer.replay.report import print_report, write_report
from syncer.replay.runner import ReplayOptions
from syncer.replay.session import Selection, replay_from_mirror


@dataclass
class Demo:
    """What every demo step gets: the console, the running server and a scratch folder."""

    console: Console
    base_url: str
    api_key: str
    workdir: Path
    notes: dict[str, object] = field(default_factory=dict)


Step = Callable[[Demo], None]
STEPS: list[tuple[str, Step]] = []


def step(title: str) -> Callable[[Step], Step]:
    def register(fn: Step) -> Step:
        STEPS.append((title, fn))
        return fn

    return register


def _yes(_question: str) -> bool:
    """The demo's confirmation: every flow runs as with ``--yes``."""
    return True


def run_demo(console: Console | None = None) -> int:
    """Run every step against a fresh in-process emulator; returns the exit code."""

    console = console or Console()
    api_key = "sk-demo-local"
    with (
        tempfile.TemporaryDirectory(prefix="syncer-demo-") as tmp,
        running_server(EmulatorConfig(load=sample_account_path(), run_ms=50)) as server,
    ):
        demo = Demo(console=console, base_url=server.base_url, api_key=api_key, workdir=Path(tmp))
        console.print(f"[bold]syncer demo[/bold] — emulator at {server.base_url}")
        for number, (title, fn) in enumerate(STEPS, 1):
            console.rule(f"{number}. {title}")
            fn(demo)
        console.rule("done")
    return 0


# --- steps, in the order the product is told: list → mirror → gitops → replay → restore ---


@step("The sample account, listed through the client")
def list_account(demo: Demo) -> None:



    async def fetch() -> list[Assistant]:
        settings = ClientSettings.from_env(base_url=demo.base_url, api_key=demo.api_key)
        async with AssistantsClient(settings) as client:
            return [a async for a in client.list_assistants(order="asc")]

    table = Table("id", "name", "model", "tools")
    for assistant in asyncio.run(fetch()):
        tools = ", ".join(t.type for t in assistant.tools) or "-"
        table.add_row(assistant.id, assistant.name or "", assistant.model, tools)
    demo.console.print(table)


# --- mirror ---


@step("The mirror: `syncer sync`, then `search` and `show` offline")
def mirror(demo: Demo) -> None:
    db = demo.workdir / "syncer.db"
    threads = [t["id"] for t in json.loads(sample_account_path().read_text())["threads"]]
    demo.console.print(f"Tracking the sample account's {len(threads)} threads and syncing them:")
    sync_line = f"[dim]$ syncer sync --db {db.name}[/dim]"
    demo.console.print(sync_line, _sync(demo, db, threads).summary(), sep="\n")
    demo.console.print("A second sync finds nothing new (a few list requests, nothing changed):")
    demo.console.print(sync_line, _sync(demo, db, threads).summary(), sep="\n")
    demo.console.print("[dim]$ syncer search umbrella --limit 3[/dim]")
    with open_mirror(db, "read") as store:
        hits = queries.search(store, "umbrella", limit=3)
        # The thread with the most tool calls shows what `show` does with run steps.
        thread_id = store.db.execute(
            "SELECT thread_id FROM run_steps WHERE type = 'tool_calls' GROUP BY thread_id"
            " ORDER BY count(*) DESC, thread_id LIMIT 1").fetchone()[0]
        transcript = queries.transcript(store, thread_id)
    _print_lines(demo, render.search_hits(hits) or ["No matches"])
    demo.console.print(f"[dim]$ syncer show {thread_id}[/dim]")
    _print_lines(demo, render.transcript(transcript))
    demo.notes["db"] = db


def _print_lines(demo: Demo, lines: list[str]) -> None:
    for line in lines:
        demo.console.print(Text.from_ansi(line), soft_wrap=True)


def _sync(demo: Demo, db: Path, threads: list[str]) -> SyncReport:
    """Track ``threads`` and sync them into ``db``, as `syncer sync --thread …` does."""
    settings = ClientSettings.from_env(base_url=demo.base_url, api_key=demo.api_key)

    async def run() -> SyncReport:
        with open_mirror(db, "create") as store:
            store.check_server(settings.base_url, settings.organization, settings.project,
                               force=False)
            store.track_threads(threads, source="demo")
            tracked = store.tracked_ids()
            async with AssistantsClient(settings) as client:
                return await sync_mirror(store, client, tracked)

    # A step that failed must not be followed by output that reads as success.
    failed = f"demo: `syncer sync --db {db.name}` failed"
    try:
        report = asyncio.run(run())
    except SyncerError as error:
        raise SyncerError(f"{failed}: {error}") from None
    if not report.ok:
        raise SyncerError(f"{failed}: {report.errors[0]}")
    return report


# --- gitops ---


@step("GitOps: plan and apply assistant configs from YAML")
def gitops_plan_apply(demo: Demo) -> None:
    """Plan the sample configs against the account, apply them, plan again (no changes)."""


    configs = demo.workdir / "assistants"
    shutil.copytree(Path(__file__).resolve().parents[1] / "data" / "sample_configs", configs)
    files = sorted(p.name for p in configs.glob("*.y*ml"))
    settings = ClientSettings.from_env(base_url=demo.base_url, api_key=demo.api_key)

    def show(command: str, plan_text: str) -> None:
        demo.console.print(f"$ {command}")
        demo.console.print(plan_text, markup=False, highlight=False, soft_wrap=True)

    async def run() -> None:
        loaded = load_configs(configs)
        async with AssistantsClient(settings) as client:
            def planned(before: Plan) -> None:
                demo.console.print(f"{len(loaded)} configs in {', '.join(files)}")
                show("syncer plan assistants", before.render())

            # `syncer apply --yes`: the flow the command runs, answered yes.
            outcome = await apply_directory(client, configs, _yes, configs=loaded,
                                            on_plan=planned)
            done = outcome.applied.done if outcome.applied else []
            if outcome.applied is not None and outcome.applied.error is not None:
                raise outcome.applied.error  # the plan below would claim what did not happen
            demo.console.print(f"$ syncer apply assistants --yes   [dim]({len(done)} calls)[/dim]")
            after = outcome.after or outcome.before
            show("syncer plan assistants --detailed-exitcode   # exit 0", after.render())
            # An edit in review: exactly one field of one assistant changes.
            support = configs / "support.yaml"
            support.write_text(support.read_text().replace("temperature: 0.3", "temperature: 0.7"))
            edited = await plan_directory(client, configs)
            show("syncer plan assistants   # after editing support.yaml", edited.render())
            total = len([a async for a in client.list_assistants()])
        demo.console.print(
            f"{total - len(loaded)} other assistants on the account carry no syncer:name marker: "
            "plan and apply never touch them.")

    asyncio.run(run())


# --- replay ---


@step("Replay a recorded thread against a changed config")
def replay_changed_config(demo: Demo) -> None:
    """Replay one sample thread on its own assistant (passes), then on a changed config."""



    db = demo.notes.get("db")
    if not isinstance(db, str | Path) or not Path(db).is_file():
        # No mirror from an earlier step: write the account the emulator serves into one.

        db = demo.workdir / "replay-mirror.db"
        account = json.loads(sample_account_path().read_text())
        with open_mirror(db, "create") as store:
            store.claim_server(demo.base_url, None, None)
            for table in TABLE_ORDER:
                store.write_page(table, account[table])
    with open_mirror(db, "read") as store:
        conn = store.conn
        conn.row_factory = sqlite3.Row
        # The recorded thread with the most function calls, and the assistant that answered it.
        row = conn.execute(
            "SELECT r.thread_id, r.assistant_id, count(s.id) AS calls FROM runs r"
            " LEFT JOIN run_steps s ON s.run_id = r.id AND s.type = 'tool_calls'"
            " GROUP BY r.thread_id ORDER BY calls DESC, r.thread_id LIMIT 1").fetchone()
        assistant = dict(conn.execute("SELECT * FROM assistants WHERE id = ?",
                                      [row["assistant_id"]]).fetchone())

    configs = demo.workdir / "replay-configs"
    configs.mkdir(exist_ok=True)
    changed = {
        "name": f"{assistant['name']} (candidate)",
        "model": assistant["model"],
        "instructions": (assistant["instructions"] or "") + " Always end with a friendly joke.",
        "tools": [t for t in json.loads(assistant["tools"] or "[]") if t["type"] == "function"],
    }
    with (configs / "candidate.yaml").open("w") as handle:
        YAML().dump(changed, handle)
    settings = ClientSettings.from_env(base_url=demo.base_url, api_key=demo.api_key)

    demo.console.print(f"$ syncer replay {row['thread_id']}   [dim](on its own assistant)[/dim]")
    same = asyncio.run(replay_from_mirror(settings, db, Selection([row["thread_id"]]),
                                          ReplayOptions(run_timeout=60)))
    print_report(same, demo.console)
    demo.console.print(f"exit code {exit_code(same)}\n")

    demo.console.print(
        f"$ syncer replay {row['thread_id']} --assistant '{changed['name']}' "
        f"--config-dir {configs.name} --report replay.md")
    candidate = asyncio.run(replay_from_mirror(
        settings, db, Selection([row["thread_id"]]), ReplayOptions(run_timeout=60),
        assistant=str(changed["name"]), config_dir=configs))
    print_report(candidate, demo.console)
    report = write_report(candidate, demo.workdir / "replay.md")
    demo.console.print(
        f"exit code {exit_code(candidate)} (3: regressions — the new instructions change every "
        f"reply; tool calls still match). Markdown report: {report.name}, "
        f"{len(report.read_text().splitlines())} lines.")
    demo.notes["replay_ids"] = [same.id, candidate.id]


# --- restore ---


@step("Restore the archive into a second, empty server")
def restore_into_second_server(demo: Demo) -> None:
    """Push the sample mirror into another in-process emulator; show counts side by side."""



    db = demo.notes.get("db")
    if not isinstance(db, str | Path) or not Path(db).is_file():
        # No mirror from an earlier step: make one the way a user would, with `syncer sync`.
        db = demo.workdir / "restore-mirror.db"
        _sync(demo, db, [t["id"] for t in json.loads(sample_account_path().read_text())["threads"]])

    with open_mirror(db, "read") as archive:
        before = {table: archive.conn.execute(
            f"SELECT count(*) FROM [{table}] WHERE deleted_at IS NULL").fetchone()[0]
            for table in ("assistants", "threads", "messages", "runs", "run_steps")}

    async def restore_and_count(base_url: str) -> tuple[RestoreReport, dict[str, int]]:
        settings = ClientSettings.from_env(base_url=base_url, api_key="sk-demo-second")
        async with AssistantsClient(settings) as client:
            # `syncer restore --yes`: the flow the command runs, answered yes.
            outcome = await restore(client, str(db), _yes)
            report = outcome.report
            if report is None:
                raise SyncerError("demo: the restore did not run")
            counts = {"assistants": len([a async for a in client.list_assistants()])}
            threads = [report.ids[t.source["id"]] for t in outcome.plan.threads]
            counts["threads"] = len([
                await client.retrieve_thread(t) for t in threads])
            counts["messages"] = sum([
                len([m async for m in client.list_messages(t)])
                for t in threads])
            # The id map at work: planning the same restore again finds nothing to create.
            again = await restore(client, str(db), _yes, dry_run=True)
            counts["second_run_creates"] = again.plan.write_requests
            return report, counts

    with running_server(EmulatorConfig()) as second:
        demo.console.print(f"$ syncer restore --from {Path(db).name} --base-url {second.base_url} --yes")
        report, after = asyncio.run(restore_and_count(second.base_url))

    table = Table("", "archive (mirror)", "second server")
    for name in ("assistants", "threads", "messages"):
        table.add_row(name, str(before[name]), str(after[name]))
    for name in ("runs", "run_steps"):
        table.add_row(name, str(before[name]), "[dim]stay in the archive[/dim]")
    demo.console.print(table)
    skipped = report.plan.skipped
    demo.console.print(
        f"{report.requests} requests. Ids are recorded in restore_map: planning the same restore "
        f"again finds {after['second_run_creates']} objects to create. Not restorable: "
        f"{len(skipped)} part(s)" + (f", e.g. {skipped[0].line()}" if skipped else "") + ".")
    demo.notes["restored_ids"] = dict(report.ids)


# --- migrate ---


@step("Leave the Assistants API: migrate the mirror into Conversations")
def migrate_to_conversations(demo: Demo) -> None:
    """Every mirrored thread becomes a conversation (function calls kept); the summary table,
    then one response created on a migrated conversation."""
    db = demo.notes.get("db")
    if not isinstance(db, str | Path) or not Path(db).is_file():
        db = demo.workdir / "migrate-mirror.db"
        _sync(demo, db, [t["id"] for t in json.loads(sample_account_path().read_text())["threads"]])

    async def migrate() -> tuple[MigrateReport, int, str]:
        settings = ClientSettings.from_env(base_url=demo.base_url, api_key=demo.api_key)
        async with AssistantsClient(settings) as client:
            # `syncer migrate --yes`: the flow the command runs, answered yes.
            report = (await migrate_mirror(client, str(db), _yes)).report
            if report is None:
                raise SyncerError("demo: the migration did not run")
            again = (await migrate_mirror(client, str(db), _yes, dry_run=True)).plan.write_requests
            conversation = next(iter(report.conversations.values()), None)
            reply = ""
            if conversation:
                response = await client.create_response({
                    "model": "gpt-4o", "conversation": conversation,
                    "input": "Thanks. Anything else I should know?"})
                reply = response.output_text
            return report, again, reply

    demo.console.print(f"$ syncer migrate --from {Path(db).name} --yes")
    report, again, reply = asyncio.run(migrate())
    for line in render.migrate_summary(report.planned, created=report.created):
        demo.console.print(Text.from_ansi(line))
    demo.console.print(
        f"{report.requests} requests. migrate_map records each conversation: migrating again "
        f"sends {again} write requests. A response on a migrated conversation: {reply[:80]!r}")
    demo.notes["conversations"] = dict(report.conversations)
