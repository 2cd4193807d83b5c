"""Account files (``--load FILE``): start the emulator with a whole account.

The file is JSON ``{"assistants": [...], "threads": [...], "messages": [...], "runs": [...],
"run_steps": [...]}`` of full API objects. Loading keeps every id, ``created_at`` and the
order of objects with equal ``created_at`` (the file's order), so lists page exactly as they
did on the server the account came from. Objects whose id the store already has (a state
file loaded before) are skipped, so ``--state`` with ``--load`` is safe to repeat.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from syncer.api.models import ACTIVE_RUN_STATUSES
from syncer.emulator.storage import ObjectStore
from syncer.errors import UsageError

SECTIONS = (
    # (file key, store kind, field naming the parent, parent kind)
    ("assistants", "assistant", None, None),
    ("threads", "thread", None, None),
    ("messages", "message", "thread_id", "thread"),
    ("runs", "run", "thread_id", "thread"),
    ("run_steps", "step", "run_id", "run"),
)


def load_account_file(store: ObjectStore, path: str | Path) -> dict[str, int]:
    """Load an account file into ``store``; raise `UsageError` naming the problem."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(f"{path}: no such account file") from None
    except (OSError, UnicodeDecodeError) as error:
        raise UsageError(f"{path}: cannot read account file: {error}") from None
    except json.JSONDecodeError as error:
        raise UsageError(f"{path}:{error.lineno}: not valid JSON: {error.msg}") from None
    return load_account(store, data, source=str(path), check_shapes=True)


def load_account(
    store: ObjectStore, data: Any, source: str = "account", check_shapes: bool = False
) -> dict[str, int]:
    """Load an account dict (see module docstring); return how many objects were added.

    ``check_shapes`` checks that nested fields are JSON structures (files do; accounts built
    in-process by `generate` are our own objects, and checking 100,000 of them would cost
    time for nothing).

    The store keeps the given objects themselves (no copy, so large accounts load fast):
    pass a copy if you still need the originals unchanged.
    """
    if not isinstance(data, dict):
        raise UsageError(f"{source}: an account file is a JSON object with lists of objects")
    unknown = set(data) - {key for key, *_ in SECTIONS}
    if unknown:
        raise UsageError(f"{source}: unknown section(s) {sorted(unknown)}")
    counts: dict[str, int] = {}
    with store.batch():
        for key, kind, parent_field, parent_kind in SECTIONS:
            items = data.get(key) or []
            if not isinstance(items, list):
                raise UsageError(f"{source}: {key}: expected a list")
            for index, obj in enumerate(items):
                _check(obj, f"{source}: {key}[{index}]", parent_field)
                if check_shapes:
                    _check_shape(obj, f"{source}: {key}[{index}]", key)
            # Stable sort: equal created_at keeps the file's order.
            ordered = sorted(items, key=lambda o: o["created_at"])
            added = 0
            for obj in ordered:
                if store.has(kind, obj["id"]):
                    continue
                parent = ""
                if parent_field is not None and parent_kind is not None:
                    parent = obj[parent_field]
                    if not store.has(parent_kind, parent):
                        raise UsageError(
                            f"{source}: {key}: {obj['id']}: {parent_field} {parent!r} is not in the account"
                        )
                store.add(kind, obj, parent)
                if kind == "run" and obj.get("status") in ACTIVE_RUN_STATUSES:
                    store.active_run[parent] = obj["id"]
                added += 1
            counts[key] = added
    return counts


# The nested fields the emulator reads as structures; an account copied from a raw SQL dump
# may hold them as JSON text, which would be served until a run tripped over it with a 500.
_NESTED: dict[str, dict[str, type[list[Any]] | type[dict[str, Any]]]] = {
    "assistants": {"tools": list, "metadata": dict, "tool_resources": dict},
    "threads": {"metadata": dict, "tool_resources": dict},
    "messages": {"content": list, "metadata": dict, "attachments": list},
    "runs": {"required_action": dict, "tools": list, "metadata": dict, "usage": dict},
    "run_steps": {"step_details": dict, "usage": dict, "metadata": dict},
}
_JSON_KIND: dict[type, str] = {list: "an array", dict: "an object"}


def _check_shape(obj: dict[str, Any], where: str, key: str) -> None:
    """Nested fields of an object from a file must be JSON objects/arrays (or null)."""
    for field, kind in _NESTED[key].items():
        value = obj.get(field)
        if value is not None and not isinstance(value, kind):
            raise UsageError(
                f"{where}: {field}: expected {_JSON_KIND[kind]}, got {type(value).__name__}"
                " (nested fields are JSON, not JSON text)"
            )


def _check(obj: Any, where: str, parent_field: str | None) -> None:
    if not isinstance(obj, dict):
        raise UsageError(f"{where}: expected an object")
    for field in ("id", "created_at", *([parent_field] if parent_field else [])):
        if field not in obj:
            raise UsageError(f"{where}: missing '{field}'")
    if not isinstance(obj["id"], str) or not obj["id"]:
        raise UsageError(f"{where}: 'id' must be a non-empty string")
    if not isinstance(obj["created_at"], int) or isinstance(obj["created_at"], bool):
        raise UsageError(f"{where}: 'created_at' must be an integer (Unix seconds)")
