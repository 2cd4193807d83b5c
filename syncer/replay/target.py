"""What `--assistant NAME_OR_ID` names, and replay's temporary assistants.

Resolution order: an ``asst_…`` id is an assistant on the server; otherwise a config of that
name in the config directory, created as a temporary assistant marked ``syncer:replay`` (and
deleted when the replay ends); otherwise the managed assistant (``syncer:name``) of that name
on the server. `cleanup` deletes temporary assistants a crashed replay left behind.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from syncer import markers
from syncer.api.client import AssistantsClient
from syncer.errors import NotFoundError, UsageError
from syncer.gitops.config import load_configs
from syncer.replay.response_config import ResponseConfig, flatten, load_assistants


@dataclass
class Target:
    """A resolved target: the assistant id, and whether replay created it (and must delete it)."""

    assistant_id: str
    label: str
    temporary: bool = False


async def resolve_target(
    client: AssistantsClient,
    name_or_id: str,
    config_dir: str | Path,
    replay_id: str,
    *,
    allow_env: Iterable[str] = (),
) -> Target:
    """Resolve ``--assistant``; may create a temporary assistant from a config."""
    if name_or_id.startswith("asst_"):
        try:
            await client.retrieve_assistant(name_or_id)
        except NotFoundError as error:
            raise UsageError(f"--assistant {name_or_id}: no such assistant on the server") from error
        return Target(name_or_id, name_or_id)
    config = _find_config(name_or_id, Path(config_dir), allow_env)
    if config is not None:
        body = dict(config.fields)
        # Not ``syncer:name``: a temporary copy must never look managed to plan/apply/prune.
        body["metadata"] = {**(body.get("metadata") or {}), markers.REPLAY: replay_id}
        created = await client.create_assistant(body)
        return Target(created.id, f"{name_or_id} (config {config.where})", temporary=True)
    async for assistant in client.list_assistants(order="asc"):
        if (assistant.metadata or {}).get(markers.MANAGED) == name_or_id:
            return Target(assistant.id, f"{name_or_id} ({assistant.id})")
    raise UsageError(
        f"--assistant {name_or_id}: not an asst_ id, no config of that name in {config_dir}, "
        "and no managed assistant of that name on the server"
    )


def response_target(conn: sqlite3.Connection, name_or_id: str, config_dir: str | Path, *,
                    allow_env: Iterable[str] = ()) -> ResponseConfig:
    """``--assistant`` with ``--api responses``: a configuration, never an assistant on the
    server (a Responses-API server has none). An ``asst_…`` id is a mirrored assistant; else
    a config of that name in the config directory; else the mirrored managed assistant of
    that name."""
    if name_or_id.startswith("asst_"):
        found = load_assistants(conn, [name_or_id])
        if name_or_id not in found:
            raise UsageError(f"--assistant {name_or_id}: not in the mirror")
        return found[name_or_id]
    config = _find_config(name_or_id, Path(config_dir), allow_env)
    if config is not None:
        fields, left_out = flatten(config.fields)
        return ResponseConfig(fields, f"{name_or_id} (config {config.where})", None, left_out)
    row = conn.execute(
        "SELECT id FROM assistants WHERE json_extract(coalesce(metadata, '{}'), ?) = ?"
        " ORDER BY created_at DESC LIMIT 1", (f'$."{markers.MANAGED}"', name_or_id),
    ).fetchone()
    if row is not None:
        managed = load_assistants(conn, [row[0]])[row[0]]
        managed.source = f"{name_or_id} ({managed.source})"
        return managed
    raise UsageError(
        f"--assistant {name_or_id}: not an asst_ id in the mirror, no config of that name in "
        f"{config_dir}, and no managed assistant of that name in the mirror"
    )


def _find_config(name: str, directory: Path, allow_env: Iterable[str]) -> Any:
    """The config named ``name`` in ``directory`` (None when the directory does not exist)."""
    if not directory.is_dir():
        return None
    for config in load_configs(directory, allow_env=allow_env):
        if config.name == name:
            return config
    return None


async def delete_quietly(client: AssistantsClient, assistant_id: str) -> bool:
    """Delete a temporary assistant; a 404 (already gone) is fine."""
    try:
        await client.delete_assistant(assistant_id)
    except NotFoundError:
        return False
    return True


async def cleanup(client: AssistantsClient) -> list[str]:
    """Delete every assistant marked ``syncer:replay`` (left behind by a crashed replay)."""
    leftovers = [
        assistant.id
        async for assistant in client.list_assistants(order="asc")
        if markers.REPLAY in (assistant.metadata or {})
        and markers.MANAGED not in (assistant.metadata or {})
    ]
    return [aid for aid in leftovers if await delete_quietly(client, aid)]

