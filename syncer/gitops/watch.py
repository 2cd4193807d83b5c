"""`syncer watch`: re-validate and re-plan (optionally apply) whenever the config directory changes.

File events come from watchfiles (inotify/FSEvents, polling as its fallback) and are debounced,
so an editor's save-rename-chmod burst gives one cycle. A cycle never ends the watch: invalid
files and server errors are reported and the next change starts a fresh cycle.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from watchfiles import awatch

from syncer.api.client import AssistantsClient
from syncer.errors import ConfigError, SyncerError
from syncer.gitops.apply import apply_directory
from syncer.gitops.config import load_configs

#: ``(text, is_problem)``: the CLI prints plans on stdout and problems on stderr.
Output = Callable[[str, bool], None]


@dataclass
class CycleResult:
    """What one cycle found: the problems (if any) and whether changes were planned/applied."""

    problems: list[str]
    changes: int = 0
    applied: int = 0


async def run_cycle(
    client: AssistantsClient,
    directory: Path,
    output: Output,
    *,
    prune: bool = False,
    apply: bool = False,
    allow_env: Iterable[str] = (),
    scope: str | None = None,
) -> CycleResult:
    """Validate and plan once (with ``apply``: apply and plan again, `apply_directory`);
    reports through ``output``, never raises for bad files or server errors."""
    try:
        configs = load_configs(directory, allow_env=allow_env, scope=scope)
    except ConfigError as error:
        for problem in error.problems:
            output(f"Error: {problem}", True)
        return CycleResult(problems=error.problems)
    try:
        outcome = await apply_directory(
            client, directory, lambda _question: apply, prune=prune, configs=configs, scope=scope,
            on_plan=lambda plan: output(plan.render(), False),
            progress=lambda line: output(line, True))
        plan = outcome.before
        result = CycleResult(
            problems=[f"conflict: {a.name}" for a in plan.conflicts], changes=len(plan.changes)
        )
        if outcome.applied is not None and outcome.after is not None:
            result.applied = len(outcome.applied.done)
            if outcome.applied.error is not None:
                output(f"Error: {outcome.applied.error}", True)
                result.problems.append(str(outcome.applied.error))
            output(outcome.after.render(), False)
        return result
    except SyncerError as error:
        output(f"Error: {error}", True)
        return CycleResult(problems=[str(error)])


def _relevant(path: str) -> bool:
    # Editors write swap and backup files next to the real ones; they never hold configs.
    name = Path(path).name
    return not (name.startswith(".") or name.endswith(("~", ".swp", ".swx", ".tmp")))


async def watch(
    client: AssistantsClient,
    directory: Path,
    output: Output,
    *,
    prune: bool = False,
    apply: bool = False,
    debounce_ms: int = 300,
    stop_event: asyncio.Event | None = None,
    allow_env: Iterable[str] = (),
    scope: str | None = None,
) -> None:
    """One cycle now, then one per debounced batch of changes, until ``stop_event`` is set."""
    changes = awatch(
        directory, debounce=debounce_ms, step=50, stop_event=stop_event, recursive=True
    )
    # Start watching before the first cycle: a file saved while it runs is not missed.
    # (awatch registers its watches when first awaited, before it waits in a thread.)
    pending = asyncio.ensure_future(anext(changes))
    for _ in range(3):
        await asyncio.sleep(0)
    output(f"Watching {directory} (Ctrl-C to stop)", True)
    await run_cycle(
        client, directory, output, prune=prune, apply=apply, allow_env=allow_env, scope=scope
    )
    while True:
        try:
            batch = await pending
        except StopAsyncIteration:
            return
        pending = asyncio.ensure_future(anext(changes))
        relevant = sorted({Path(path).name for _, path in batch if _relevant(path)})
        if relevant:
            output(f"Changed: {', '.join(relevant)}", True)
            await run_cycle(
                client, directory, output, prune=prune, apply=apply, allow_env=allow_env, scope=scope
            )
