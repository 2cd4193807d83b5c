"""Rows ⇄ API objects: the one codec between the mirror's tables and the API's JSON.

Nested values (objects, arrays) are stored as compact JSON text; scalars as they are; one
timestamp format for everything syncer writes itself (``syncer.mirror.schema.timestamp``).
"""

from __future__ import annotations

import contextlib
import json
import re
from typing import Any

from syncer.api.models import message_text
from syncer.canonical import compact_json
from syncer.mirror.schema import BOOKKEEPING, DERIVED_COLUMNS, INT, JSON, OBJECT_TABLES


def decode_json(value: Any) -> Any:
    """JSON text of an object or array decoded; anything else (or invalid JSON) as it is."""
    if isinstance(value, str) and value[:1] in "{[":
        with contextlib.suppress(ValueError):
            return json.loads(value)
    return value


# A field a server sends becomes a column only if its name is a plain identifier: names are
# SQL identifiers (``new]field`` would break every statement naming it), and the mirror's own
# columns (bookkeeping, derived text, SQLite's rowid aliases) are not the server's to write.
_SAFE_FIELD = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
_RESERVED = {*BOOKKEEPING, "rowid", "oid", "_rowid_"}


#: Per table, field names already found acceptable (a page's fields are checked with one set
#: operation); bounded, so a server inventing names cannot grow it without end.
_ACCEPTED: dict[str, set[str]] = {}
_ACCEPTED_MAX = 1024
_NESTED = (dict, list)


def refused_fields(table: str, obj: dict[str, Any]) -> list[str]:
    """The fields of ``obj`` that cannot be columns (left out of its row, reported by callers)."""
    accepted = _ACCEPTED.setdefault(table, set())
    if accepted.issuperset(obj):
        return []
    reserved = _RESERVED | set(DERIVED_COLUMNS.get(table, ()))
    refused = []
    for key in obj:
        if not isinstance(key, str) or not _SAFE_FIELD.fullmatch(key) or key.lower() in reserved:
            refused.append(key)
        elif len(accepted) < _ACCEPTED_MAX:
            accepted.add(key)
    return refused


def to_row(table: str, obj: dict[str, Any]) -> dict[str, Any]:
    """The row for one API object: objects and arrays as JSON text, scalars as they are.

    A field that may be a string or an object (``tool_choice``, ``response_format``) is
    stored as plain text when it is a string (``auto``) and as JSON text when it is an object.
    Fields whose names cannot be columns (``refused_fields``) are left out.
    """
    refused = refused_fields(table, obj)
    row = {key: compact_json(value) if isinstance(value, _NESTED) else value
           for key, value in obj.items() if not refused or key not in refused}
    if table == "messages":
        row["text"] = message_text(obj.get("content"))
    return row


def row_to_object(table: str, row: dict[str, Any]) -> dict[str, Any]:
    """The API object a row was made from (bookkeeping and derived columns left out).

    JSON text of an object or array is decoded (in declared JSON columns and in columns a newer
    server added); ``parallel_tool_calls`` comes back as a boolean.
    """
    declared = OBJECT_TABLES[table]
    skip = set(BOOKKEEPING) | set(DERIVED_COLUMNS.get(table, ()))
    obj: dict[str, Any] = {}
    for key, value in row.items():
        if key in skip:
            continue
        kind = declared.get(key)
        if kind in (JSON, None):
            value = decode_json(value)
        elif kind == INT and key == "parallel_tool_calls" and value is not None:
            value = bool(value)
        obj[key] = value
    return obj
