"""Conversation items: as the API renders them, and what the model reads from a list of them.

An item comes in as a request gives it (a validated ``InputItem``: an "easy" message with
string content, a full message, a ``function_call`` or a ``function_call_output``) and is kept
as the API renders it: with an ``id`` (``msg_…``, ``fc_…``, ``fco_…``) and a ``status``, and a
message's content as parts (a user's string becomes ``input_text``, an assistant's
``output_text`` with ``annotations``).

What the model reads from a context (the items before a response) is built in
`syncer.emulator.replies`. ``check_pairing`` refuses a context whose calls and outputs do not
pair up, as the real service does when a response is created.
"""

from __future__ import annotations

import copy
from typing import Any

from syncer.emulator.http_errors import bad_request
from syncer.emulator.storage import new_id

#: ``input_image`` parts leave ``detail`` out; the API fills in ``auto``.
DEFAULT_IMAGE_DETAIL = "auto"
TEXT_PARTS = ("input_text", "output_text")


def from_input(raw: dict[str, Any]) -> dict[str, Any]:
    """A validated input item as the API stores and renders it (a fresh id unless given)."""
    kind = raw.get("type") or "message"
    if kind == "message":
        role = raw["role"]
        return {
            "id": raw.get("id") or new_id("message"),
            "type": "message",
            "status": raw.get("status") or "completed",
            "role": role,
            "content": content_parts(role, raw["content"]),
        }
    item = {
        "id": raw.get("id") or new_id(kind),
        "type": kind,
        "status": raw.get("status") or "completed",
        "call_id": raw["call_id"],
    }
    if kind == "function_call":
        item.update(name=raw["name"], arguments=raw["arguments"])
    else:
        output = raw["output"]
        item["output"] = output if isinstance(output, str) else content_parts("user", output)
    return item


def content_parts(role: str, content: str | list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A message's content (or a function call's output) as parts: a string is ``input_text``
    (``output_text`` for an assistant); an image's ``detail`` defaults to ``auto``."""
    if isinstance(content, str):
        return [output_text_part(content)] if role == "assistant" else [{"type": "input_text", "text": content}]
    parts = []
    for part in content:
        part = copy.deepcopy(part)
        if part["type"] == "output_text":
            part.setdefault("annotations", [])
        elif part["type"] == "input_image":
            part.setdefault("detail", DEFAULT_IMAGE_DETAIL)
        parts.append(part)
    return parts


def output_text_part(text: str) -> dict[str, Any]:
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}


def assistant_message(text: str) -> dict[str, Any]:
    """The model's reply as an output item."""
    return {
        "id": new_id("message"),
        "type": "message",
        "status": "completed",
        "role": "assistant",
        "content": [output_text_part(text)],
    }


def function_call(call_id: str, name: str, arguments: str) -> dict[str, Any]:
    """A call the model makes, as an output item (``call_id`` is what the output answers)."""
    return {
        "id": new_id("function_call"),
        "type": "function_call",
        "status": "completed",
        "arguments": arguments,
        "call_id": call_id,
        "name": name,
    }


def text_of(item: dict[str, Any]) -> str:
    """A message's text: its text parts joined by newlines (as a thread message's text is)."""
    return "\n".join(part["text"] for part in item["content"] if part.get("type") in TEXT_PARTS)


def check_pairing(context: list[dict[str, Any]]) -> None:
    """400 unless every function call has its output and every output its call."""
    calls = {item["call_id"] for item in context if item["type"] == "function_call"}
    outputs = {item["call_id"] for item in context if item["type"] == "function_call_output"}
    for item in context:
        if item["type"] == "function_call" and item["call_id"] not in outputs:
            raise bad_request(f"No tool output found for function call {item['call_id']}.", param="input")
        if item["type"] == "function_call_output" and item["call_id"] not in calls:
            raise bad_request(
                f"No tool call found for function call output with call_id {item['call_id']}.",
                param="input",
            )


def output_as_text(output: Any) -> str:
    """A function call's output as text (an output given as content parts: the texts of its
    ``input_text`` parts; images and files carry none)."""
    return output if isinstance(output, str) else "\n".join(
        part["text"] for part in output if isinstance(part, dict) and part.get("type") == "input_text"
    )
