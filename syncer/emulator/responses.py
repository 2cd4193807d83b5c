"""The Responses API: create (JSON or server-sent events), retrieve, delete, input items.

    POST   /v1/responses                     model, input, instructions, tools, …
    GET    /v1/responses/{id}
    DELETE /v1/responses/{id}                → response.deleted
    GET    /v1/responses/{id}/input_items    after, limit, order (desc)

A response is answered at once (no background mode): its context is the previous response's
context, input and output (``previous_response_id``; instructions are not carried over) or
the conversation's items (``conversation``), then its own input. Calls and outputs must pair
up in that context. The model is asked through `syncer.emulator.replies` (the same `Turn` a
run gives a model backend); its reply
becomes an assistant message, or its calls ``function_call`` items. With ``conversation``
the input items and then the output items are appended to it. ``store: false`` keeps the
response out of the store (it cannot be retrieved or continued). The fault script's
``fail_runs`` counts responses with runs: the n-th one created ends ``failed``. With
``--backend`` the backend answers (the same Chat Completions mapping as runs; the whole answer
is awaited, then streamed) and a backend that fails for good fails the response.

A stored response keeps, beside the API object, its context and input items (the store's
``extra`` for it), so ``previous_response_id`` and ``input_items`` survive a restart.
"""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from syncer.api.models.responses import CreateResponseRequest
from syncer.emulator import items
from syncer.emulator.backends import deterministic as model
from syncer.emulator.backends.base import BackendFailure
from syncer.emulator.collection import Collection, parse_list_params
from syncer.emulator.conversations import append_items, conversation_items, find_conversation
from syncer.emulator.http_errors import RequestRefused, bad_request
from syncer.emulator.replies import answer, turn_for
from syncer.emulator.response_events import response_events
from syncer.emulator.runs import RUN_FAILURE
from syncer.emulator.sse import event_stream, frames
from syncer.emulator.storage import ObjectStore, new_id
from syncer.emulator.validation import read_json, validate

if TYPE_CHECKING:
    from syncer.emulator.core import Emulator

#: A backend's finish_reason that ends a response ``incomplete``, and the reason it gives.
INCOMPLETE_REASONS = {"length": "max_output_tokens", "content_filter": "content_filter"}
MUTUALLY_EXCLUSIVE = (
    "Mutually exclusive parameters: Ensure you are only providing one of: "
    "'previous_response_id' or 'conversation'."
)


def _emulator(request: Request) -> Emulator:
    return request.app.state.emulator  # type: ignore[no-any-return]


def _find(store: ObjectStore, response_id: str) -> dict[str, Any]:
    found = store.get("response", response_id)
    if found is None:
        raise RequestRefused(404, f"Response with id '{response_id}' not found.")
    return found


async def create_response(request: Request) -> Response:
    emulator = _emulator(request)
    body = validate(CreateResponseRequest, await read_json(request))
    store = emulator.store
    # Checks first: nothing changes for a refused request.
    if body.get("previous_response_id") is not None and body.get("conversation") is not None:
        raise bad_request(MUTUALLY_EXCLUSIVE, param="conversation", code="mutually_exclusive_parameters")
    stream = bool(body.get("stream"))
    if stream and not emulator.config.stream:
        raise bad_request("Streaming is not supported by this server. Set 'stream' to false.",
                          param="stream", code="unsupported_value")
    conversation_id = _conversation_id(body.get("conversation"))
    context = _context(store, body.get("previous_response_id"), conversation_id)
    raw_input = body.get("input")
    if isinstance(raw_input, str):
        raw_input = [{"role": "user", "content": raw_input}]
    new_items = [items.from_input(raw) for raw in raw_input or []]
    items.check_pairing(context + new_items)

    response = await _respond(emulator, body, context + new_items, conversation_id)
    with store.batch():
        if body.get("store", True) is not False:
            store.progress[response["id"]] = {"context": context, "input": new_items}
            store.add("response", response)
        if conversation_id is not None and response["status"] != "failed":
            append_items(store, conversation_id, new_items + response["output"])
    if stream:
        events = response_events(response)
        return event_stream(_send(events))
    return JSONResponse(response)


async def get_response(request: Request) -> Response:
    return JSONResponse(_find(_emulator(request).store, request.path_params["response_id"]))


async def delete_response(request: Request) -> Response:
    emulator = _emulator(request)
    response = _find(emulator.store, request.path_params["response_id"])
    emulator.store.delete("response", response["id"])
    return JSONResponse({"id": response["id"], "object": "response.deleted", "deleted": True})


async def list_input_items(request: Request) -> Response:
    emulator = _emulator(request)
    response = _find(emulator.store, request.path_params["response_id"])
    params = parse_list_params(request.query_params)
    given = emulator.store.progress.get(response["id"], {}).get("input", [])
    listing = Collection()
    for seq, item in enumerate(given):
        listing.add(item["id"], 0, seq)
    by_id = {item["id"]: item for item in given}
    page = listing.page(**params)
    return JSONResponse(page.render([by_id[i] for i in page.ids]))


ROUTES: list[tuple[str, str, Any]] = [
    ("POST", "/v1/responses", create_response),
    ("GET", "/v1/responses/{response_id}", get_response),
    ("DELETE", "/v1/responses/{response_id}", delete_response),
    ("GET", "/v1/responses/{response_id}/input_items", list_input_items),
]

# --- building a response ------------------------------------------------------------------------


def _conversation_id(param: Any) -> str | None:
    if param is None:
        return None
    return param if isinstance(param, str) else str(param["id"])


def _context(store: ObjectStore, previous_id: str | None, conversation_id: str | None) -> list[dict[str, Any]]:
    """The items before this response's input."""
    if previous_id is not None:
        previous = store.get("response", previous_id)
        record = store.progress.get(previous_id)
        if previous is None or record is None:
            raise bad_request(f"Previous response with id '{previous_id}' not found.",
                              param="previous_response_id", code="previous_response_not_found")
        return copy.deepcopy(record["context"] + record["input"] + previous["output"])
    if conversation_id is not None:
        find_conversation(store, conversation_id)
        return copy.deepcopy(conversation_items(store, conversation_id))
    return []


async def _respond(emulator: Emulator, body: dict[str, Any], context: list[dict[str, Any]],
                   conversation_id: str | None) -> dict[str, Any]:
    """The response object, answered by the model: the deterministic one, or the ``--backend``
    (failed when the backend fails for good, or when the fault script says so)."""
    now = emulator.now()
    tools = [_tool(tool) for tool in body.get("tools") or []]
    response = _response(body, now, tools, conversation_id)
    if emulator.faults.run_fails():
        response.update(status="failed", error=dict(RUN_FAILURE), usage=_usage(0, 0))
        return response
    turn = turn_for(context, response)
    backend = emulator.config.backend
    try:
        reply = answer(turn) if backend is None else await backend.complete(turn, lambda _text: None)
    except BackendFailure as failure:
        response.update(status="failed", error=failure.last_error(), usage=_usage(0, 0))
        return response
    output_tokens = reply.completion_tokens
    if reply.tool_calls:
        response["output"] = [items.function_call(call.id, call.name, call.arguments)
                              for call in reply.tool_calls]
    else:
        text, limit = reply.text, body.get("max_output_tokens")
        reason = INCOMPLETE_REASONS.get(reply.finish_reason or "")
        if limit is not None and output_tokens > limit:
            # Cut off at the limit, as the run engine cuts a reply at max_completion_tokens.
            text = text[: limit * 4]
            output_tokens = model.count_tokens(text)
            reason = "max_output_tokens"
        message = items.assistant_message(text)
        if reason is not None:
            message["status"] = "incomplete"
            response.update(status="incomplete", incomplete_details={"reason": reason})
        response["output"] = [message]
    if response["status"] == "completed":
        response["completed_at"] = now
    response["usage"] = _usage(reply.prompt_tokens, output_tokens)
    return response


def _response(body: dict[str, Any], now: int, tools: list[dict[str, Any]],
              conversation_id: str | None) -> dict[str, Any]:
    """A response with every field the API renders, before the model has answered."""
    return {
        "id": new_id("response"),
        "object": "response",
        "created_at": now,
        "status": "completed",
        "background": False,
        "completed_at": None,
        "error": None,
        "incomplete_details": None,
        "instructions": body.get("instructions"),
        "max_output_tokens": body.get("max_output_tokens"),
        "max_tool_calls": None,
        "model": body["model"],
        "output": [],
        "parallel_tool_calls": body.get("parallel_tool_calls", True) is not False,
        "previous_response_id": body.get("previous_response_id"),
        "conversation": {"id": conversation_id} if conversation_id is not None else None,
        "reasoning": {"effort": None, "summary": None},
        "service_tier": "default",
        "temperature": _number(body.get("temperature"), 1.0),
        "text": copy.deepcopy(body.get("text") or {"format": {"type": "text"}, "verbosity": "medium"}),
        "tool_choice": copy.deepcopy(body.get("tool_choice") or "auto"),
        "tools": tools,
        "top_p": _number(body.get("top_p"), 1.0),
        "truncation": body.get("truncation") or "disabled",
        "usage": None,
        "user": None,
        "metadata": dict(body.get("metadata") or {}),
    }


def _tool(tool: dict[str, Any]) -> dict[str, Any]:
    """A function tool as the API renders it (``strict`` defaults to true in this API)."""
    return {
        "type": "function",
        "name": tool["name"],
        "description": tool.get("description"),
        "parameters": copy.deepcopy(tool.get("parameters")),
        "strict": tool.get("strict") if tool.get("strict") is not None else True,
    }


def _usage(input_tokens: int, output_tokens: int) -> dict[str, Any]:
    return {
        "input_tokens": input_tokens,
        "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
        "output_tokens": output_tokens,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": input_tokens + output_tokens,
    }


def _number(value: Any, default: float) -> float:
    return default if value is None else float(value)


async def _send(events: list[dict[str, Any]]) -> AsyncIterator[bytes]:
    yield frames((event["type"], event) for event in events)
