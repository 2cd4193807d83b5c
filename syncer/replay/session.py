"""One `syncer replay`, end to end: mirror → threads and turns → server → records → replay.

The CLI, the demo and the benchmark all call `replay_from_mirror`; it owns the order of
things that must not go wrong: turns are read from the mirror before anything is sent, a
temporary target assistant is deleted however the replay ends, and the replay's rows are
written as it goes.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from syncer.api.client import AssistantsClient
from syncer.errors import UsageError
from syncer.gitops.config import DEFAULT_DIRECTORY
from syncer.mirror.store import open_mirror
from syncer.replay import records, select
from syncer.replay.compare import compare_replays
from syncer.replay.report import load_json_report
from syncer.replay.response_config import load_assistants
from syncer.replay.responses import ResponsesReplayer
from syncer.replay.runner import (
    Recorder,
    ReplayerFactory,
    ReplayOptions,
    ThreadPlan,
    new_replay_id,
    run_replay,
)
from syncer.replay.target import cleanup, delete_quietly, resolve_target, response_target
from syncer.replay.types import Replay, ThreadResult


@dataclass
class Selection:
    """Which recorded threads: ids, ``--all``, or ``--query`` (with ``--limit``)."""

    thread_ids: Sequence[str] = field(default_factory=list)
    all_threads: bool = False
    query: str | None = None
    limit: int | None = None


def load_plans(db_path: str | Path, selection: Selection) -> list[ThreadPlan]:
    """The selected threads split into turns, read from the mirror only."""
    conn = _read(db_path)
    try:
        ids = select.select_threads(
            conn, selection.thread_ids, all_threads=selection.all_threads,
            query=selection.query, limit=selection.limit,
        )
        return [ThreadPlan(tid, select.load_turns(conn, tid)) for tid in ids]
    finally:
        conn.close()


async def replay_from_mirror(
    settings: Any,
    db_path: str | Path,
    selection: Selection,
    options: ReplayOptions,
    *,
    assistant: str | None = None,
    config_dir: str | Path = DEFAULT_DIRECTORY,
    client: AssistantsClient | None = None,
    on_thread_done: Callable[[ThreadResult], None] | None = None,
) -> Replay:
    """Replay the selected threads on the server in ``settings``; returns the stored replay.

    ``assistant`` is ``--assistant NAME_OR_ID`` (None: each turn's recorded assistant).
    ``--dry-run`` reads the mirror only and contacts no server. ``on_thread_done`` is called
    as each thread finishes (progress lines).
    """
    plans = load_plans(db_path, selection)
    replayer: ReplayerFactory | None = None
    if options.api == "responses":
        replayer = responses_replayer(db_path, plans, options, assistant, config_dir)
        assistant = None  # resolved from the mirror or a config: nothing to create on the server
    if options.dry_run:
        options.target_label = options.target_label or assistant
        return await run_replay(None, plans, options)

    store = open_mirror(db_path, "write")
    try:
        if client is not None:
            return await _replay(client, store, plans, options, assistant, config_dir, settings,
                                 on_thread_done, replayer)
        async with AssistantsClient(settings) as own:
            return await _replay(own, store, plans, options, assistant, config_dir, settings,
                                 on_thread_done, replayer)
    finally:
        store.close()


async def _replay(client: AssistantsClient, store: Any, plans: list[ThreadPlan], options: ReplayOptions,
                  assistant: str | None, config_dir: str | Path, settings: Any,
                  on_thread_done: Callable[[ThreadResult], None] | None,
                  replayer: ReplayerFactory | None = None) -> Replay:
    replay_id = new_replay_id()
    target = None
    if assistant:
        target = await resolve_target(client, assistant, config_dir, replay_id,
                                      allow_env=options.allow_env)
        options.assistant_id = target.assistant_id
        options.target_label = target.label
    try:
        recorder = records.MirrorRecorder(
            store, track_threads=records.mirrors_server(store, settings.base_url)
        )
        return await run_replay(
            client, plans, options, recorder, replay_id=replay_id, base_url=settings.base_url,
            on_thread_done=on_thread_done, replayer=replayer,
        )
    finally:
        if options.judge is not None:
            await options.judge.aclose()
        if target is not None and target.temporary:
            await delete_quietly(client, target.assistant_id)


def responses_replayer(db_path: str | Path, plans: Sequence[ThreadPlan], options: ReplayOptions,
                       assistant: str | None, config_dir: str | Path) -> ReplayerFactory:
    """``--api responses``: the configurations to replay with, read from the mirror (and
    ``--assistant``'s config), and a maker of `ResponsesReplayer`s that use them."""
    conn = _read(db_path)
    try:
        wanted = {t.baseline.assistant_id for p in plans for t in p.turns
                  if t.baseline and t.baseline.assistant_id}
        configs = load_assistants(conn, wanted)
        target = response_target(conn, assistant, config_dir,
                                 allow_env=options.allow_env) if assistant else None
    finally:
        conn.close()
    if target is not None:
        options.target_label = target.source
    used = [target] if target is not None else list(configs.values())
    left_out = sorted({kind for config in used for kind in config.left_out})
    if left_out:
        options.extra["tools_left_out"] = left_out

    def make(client: AssistantsClient, replay: Replay, plan: ThreadPlan, opts: ReplayOptions,
             recorder: Recorder) -> ResponsesReplayer:
        return ResponsesReplayer(client, replay, plan, opts, recorder, configs, target)

    return make


async def cleanup_temporary(settings: Any) -> list[str]:
    """``syncer replay --cleanup``: delete leftover ``syncer:replay`` assistants."""

    async with AssistantsClient(settings) as client:
        return await cleanup(client)


def compare_stored(db_path: str | Path, first: str, second: str,
                   threshold: float | None = None) -> Replay:
    """``syncer replay --compare A B``: two replays compared, no server. Each is a replay id
    stored in the mirror, or the path of a JSON report (``--report x.json``, ``--json``)."""

    def one(name: str, conn: sqlite3.Connection | None) -> Replay:
        if Path(name).is_file():
            return _report_file(name)
        if conn is None:
            raise UsageError(f"--compare {name}: no such replay report file")
        return records.load_replay(conn, name)

    if all(Path(name).is_file() for name in (first, second)):
        return compare_replays(one(first, None), one(second, None), threshold)
    conn = _read(db_path)
    try:
        return compare_replays(one(first, conn), one(second, conn), threshold)
    finally:
        conn.close()


def _report_file(path: str) -> Replay:
    """A JSON report read back; anything else is one line naming the file."""
    try:
        return load_json_report(path)
    except (OSError, UnicodeDecodeError, ValidationError) as error:
        first = error.errors()[0]["msg"] if isinstance(error, ValidationError) else error
        raise UsageError(f"--compare {path}: not a replay JSON report ({first})") from error


def _read(db_path: str | Path) -> sqlite3.Connection:
    """The mirror, read-only, with rows by column name."""
    conn = open_mirror(db_path, "read").conn
    conn.row_factory = sqlite3.Row
    return conn
