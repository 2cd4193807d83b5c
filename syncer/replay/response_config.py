"""An assistant's configuration as the fields of a Responses-API request (``--api responses``).

The Responses API has no assistants: each request carries the configuration. `flatten` turns
an assistant (a mirrored row, or a config file's fields) into those fields:

* ``model`` and ``instructions`` as they are (instructions go on every request: they are not
  inherited through ``previous_response_id``);
* function tools flattened (``{type, name, description, parameters, strict}``, always with
  ``parameters`` and ``strict``, ``false`` unless recorded); other tools (code_interpreter,
  file_search) are left out: turns that used them are not replayable anyway;
* ``response_format`` → ``text.format`` (``json_schema`` flattened to ``{type, name, schema,
  strict}``; ``auto`` left out);
* ``temperature`` and ``top_p`` only when they differ from the default 1.0 (reasoning models
  refuse them).

`run_fields` maps a recorded run's own parameters (``Turn.run_settings``) the same way.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

#: Sampling parameters sent only when they differ from this default.
DEFAULT_SAMPLING = 1.0


@dataclass
class ResponseConfig:
    """What every request of a replayed turn carries, and where it came from."""

    fields: dict[str, Any]
    source: str  # "asst_… (mirror)" or "NAME (config FILE:LINE)"
    assistant_id: str | None = None
    left_out: list[str] = field(default_factory=list)  # tools the Responses shape cannot carry


def _value(raw: Any) -> Any:
    """A mirrored JSON column as its value."""
    if isinstance(raw, str) and raw[:1] in ("{", "["):
        try:
            return json.loads(raw)
        except ValueError:
            return raw
    return raw


def flatten_tool(tool: Mapping[str, Any]) -> dict[str, Any] | None:
    """An Assistants function tool in the Responses shape (None for other tool types)."""
    if tool.get("type") != "function":
        return None
    fn = tool.get("function") or {}
    flat: dict[str, Any] = {"type": "function", "name": fn.get("name", "")}
    if fn.get("description") is not None:
        flat["description"] = fn["description"]
    flat["parameters"] = fn.get("parameters") if fn.get("parameters") is not None else {
        "type": "object", "properties": {}}
    flat["strict"] = bool(fn.get("strict") or False)
    return flat


def text_format(response_format: Any) -> dict[str, Any] | None:
    """``response_format`` as ``text.format`` (None for ``auto`` or nothing)."""
    if response_format in (None, "auto"):
        return None
    if isinstance(response_format, str):
        return {"type": response_format}
    kind = response_format.get("type")
    if kind == "json_schema":
        schema = response_format.get("json_schema") or {}
        flat: dict[str, Any] = {"type": "json_schema", "name": schema.get("name", "")}
        if schema.get("description") is not None:
            flat["description"] = schema["description"]
        flat["schema"] = schema.get("schema") or {}
        flat["strict"] = bool(schema.get("strict") or False)
        return flat
    return {"type": kind}


def flatten(assistant: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Request fields for an assistant's configuration, and the tool types left out."""
    fields: dict[str, Any] = {"model": assistant.get("model")}
    if assistant.get("instructions"):
        fields["instructions"] = assistant["instructions"]
    tools, left_out = [], []
    for tool in _value(assistant.get("tools")) or []:
        flat = flatten_tool(tool)
        if flat is None:
            left_out.append(str(tool.get("type")))
        else:
            tools.append(flat)
    if tools:
        fields["tools"] = tools
    fmt = text_format(_value(assistant.get("response_format")))
    if fmt is not None:
        fields["text"] = {"format": fmt}
    for name in ("temperature", "top_p"):
        value = assistant.get(name)
        if value is not None and float(value) != DEFAULT_SAMPLING:
            fields[name] = value
    return fields, left_out


def from_row(row: Mapping[str, Any]) -> ResponseConfig:
    """A mirrored assistant's configuration."""
    fields, left_out = flatten(row)
    return ResponseConfig(fields, f"{row['id']} (mirror)", row["id"], left_out)


def load_assistants(conn: sqlite3.Connection, ids: Iterable[str]) -> dict[str, ResponseConfig]:
    """The configurations of these mirrored assistants (ids not in the mirror are left out)."""
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    conn.row_factory = sqlite3.Row
    rows = conn.execute(
        f"SELECT * FROM assistants WHERE id IN ({','.join('?' * len(wanted))})", wanted
    ).fetchall()
    return {row["id"]: from_row(dict(row)) for row in rows}


def run_fields(run_settings: Mapping[str, Any], instructions: str | None) -> dict[str, Any]:
    """A recorded run's own parameters as request fields (what the Responses API can take).

    ``additional_instructions`` are appended to the instructions as a run appends them;
    ``max_completion_tokens`` becomes ``max_output_tokens``; a ``truncation_strategy`` other
    than ``auto`` and ``max_prompt_tokens`` have no Responses equivalent and are not sent.
    """
    fields: dict[str, Any] = {}
    choice = run_settings.get("tool_choice")
    if isinstance(choice, dict) and choice.get("type") == "function":
        fields["tool_choice"] = {"type": "function",
                                 "name": (choice.get("function") or {}).get("name")}
    elif choice is not None:
        fields["tool_choice"] = choice
    if "parallel_tool_calls" in run_settings:
        fields["parallel_tool_calls"] = run_settings["parallel_tool_calls"]
    if run_settings.get("max_completion_tokens") is not None:
        fields["max_output_tokens"] = run_settings["max_completion_tokens"]
    extra = run_settings.get("additional_instructions")
    if extra:
        fields["instructions"] = "\n\n".join(part for part in (instructions, extra) if part)
    return fields

