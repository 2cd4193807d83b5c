"""The Conversations API: one handler per operation, over the store's ``conversation`` and
``item`` objects (a conversation's items are an ordered list like a thread's messages).

    POST   /v1/conversations                     items (≤ 20), metadata
    GET    /v1/conversations/{id}
    POST   /v1/conversations/{id}                metadata
    DELETE /v1/conversations/{id}                → conversation.deleted
    POST   /v1/conversations/{id}/items          items (≤ 20) → a list of the added items
    GET    /v1/conversations/{id}/items          after, limit (1-100, 20), order (desc)
    GET    /v1/conversations/{id}/items/{item_id}
    DELETE /v1/conversations/{id}/items/{item_id} → the conversation

Adding items does not check that function calls and outputs pair up (a call and its output
may come in different requests); a response created on the conversation does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from syncer.api.models.conversations import (
    CreateConversationItemsRequest,
    CreateConversationRequest,
    UpdateConversationRequest,
)
from syncer.emulator import items
from syncer.emulator.collection import Page, parse_list_params
from syncer.emulator.http_errors import RequestRefused
from syncer.emulator.storage import ObjectStore, new_id
from syncer.emulator.validation import read_json, validate

if TYPE_CHECKING:
    from syncer.emulator.core import Emulator


def _emulator(request: Request) -> Emulator:
    return request.app.state.emulator  # type: ignore[no-any-return]


def conversation_not_found(conversation_id: str) -> RequestRefused:
    return RequestRefused(404, f"Conversation with id '{conversation_id}' not found.")


def find_conversation(store: ObjectStore, conversation_id: str) -> dict[str, Any]:
    found = store.get("conversation", conversation_id)
    if found is None:
        raise conversation_not_found(conversation_id)
    return found


def conversation_items(store: ObjectStore, conversation_id: str) -> list[dict[str, Any]]:
    """All of a conversation's items, oldest first."""
    return [store.objects["item"][i] for i in store.collection("item", conversation_id).ids()]


def append_items(store: ObjectStore, conversation_id: str, new: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Add rendered items at the end of a conversation (an id already taken gets a fresh one)."""
    added = []
    with store.batch():
        for item in new:
            item = dict(item)
            if item["id"] in store.objects["item"]:
                item["id"] = new_id(item["type"])
            added.append(store.add("item", item, conversation_id))
    return added


async def create_conversation(request: Request) -> Response:
    emulator = _emulator(request)
    body = validate(CreateConversationRequest, await read_json(request))
    conversation = {
        "id": new_id("conversation"),
        "object": "conversation",
        "created_at": emulator.now(),
        "metadata": dict(body.get("metadata") or {}),
    }
    with emulator.store.batch():
        emulator.store.add("conversation", conversation)
        append_items(emulator.store, str(conversation["id"]),
                     [items.from_input(raw) for raw in body.get("items") or []])
    return JSONResponse(conversation)


async def get_conversation(request: Request) -> Response:
    emulator = _emulator(request)
    return JSONResponse(find_conversation(emulator.store, request.path_params["conversation_id"]))


async def update_conversation(request: Request) -> Response:
    emulator = _emulator(request)
    conversation = find_conversation(emulator.store, request.path_params["conversation_id"])
    body = validate(UpdateConversationRequest, await read_json(request))
    conversation["metadata"] = dict(body["metadata"])
    emulator.store.save("conversation", conversation)
    return JSONResponse(conversation)


async def delete_conversation(request: Request) -> Response:
    emulator = _emulator(request)
    conversation = find_conversation(emulator.store, request.path_params["conversation_id"])
    emulator.store.delete("conversation", conversation["id"])
    return JSONResponse({"id": conversation["id"], "object": "conversation.deleted", "deleted": True})


async def create_items(request: Request) -> Response:
    emulator = _emulator(request)
    conversation = find_conversation(emulator.store, request.path_params["conversation_id"])
    body = validate(CreateConversationItemsRequest, await read_json(request))
    added = append_items(emulator.store, conversation["id"], [items.from_input(raw) for raw in body["items"]])
    return JSONResponse(Page(ids=[], has_more=False).render(added))


async def list_items(request: Request) -> Response:
    emulator = _emulator(request)
    conversation = find_conversation(emulator.store, request.path_params["conversation_id"])
    page, found = emulator.store.page("item", conversation["id"], parse_list_params(request.query_params))
    return JSONResponse(page.render(found))


def _item(emulator: Emulator, request: Request) -> tuple[dict[str, Any], dict[str, Any]]:
    conversation = find_conversation(emulator.store, request.path_params["conversation_id"])
    item_id = request.path_params["item_id"]
    item = emulator.store.get("item", item_id)
    if item is None or emulator.store.parent_of(item_id) != conversation["id"]:
        raise RequestRefused(404, f"Item with id '{item_id}' not found.")
    return conversation, item


async def get_item(request: Request) -> Response:
    _, item = _item(_emulator(request), request)
    return JSONResponse(item)


async def delete_item(request: Request) -> Response:
    emulator = _emulator(request)
    conversation, item = _item(emulator, request)
    emulator.store.delete("item", item["id"])
    return JSONResponse(conversation)


ROUTES: list[tuple[str, str, Any]] = [
    ("POST", "/v1/conversations", create_conversation),
    ("GET", "/v1/conversations/{conversation_id}", get_conversation),
    ("POST", "/v1/conversations/{conversation_id}", update_conversation),
    ("DELETE", "/v1/conversations/{conversation_id}", delete_conversation),
    ("POST", "/v1/conversations/{conversation_id}/items", create_items),
    ("GET", "/v1/conversations/{conversation_id}/items", list_items),
    ("GET", "/v1/conversations/{conversation_id}/items/{item_id}", get_item),
    ("DELETE", "/v1/conversations/{conversation_id}/items/{item_id}", delete_item),
]
