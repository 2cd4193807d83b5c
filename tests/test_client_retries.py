"""Retry rules, unit level: a scripted MockTransport and a sleep that only records delays."""

from __future__ import annotations

import email.utils
import json
import logging
import time
from collections.abc import Callable

import httpx
import pytest

from syncer.api.client import AssistantsClient
from syncer.api.retry import parse_retry_after, retry_delay
from syncer.api.settings import ClientSettings
from syncer.errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    InternalServerError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    UnprocessableEntityError,
)

KEY = "sk-test-retries-0123456789SECRET"
URL = "http://127.0.0.1:1/v1"

Step = httpx.Response | Exception | Callable[[httpx.Request], httpx.Response]


def error(status: int, headers: dict[str, str] | None = None) -> httpx.Response:
    body = {"error": {"message": f"status {status}", "type": "server_error", "param": None,
                      "code": None}}
    return httpx.Response(status, json=body, headers={"x-request-id": f"req_{status}",
                                                      **(headers or {})})


OK = httpx.Response(200, json={"id": "asst_1", "object": "assistant"})


class Script:
    """Answers requests from a list of steps (the last one repeats); records what was sent."""

    def __init__(self, *steps: Step):
        self.steps = list(steps)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        step = self.steps[min(len(self.requests), len(self.steps)) - 1]
        if isinstance(step, Exception):
            raise step
        if callable(step) and not isinstance(step, httpx.Response):
            return step(request)
        # A fresh response each time: httpx responses are single-use.
        return httpx.Response(step.status_code, headers=step.headers, content=step.content)


class Sleeps(list):
    async def __call__(self, seconds: float) -> None:
        self.append(seconds)


def make_client(script: Script, sleeps: Sleeps, *, rand: float | None = 0.0,
                **settings: object) -> AssistantsClient:
    options: dict = {"rand": (lambda: rand)} if rand is not None else {}
    return AssistantsClient(
        ClientSettings(api_key=KEY, base_url=URL, **settings),  # type: ignore[arg-type]
        transport=httpx.MockTransport(script), sleep=sleeps, **options,
    )


@pytest.mark.parametrize("status", [408, 409, 429, 500, 502, 503, 504])
async def test_retryable_statuses_are_retried_until_success(status):
    script, sleeps = Script(error(status), error(status), OK), Sleeps()
    async with make_client(script, sleeps) as client:
        assert await client.request("GET", "/assistants/asst_1") == {"id": "asst_1",
                                                                     "object": "assistant"}
        assert client.requests_sent == 3
    assert sleeps == [0.5, 1.0]


@pytest.mark.parametrize(
    ("status", "exception"),
    [(400, BadRequestError), (401, AuthenticationError), (403, PermissionDeniedError),
     (404, NotFoundError), (422, UnprocessableEntityError)],
)
async def test_client_errors_are_not_retried(status, exception):
    script, sleeps = Script(error(status), OK), Sleeps()
    async with make_client(script, sleeps) as client:
        with pytest.raises(exception) as caught:
            await client.request("GET", "/assistants/asst_1")
        assert client.requests_sent == 1
    assert sleeps == []
    assert caught.value.attempts == 1
    assert str(caught.value) == f"HTTP {status} server_error: status {status} (request id req_{status})"


@pytest.mark.parametrize(
    "failure",
    [httpx.ConnectError("connection refused"), httpx.ReadError("connection reset by peer"),
     httpx.RemoteProtocolError("server disconnected"), httpx.ConnectTimeout("connect"),
     httpx.ReadTimeout("read")],
)
async def test_dropped_connections_and_timeouts_are_retried(failure):
    script, sleeps = Script(failure, failure, OK), Sleeps()
    async with make_client(script, sleeps) as client:
        assert (await client.request("GET", "/assistants/asst_1"))["id"] == "asst_1"
        assert client.requests_sent == 3
    assert sleeps == [0.5, 1.0]


async def test_x_should_retry_true_retries_a_400():
    script, sleeps = Script(error(400, {"x-should-retry": "true"}), OK), Sleeps()
    async with make_client(script, sleeps) as client:
        await client.request("GET", "/assistants/asst_1")
    assert len(script.requests) == 2


async def test_x_should_retry_false_stops_a_503():
    script, sleeps = Script(error(503, {"x-should-retry": "false"}), OK), Sleeps()
    async with make_client(script, sleeps) as client:
        with pytest.raises(InternalServerError):
            await client.request("GET", "/assistants/asst_1")
    assert len(script.requests) == 1 and sleeps == []


async def test_retry_after_ms_is_honoured_exactly():
    script, sleeps = Script(error(429, {"retry-after-ms": "20", "retry-after": "7"}), OK), Sleeps()
    async with make_client(script, sleeps) as client:
        await client.request("GET", "/assistants/asst_1")
    assert sleeps == [0.02]  # retry-after-ms wins over retry-after


async def test_retry_after_seconds_is_honoured():
    script, sleeps = Script(error(503, {"retry-after": "3"}), error(429, {"retry-after": "1.5"}),
                            OK), Sleeps()
    async with make_client(script, sleeps) as client:
        await client.request("GET", "/assistants/asst_1")
    assert sleeps == [3.0, 1.5]


async def test_retry_after_http_date_is_honoured():
    def later(_request: httpx.Request) -> httpx.Response:
        when = email.utils.formatdate(time.time() + 30, usegmt=True)
        return error(429, {"retry-after": when})

    script, sleeps = Script(later, OK), Sleeps()
    async with make_client(script, sleeps) as client:
        await client.request("GET", "/assistants/asst_1")
    assert len(sleeps) == 1 and 28.0 <= sleeps[0] <= 30.0  # whole seconds in an HTTP date


@pytest.mark.parametrize("headers", [{"retry-after": "121"}, {"retry-after-ms": "600000"},
                                     {"retry-after": "121", "x-should-retry": "true"}])
async def test_a_wait_above_120_s_is_not_retried_at_all(headers):
    # The SDK's rule: a server asking for more than two minutes gets the error at once.
    script, sleeps = Script(error(429, headers), OK), Sleeps()
    async with make_client(script, sleeps) as client:
        with pytest.raises(RateLimitError):
            await client.request("GET", "/assistants/asst_1")
    assert len(script.requests) == 1 and sleeps == []


@pytest.mark.parametrize("headers", [{"retry-after": "0"}, {"retry-after": "-5"},
                                     {"retry-after": "soon"}, {"retry-after-ms": "x"},
                                     {"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}])
async def test_a_useless_wait_falls_back_to_backoff(headers):
    script, sleeps = Script(error(503, headers), OK), Sleeps()
    async with make_client(script, sleeps) as client:
        await client.request("GET", "/assistants/asst_1")
    assert sleeps == [0.5]


async def test_backoff_doubles_from_the_base_and_is_capped_at_8_s():
    script, sleeps = Script(error(503)), Sleeps()
    async with make_client(script, sleeps, max_retries=7) as client:
        with pytest.raises(InternalServerError):
            await client.request("GET", "/assistants/asst_1")
    assert sleeps == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0]


async def test_jitter_takes_off_at_most_a_quarter():
    script, sleeps = Script(error(503)), Sleeps()
    async with make_client(script, sleeps, rand=None, max_retries=10) as client:
        with pytest.raises(InternalServerError):
            await client.request("GET", "/assistants/asst_1")
    ceilings = [0.5, 1.0, 2.0, 4.0] + [8.0] * 6
    assert len(sleeps) == 10
    for delay, ceiling in zip(sleeps, ceilings, strict=True):
        assert 0.75 * ceiling <= delay <= ceiling
    assert len(set(sleeps[4:])) > 1  # the random part really varies


async def test_the_base_delay_setting_shortens_backoff(monkeypatch):
    monkeypatch.setenv("SYNCER_RETRY_BASE_DELAY", "0.001")
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    script, sleeps = Script(error(500), error(500), error(500), OK), Sleeps()
    client = AssistantsClient(ClientSettings.from_env(base_url=URL),
                              transport=httpx.MockTransport(script), sleep=sleeps, rand=lambda: 0)
    async with client:
        await client.request("GET", "/assistants/asst_1")
    assert sleeps == [0.001, 0.002, 0.004]


async def test_gives_up_after_max_retries_with_a_clear_error():
    script, sleeps = Script(error(503)), Sleeps()
    async with make_client(script, sleeps) as client:
        with pytest.raises(InternalServerError) as caught:
            await client.request("GET", "/assistants/asst_1")
        assert client.requests_sent == 6
    assert len(sleeps) == 5
    assert caught.value.attempts == 6
    assert str(caught.value) == (
        "gave up after 6 attempts: HTTP 503 server_error: status 503 (request id req_503)"
    )


async def test_gives_up_on_a_dead_connection_naming_the_url():
    script, sleeps = Script(httpx.ConnectError("All connection attempts failed")), Sleeps()
    async with make_client(script, sleeps, max_retries=2) as client:
        with pytest.raises(APIConnectionError) as caught:
            await client.request("GET", "/assistants")
    assert str(caught.value) == (
        "gave up after 3 attempts: GET http://127.0.0.1:1/v1/assistants failed: "
        "no answer from the server (All connection attempts failed)"
    )
    assert KEY not in str(caught.value)


async def test_gives_up_on_timeouts_with_a_timeout_error():
    script, sleeps = Script(httpx.ReadTimeout("timed out")), Sleeps()
    async with make_client(script, sleeps, max_retries=1, timeout=3) as client:
        with pytest.raises(APITimeoutError) as caught:
            await client.request("GET", "/assistants")
    assert str(caught.value) == (
        "gave up after 2 attempts: GET http://127.0.0.1:1/v1/assistants timed out "
        "(ReadTimeout, timeout 3 s)"
    )


async def test_max_retries_zero_sends_once():
    script, sleeps = Script(error(503), OK), Sleeps()
    async with make_client(script, sleeps, max_retries=0) as client:
        with pytest.raises(InternalServerError) as caught:
            await client.request("GET", "/assistants")
    assert len(script.requests) == 1
    assert not str(caught.value).startswith("gave up")


async def test_a_later_non_retryable_error_is_raised_as_is():
    script, sleeps = Script(error(503), error(404)), Sleeps()
    async with make_client(script, sleeps) as client:
        with pytest.raises(NotFoundError) as caught:
            await client.request("GET", "/assistants/asst_1")
    assert str(caught.value).startswith("HTTP 404")


async def test_max_retries_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("SYNCER_MAX_RETRIES", "2")
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    script, sleeps = Script(error(502)), Sleeps()
    async with AssistantsClient(ClientSettings.from_env(base_url=URL),
                                transport=httpx.MockTransport(script), sleep=sleeps) as client:
        with pytest.raises(InternalServerError, match="gave up after 3 attempts"):
            await client.request("GET", "/assistants")
    assert len(script.requests) == 3


async def test_a_retried_write_resends_the_same_body_and_idempotency_key():
    script, sleeps = Script(error(500), httpx.ReadError("reset"), OK), Sleeps()
    async with make_client(script, sleeps) as client:
        await client.request("POST", "/assistants", json={"model": "gpt-4o", "name": "a"})
    bodies = [json.loads(r.read()) for r in script.requests]
    keys = {r.headers["idempotency-key"] for r in script.requests}
    assert bodies == [{"model": "gpt-4o", "name": "a"}] * 3
    assert len(keys) == 1


async def test_every_retry_is_logged_without_the_key(caplog):
    def echo_key(request: httpx.Request) -> httpx.Response:
        return error(503, {"x-echo": request.headers["authorization"]})

    script, sleeps = Script(echo_key, httpx.ConnectError(f"refused, key {KEY}"), OK), Sleeps()
    with caplog.at_level(logging.DEBUG, logger="syncer"):
        async with make_client(script, sleeps) as client:
            await client.request("GET", "/assistants")
    retries = [r.getMessage() for r in caplog.records if "retrying" in r.getMessage()]
    assert len(retries) == 2
    assert retries[0].startswith("retrying GET http://127.0.0.1:1/v1/assistants in 0.500 s")
    assert all(KEY not in text and KEY[-8:] not in text for text in caplog.messages)


async def test_unusual_statuses_map_to_the_base_status_error():
    script, sleeps = Script(error(418)), Sleeps()
    async with make_client(script, sleeps) as client:
        with pytest.raises(APIStatusError) as caught:
            await client.request("GET", "/assistants")
    assert type(caught.value) is APIStatusError and caught.value.status_code == 418


def test_parse_retry_after_units():
    assert parse_retry_after({"retry-after-ms": "250"}) == 0.25
    assert parse_retry_after({"retry-after": "2"}) == 2.0
    assert parse_retry_after({"retry-after": "Thu, 01 Jan 1970 00:01:40 GMT"}, now=40.0) == 60.0
    assert parse_retry_after({}) is None
    assert parse_retry_after({"retry-after": "later"}) is None


def test_retry_delay_formula():
    assert retry_delay(0, None, rand=lambda: 1.0) == 0.375
    assert retry_delay(3, None, rand=lambda: 0.0) == 4.0
    assert retry_delay(30, None, rand=lambda: 0.0) == 8.0
    assert retry_delay(2, None, base=0.01, maximum=1, rand=lambda: 0.0) == 0.04
    assert retry_delay(5, {"retry-after-ms": "20"}) == 0.02
