"""``stream: true`` on ``POST /v1/responses``: the real API's events for a finished response.

Every event carries ``type`` and ``sequence_number`` (0, 1, 2, … in the order sent):

    response.created, response.in_progress             the response, in_progress, no output
    for each output item (output_index):
      response.output_item.added                       the item, in_progress, empty
      message:  response.content_part.added            an empty output_text part
                response.output_text.delta …           a few words each (≥ 2 for a reply)
                response.output_text.done              the whole text
                response.content_part.done             the whole part
      function_call:
                response.function_call_arguments.delta …
                response.function_call_arguments.done  the whole arguments
      response.output_item.done                        the finished item
    response.completed | response.incomplete | response.failed   the final response

The official SDK's ``responses.stream()`` assembles these into the final response.
"""

from __future__ import annotations

import copy
from typing import Any

from syncer.emulator.runs import _chunks


def response_events(response: dict[str, Any]) -> list[dict[str, Any]]:
    """The events that stream ``response`` (already answered), numbered in order."""
    events: list[dict[str, Any]] = []

    def emit(kind: str, **fields: Any) -> None:
        events.append({"type": kind, "sequence_number": len(events), **copy.deepcopy(fields)})

    started = {**response, "status": "in_progress", "output": [], "usage": None,
               "completed_at": None, "error": None, "incomplete_details": None}
    emit("response.created", response=started)
    emit("response.in_progress", response=started)
    for index, item in enumerate(response["output"]):
        if item["type"] == "message":
            _message_events(emit, index, item)
        elif item["type"] == "function_call":
            _call_events(emit, index, item)
        emit("response.output_item.done", output_index=index, item=item)
    emit(f"response.{response['status']}", response=response)
    return events


def _message_events(emit: Any, index: int, item: dict[str, Any]) -> None:
    emit("response.output_item.added", output_index=index,
         item={**item, "status": "in_progress", "content": []})
    for part_index, part in enumerate(item["content"]):
        where = {"item_id": item["id"], "output_index": index, "content_index": part_index}
        emit("response.content_part.added", **where, part={**part, "text": ""})
        for delta in _chunks(part["text"]):
            emit("response.output_text.delta", **where, delta=delta, logprobs=[])
        emit("response.output_text.done", **where, text=part["text"], logprobs=[])
        emit("response.content_part.done", **where, part=part)


def _call_events(emit: Any, index: int, item: dict[str, Any]) -> None:
    emit("response.output_item.added", output_index=index,
         item={**item, "status": "in_progress", "arguments": ""})
    arguments = item["arguments"]
    half = len(arguments) // 2
    for delta in (arguments[:half], arguments[half:]):
        if delta:
            emit("response.function_call_arguments.delta", item_id=item["id"], output_index=index,
                 delta=delta)
    emit("response.function_call_arguments.done", item_id=item["id"], output_index=index,
         arguments=arguments)
