"""Every ``syncer:*`` metadata key syncer writes on a server, and what it means.

Metadata is the only place an API object can carry syncer's bookkeeping, so each key has one
meaning across the product:

- ``MANAGED`` (``syncer:name``): the assistant belongs to a GitOps config of that name;
- ``SCOPE`` (``syncer:scope``): beside ``MANAGED``, the config directory's ownership scope
  (``syncer.yaml`` or ``--scope``); absent on assistants of unscoped directories and on those
  managed before scopes existed;
- ``REPLAY`` (``syncer:replay``): a temporary object a replay created (assistants, threads);
- ``REPLAY_OF`` (``syncer:replay_of``): on a replay's thread, the recorded thread it re-runs;
- ``SOURCE`` (``syncer:source``): on a restored object, the id of the archived original;
- ``THREAD_ID`` (``syncer:thread_id``): on a conversation `syncer migrate` made, the thread it holds.

Every key starts with ``PREFIX``: configs may not set such keys themselves.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

PREFIX = "syncer:"
MANAGED = "syncer:name"
SCOPE = "syncer:scope"
REPLAY = "syncer:replay"
REPLAY_OF = "syncer:replay_of"
SOURCE = "syncer:source"
THREAD_ID = "syncer:thread_id"


def metadata_of(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    """An object's metadata, or an empty mapping when it has none (or it is not an object)."""
    metadata = obj.get("metadata")
    return metadata if isinstance(metadata, Mapping) else {}


def is_replay(obj: Mapping[str, Any]) -> bool:
    """Whether a replay created this object (it carries ``syncer:replay``)."""
    return REPLAY in metadata_of(obj)


def scope_of(obj: Mapping[str, Any]) -> str | None:
    """The ownership scope a managed object carries (``syncer:scope``), or None."""
    scope = metadata_of(obj).get(SCOPE)
    return scope if isinstance(scope, str) else None


def user_keys(metadata: Mapping[str, Any] | None) -> dict[str, Any]:
    """The metadata without syncer's own keys."""
    return {k: v for k, v in (metadata or {}).items() if not str(k).startswith(PREFIX)}
