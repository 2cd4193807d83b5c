"""`syncer replay`: re-run recorded threads and report what changed."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

import click
from rich.console import Console

from syncer.cli.main import (
    allow_env_option,
    cli,
    client_settings,
    connection_options,
    db_option,
    echo_json,
    json_option,
    silent_option,
    status,
)
from syncer.errors import UsageError
from syncer.gitops.config import DEFAULT_DIRECTORY, check_allow_env
from syncer.replay.compare import exit_code
from syncer.replay.judge import Judge, judge_settings, load_rubric
from syncer.replay.report import check_report_path, print_report, summary_line, write_report
from syncer.replay.runner import ReplayOptions
from syncer.replay.session import Selection, cleanup_temporary, compare_stored, replay_from_mirror

# --- replay -----------------------------------------------------------------------------------


@cli.command()  # usage errors exit 1 (3 is "regression"): the group's boundary sees to it
@click.argument("thread_ids", nargs=-1, metavar="[THREAD_ID]...")
@click.option("--all", "all_threads", is_flag=True, help="Replay every mirrored thread.")
@click.option("--query", metavar="FTS_QUERY", help="Replay threads whose messages match (FTS5).")
@click.option("--limit", type=click.IntRange(1), help="At most N threads.")
@click.option("--api", type=click.Choice(["assistants", "responses"]), default="assistants",
              show_default=True,
              help="Replay on the Assistants API (runs on a new thread) or the Responses API "
                   "(chained responses carrying the assistant's configuration).")
@click.option("--assistant", metavar="NAME_OR_ID",
              help="Target: an asst_ id, a config name in --config-dir (created as a temporary "
                   "assistant), or a managed assistant's name. Default: each turn's own assistant.")
@click.option("--config-dir", type=click.Path(file_okay=False), default=DEFAULT_DIRECTORY,
              show_default=True, help="Where --assistant NAME looks for configs.")
@allow_env_option
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
@click.option("--judge", "judge_model", metavar="MODEL",
              help="Grade each turn with this chat model (SYNCER_JUDGE_BASE_URL, "
                   "SYNCER_JUDGE_API_KEY; default: the connection's): a turn passes on the "
                   "judge's verdict and its tool calls; similarity is reported only.")
@click.option("--rubric", "rubric_path", type=click.Path(exists=True, dir_okay=False),
              help="Replace the judge's rubric with this file (first line `rubric: ID`).")
@click.option("--report", "report_path", type=click.Path(dir_okay=False),
              help="Also write a report: .xml JUnit, .md Markdown, else JSON.")
@click.option("--compare", "compare_ids", nargs=2, metavar="A B",
              help="Compare two replays, each a stored replay id or a JSON report file (no "
                   "server); exit codes as a replay's.")
@click.option("--cleanup", "cleanup_", is_flag=True,
              help="Delete temporary syncer:replay assistants a crashed replay left behind.")
@db_option
@connection_options
@json_option
@silent_option
def replay(thread_ids: tuple[str, ...], all_threads: bool, query: str | None, limit: int | None,
           api: str, assistant: str | None, config_dir: str, allow_env: tuple[str, ...],
           model: str | None,
           instructions_file: str | None, mode: str, run_timeout: float, on_missing_tool: str,
           concurrency: int, dry_run: bool, threshold: float, judge_model: str | None,
           rubric_path: str | None, report_path: str | None,
           compare_ids: tuple[str, str] | None, cleanup_: bool, db_path: str,
           base_url: str | None, api_key: str | None, max_retries: int | None,
           timeout: float | None, json_: bool, silent: bool) -> None:
    """Replay recorded threads from the mirror against an assistant and report what changed.

    Exit codes: 0 every turn passed, 1 error (a judge that failed included), 3 at least one
    regression (with --judge: the judge's fail, or changed tool calls).
    """



    chosen = [bool(thread_ids), all_threads, query is not None]
    if rubric_path and not judge_model:
        raise UsageError("--rubric goes with --judge MODEL")
    if judge_model is not None and (cleanup_ or compare_ids):
        raise UsageError("--judge grades a replay as it runs: not with --cleanup or --compare")
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
            api=api,  # type: ignore[arg-type]
            extra={"instructions_file": instructions_file} if instructions_file else {},
            allow_env=tuple(check_allow_env(allow_env)),
        )
        settings = client_settings(base_url, api_key, max_retries, timeout)
        judged_by = ""
        if judge_model is not None:
            rubric = load_rubric(rubric_path)
            if not dry_run:  # a dry run sends nothing: no judge key needed
                judge = Judge(judge_model, judge_settings(settings), rubric)
                options.judge = judge
                judged_by = f", judged by {judge_model} at {judge.settings.base_url}"
        selection = Selection(list(thread_ids), all_threads, query, limit)
        status(f"dry run from {db_path}: nothing is sent" if dry_run
               else f"replaying from {db_path} on {settings.base_url} ({api} API){judged_by}",
               silent)
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
