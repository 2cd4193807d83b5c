"""Property tests: the emulator's lists page exactly like the real API, whatever the sizes.

For random list sizes (with many ``created_at`` ties), limits and orders, walking forward with
``after`` and backward with ``before`` each return every object exactly once, in order.
The walks go through the HTTP layer in-process (``httpx.ASGITransport``), so query parsing,
the list body (``first_id``/``last_id``/``has_more``) and the collection are all exercised.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from syncer.emulator import EmulatorConfig, create_app
from syncer.emulator.collection import Collection

HEADERS = {"Authorization": "Bearer sk-test", "OpenAI-Beta": "assistants=v2"}

# Non-decreasing created_at with ties: the emulator's own clock only moves forward.
timestamps = st.lists(st.integers(min_value=0, max_value=3), max_size=130).map(
    lambda steps: [1_700_000_000 + sum(steps[: i + 1]) for i in range(len(steps))]
)
limits = st.one_of(st.integers(min_value=1, max_value=8), st.integers(min_value=1, max_value=100))


def app_with_assistants(created_ats: list[int]) -> tuple[Any, list[str]]:
    """An app whose account holds assistants with these created_at values, in this order."""
    app = create_app(EmulatorConfig())
    store = app.state.emulator.store
    ids = []
    for index, created_at in enumerate(created_ats):
        assistant_id = f"asst_{index:05}"
        store.add("assistant", {"id": assistant_id, "object": "assistant", "created_at": created_at,
                                "model": "gpt-4o", "tools": [], "metadata": {}})
        ids.append(assistant_id)
    return app, ids


async def fetch(client: httpx.AsyncClient, **params: Any) -> dict[str, Any]:
    response = await client.get("/assistants", params={k: v for k, v in params.items() if v is not None})
    assert response.status_code == 200, response.text
    page = response.json()
    data = page["data"]
    assert page["object"] == "list"
    assert len(data) <= params["limit"]
    assert page["first_id"] == (data[0]["id"] if data else None)
    assert page["last_id"] == (data[-1]["id"] if data else None)
    return page


async def walk_forward(app: Any, limit: int, order: str | None) -> list[str]:
    seen: list[str] = []
    after = None
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://emulator/v1",
                                 headers=HEADERS) as client:
        while True:
            page = await fetch(client, limit=limit, order=order, after=after)
            seen += [obj["id"] for obj in page["data"]]
            if not page["has_more"]:
                return seen
            assert len(page["data"]) == limit  # a page short of the limit is the last one
            after = page["last_id"]


async def walk_backward(app: Any, limit: int, order: str | None, last: str) -> list[str]:
    """From the last object of the list towards the first, one ``before`` page at a time."""
    seen = [last]
    before = last
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://emulator/v1",
                                 headers=HEADERS) as client:
        while True:
            page = await fetch(client, limit=limit, order=order, before=before)
            seen = [obj["id"] for obj in page["data"]] + seen
            if not page["has_more"]:
                return seen
            assert len(page["data"]) == limit  # only the page at the start may be short
            before = page["first_id"]


# Each order explicitly (asc, desc and the default), so no run of hypothesis can skip one.
@pytest.mark.parametrize("order", ["asc", "desc", None])
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(created_ats=timestamps, limit=limits)
def test_forward_and_backward_walks_return_everything_once_in_order(created_ats, limit, order):
    app, ids = app_with_assistants(created_ats)
    expected = ids if order == "asc" else ids[::-1]

    assert asyncio.run(walk_forward(app, limit, order)) == expected
    if expected:
        assert asyncio.run(walk_backward(app, limit, order, expected[-1])) == expected


@pytest.mark.parametrize("order", ["asc", "desc"])
@settings(max_examples=100, deadline=None)
@given(
    created_ats=timestamps,
    limit=limits,
    deleted=st.sets(st.integers(min_value=0, max_value=129)),
    data=st.data(),
)
def test_pages_around_any_cursor_even_a_deleted_one(created_ats, limit, order, deleted, data):
    collection = Collection()
    ids = [f"obj_{i:04}" for i in range(len(created_ats))]
    for seq, (object_id, created_at) in enumerate(zip(ids, created_ats, strict=True)):
        collection.add(object_id, created_at, seq)
    for index in deleted:
        if index < len(ids):
            collection.remove(ids[index])
    live = [object_id for i, object_id in enumerate(ids) if i not in deleted]
    in_order = live if order == "asc" else live[::-1]
    everything = ids if order == "asc" else ids[::-1]
    if not ids:
        page = collection.page(limit=limit, order=order)
        assert (page.ids, page.has_more) == ([], False)
        return
    cursor = data.draw(st.sampled_from(ids), label="cursor")  # may be a deleted id
    position = everything.index(cursor)
    following = [i for i in everything[position + 1 :] if i in live]
    preceding = [i for i in everything[:position] if i in live]

    after = collection.page(limit=limit, order=order, after=cursor)
    assert after.ids == following[:limit]
    assert after.has_more == (len(following) > limit)

    before = collection.page(limit=limit, order=order, before=cursor)
    assert before.ids == preceding[-limit:]
    assert before.has_more == (len(preceding) > limit)

    first = collection.page(limit=limit, order=order)
    assert first.ids == in_order[:limit]
