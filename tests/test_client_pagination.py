"""Cursor pagination: forward and backward, both orders, any limit, lazily.

The fake list below follows the API's documented rules (docs: API-NOTES "Lists and
pagination"): ``after`` gives the objects following the cursor in the requested order,
``before`` the ones immediately preceding it, still presented in that order.
"""

from __future__ import annotations

import asyncio
import math

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from syncer.api.client import AssistantsClient
from syncer.api.settings import ClientSettings
from syncer.errors import APIResponseError, UsageError

KEY = "sk-test-pages"


class FakeList:
    """GET /assistants over ``n`` objects created in order; counts requests."""

    def __init__(self, n: int):
        self.objects = [{"id": f"asst_{i:04d}", "object": "assistant", "created_at": 1000 + i // 3,
                         "model": "gpt-4o"} for i in range(n)]
        self.queries: list[dict[str, str]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        query = dict(request.url.params)
        self.queries.append(query)
        order, limit = query.get("order", "desc"), int(query.get("limit", "20"))
        seq = self.objects if order == "asc" else self.objects[::-1]
        ids = [o["id"] for o in seq]
        if "after" in query:
            window = seq[ids.index(query["after"]) + 1:]
            page = window[:limit]
        elif "before" in query:
            window = seq[:ids.index(query["before"])]
            page = window[-limit:] if limit else []
        else:
            window = seq
            page = window[:limit]
        return httpx.Response(200, json={
            "object": "list", "data": page,
            "first_id": page[0]["id"] if page else None,
            "last_id": page[-1]["id"] if page else None,
            "has_more": len(window) > len(page),
        })


def client_for(handler) -> AssistantsClient:
    return AssistantsClient(ClientSettings(api_key=KEY, base_url="http://127.0.0.1:1/v1"),
                            transport=httpx.MockTransport(handler))


async def collect(client: AssistantsClient, **opts) -> list[str]:
    return [obj["id"] async for obj in client.paginate("/assistants", **opts)]


@pytest.mark.parametrize("order", ["asc", "desc"])
@pytest.mark.parametrize(("n", "limit"), [(0, 5), (1, 1), (7, 3), (9, 3), (250, 100), (250, 7)])
async def test_forward_walk_returns_everything_once_in_order(order, n, limit):
    fake = FakeList(n)
    async with client_for(fake) as client:
        ids = await collect(client, order=order, limit=limit)
        assert client.requests_sent == max(1, math.ceil(n / limit))
    expected = [o["id"] for o in fake.objects]
    assert ids == (expected if order == "asc" else expected[::-1])
    assert all(q["order"] == order and q["limit"] == str(limit) for q in fake.queries)


@pytest.mark.parametrize("order", ["asc", "desc"])
async def test_forward_from_a_cursor_starts_after_it(order):
    fake = FakeList(10)
    seq = [o["id"] for o in (fake.objects if order == "asc" else fake.objects[::-1])]
    async with client_for(fake) as client:
        assert await collect(client, order=order, limit=3, after=seq[4]) == seq[5:]
    assert fake.queries[0]["after"] == seq[4]


@pytest.mark.parametrize("order", ["asc", "desc"])
@pytest.mark.parametrize("limit", [1, 3, 4, 100])
async def test_backward_walk_moves_away_from_the_cursor(order, limit):
    fake = FakeList(10)
    seq = [o["id"] for o in (fake.objects if order == "asc" else fake.objects[::-1])]
    async with client_for(fake) as client:
        pages = [page async for page in client.pages("/assistants", order=order, limit=limit,
                                                     before=seq[8])]
        walked = await collect(client, order=order, limit=limit, before=seq[8])
    # Each page keeps the requested order; pages come nearest-first; next cursor = first id.
    for page in pages:
        assert [o["id"] for o in page.data] == [i for i in seq if i in {o["id"] for o in page.data}]
    assert [p.data[0]["id"] for p in pages] == sorted((p.data[0]["id"] for p in pages),
                                                      key=seq.index, reverse=True)
    befores = [q["before"] for q in fake.queries[:len(pages)]]
    assert befores == [seq[8]] + [p.first_id for p in pages[:-1]]
    assert walked == seq[:8][::-1]
    assert len(pages) == math.ceil(8 / limit)


async def test_pages_report_their_cursors():
    fake = FakeList(5)
    async with client_for(fake) as client:
        pages = [p async for p in client.pages("/assistants", order="asc", limit=2)]
    assert [(p.first_id, p.last_id, p.has_more, len(p.data)) for p in pages] == [
        ("asst_0000", "asst_0001", True, 2),
        ("asst_0002", "asst_0003", True, 2),
        ("asst_0004", "asst_0004", False, 1),
    ]
    assert [q.get("after") for q in fake.queries] == [None, "asst_0001", "asst_0003"]


async def test_an_empty_list_has_null_cursors_and_one_request():
    fake = FakeList(0)
    async with client_for(fake) as client:
        pages = [p async for p in client.pages("/assistants")]
    assert len(pages) == 1 and pages[0].data == [] and pages[0].first_id is None


async def test_pages_are_fetched_lazily():
    fake = FakeList(1000)
    async with client_for(fake) as client:
        seen = 0
        async for _obj in client.paginate("/assistants", limit=10):
            seen += 1
            if seen == 15:
                break
        assert client.requests_sent == 2  # not 100: nothing is fetched ahead


async def test_extra_params_are_sent_with_every_page():
    fake = FakeList(5)
    async with client_for(fake) as client:
        await collect(client, limit=2, params={"run_id": "run_1"})
    assert [q["run_id"] for q in fake.queries] == ["run_1"] * 3


async def test_stops_on_an_empty_page_even_if_has_more_says_otherwise():
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"object": "list", "data": [], "first_id": None,
                                         "last_id": None, "has_more": True})

    async with client_for(handler) as client:
        assert await collect(client) == []
        assert client.requests_sent == 1


async def test_a_cursor_that_does_not_advance_is_an_error_not_a_loop():
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"object": "list", "data": [{"id": "a"}],
                                         "first_id": "a", "last_id": "a", "has_more": True})

    async with client_for(handler) as client:
        with pytest.raises(APIResponseError, match="does not advance"):
            await collect(client)
        assert client.requests_sent == 2


async def test_after_and_before_together_is_a_usage_error():
    async with client_for(FakeList(3)) as client:
        with pytest.raises(UsageError):
            await collect(client, after="asst_0000", before="asst_0002")


async def test_typed_list_helpers_yield_models():
    fake = FakeList(4)
    async with client_for(fake) as client:
        assistants = [a async for a in client.list_assistants(order="desc", limit=3)]
    assert [a.id for a in assistants] == ["asst_0003", "asst_0002", "asst_0001", "asst_0000"]
    assert assistants[0].model == "gpt-4o"


@settings(max_examples=60, deadline=None)
@given(n=st.integers(0, 40), limit=st.integers(1, 12), order=st.sampled_from(["asc", "desc"]),
       data=st.data())
def test_property_both_walks_return_each_object_once(n, limit, order, data):
    fake = FakeList(n)
    seq = [o["id"] for o in (fake.objects if order == "asc" else fake.objects[::-1])]
    start = data.draw(st.integers(0, n - 1)) if n else None

    async def walk() -> tuple[list[str], list[str]]:
        async with client_for(fake) as client:
            forward = await collect(client, order=order, limit=limit,
                                    after=seq[start] if start is not None else None)
            backward = (await collect(client, order=order, limit=limit, before=seq[start])
                        if start is not None else [])
        return forward, backward

    forward, backward = asyncio.run(walk())
    if start is None:
        assert forward == []
    else:
        assert forward == seq[start + 1:]
        assert backward == seq[:start][::-1]
