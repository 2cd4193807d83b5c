"""`syncer plan`, `apply`, `import` and `watch`: assistant configs in git."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import Any

import click

from syncer import markers
from syncer.api.client import AssistantsClient
from syncer.cli.main import (
    allow_env_option,
    cli,
    client_settings,
    confirm_on_terminal,
    connection_options,
    echo_json,
    json_option,
    silent_option,
    status,
)
from syncer.errors import UsageError
from syncer.gitops.apply import ApplyOutcome, apply_directory, plan_directory
from syncer.gitops.config import DEFAULT_DIRECTORY, check_allow_env, load_configs
from syncer.gitops.importer import write_configs
from syncer.gitops.plan import Plan, live_assistants
from syncer.gitops.tree import check_scope
from syncer.gitops.watch import watch as watch_directory

# --- gitops: plan, apply, import, watch -----------------------------------------------------

gitops_dir_argument = click.argument("directory", default=DEFAULT_DIRECTORY, type=click.Path())
scope_option = click.option(
    "--scope", metavar="NAME",
    help="Ownership scope (metadata syncer:scope): plan, apply and prune only assistants of this "
         "scope. Default: `scope:` in syncer.yaml at the config root; else unscoped.",
)
prune_option = click.option(
    "--prune", is_flag=True, help="Delete managed assistants that no longer have a config."
)
adopt_option = click.option(
    "--adopt", is_flag=True,
    help="Take over an unmanaged assistant that has a config's name (adds syncer's marker).",
)


def _check_prune_target(target: str, prune: bool) -> None:
    if prune and os.path.isfile(target):
        raise UsageError(f"--prune needs the whole config directory, not one file ({target})")


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
@scope_option
@allow_env_option
@json_option
@silent_option
@connection_options
def plan(directory: str, prune: bool, adopt: bool, detailed_exitcode: bool, scope: str | None,
         allow_env: tuple[str, ...], json_: bool, silent: bool, **connection: Any) -> None:
    """Show what `syncer apply` would change to make the account match DIRECTORY's configs.

    DIRECTORY (default ./assistants) holds *.yaml files, one assistant per YAML document; its
    subdirectories are read too (hidden ones skipped). A single file may be given instead.
    Every file is validated before the server is asked anything. Exit codes: 0 success, 1 error
    or a conflict with an unmanaged assistant, 2 changes present (only with --detailed-exitcode).
    """

    _check_prune_target(directory, prune)
    # No server call when any file is invalid.
    configs = load_configs(directory, allow_env=allow_env, scope=scope)
    status(f"{len(configs)} configs in {directory}", silent or json_)

    async def run() -> Any:
        async with AssistantsClient(client_settings(**connection)) as client:
            return await plan_directory(client, directory, prune=prune, adopt=adopt,
                                        configs=configs, scope=scope)

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
@scope_option
@allow_env_option
@json_option
@silent_option
@connection_options
def apply(directory: str, prune: bool, adopt: bool, yes: bool, scope: str | None,
          allow_env: tuple[str, ...], json_: bool, silent: bool, **connection: Any) -> None:
    """Make the account match DIRECTORY's configs: show the plan, confirm, apply, re-plan.

    Only assistants carrying syncer's marker (metadata syncer:name) are ever changed or
    deleted. A failure part-way stops the run; running apply again converges without
    duplicates. Exits 1 on any error, a conflict, or when the re-plan still shows changes.
    """

    _check_prune_target(directory, prune)
    configs = load_configs(directory, allow_env=allow_env, scope=scope)
    status(f"{len(configs)} configs in {directory}", silent or json_)

    def show(plan: Plan) -> None:
        if not json_:
            _emit_plan(plan, False)

    async def run() -> ApplyOutcome:
        async with AssistantsClient(client_settings(**connection)) as client:
            return await apply_directory(
                client, directory, confirm_on_terminal("apply", yes), prune=prune, adopt=adopt,
                configs=configs, scope=scope, on_plan=show,
                progress=lambda line: status(line, silent))

    outcome = asyncio.run(run())
    if outcome.declined:
        status("Apply cancelled; nothing changed.")
        sys.exit(1)
    done, after = outcome.applied, outcome.after
    code = 0
    if done is not None and done.error is not None:
        # Name the step that failed: the error alone says only which request did.
        what = f"{done.failed.kind} {done.failed.name!r}: " if done.failed else ""
        click.echo(f"Error: {what}{done.error}", err=True)
        status(f"Applied {len(done.done)} of {len(outcome.before.changes)} changes; "
               f"{done.skipped + 1} not done. Run `syncer apply` again to converge.")
        code = 1
    if json_:
        echo_json(outcome.to_json())
    elif done is not None and after is not None:
        _emit_plan(after, False, heading=None if silent else "Plan after apply:")
    if done is not None and done.error is None and not outcome.converged:
        click.echo("Error: the account did not converge; see the plan above", err=True)
        code = 1
    sys.exit(1 if after is not None and after.conflicts else code)


@cli.command("import")
@click.argument("assistant_ids", nargs=-1)
@click.option("--out", "out_dir", default=DEFAULT_DIRECTORY, show_default=True,
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


    if bool(assistant_ids) == all_:
        raise UsageError("give assistant ids or --all (not both)")

    async def fetch() -> list[dict[str, Any]]:
        async with AssistantsClient(client_settings(**connection)) as client:
            if all_:
                return [a for a in await live_assistants(client) if not markers.is_replay(a)]
            return [await client.get_assistant_json(i) for i in assistant_ids]

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
@scope_option
@allow_env_option
@connection_options
def watch(directory: str, prune: bool, apply_: bool, debounce: int, scope: str | None,
          allow_env: tuple[str, ...], **connection: Any) -> None:
    """Re-validate and re-plan DIRECTORY on every change (and apply with --apply).

    Problems are printed and watching goes on; stop with Ctrl-C.
    """


    if not os.path.isdir(directory):
        raise UsageError(f"{directory}: no such directory")
    check_allow_env(allow_env)  # a forbidden name is refused before watching starts
    if scope is not None:
        check_scope(scope)

    def output(text: str, problem: bool) -> None:
        click.echo(text, err=problem)

    async def run() -> None:
        async with AssistantsClient(client_settings(**connection)) as client:
            await watch_directory(client, Path(directory), output, prune=prune, apply=apply_,
                                  debounce_ms=debounce, allow_env=allow_env, scope=scope)

    try:
        asyncio.run(run())
    except KeyboardInterrupt:
        status("Stopped watching.")
