"""Canonical JSON text: one spelling per value, so equal values compare and diff equal."""

from __future__ import annotations

import json
from typing import Any


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
