"""A mirrored thread as conversation items, and what of it cannot be carried.

Items follow the thread's order (messages by ``created_at``, then the mirror's insertion
order, which is the server's):

- each message is a ``message`` item with its role: user text ``input_text``, assistant text
  ``output_text``, ``image_url`` parts ``input_image`` (URL and ``detail``, default ``auto``),
  assistant refusals ``refusal``;
- before the reply a run wrote come that run's function calls, each a ``function_call`` with
  the **original** ``call_id``, name and arguments, then its ``function_call_output`` (same
  ``call_id``, the recorded output). The run steps give the order: the calls of a
  ``tool_calls`` step go before the message of the next ``message_creation`` step of that run;
  calls after a run's last message go after it.

Nothing is dropped silently: every part that cannot be carried is a `NotCarried` with its
reason (the summary counts and names them).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from syncer import markers
from syncer.api.models import MAX_METADATA_PAIRS
from syncer.mirror.rows import row_to_object

#: Why each kind of thing is not carried into a conversation (the summary's reasons).
REASONS: dict[str, str] = {
    "image_file": "image_file part: a file id of the old account",
    "attachments": "attachments: file ids of the old account",
    "annotations": "text annotations: file citations of the old account",
    "code_interpreter": "code_interpreter step: a built-in tool, no function call to carry",
    "file_search": "file_search step: a built-in tool, no function call to carry",
    "other_tool": "tool call of another kind",
    "unanswered_call": "function call with no recorded output (a call without its output "
                       "would make the conversation unusable)",
    "deleted": "message deleted upstream (flagged in the mirror)",
    "message_metadata": "message metadata: conversation items have no metadata field",
    "thread_metadata": "thread metadata beyond the 16 pairs a conversation holds "
                       f"(one is {markers.THREAD_ID})",
    "assistant_image": "image_url part in an assistant message: the API takes images as input only",
    "other_part": "content part of another kind",
    "empty_message": "message with nothing left to carry",
}


@dataclass(frozen=True)
class NotCarried:
    """One thing of a thread that cannot go into its conversation."""

    reason: str  # a key of REASONS
    thread_id: str
    what: str  # which object, e.g. "message msg_1 [file-abc]"


@dataclass
class ThreadItems:
    """A thread as the items and metadata of its conversation."""

    thread_id: str
    metadata: dict[str, str]
    items: list[dict[str, Any]] = field(default_factory=list)
    messages: int = 0
    function_calls: int = 0
    not_carried: list[NotCarried] = field(default_factory=list)


def _rows(conn: sqlite3.Connection, table: str, thread_id: str) -> list[dict[str, Any]]:
    """A thread's objects of one table as the API gave them, plus ``_deleted_at``.

    ``conn`` has ``row_factory = sqlite3.Row`` (`syncer.migrate.plan.open_source`).
    """
    sql = f"SELECT * FROM [{table}] WHERE thread_id = ? ORDER BY created_at, rowid"
    found = []
    for row in conn.execute(sql, (thread_id,)):
        values = dict(row)
        obj = row_to_object(table, values)
        obj["_deleted_at"] = values.get("deleted_at")
        found.append(obj)
    return found


def conversation_metadata(thread: dict[str, Any]) -> tuple[dict[str, str], list[str]]:
    """``syncer:thread_id`` plus the thread's own metadata as far as 16 pairs go; the keys left out."""
    metadata = {markers.THREAD_ID: str(thread["id"])}
    left_out = []
    own = thread.get("metadata")
    for key, value in (own.items() if isinstance(own, dict) else []):
        if key == markers.THREAD_ID:
            continue
        if len(metadata) < MAX_METADATA_PAIRS:
            metadata[str(key)] = str(value)
        else:
            left_out.append(str(key))
    return metadata, left_out


def message_item(message: dict[str, Any], lost: list[tuple[str, str]]) -> dict[str, Any] | None:
    """A mirrored message as a ``message`` item (None when nothing of it can be carried).

    ``lost`` receives (reason, detail) for each part left behind.
    """
    role = message.get("role") or "user"
    parts: list[dict[str, Any]] = []
    for part in message.get("content") or []:
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text":
            text = part.get("text") or {}
            parts.append({"type": "output_text" if role == "assistant" else "input_text",
                          "text": str(text.get("value", ""))})
            annotations = text.get("annotations") or []
            if annotations:
                lost.append(("annotations", f"{len(annotations)} annotation(s)"))
        elif kind == "image_url" and role != "assistant":
            image = part.get("image_url") or {}
            parts.append({"type": "input_image", "image_url": image.get("url"),
                          "detail": image.get("detail") or "auto"})
        elif kind == "image_url":
            lost.append(("assistant_image", str((part.get("image_url") or {}).get("url"))))
        elif kind == "image_file":
            lost.append(("image_file", str((part.get("image_file") or {}).get("file_id"))))
        elif kind == "refusal" and role == "assistant":
            parts.append({"type": "refusal", "refusal": str(part.get("refusal") or "")})
        else:
            lost.append(("other_part", str(kind)))
    attachments = message.get("attachments") or []
    if attachments:
        ids = ", ".join(str(a.get("file_id")) for a in attachments if isinstance(a, dict))
        lost.append(("attachments", ids))
    if message.get("metadata"):
        lost.append(("message_metadata", ", ".join(sorted(map(str, message["metadata"])))))
    if not parts:
        lost.append(("empty_message", "no text or image_url content"))
        return None
    return {"type": "message", "role": role, "content": parts}


def _run_calls(steps: Iterable[dict[str, Any]], thread_id: str, out: ThreadItems
               ) -> tuple[dict[str, list[dict[str, Any]]], dict[str, list[dict[str, Any]]], dict[str, int]]:
    """Function-call item pairs to put before a message (by message id), the calls of each run
    that no later message of the run follows (by run id), and each run's last step time."""
    before: dict[str, list[dict[str, Any]]] = {}
    pending: dict[str, list[dict[str, Any]]] = {}
    last_step: dict[str, int] = {}
    for step in steps:
        details = step.get("step_details") or {}
        run_id = str(step.get("run_id"))
        last_step[run_id] = int(step.get("created_at") or 0)
        if details.get("type") == "tool_calls":
            for call in details.get("tool_calls") or []:
                kind = call.get("type")
                if kind != "function":
                    reason = kind if kind in ("code_interpreter", "file_search") else "other_tool"
                    out.not_carried.append(NotCarried(reason, thread_id, f"run {run_id} call {call.get('id')}"))
                    continue
                function = call.get("function") or {}
                if function.get("output") is None:
                    out.not_carried.append(NotCarried(
                        "unanswered_call", thread_id,
                        f"run {run_id} call {call.get('id')} ({function.get('name')})"))
                    continue
                out.function_calls += 1
                pending.setdefault(run_id, []).extend([
                    {"type": "function_call", "call_id": str(call["id"]),
                     "name": str(function.get("name")), "arguments": str(function.get("arguments") or "")},
                    {"type": "function_call_output", "call_id": str(call["id"]),
                     "output": str(function["output"])},
                ])
        elif details.get("type") == "message_creation":
            message_id = (details.get("message_creation") or {}).get("message_id")
            if message_id and pending.get(run_id):
                before.setdefault(str(message_id), []).extend(pending.pop(run_id))
    return before, pending, last_step


def thread_items(conn: sqlite3.Connection, thread: dict[str, Any]) -> ThreadItems:
    """The conversation a mirrored thread becomes: metadata, items in order, what is left out.

    A thread deleted upstream has every message flagged with it: they are carried (the mirror
    may be all that is left of it); otherwise a message deleted upstream is not.
    """
    thread_id = str(thread["id"])
    metadata, left_out = conversation_metadata(thread)
    out = ThreadItems(thread_id=thread_id, metadata=metadata)
    if left_out:
        out.not_carried.append(NotCarried("thread_metadata", thread_id, ", ".join(left_out)))
    messages = _rows(conn, "messages", thread_id)
    before, after_run, last_step = _run_calls(_rows(conn, "run_steps", thread_id), thread_id, out)
    last_of_run = {str(m["run_id"]): str(m["id"]) for m in messages if m.get("run_id")}
    after: dict[str, list[dict[str, Any]]] = {}
    for run_id, calls in after_run.items():
        # After the run's last message; a run that wrote none: after the messages before it.
        anchor = last_of_run.get(run_id) or next(
            (str(m["id"]) for m in reversed(messages)
             if (m.get("created_at") or 0) <= last_step.get(run_id, 0)), "")
        after.setdefault(anchor, []).extend(calls)
    out.items.extend(after.pop("", []))
    thread_deleted = thread.get("_deleted_at") is not None
    for message in messages:
        message_id = str(message["id"])
        out.items.extend(before.get(message_id, []))
        if message["_deleted_at"] and not thread_deleted:
            out.not_carried.append(NotCarried("deleted", thread_id, f"message {message_id}"))
        else:
            lost: list[tuple[str, str]] = []
            item = message_item(message, lost)
            out.not_carried.extend(NotCarried(reason, thread_id, f"message {message_id} [{detail}]")
                                   for reason, detail in lost)
            if item is not None:
                out.items.append(item)
                out.messages += 1
        out.items.extend(after.get(message_id, []))
    return out
