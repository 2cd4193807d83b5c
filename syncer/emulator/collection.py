"""Ordered object collections and the real API's cursor pagination over them.

Every list the API serves (assistants; a thread's messages and runs; a run's steps) is
ordered by ``created_at`` (whole seconds) and then by insertion order. A collection keeps
a sort key ``(created_at, seq)`` per id, with ``seq`` a store-wide insertion counter, and
the live keys in a sorted Python list, so finding a cursor is a dictionary lookup plus a
binary search and a page is a slice: no scan of the collection per request, whatever its size.

Deleted ids stay known as tombstones (their key is kept), so a client paging with
``after=<an id deleted meanwhile>`` continues from where that object was. An id that
never was in the list is answered with 400 ``invalid_value`` naming the cursor parameter.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from dataclasses import dataclass
from typing import Any

from syncer.emulator.http_errors import bad_request

Key = tuple[int, int]

MIN_LIMIT = 1
MAX_LIMIT = 100
DEFAULT_LIMIT = 20


class Collection:
    """Ids in list order; objects themselves live in the store."""

    def __init__(self) -> None:
        self._keys: list[Key] = []  # sorted; live objects only
        self._ids: list[str] = []  # parallel to _keys
        self._key_of: dict[str, Key] = {}  # live and deleted ids
        self._live: set[str] = set()

    def __len__(self) -> int:
        return len(self._keys)

    def __contains__(self, object_id: object) -> bool:
        return object_id in self._live

    def add(self, object_id: str, created_at: int, seq: int) -> None:
        """Insert keeping the order; appending (the usual case) is O(1)."""
        key = (created_at, seq)
        self._key_of[object_id] = key
        self._live.add(object_id)
        if not self._keys or key > self._keys[-1]:
            self._keys.append(key)
            self._ids.append(object_id)
        else:
            index = bisect_left(self._keys, key)
            self._keys.insert(index, key)
            self._ids.insert(index, object_id)

    def remove(self, object_id: str) -> None:
        """Drop a live id, keeping its key as a tombstone for cursors."""
        if object_id not in self._live:
            return
        key = self._key_of[object_id]
        index = bisect_left(self._keys, key)
        del self._keys[index]
        del self._ids[index]
        self._live.discard(object_id)

    def forget(self, object_id: str, created_at: int, seq: int) -> None:
        """Know a deleted id (loaded from a state file) as a tombstone."""
        self._key_of.setdefault(object_id, (created_at, seq))

    def ids(self) -> list[str]:
        """All live ids, oldest first."""
        return list(self._ids)

    def last_id(self) -> str | None:
        return self._ids[-1] if self._ids else None

    def page(
        self,
        *,
        limit: int = DEFAULT_LIMIT,
        order: str = "desc",
        after: str | None = None,
        before: str | None = None,
    ) -> Page:
        """One page exactly as the real API pages.

        ``after``: the objects following the cursor in the requested order.
        ``before``: the objects immediately preceding it (the previous page), still in the
        requested order. ``has_more`` says whether more objects lie beyond the page in the
        direction of travel (towards the end for ``after`` or no cursor, towards the start
        for ``before``). With both cursors the page is taken from the ``after`` side.
        """
        n = len(self._ids)
        # Work in ascending positions [lo, hi) of the objects the cursors allow.
        lo, hi = 0, n
        if order == "asc":
            if after is not None:
                lo = bisect_right(self._keys, self._cursor_key(after, "after"))
            if before is not None:
                hi = bisect_left(self._keys, self._cursor_key(before, "before"))
        else:
            if after is not None:
                hi = bisect_left(self._keys, self._cursor_key(after, "after"))
            if before is not None:
                lo = bisect_right(self._keys, self._cursor_key(before, "before"))
        hi = max(hi, lo)
        # Which end of [lo, hi) the page sits at: the start of travel in the requested order.
        from_low_end = (order == "asc") != (before is not None and after is None)
        if from_low_end:
            start, end = lo, min(hi, lo + limit)
            has_more = end < hi
        else:
            start, end = max(lo, hi - limit), hi
            has_more = start > lo
        ids = self._ids[start:end]
        if order != "asc":
            ids.reverse()
        return Page(ids=ids, has_more=has_more)

    def _cursor_key(self, object_id: str, param: str) -> Key:
        key = self._key_of.get(object_id)
        if key is None:
            raise bad_request(
                f"Invalid '{param}': no object with id '{object_id}' in this list.",
                param=param,
                code="invalid_value",
            )
        return key


@dataclass
class Page:
    ids: list[str]
    has_more: bool

    def render(self, objects: list[dict[str, Any]]) -> dict[str, Any]:
        """The list body: ``first_id``/``last_id`` are null on an empty page."""
        return {
            "object": "list",
            "data": objects,
            "first_id": objects[0]["id"] if objects else None,
            "last_id": objects[-1]["id"] if objects else None,
            "has_more": self.has_more,
        }


def parse_list_params(query: Any) -> dict[str, Any]:
    """limit/order/after/before from a query string, validated like the real API."""
    raw_limit = query.get("limit")
    limit = DEFAULT_LIMIT
    if raw_limit is not None:
        try:
            limit = int(raw_limit)
        except ValueError:
            raise bad_request(
                "Invalid type for 'limit': expected an integer, but got a string instead.",
                param="limit",
                code="invalid_type",
            ) from None
        if limit > MAX_LIMIT:
            raise bad_request(
                f"Invalid 'limit': integer above maximum value. Expected a value <= {MAX_LIMIT}, but got {limit} instead.",
                param="limit",
                code="integer_above_max_value",
            )
        if limit < MIN_LIMIT:
            raise bad_request(
                f"Invalid 'limit': integer below minimum value. Expected a value >= {MIN_LIMIT}, but got {limit} instead.",
                param="limit",
                code="integer_below_min_value",
            )
    order = query.get("order") or "desc"
    if order not in ("asc", "desc"):
        raise bad_request(
            f"Invalid value: '{order}'. Supported values are: 'asc' and 'desc'.",
            param="order",
            code="invalid_value",
        )
    return {
        "limit": limit,
        "order": order,
        "after": query.get("after") or None,
        "before": query.get("before") or None,
    }
