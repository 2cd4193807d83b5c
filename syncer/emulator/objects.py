"""The API objects as the real service rendered them (plain dicts, JSON-ready).

Builders take a validated request body and fill every field the real API returned,
with the same defaults (``metadata: {}``, ``tool_resources: {}``, ``temperature: 1.0``…).
"""

from __future__ import annotations

import copy
from typing import Any

from syncer.emulator.storage import new_id


def assistant(body: dict[str, Any], now: int) -> dict[str, Any]:
    return {
        "id": new_id("assistant"),
        "object": "assistant",
        "created_at": now,
        "name": body.get("name"),
        "description": body.get("description"),
        "model": body["model"],
        "instructions": body.get("instructions"),
        "tools": normalize_tools(body.get("tools") or []),
        "tool_resources": copy.deepcopy(body.get("tool_resources") or {}),
        "metadata": dict(body.get("metadata") or {}),
        "temperature": _number(body.get("temperature"), 1.0),
        "top_p": _number(body.get("top_p"), 1.0),
        "response_format": copy.deepcopy(body.get("response_format") or "auto"),
    }


def update_assistant(obj: dict[str, Any], body: dict[str, Any]) -> None:
    """Modify in place: only the fields present in ``body`` change."""
    for field, value in body.items():
        if field == "tools":
            obj["tools"] = normalize_tools(value or [])
        elif field in ("metadata", "tool_resources"):
            obj[field] = copy.deepcopy(value or {})
        elif field in ("temperature", "top_p"):
            obj[field] = _number(value, 1.0)
        elif field == "response_format":
            obj[field] = copy.deepcopy(value or "auto")
        else:
            obj[field] = value


def thread(body: dict[str, Any], now: int) -> dict[str, Any]:
    return {
        "id": new_id("thread"),
        "object": "thread",
        "created_at": now,
        "metadata": dict(body.get("metadata") or {}),
        "tool_resources": copy.deepcopy(body.get("tool_resources") or {}),
    }


def message(
    thread_id: str,
    role: str,
    content: Any,
    now: int,
    *,
    metadata: dict[str, Any] | None = None,
    attachments: list[Any] | None = None,
    assistant_id: str | None = None,
    run_id: str | None = None,
    status: str = "completed",
    object_id: str | None = None,
) -> dict[str, Any]:
    return {
        "id": object_id or new_id("message"),
        "object": "thread.message",
        "created_at": now,
        "assistant_id": assistant_id,
        "thread_id": thread_id,
        "run_id": run_id,
        "role": role,
        "content": content_parts(content),
        "attachments": copy.deepcopy(attachments or []),
        "metadata": dict(metadata or {}),
        "status": status,
        "completed_at": now if status == "completed" and run_id else None,
        "incomplete_at": None,
        "incomplete_details": None,
    }


def message_from_request(thread_id: str, body: dict[str, Any], now: int) -> dict[str, Any]:
    return message(
        thread_id,
        body["role"],
        body["content"],
        now,
        metadata=body.get("metadata"),
        attachments=body.get("attachments"),
    )


def content_parts(content: Any) -> list[dict[str, Any]]:
    """A request's ``content`` (a string or a list of parts) as the API renders it."""
    if isinstance(content, str):
        return [text_part(content)]
    parts = []
    for part in content:
        if part.get("type") == "text":
            text = part.get("text")
            parts.append(text_part(text if isinstance(text, str) else (text or {}).get("value", "")))
        else:
            parts.append(copy.deepcopy(part))
    return parts


def text_part(value: str) -> dict[str, Any]:
    return {"type": "text", "text": {"value": value, "annotations": []}}


def normalize_tools(tools: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Tools with the defaults the real API filled in."""
    result = []
    for tool in tools:
        tool = copy.deepcopy(tool)
        if tool.get("type") == "function":
            tool["function"].setdefault("strict", False)
        elif tool.get("type") == "file_search":
            tool.setdefault("file_search", {})
            tool["file_search"].setdefault(
                "ranking_options", {"ranker": "default_2024_08_21", "score_threshold": 0.0}
            )
        result.append(tool)
    return result


def function_names(tools: list[dict[str, Any]]) -> list[str]:
    return [t["function"]["name"] for t in tools if t.get("type") == "function"]


def deleted(object_id: str, object_type: str) -> dict[str, Any]:
    return {"id": object_id, "object": object_type, "deleted": True}


def _number(value: Any, default: float) -> float:
    return default if value is None else float(value)
