"""Request URLs built fast (syncer.api.request_url) are the ones httpx itself builds."""

from __future__ import annotations

import httpx
from hypothesis import given, settings
from hypothesis import strategies as st

from syncer.api.http import path_segment
from syncer.api.request_url import RequestURLs

BASES = ["http://127.0.0.1:8765/v1", "https://api.example.com/v1", "http://[::1]:9/v1",
         "http://user:pw@host:80/a%20b/v1", "http://host", "https://host/v1/",
         "http://host/v1?api-version=1", "http://host/v1/.", "http://host/x/../v1",
         "http://host/v1?", "http://host/v1#", "http://host?"]
TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)
VALUES = st.one_of(TEXT, st.integers(), st.booleans(), st.none(), st.lists(TEXT, max_size=3))


def httpx_url(base: str, path: str, params: dict | None) -> httpx.URL:
    """What the client built before: httpx.Request(method, base + path, params=params)."""
    return httpx.Request("GET", base + path, params=params or None).url


def outcome(build) -> tuple:
    """The URL's parts, or the error (an unusable path is refused alike)."""
    try:
        url = build()
    except httpx.InvalidURL as error:
        return ("refused", str(error))
    return (url, str(url), url.raw_path, url.netloc, url.query)


def assert_same(base: str, path: str, params: dict | None) -> None:
    assert outcome(lambda: RequestURLs(base).url(path, params)) == outcome(
        lambda: httpx_url(base, path, params))


@settings(max_examples=300, deadline=None)
@given(base=st.sampled_from(BASES), ids=st.lists(TEXT, min_size=1, max_size=3),
       params=st.none() | st.dictionaries(TEXT, VALUES, max_size=4))
def test_a_path_of_quoted_ids_with_any_query_is_the_url_httpx_builds(base, ids, params):
    path = "".join(f"/things/{path_segment(value)}" for value in ids)
    assert_same(base, path, params)


@settings(max_examples=300, deadline=None)
@given(base=st.sampled_from(BASES), path=TEXT, params=st.none() | st.dictionaries(TEXT, VALUES, max_size=2))
def test_any_path_at_all_is_the_url_httpx_builds(base, path, params):
    assert_same(base, path, params)


def test_a_list_endpoints_url():
    url = RequestURLs("http://127.0.0.1:8765/v1").url(
        "/threads/thread_1/messages", {"order": "asc", "limit": 100, "after": "msg_9",
                                        "include[]": ["a", "b"], "flag": True})
    assert str(url) == ("http://127.0.0.1:8765/v1/threads/thread_1/messages"
                        "?order=asc&limit=100&after=msg_9&include%5B%5D=a&include%5B%5D=b&flag=true")


def test_a_base_ending_in_an_empty_query_or_fragment_is_httpxs_url():
    # "http://host/v1?" + "/threads": the path is the query; the fast path made it a path.
    for base in ("http://host/v1?", "http://host/v1#"):
        assert_same(base, "/threads/thread_1", None)
        assert_same(base, "/threads/thread_1/messages", {"limit": 100})
