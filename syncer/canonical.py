"""JSON at the foundation: canonical text (one spelling per value, so equal values compare and
diff equal), compact text (`compact_json`, the fast path for what is stored and sent), and
`json_data`, the one way a pydantic model becomes plain JSON data."""

from __future__ import annotations

import copy
import json
from typing import Any

import orjson
from pydantic import BaseModel

_compact = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def compact_json_bytes(value: Any) -> bytes:
    """Compact UTF-8 JSON (no spaces), as the standard library writes it with
    ``separators=(",", ":"), ensure_ascii=False``. orjson does the work (this runs for every
    stored object, mirrored field and streamed event; NaN and infinities become ``null``); the
    standard library's encoder takes what orjson refuses, such as integers above 64 bits."""
    try:
        return orjson.dumps(value)
    except TypeError:
        return _compact(value).encode()


def json_copy(value: Any) -> Any:
    """A deep copy of JSON data: an orjson round trip (a seventh of ``copy.deepcopy``'s CPU),
    exact because orjson refuses (and ``deepcopy`` then copies) what it could not read back."""
    try:
        return orjson.loads(orjson.dumps(value))
    except TypeError:
        return copy.deepcopy(value)


def compact_json(value: Any) -> str:
    """`compact_json_bytes` as text."""
    return compact_json_bytes(value).decode()


def json_data(value: Any, *, only_set: bool = False) -> Any:
    """Plain JSON data (dicts, lists, strings, numbers) from a pydantic model or a list or tuple
    of them; anything else is returned as it is.

    Fields go by their API names (``schema``, not the attribute ``schema_``). ``only_set``:
    only the fields that were set, as a request body sends them (defaults are the server's).
    """
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", by_alias=True, exclude_unset=only_set)
    if isinstance(value, list | tuple):
        return [json_data(item, only_set=only_set) for item in value]
    return value


def canonical_json(value: Any, *, indent: int | None = None) -> str:
    """Stable text for a JSON value: sorted keys; compact, or indented for people to read."""
    separators = (",", ":") if indent is None else (",", ": ")
    return json.dumps(value, sort_keys=True, indent=indent, separators=separators,
                      ensure_ascii=False)


def canonical_arguments(arguments: str | Any) -> str:
    """Function-call arguments (a JSON string in the API) as compact canonical JSON.

    A string that is not JSON is kept as it is, so a malformed recorded call still compares
    equal to the same malformed call.
    """
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments)
        except ValueError:
            return arguments
    return canonical_json(arguments)
