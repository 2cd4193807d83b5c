"""The client's typed methods for the successor APIs: Conversations and Responses.

A layer of `syncer.api.client.AssistantsClient` (between it and `HTTPClient`), so they send through the same ``request`` (the
official SDK's retries, the ``syncer.errors`` tree with status, code, param and request id,
the key kept out of every message) and page through the same lazy ``paginate``::

    async with AssistantsClient() as client:
        conversation = await client.create_conversation({"items": [...], "metadata": {...}})
        async for item in client.list_conversation_items(conversation.id, order="desc", limit=20):
            ...
        response = await client.create_response({"model": "gpt-4o", "input": "Hi",
                                                 "conversation": conversation.id})
        response.output_text

``body`` is a request model (`syncer.api.models.responses` / ``conversations``, checked before
it is sent) or a plain dict (sent as it is: the server's 400 is what the user sees). List
methods take ``order`` (client default ``asc``), ``limit`` (100), ``after``, ``before`` and
``include``, and fetch one page at a time as the caller iterates.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from pydantic import TypeAdapter, ValidationError

from syncer.api.http import Body, HTTPClient, Page, dump_body, parse_object, path_segment
from syncer.api.models.conversations import (
    Conversation,
    ConversationDeleted,
    ConversationItemList,
    Item,
)
from syncer.api.models.responses import Response, ResponseDeleted
from syncer.errors import APIResponseError, UsageError

_ITEM: TypeAdapter[Any] = TypeAdapter(Item)


class SuccessorMethods(HTTPClient):
    """Conversations and Responses, on top of the client's sending and paging."""

    # --- conversations -------------------------------------------------------------------------

    async def create_conversation(self, body: Body | None = None, *,
                                  max_retries: int | None = None) -> Conversation:
        data = await self.request("POST", "/conversations", json=dump_body(body),
                                  max_retries=max_retries)
        return parse_object(Conversation, data)

    async def retrieve_conversation(self, conversation_id: str) -> Conversation:
        return parse_object(Conversation, await self.request("GET", _conversation(conversation_id)))

    async def update_conversation(self, conversation_id: str, body: Body) -> Conversation:
        data = await self.request("POST", _conversation(conversation_id), json=dump_body(body))
        return parse_object(Conversation, data)

    async def delete_conversation(self, conversation_id: str) -> ConversationDeleted:
        return parse_object(ConversationDeleted, await self.request("DELETE", _conversation(conversation_id)))

    async def create_conversation_items(self, conversation_id: str, body: Body, *,
                                        max_retries: int | None = None) -> list[Any]:
        """Add items (``{"items": [...]}``, at most 20); the items as the server stored them.

        A retry after a lost answer adds them again on a server that ignores Idempotency-Key
        (``max_retries=0`` and `syncer.migrate.execute`'s look-before-resend avoid that)."""
        path = _conversation(conversation_id) + "/items"
        data = await self.request("POST", path, json=dump_body(body), max_retries=max_retries)
        return parse_object(ConversationItemList, data).data

    def list_conversation_items(self, conversation_id: str, **opts: Any) -> AsyncIterator[Any]:
        """Every item of a conversation, lazily (the client's default order is ``asc``)."""
        return self._items(_conversation(conversation_id) + "/items", **opts)

    def conversation_item_pages(self, conversation_id: str, **page_opts: Any) -> AsyncIterator[Page]:
        """A conversation's items as the server sent them, a page per request."""
        return self.pages(_conversation(conversation_id) + "/items", **page_opts)

    async def retrieve_conversation_item(self, conversation_id: str, item_id: str) -> Any:
        path = f"{_conversation(conversation_id)}/items/{path_segment(item_id)}"
        return _parse_item(await self.request("GET", path))

    async def delete_conversation_item(self, conversation_id: str, item_id: str) -> Conversation:
        """Delete an item; the server answers with the conversation."""
        path = f"{_conversation(conversation_id)}/items/{path_segment(item_id)}"
        return parse_object(Conversation, await self.request("DELETE", path))

    # --- responses -----------------------------------------------------------------------------

    async def create_response(self, body: Body) -> Response:
        """Create a response and return it whole (a ``stream`` in ``body`` is refused: use
        ``request`` for the raw events)."""
        data = dump_body(body)
        if data.get("stream"):
            raise UsageError("create_response returns the whole response: leave out 'stream'")
        return parse_object(Response, await self.request("POST", "/responses", json=data))

    async def retrieve_response(self, response_id: str) -> Response:
        return parse_object(Response, await self.request("GET", _response(response_id)))

    async def delete_response(self, response_id: str) -> ResponseDeleted:
        return parse_object(ResponseDeleted, await self.request("DELETE", _response(response_id)))

    def list_input_items(self, response_id: str, **opts: Any) -> AsyncIterator[Any]:
        """The items a response was given as input, lazily."""
        return self._items(_response(response_id) + "/input_items", **opts)

    async def _items(self, path: str, **opts: Any) -> AsyncIterator[Any]:
        params = {}
        if opts.get("include") is not None:
            params["include[]"] = opts.pop("include")
        opts.pop("include", None)
        async for item in self.paginate(path, params=params, **opts):
            yield _parse_item(item)


def _conversation(conversation_id: str) -> str:
    return f"/conversations/{path_segment(conversation_id)}"


def _response(response_id: str) -> str:
    return f"/responses/{path_segment(response_id)}"


def _parse_item(data: dict[str, Any]) -> Any:
    """An item as its model (message, function_call, function_call_output, or another kind)."""
    try:
        return _ITEM.validate_python(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "(object)"
        raise APIResponseError(
            f"the server's item (id {data.get('id')!r}) does not match the API: {where}: {first['msg']}"
        ) from None
