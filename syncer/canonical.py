"""JSON at the foundation: canonical text (one spelling per value, so equal values compare and
diff equal) and `json_data`, the one way a pydantic model becomes plain JSON data."""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel


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
