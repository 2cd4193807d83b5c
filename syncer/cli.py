"""The `syncer` command line: glue over the library. The only module that knows click.

Conventions (like sqlite-utils, llm, terraform): data on stdout, progress and status on
stderr, `--json` for machine-readable output, `-s/--silent`, and exit codes CI can act on.
Every `SyncerError` becomes one line on stderr and exit 1; nothing else is caught.
"""

from __future__ import annotations

import asyncio
import functools
import json
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click

from syncer import __version__
from syncer.errors import ConfigError, SyncerError

F = TypeVar("F", bound=Callable[..., Any])

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


class SyncerGroup(click.Group):
    """A group whose commands report `SyncerError`s as one line and exit 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ConfigError as error:
            for problem in error.problems:
                click.echo(f"Error: {problem}", err=True)
            ctx.exit(1)
        except SyncerError as error:
            click.echo(f"Error: {error}", err=True)
            ctx.exit(1)


@click.group(cls=SyncerGroup, context_settings=CONTEXT_SETTINGS)
@click.version_option(__version__, "--version", prog_name="syncer")
def cli() -> None:
    """Mirror, manage and replay Assistants API (v2) accounts.

    Point syncer at an Assistants-compatible server with OPENAI_BASE_URL and
    OPENAI_API_KEY, or run one locally with `syncer emulator`.
    """


# --- shared options ------------------------------------------------------------------


def connection_options(fn: F) -> F:
    """--base-url/--api-key/--max-retries/--timeout; defaults come from the environment."""
    options = [
        click.option(
            "--base-url",
            envvar="OPENAI_BASE_URL",
            help="Server URL, e.g. http://127.0.0.1:8000/v1  [env: OPENAI_BASE_URL]",
        ),
        click.option(
            "--api-key",
            envvar="OPENAI_API_KEY",
            show_envvar=False,
            help="API key (prefer the OPENAI_API_KEY environment variable).",
        ),
        click.option(
            "--max-retries",
            type=click.IntRange(0, 100),
            envvar="SYNCER_MAX_RETRIES",
            help="Retries for 408/409/429/5xx and dropped connections (default 5).",
        ),
        click.option(
            "--timeout",
            type=click.FloatRange(0, min_open=True),
            envvar="SYNCER_TIMEOUT",
            help="Seconds to wait for one response (default 600).",
        ),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def client_settings(base_url: str | None, api_key: str | None, max_retries: int | None,
                    timeout: float | None) -> Any:
    """ClientSettings from the environment, overridden by the options that were given."""
    from syncer.settings import ClientSettings

    overrides: dict[str, Any] = {}
    if base_url:
        overrides["base_url"] = base_url
    if api_key:
        overrides["api_key"] = api_key
    if max_retries is not None:
        overrides["max_retries"] = max_retries
    if timeout is not None:
        overrides["timeout"] = timeout
    return ClientSettings.from_env(**overrides)


db_option = click.option(
    "--db",
    "db_path",
    type=click.Path(dir_okay=False),
    default="syncer.db",
    envvar="SYNCER_DB",
    show_default=True,
    help="The mirror database  [env: SYNCER_DB]",
)
json_option = click.option("--json", "json_", is_flag=True, help="Machine-readable output.")
silent_option = click.option("-s", "--silent", is_flag=True, help="No progress on stderr.")


def run_async(fn: F) -> F:
    """Run an async command body with asyncio."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return asyncio.run(fn(*args, **kwargs))

    return wrapper  # type: ignore[return-value]


def echo_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, default=str))


def status(message: str, silent: bool = False) -> None:
    """A status line on stderr."""
    if not silent:
        click.echo(message, err=True)


# --- demo --------------------------------------------------------------------------------


@cli.command()
def demo() -> None:
    """Show the whole product on a local emulator with a sample account (no network)."""
    from syncer.demo import run_demo

    sys.exit(run_demo())


# --- emulator ------------------------------------------------------------------------------


@cli.command("emulator")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True,
              help="Port (0: any free port).")
@click.option("--api-key", envvar="SYNCER_EMULATOR_API_KEY", show_envvar=False,
              help="Accept only this key (default: any non-empty key)  [env: SYNCER_EMULATOR_API_KEY]")
@click.option("--latency-ms", type=click.FloatRange(0), default=0, show_default=True,
              help="Added to every /v1 response.")
@click.option("--fault-rate", type=click.FloatRange(0, 1), default=0.0, show_default=True,
              help="Share of /v1 requests answered with 429, 500, 503 or a dropped connection.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the fault injection.")
@click.option("--run-ms", type=click.FloatRange(0), default=None,
              help="How long a run takes from queued to done (default 200).")
@click.option("--no-stream", is_flag=True, help="Answer `stream: true` with a 400 naming `stream`.")
@click.option("--load", "load_path", type=click.Path(dir_okay=False),
              help="Start with the objects of an account file (JSON).")
@click.option("--sample", is_flag=True, help="Start with the sample account (the demo's).")
@click.option("--state", "state_path", type=click.Path(dir_okay=False),
              help="Keep every object in this SQLite file across restarts (default: in memory).")
@click.option("--backend", "backend_url", metavar="URL",
              help="Run assistants on this OpenAI-compatible Chat Completions API (its …/v1 base "
                   "URL); its key comes from SYNCER_BACKEND_API_KEY.")
@click.option("--backend-model", metavar="NAME",
              help="Send every completion to this model (runs still show the model asked for).")
def emulator_command(host: str, port: int, api_key: str | None, latency_ms: float,
                     fault_rate: float, seed: int, run_ms: float | None, no_stream: bool,
                     load_path: str | None, sample: bool, state_path: str | None,
                     backend_url: str | None, backend_model: str | None) -> None:
    """Serve a local Assistants API v2 (the emulator) until Ctrl-C.

    Point clients at the printed base URL, e.g. OPENAI_BASE_URL=http://127.0.0.1:8000/v1.
    Runs are answered by a deterministic model, or with --backend by a real one.
    """
    from syncer.emulator import EmulatorConfig, serve_forever
    from syncer.emulator.config import DEFAULT_RUN_MS
    from syncer.emulator.generate import sample_account_path

    if load_path and sample:
        raise click.UsageError("give either --load FILE or --sample, not both")
    if backend_model and not backend_url:
        raise click.UsageError("--backend-model needs --backend URL")
    backend = None
    if backend_url:
        from syncer.emulator.backends.chat import ChatBackend, backend_settings

        backend = ChatBackend(backend_settings(backend_url), model=backend_model or None)
    config = EmulatorConfig(
        api_key=api_key or None,
        latency_ms=latency_ms,
        fault_rate=fault_rate,
        seed=seed,
        run_ms=DEFAULT_RUN_MS if run_ms is None else run_ms,
        stream=not no_stream,
        load=str(sample_account_path()) if sample else load_path,
        state=state_path,
        backend=backend,
    )

    def announce(base_url: str) -> None:
        key_note = "this --api-key only" if config.api_key else "any API key"
        model_note = f"; runs on {backend.settings.base_url}" if backend is not None else ""
        status(f"syncer emulator serving {base_url} ({key_note}{model_note}; Ctrl-C to stop)")

    serve_forever(config, host=host, port=port, announce=announce)
    status("syncer emulator stopped")


# --- mirror: sync, threads, search, show, status -----------------------------------------


def _open_mirror(db_path: str, *, create: bool = True) -> Any:
    """A context manager: the mirror, closed afterwards; SQLite failures become one line."""
    from syncer.mirror.store import open_mirror

    return open_mirror(db_path, create=create)


@cli.command()
@click.option("--thread", "thread_ids", multiple=True, metavar="ID",
              help="Track this thread and sync it (repeatable).")
@click.option("--threads-file", type=click.Path(dir_okay=False),
              help="Track the thread ids in FILE (one a line; blank lines and # comments ignored).")
@click.option("--full", is_flag=True,
              help="Re-read every list from the start and mark what vanished as deleted.")
@click.option("--concurrency", type=click.IntRange(1, 256), default=8, show_default=True,
              help="Requests in flight at once (threads and their lists are synced concurrently).")
@click.option("--force", is_flag=True,
              help="Sync even if the mirror belongs to another server, organisation or project.")
@db_option
@connection_options
@json_option
@silent_option
@run_async
async def sync(thread_ids: tuple[str, ...], threads_file: str | None, full: bool,
               concurrency: int, force: bool, db_path: str, base_url: str | None,
               api_key: str | None, max_retries: int | None, timeout: float | None,
               json_: bool, silent: bool) -> None:
    """Mirror all assistants and the tracked threads into the SQLite database.

    Incremental: only what changed since the last sync is read (use --full to re-read
    everything). Safe to interrupt at any moment; the next sync carries on.
    """
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from syncer.client import AssistantsClient
    from syncer.mirror.sync import sync_mirror
    from syncer.mirror.threads import check_thread_ids, read_threads_file

    settings = client_settings(base_url, api_key, max_retries, timeout)
    extra = check_thread_ids(thread_ids)
    from_file = read_threads_file(threads_file) if threads_file else []
    with _open_mirror(db_path) as store:
        # Refused before anything is tracked or sent; recorded once the server has answered.
        store.check_server(settings.base_url, settings.organization, settings.project,
                           force=force)
        store.track_threads(extra, source="sync --thread")
        store.track_threads(from_file, source=f"file:{threads_file}")
        tracked = [row["id"] for row in store.tracked_threads()]
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
                report = await sync_mirror(
                    store, client, tracked, full=full, concurrency=concurrency, force=force,
                    on_items=on_items, on_thread=lambda: progress.advance(task))
    if json_:
        echo_json(report.as_dict())
    for error in report.errors:
        click.echo(f"Error: {error}", err=True)
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
    from syncer.mirror.threads import check_thread_ids, read_threads_file

    if not thread_ids and not file_:
        raise click.UsageError("give thread ids, or --file FILE")
    ids = check_thread_ids(thread_ids)
    from_file = read_threads_file(file_) if file_ else []
    with _open_mirror(db_path) as store:
        added = store.track_threads(ids, source="cli")
        added += store.track_threads(from_file, source=f"file:{file_}")
    total = len(set(ids) | set(from_file))
    status(f"Tracking {len(added)} new thread(s) ({total - len(added)} already tracked)", silent)


@threads.command("list")
@db_option
@json_option
def threads_list(db_path: str, json_: bool) -> None:
    """The tracked threads, with when and how each was added."""
    with _open_mirror(db_path, create=False) as store:
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
    """Stop syncing threads. Their mirrored rows stay (and stay searchable)."""
    with _open_mirror(db_path, create=False) as store:
        removed = store.untrack_threads(thread_ids)
    for thread_id in thread_ids:
        if thread_id not in removed:
            status(f"{thread_id} was not tracked", silent)
    status(f"Stopped tracking {len(removed)} thread(s); their mirrored rows are kept", silent)


@cli.command()
@click.argument("query")
@click.option("--thread", "thread_id", metavar="ID", help="Only this thread.")
@click.option("--assistant", "assistant_id", metavar="ID",
              help="Only what this assistant wrote or was told (threads it ran on).")
@click.option("--role", type=click.Choice(["user", "assistant"]), help="Only this role.")
@click.option("--since", metavar="DATE", help="Only messages created on or after DATE (YYYY-MM-DD or ISO 8601).")
@click.option("--limit", type=click.IntRange(1, 10_000), default=20, show_default=True,
              help="At most this many hits.")
@db_option
@json_option
def search(query: str, thread_id: str | None, assistant_id: str | None, role: str | None,
           since: str | None, limit: int, db_path: str, json_: bool) -> None:
    """Full-text search over the mirrored messages (offline), best match first.

    Plain words and terms like order-1234 or foo.bar@x.com just work; FTS5 operators
    (AND, OR, NOT, NEAR, "phrases", prefix*) pass through.
    """
    from syncer.mirror import query as queries

    since_ts = queries.parse_since(since) if since else None
    with _open_mirror(db_path, create=False) as store:
        hits = queries.search(store, query, thread_id=thread_id, assistant_id=assistant_id,
                              role=role, since=since_ts, limit=limit)
    if json_:
        echo_json([hit.as_dict() for hit in hits])
        return
    for hit in hits:
        snippet = hit.snippet.replace("\n", " ")
        snippet = snippet.replace(queries.MARK_START, "\x1b[1;33m").replace(
            queries.MARK_END, "\x1b[0m")
        deleted = " (deleted)" if hit.deleted else ""
        click.echo(f"{queries.iso(hit.created_at)}  {hit.thread_id}  {hit.message_id}  "
                   f"{hit.role}{deleted}")
        click.echo(f"    {snippet}")
    if not hits:
        status("No matches")


@cli.command()
@click.argument("thread_id")
@db_option
@json_option
def show(thread_id: str, db_path: str, json_: bool) -> None:
    """A mirrored thread as a transcript (offline): messages oldest first, tool calls with
    their arguments and outputs, and each run's status and token usage."""
    from syncer.mirror import query as queries

    with _open_mirror(db_path, create=False) as store:
        data = queries.transcript(store, thread_id)
    if json_:
        echo_json(data)
        return
    thread = data["thread"]
    deleted = " (deleted upstream)" if thread["deleted"] else ""
    click.echo(click.style(f"Thread {thread['id']}{deleted}", bold=True)
               + f"  created {thread['timestamp']}")
    for entry in data["entries"]:
        if entry["type"] == "message":
            head = f"{entry['role']} · {entry['timestamp']} · {entry['id']}"
            click.echo("\n" + click.style(head, bold=True))
            click.echo(entry["text"])
        elif entry["type"] == "tool_call":
            click.echo("\n" + click.style(f"tool call {entry['name']}", fg="cyan")
                       + f" ({entry['call_id']}, {entry['status']})")
            click.echo(f"  arguments: {entry['arguments']}")
            click.echo(f"  output:    {entry['output']}")
        else:
            usage = entry["usage"] or {}
            tokens = (f"{usage.get('prompt_tokens', 0)} prompt + "
                      f"{usage.get('completion_tokens', 0)} completion tokens"
                      if usage else "no usage yet")
            click.echo("\n" + click.style(f"run {entry['id']}: {entry['status']}", fg="magenta")
                       + f" · {entry['assistant_id']} · {entry['model']} · {tokens}")


@cli.command("status")
@db_option
@json_option
def status_command(db_path: str, json_: bool) -> None:
    """What the mirror holds: rows per table, tracked threads, the last sync, its size."""
    from syncer.mirror import query as queries

    with _open_mirror(db_path, create=False) as store:
        data = queries.status(store)
    if json_:
        echo_json(data)
        return
    server = data["server"].get("base_url", "(never synced)")
    click.echo(f"Mirror {data['database']} ({data['size_bytes'] / 1e6:.1f} MB) of {server}")
    for table, counts in data["tables"].items():
        click.echo(f"  {table:<11} {counts['rows']:>9,} rows  ({counts['deleted']:,} deleted)")
    click.echo(f"  tracked threads: {data['tracked_threads']:,}")
    last = data["last_sync"]
    if last:
        click.echo(f"Last sync #{last['id']} {last['started_at']} → {last['finished_at'] or '-'}: "
                   f"{last['status']}; {last['requests']:,} requests, {last['new']:,} new, "
                   f"{last['changed']:,} changed, {last['deleted']:,} deleted, "
                   f"{len(last['errors'])} error(s)")
        for error in last["errors"]:
            click.echo(f"  error: {error}")
    else:
        click.echo("No sync yet")


# --- gitops: plan, apply, import, watch -----------------------------------------------------

gitops_dir_argument = click.argument(
    "directory", default="assistants", type=click.Path(file_okay=False)
)
prune_option = click.option(
    "--prune", is_flag=True, help="Delete managed assistants that no longer have a config."
)
adopt_option = click.option(
    "--adopt", is_flag=True,
    help="Take over an unmanaged assistant that has a config's name (adds syncer's marker).",
)


def _emit_plan(plan: Any, json_: bool, heading: str | None = None) -> None:
    """A plan on stdout (text or JSON); a heading, if any, on stderr."""
    if json_:
        echo_json(plan.to_json())
        return
    if heading:
        click.echo(heading, err=True)
    click.echo(plan.render())


@cli.command()
@gitops_dir_argument
@prune_option
@adopt_option
@click.option("--detailed-exitcode", is_flag=True,
              help="Exit 2 when there are changes (0: none, 1: error or conflict).")
@json_option
@silent_option
@connection_options
def plan(directory: str, prune: bool, adopt: bool, detailed_exitcode: bool, json_: bool,
         silent: bool, **connection: Any) -> None:
    """Show what `syncer apply` would change to make the account match DIRECTORY's configs.

    DIRECTORY (default ./assistants) holds *.yaml files, one assistant per YAML document.
    Every file is validated before the server is asked anything. Exit codes: 0 success, 1 error
    or a conflict with an unmanaged assistant, 2 changes present (only with --detailed-exitcode).
    """
    from syncer.client import AssistantsClient
    from syncer.gitops.apply import plan_directory
    from syncer.gitops.config import load_configs

    configs = load_configs(directory)  # no server call when any file is invalid
    status(f"{len(configs)} configs in {directory}", silent or json_)

    async def run() -> Any:
        async with AssistantsClient(client_settings(**connection)) as client:
            return await plan_directory(client, directory, prune=prune, adopt=adopt,
                                        configs=configs)

    result = asyncio.run(run())
    _emit_plan(result, json_)
    if result.conflicts:
        sys.exit(1)
    if detailed_exitcode and result.has_changes:
        sys.exit(2)


@cli.command()
@gitops_dir_argument
@prune_option
@adopt_option
@click.option("-y", "--yes", is_flag=True, help="Apply without asking (required without a terminal).")
@json_option
@silent_option
@connection_options
def apply(directory: str, prune: bool, adopt: bool, yes: bool, json_: bool, silent: bool,
          **connection: Any) -> None:
    """Make the account match DIRECTORY's configs: show the plan, confirm, apply, re-plan.

    Only assistants carrying syncer's marker (metadata syncer:name) are ever changed or
    deleted. A failure part-way stops the run; running apply again converges without
    duplicates. Exits 1 on any error, a conflict, or when the re-plan still shows changes.
    """
    from syncer.client import AssistantsClient
    from syncer.errors import UsageError
    from syncer.gitops.apply import apply_plan, plan_directory
    from syncer.gitops.config import load_configs

    configs = load_configs(directory)
    status(f"{len(configs)} configs in {directory}", silent or json_)

    async def run() -> int:
        async with AssistantsClient(client_settings(**connection)) as client:
            before = await plan_directory(client, directory, prune=prune, adopt=adopt,
                                          configs=configs)
            report: dict[str, Any] = {"plan": before.to_json(), "applied": [], "error": None}
            if not json_:
                _emit_plan(before, False)
            if not before.has_changes:
                if json_:
                    echo_json(report | {"after": before.to_json()})
                return 1 if before.conflicts else 0
            if not yes:
                if not sys.stdin.isatty():
                    raise UsageError("refusing to apply without --yes: stdin is not a terminal")
                if not click.confirm("Apply these changes?", err=True):
                    status("Apply cancelled; nothing changed.")
                    return 1
            done = await apply_plan(client, before, progress=lambda line: status(line, silent))
            report["applied"] = [
                {"action": a.kind, "name": a.name, "assistant_id": i} for a, i in done.done
            ]
            code = 0
            if done.error is not None:
                report["error"] = str(done.error)
                # Name the step that failed: the error alone says only which request did.
                what = f"{done.failed.kind} {done.failed.name!r}: " if done.failed else ""
                click.echo(f"Error: {what}{done.error}", err=True)
                status(f"Applied {len(done.done)} of {len(before.changes)} changes; "
                       f"{done.skipped + 1} not done. Run `syncer apply` again to converge.")
                code = 1
            after = await plan_directory(client, directory, prune=prune, adopt=adopt,
                                         configs=configs)
            report["after"] = after.to_json()
            if json_:
                echo_json(report)
            else:
                _emit_plan(after, False, heading=None if silent else "Plan after apply:")
            if after.has_changes and done.error is None:
                click.echo("Error: the account did not converge; see the plan above", err=True)
                code = 1
            return 1 if after.conflicts else code

    sys.exit(asyncio.run(run()))


@cli.command("import")
@click.argument("assistant_ids", nargs=-1)
@click.option("--out", "out_dir", default="assistants", show_default=True,
              type=click.Path(file_okay=False), help="Where to write the files.")
@click.option("--all", "all_", is_flag=True, help="Import every assistant on the server.")
@click.option("--force", is_flag=True, help="Overwrite files that already exist.")
@silent_option
@connection_options
def import_(assistant_ids: tuple[str, ...], out_dir: str, all_: bool, force: bool, silent: bool,
            **connection: Any) -> None:
    """Write config files for existing assistants (by ASSISTANT_ID, or --all).

    Then `syncer apply --adopt` takes them over, and `syncer plan` shows no changes.
    Replay temporaries are skipped by --all. Prints the files written.
    """
    from pathlib import Path

    from syncer.client import AssistantsClient
    from syncer.errors import UsageError
    from syncer.gitops.importer import write_configs
    from syncer.gitops.plan import is_replay, live_assistants

    if bool(assistant_ids) == all_:
        raise UsageError("give assistant ids or --all (not both)")

    async def fetch() -> list[dict[str, Any]]:
        async with AssistantsClient(client_settings(**connection)) as client:
            if all_:
                return [a for a in await live_assistants(client) if not is_replay(a)]
            return [await client.request("GET", f"/assistants/{i}") for i in assistant_ids]

    assistants = asyncio.run(fetch())
    names = [a.get("name") or a["id"] for a in assistants]
    for name in sorted({n for n in names if names.count(n) > 1}):
        status(f"Warning: several assistants are named {name!r}; rename all but one before "
               "applying (a name is a config's identity)")
    for path in write_configs(assistants, Path(out_dir), force=force):
        click.echo(str(path))
    status(f"Imported {len(assistants)} assistants into {out_dir}; adopt them with "
           f"`syncer apply {out_dir} --adopt`", silent)


@cli.command()
@gitops_dir_argument
@prune_option
@click.option("--apply", "apply_", is_flag=True, help="Also apply every plan (no confirmation).")
@click.option("--debounce", type=click.IntRange(0, 60_000), default=300, show_default=True,
              help="Group a burst of changes for at most this many milliseconds (a batch is "
                   "handled once 50 ms pass without a change).")
@connection_options
def watch(directory: str, prune: bool, apply_: bool, debounce: int, **connection: Any) -> None:
    """Re-validate and re-plan DIRECTORY on every change (and apply with --apply).

    Problems are printed and watching goes on; stop with Ctrl-C.
    """
    import os
    from pathlib import Path

    from syncer.client import AssistantsClient
    from syncer.errors import UsageError
    from syncer.gitops.watch import watch as watch_directory

    if not os.path.isdir(directory):
        raise UsageError(f"{directory}: no such directory")

    def output(text: str, problem: bool) -> None:
        click.echo(text, err=problem)

    async def run() -> None:
        async with AssistantsClient(client_settings(**connection)) as client:
            await watch_directory(client, Path(directory), output, prune=prune, apply=apply_,
                                  debounce_ms=debounce)

    try:
        asyncio.run(run())
    except KeyboardInterrupt:
        status("Stopped watching.")


# --- replay -----------------------------------------------------------------------------------


class _BadArgumentsExitOne(click.Command):
    """`syncer replay` promises exit 1 for bad arguments (3 is "regression", never a usage error)."""

    def make_context(self, info_name: str | None, args: list[str],
                     parent: click.Context | None = None, **extra: Any) -> click.Context:
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except click.UsageError as error:
            error.exit_code = 1
            raise


@cli.command(cls=_BadArgumentsExitOne)
@click.argument("thread_ids", nargs=-1, metavar="[THREAD_ID]...")
@click.option("--all", "all_threads", is_flag=True, help="Replay every mirrored thread.")
@click.option("--query", metavar="FTS_QUERY", help="Replay threads whose messages match (FTS5).")
@click.option("--limit", type=click.IntRange(1), help="At most N threads.")
@click.option("--assistant", metavar="NAME_OR_ID",
              help="Target: an asst_ id, a config name in --config-dir (created as a temporary "
                   "assistant), or a managed assistant's name. Default: each turn's own assistant.")
@click.option("--config-dir", type=click.Path(file_okay=False), default="assistants",
              show_default=True, help="Where --assistant NAME looks for configs.")
@click.option("--model", help="Run-level model override.")
@click.option("--instructions-file", type=click.Path(exists=True, dir_okay=False),
              help="Run-level instructions override, read from this file.")
@click.option("--mode", type=click.Choice(["turns", "last-turn"]), default="turns",
              show_default=True,
              help="turns: replay turn by turn; last-turn: seed the history, regenerate the last reply.")
@click.option("--run-timeout", type=click.FloatRange(0, min_open=True), default=600.0,
              show_default=True, help="Seconds each run may take.")
@click.option("--on-missing-tool", type=click.Choice(["fail", "stub", "error-output"]),
              default="fail", show_default=True,
              help="A tool call with no recorded output: fail the turn (cancel the run), answer "
                   "'{}', or answer an error object.")
@click.option("--concurrency", type=click.IntRange(1, 256), default=4, show_default=True,
              help="Threads replayed at once.")
@click.option("--dry-run", is_flag=True, help="List what would be sent and the runs it costs.")
@click.option("--threshold", type=click.FloatRange(0, 1), default=0.8, show_default=True,
              help="Minimum similarity for a turn to pass.")
@click.option("--report", "report_path", type=click.Path(dir_okay=False),
              help="Also write a report: .xml JUnit, .md Markdown, else JSON.")
@click.option("--compare", "compare_ids", nargs=2, metavar="REPLAY_ID REPLAY_ID",
              help="Compare two stored replays (no server).")
@click.option("--cleanup", "cleanup_", is_flag=True,
              help="Delete temporary syncer:replay assistants a crashed replay left behind.")
@db_option
@connection_options
@json_option
@silent_option
def replay(thread_ids: tuple[str, ...], all_threads: bool, query: str | None, limit: int | None,
           assistant: str | None, config_dir: str, model: str | None,
           instructions_file: str | None, mode: str, run_timeout: float, on_missing_tool: str,
           concurrency: int, dry_run: bool, threshold: float, report_path: str | None,
           compare_ids: tuple[str, str] | None, cleanup_: bool, db_path: str,
           base_url: str | None, api_key: str | None, max_retries: int | None,
           timeout: float | None, json_: bool, silent: bool) -> None:
    """Replay recorded threads from the mirror against an assistant and report what changed.

    Exit codes: 0 every turn passed, 1 error, 3 at least one regression.
    """
    from pathlib import Path

    from rich.console import Console

    from syncer.errors import UsageError
    from syncer.replay.compare import exit_code
    from syncer.replay.report import check_report_path, print_report, summary_line, write_report
    from syncer.replay.runner import ReplayOptions
    from syncer.replay.session import (
        Selection,
        cleanup_temporary,
        compare_stored,
        replay_from_mirror,
    )

    chosen = [bool(thread_ids), all_threads, query is not None]
    if report_path:
        check_report_path(report_path)
    if cleanup_:
        if any(chosen) or compare_ids:
            raise UsageError("--cleanup takes no threads and no --compare")
        settings = client_settings(base_url, api_key, max_retries, timeout)
        deleted = asyncio.run(cleanup_temporary(settings))
        if json_:
            echo_json({"deleted": deleted})
        else:
            for assistant_id in deleted:
                click.echo(assistant_id)
        status(f"deleted {len(deleted)} temporary assistant(s)", silent)
        return
    if compare_ids:
        if any(chosen):
            raise UsageError("--compare takes two replay ids and no threads")
        result = compare_stored(db_path, *compare_ids, threshold=threshold)
    else:
        if sum(chosen) != 1:
            raise UsageError("name the threads to replay: THREAD_ID…, --all or --query (one of them)")
        if limit is not None and thread_ids:
            raise UsageError("--limit goes with --all or --query")
        instructions = None
        if instructions_file:
            try:
                instructions = Path(instructions_file).read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as error:
                raise UsageError(f"{instructions_file}: {error}") from error
        options = ReplayOptions(
            model=model, instructions=instructions, run_timeout=run_timeout,
            on_missing_tool=on_missing_tool,  # type: ignore[arg-type]
            mode=mode,  # type: ignore[arg-type]
            concurrency=concurrency, threshold=threshold, dry_run=dry_run,
            extra={"instructions_file": instructions_file} if instructions_file else {},
        )
        settings = client_settings(base_url, api_key, max_retries, timeout)
        selection = Selection(list(thread_ids), all_threads, query, limit)
        status(f"dry run from {db_path}: nothing is sent" if dry_run
               else f"replaying from {db_path} on {settings.base_url}", silent)
        done: list[str] = []

        def progress(thread: Any) -> None:
            done.append(thread.thread_id)
            counts: dict[str, int] = {}
            for turn in thread.turns:
                counts[turn.status] = counts.get(turn.status, 0) + 1
            summary = ", ".join(f"{n} {s.replace('_', ' ')}" for s, n in counts.items())
            status(f"[{len(done)}] {thread.thread_id}: {summary or thread.error or 'no turns'}",
                   silent)

        result = asyncio.run(replay_from_mirror(
            settings, db_path, selection, options, assistant=assistant, config_dir=config_dir,
            on_thread_done=progress,
        ))
        if not result.threads:
            status("no mirrored thread matched: nothing was replayed", silent)
    if report_path:
        write_report(result, report_path)
        status(f"report written to {report_path}", silent)
    if json_:
        click.echo(result.model_dump_json(indent=2))
    else:
        print_report(result, Console(soft_wrap=False))
    if json_:
        status(summary_line(result), silent)
    sys.exit(exit_code(result))


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
    from syncer.archive.backup import backup as take_backup

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
    from syncer.archive.export import export

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
    from syncer.archive.export import load as load_export

    result = load_export(directory, db_path, force=force)
    if json_:
        echo_json({"database": str(result.database), "tables": result.tables})
    else:
        for name, counts in result.tables.items():
            click.echo(f"{name}\tadded {counts['added']}\tupdated {counts['updated']}"
                       f"\tunchanged {counts['unchanged']}")
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
@click.option("--dry-run", is_flag=True, help="Show what would be created, send no writes.")
@click.option("-y", "--yes", is_flag=True, help="Restore without asking (required without a terminal).")
@click.option("--concurrency", type=click.IntRange(1, 64), default=4, show_default=True,
              help="Threads restored at the same time (messages stay in order).")
@db_option
@json_option
@silent_option
@connection_options
def restore(from_: str | None, assistants_: bool, threads_: bool, thread_ids: tuple[str, ...],
            include_deleted: bool, dry_run: bool, yes: bool, concurrency: int, db_path: str,
            json_: bool, silent: bool, **connection: Any) -> None:
    """Push archived assistants, threads and messages into the server.

    With no selection flag everything restorable is restored. Ids change; the id map
    (restore_map in the archive) makes a rerun create nothing twice and finish a restore
    that was interrupted. Runs and run steps stay in the archive; restored objects link
    back through metadata syncer:source. What cannot be recreated (image_file ids,
    attachments, tool_resources) is listed. Exits 1 if anything failed to restore.
    """
    from syncer.archive.restore import build_plan, execute, open_mirror
    from syncer.client import AssistantsClient
    from syncer.errors import UsageError

    source = from_ or db_path
    everything = not (assistants_ or threads_ or thread_ids)
    settings = client_settings(**connection)

    async def run() -> int:
        conn = open_mirror(source)
        try:
            async with AssistantsClient(settings) as client:
                plan = await build_plan(
                    conn, client, assistants=everything or assistants_,
                    threads=everything or threads_, thread_ids=list(thread_ids) or None,
                    include_deleted=include_deleted)
                if not json_:
                    _emit_restore_plan(plan, source, dry_run)
                if dry_run:
                    if json_:
                        echo_json({**plan.summary(), "dry_run": True})
                    return 0
                if plan.write_requests and not yes:
                    if not sys.stdin.isatty():
                        raise UsageError("refusing to restore without --yes: stdin is not a terminal")
                    if not click.confirm("Restore into this server?", err=True):
                        status("Restore cancelled; nothing created.")
                        return 1
                # Also with nothing to create: the report then holds the id map and any
                # blocked thread (an error, exit 1), in the same shape as any other restore.
                report = await execute(conn, client, plan, concurrency=concurrency,
                                       progress=lambda line: status(line, silent))
        finally:
            conn.close()
        if json_:
            echo_json({**report.as_dict(), "dry_run": False})
        else:
            for line in report.errors:
                click.echo(f"Error: {line}", err=True)
            created = report.created
            _emit_not_restorable(plan, click.echo)
            for orphan in plan.possible_orphans:
                click.echo(f"Possible orphan: {orphan} (an interrupted restore may have left a copy)")
            if plan.write_requests:
                click.echo(f"Created {created['assistants']} assistants, {created['threads']} threads, "
                           f"{created['messages']} messages in {plan.target} "
                           f"({report.requests} requests).")
            elif report.errors:
                click.echo(f"Nothing created in {plan.target}.")
            else:
                click.echo(f"Nothing to create: everything selected is already in {plan.target}.")
        return 1 if report.errors else 0

    sys.exit(asyncio.run(run()))


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
