"""Cursor pagination over any list endpoint, one page in memory at a time.

The API's rules: ``after=<id>`` returns the objects following that id in the requested
``order``; ``before=<id>`` returns the objects immediately preceding it, still presented in
the requested order. So walking

- forward (``after``): the next cursor is the last id of the page;
- backward (``before``): the next cursor is the *first* id of the page.

Either walk stops when ``has_more`` is false or a page comes back empty.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal

from syncer.errors import APIResponseError, UsageError

Order = Literal["asc", "desc"]
FetchPage = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]


def check_object(obj: Any, where: str) -> dict[str, Any]:
    """``obj`` if it is an API object (a JSON object with a string ``id``), else
    ``APIResponseError`` saying what ``where`` held instead."""
    if not isinstance(obj, dict):
        raise APIResponseError(f"{where} is not an object (a JSON {_json_kind(obj)})")
    if not isinstance(obj.get("id"), str) or not obj["id"]:
        raise APIResponseError(f"{where} is an object without an 'id'")
    return obj


def _json_kind(value: Any) -> str:
    kinds = {str: "string", bool: "boolean", int: "number", float: "number", list: "array"}
    return "null" if value is None else kinds.get(type(value), type(value).__name__)


@dataclass(frozen=True)
class Page:
    """One answer of a list endpoint: raw objects and the cursors around them."""

    data: list[dict[str, Any]]
    first_id: str | None
    last_id: str | None
    has_more: bool

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> Page:
        data = body.get("data")
        if not isinstance(data, list):
            raise APIResponseError("list answer has no 'data' array")
        for number, item in enumerate(data, 1):
            check_object(item, f"item {number} of a list page")
        # Older or partial servers may omit the cursors; the ids of the data say the same.
        first_id = body.get("first_id") or (data[0].get("id") if data else None)
        last_id = body.get("last_id") or (data[-1].get("id") if data else None)
        return cls(data=data, first_id=first_id, last_id=last_id,
                   has_more=bool(body.get("has_more", False)))


async def iterate_pages(
    fetch: FetchPage,
    *,
    params: dict[str, Any] | None = None,
    order: Order = "asc",
    limit: int = 100,
    after: str | None = None,
    before: str | None = None,
) -> AsyncIterator[Page]:
    """Yield pages lazily; ``fetch(params)`` performs one request and returns its JSON."""
    if order not in ("asc", "desc"):
        raise UsageError(f"order must be 'asc' or 'desc', not {order!r}")
    if after is not None and before is not None:
        raise UsageError("pass either after (walk forward) or before (walk backward), not both")
    backward = before is not None
    cursor = before if backward else after
    while True:
        query = dict(params or {})
        query["order"] = order
        query["limit"] = limit
        if cursor is not None:
            query["before" if backward else "after"] = cursor
        page = Page.from_json(await fetch(query))
        yield page
        if not page.has_more or not page.data:
            return
        next_cursor = page.first_id if backward else page.last_id
        if next_cursor is None or next_cursor == cursor:
            # A server that hands back the cursor we just used would loop forever.
            raise APIResponseError(f"list pagination does not advance (cursor {cursor!r})")
        cursor = next_cursor
