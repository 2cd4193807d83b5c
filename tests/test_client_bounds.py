"""The client bounds every answer: ``timeout`` covers a whole response (not each read), and
``max_response_bytes`` its body, counted as it arrives (huge, endless or compressed bodies).

Against raw loopback servers (tests/fakes/raw_server.py); nothing here sleeps longer than the
small timeouts it sets.
"""

from __future__ import annotations

import asyncio
import time

import pytest
from click.testing import CliRunner
from fakes.raw_server import RawServer, answer, dribble, endless, gzip_bomb

from syncer.api.client import AssistantsClient
from syncer.api.settings import ClientSettings
from syncer.cli import cli
from syncer.errors import APIResponseError, APIStatusError, APITimeoutError

KEY = "sk-bounds-0123456789"
EMPTY_PAGE = b'{"object": "list", "data": [], "first_id": null, "last_id": null, "has_more": false}'


def settings(base_url: str, **overrides) -> ClientSettings:
    return ClientSettings(api_key=KEY, base_url=base_url, max_retries=0, **overrides)


async def test_a_dribbling_server_cannot_hold_a_request_past_the_timeout():
    # A byte every 50 ms: each read arrives well within the timeout, the whole answer does not.
    with RawServer(dribble(EMPTY_PAGE, every=0.05)) as server:
        async with AssistantsClient(settings(server.base_url, timeout=0.5)) as client:
            started = time.monotonic()
            with pytest.raises(APITimeoutError) as caught:
                await asyncio.wait_for(client.request("GET", "/assistants"), 10)
            assert time.monotonic() - started < 2
    assert "timed out (no whole answer in time, timeout 0.5 s)" in str(caught.value)


async def test_retries_of_a_dribbling_server_are_each_bounded():
    with RawServer(dribble(EMPTY_PAGE, every=0.05)) as server:
        bounded = ClientSettings(api_key=KEY, base_url=server.base_url, max_retries=2,
                                 timeout=0.3, retry_base_delay=0)
        async with AssistantsClient(bounded) as client:
            started = time.monotonic()
            with pytest.raises(APITimeoutError):
                await asyncio.wait_for(client.request("GET", "/assistants"), 10)
            assert time.monotonic() - started < 3
        assert len(server.requests) == 3


def test_sync_with_a_timeout_stops_on_a_dribbling_server(tmp_path):
    body = EMPTY_PAGE + b" " * 40  # 4 s at a byte every 0.1 s per attempt, unbounded
    with RawServer(dribble(body, every=0.1)) as server:
        started = time.monotonic()
        result = CliRunner().invoke(
            cli, ["sync", "--db", str(tmp_path / "m.db"), "--timeout", "0.5", "--max-retries", "1"],
            env={"OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": server.base_url})
        elapsed = time.monotonic() - started
    assert result.exit_code == 1, result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1 and "timed out" in errors[0] and "Traceback" not in result.output
    assert elapsed < 3.5, elapsed


@pytest.mark.parametrize("answer_with, what", [
    (answer(b" " * (2 * 1024 * 1024) + EMPTY_PAGE), "declared"),
    (endless(), "endless chunked"),
    (gzip_bomb(16 * 1024 * 1024), "gzip bomb"),
])
async def test_a_body_over_the_bound_is_refused_as_it_arrives(answer_with, what):
    with RawServer(answer_with) as server:
        async with AssistantsClient(settings(server.base_url,
                                             max_response_bytes=1024 * 1024)) as client:
            with pytest.raises(APIResponseError) as caught:
                await asyncio.wait_for(client.request("GET", "/assistants"), 10)
        assert len(server.requests) == 1  # not retried: a bigger answer will not come smaller
    assert "with a body over 1,048,576 bytes" in str(caught.value), what


async def test_a_body_within_the_bound_is_read_whole():
    with RawServer(gzip_bomb(512 * 1024)) as server:
        async with AssistantsClient(settings(server.base_url,
                                             max_response_bytes=1024 * 1024)) as client:
            response = await client.send("GET", "/assistants")
    assert response.content == b" " * 512 * 1024


def test_the_bound_comes_from_the_environment(monkeypatch):
    assert ClientSettings.from_env().max_response_bytes == 256 * 1024 * 1024
    monkeypatch.setenv("SYNCER_MAX_RESPONSE_BYTES", "1000")
    assert ClientSettings.from_env().max_response_bytes == 1000


@pytest.mark.parametrize("status, error", [(200, APIResponseError), (400, APIStatusError)])
async def test_json_nested_past_the_stack_is_an_api_error_not_a_crash(status, error):
    with RawServer(answer(b"[" * 100_000, status=status)) as server:
        async with AssistantsClient(settings(server.base_url)) as client:
            with pytest.raises(error):
                await client.request("GET", "/assistants")
