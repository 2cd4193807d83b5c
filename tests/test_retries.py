"""Retries end to end: the emulator over real HTTP on loopback injects the faults.

429 (with ``retry-after-ms``), 500, 503 and dropped connections come from
``EmulatorConfig(fault_rate=…, seed=…)`` or from scripted faults; the client must come through
them with every object created exactly once, honour the server's wait, and give up with a
clear error when the faults do not stop. Sleeps are recorded, never slept (the autouse
fixture also sets SYNCER_RETRY_BASE_DELAY tiny, the documented way to shorten backoff).
"""

from __future__ import annotations

import httpx
import pytest

from syncer.api.client import AssistantsClient
from syncer.api.settings import ClientSettings
from syncer.errors import APIConnectionError, InternalServerError, RateLimitError

KEY = "sk-test-e2e-retries-SECRET123"


class Recorded(httpx.AsyncBaseTransport):
    """Real HTTP; remembers each attempt's outcome: a status with its headers, or "drop"."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.outcomes: list[tuple[int | str, httpx.Headers | None]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        try:
            await response.aread()
        except httpx.TransportError:
            self.outcomes.append(("drop", None))
            await response.aclose()
            raise
        self.outcomes.append((response.status_code, response.headers))
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()

    @property
    def failures(self) -> list[tuple[int | str, httpx.Headers | None]]:
        return [(s, h) for s, h in self.outcomes if s == "drop" or int(s) >= 400]


class Sleeps(list):
    async def __call__(self, seconds: float) -> None:
        self.append(seconds)


def client_for(server, transport, sleeps, **overrides) -> AssistantsClient:
    settings = ClientSettings.from_env(base_url=server.base_url, api_key=KEY, **overrides)
    return AssistantsClient(settings, transport=transport, sleep=sleeps)


async def test_a_faulty_server_is_survived_and_nothing_is_created_twice(emulator):
    transport, sleeps = Recorded(), Sleeps()
    server = emulator(fault_rate=0.3, seed=11, run_ms=5)
    async with client_for(server, transport, sleeps, max_retries=10) as client:
        created = [
            (await client.create_assistant({"model": "gpt-4o", "name": f"a{i:02d}"})).id
            for i in range(40)
        ]
        listed = [a["id"] async for a in client.paginate("/assistants", order="asc",
                                                         limit=7)]
        assert client.requests_sent == len(transport.outcomes) == server.stats()["requests"]
    stats = server.stats()
    assert listed == created  # every assistant exactly once, in creation order
    kinds = {status for status, _ in transport.failures}
    assert kinds == {429, 500, 503, "drop"}  # the whole fault mix was met and survived
    assert stats["faults"] == len(transport.failures) == len(sleeps)


async def test_retry_after_ms_from_the_server_is_honoured_exactly(emulator):
    transport, sleeps = Recorded(), Sleeps()
    server = emulator(fault_rate=0.5, seed=3)
    async with client_for(server, transport, sleeps, max_retries=20) as client:
        for _ in range(25):
            await client.create_thread()
    # Failed attempts and sleeps pair up one to one, in order.
    assert len(sleeps) == len(transport.failures) > 0
    waits = [(headers, slept) for (status, headers), slept in zip(transport.failures, sleeps,
                                                                   strict=True) if status == 429]
    assert waits, "seed 3 yields at least one 429"
    for headers, slept in waits:
        asked = int(headers["retry-after-ms"])
        assert 10 <= asked <= 50
        assert slept == asked / 1000
    # The others waited out the (shortened) exponential backoff instead.
    others = [s for (status, _), s in zip(transport.failures, sleeps, strict=True)
              if status != 429]
    assert others and all(s <= 0.001 * 2**20 for s in others) and max(others) < 0.1


async def test_a_scripted_429_asks_for_a_wait_the_client_keeps(emulator):
    transport, sleeps = Recorded(), Sleeps()
    server = emulator()
    server.script_faults({"fail_requests": [1], "status": "429"})
    async with client_for(server, transport, sleeps) as client:
        thread = await client.create_thread()
    assert thread.id.startswith("thread_")
    assert [s for s, _ in transport.outcomes] == [429, 200]
    assert sleeps == [int(transport.outcomes[0][1]["retry-after-ms"]) / 1000]


@pytest.mark.parametrize("kind", ["500", "503", "drop"])
async def test_each_fault_kind_is_retried_and_succeeds(kind, emulator):
    transport, sleeps = Recorded(), Sleeps()
    server = emulator()
    server.script_faults({"fail_writes": [1, 2], "status": kind})
    async with client_for(server, transport, sleeps) as client:
        assistant = await client.create_assistant({"model": "gpt-4o", "name": "survivor"})
        assert [a.id async for a in client.list_assistants()] == [assistant.id]
    expected = "drop" if kind == "drop" else int(kind)
    assert [s for s, _ in transport.outcomes] == [expected, expected, 200, 200]
    assert len(sleeps) == 2


async def test_gives_up_after_max_retries_with_a_clear_error(emulator):
    transport, sleeps = Recorded(), Sleeps()
    server = emulator()
    server.script_faults({"fail_requests": list(range(1, 20)), "status": "503"})
    async with client_for(server, transport, sleeps) as client:  # default: 5 retries
        with pytest.raises(InternalServerError) as caught:
            await client.create_assistant({"model": "gpt-4o"})
    assert server.stats()["requests"] == 6
    error = caught.value
    assert error.attempts == 6 and error.request_id.startswith("req_")
    assert str(error) == (
        "gave up after 6 attempts: HTTP 503 server_error: The engine is currently overloaded, "
        f"please try again later. (request id {error.request_id})"
    )
    assert len(sleeps) == 5


async def test_gives_up_on_connections_that_keep_dropping(emulator):
    transport, sleeps = Recorded(), Sleeps()
    server = emulator()
    server.script_faults({"fail_requests": list(range(1, 20)), "status": "drop"})
    async with client_for(server, transport, sleeps, max_retries=2) as client:
        with pytest.raises(APIConnectionError) as caught:
            await client.create_thread()
    text = str(caught.value)
    assert text.startswith(f"gave up after 3 attempts: POST {server.base_url}/threads failed: ")
    assert KEY not in text


async def test_rate_limits_that_never_end_name_the_limit(emulator):
    transport, sleeps = Recorded(), Sleeps()
    server = emulator()
    server.script_faults({"fail_requests": list(range(1, 20)), "status": "429"})
    async with client_for(server, transport, sleeps, max_retries=3) as client:
        with pytest.raises(RateLimitError) as caught:
            await client.create_thread()
    assert str(caught.value).startswith("gave up after 4 attempts: HTTP 429 rate_limit_exceeded: "
                                        "Rate limit reached for requests")
    assert sleeps == [0.01] * 3  # the scripted 429s ask for 10 ms each
