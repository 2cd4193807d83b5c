"""Errors: status → exception with the API's fields and request id; the key never leaks."""

from __future__ import annotations

import socket

import httpx
import pytest

from syncer.api.client import AssistantsClient
from syncer.api.settings import ClientSettings
from syncer.errors import (
    APIConnectionError,
    APIResponseError,
    APIStatusError,
    AssistantsShutDownError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    InternalServerError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    UnprocessableEntityError,
)

KEY = "sk-proj-errors-0123456789abcdefSECRET"


def client_for(handler, base_url: str = "http://127.0.0.1:1/v1", **settings) -> AssistantsClient:
    async def no_sleep(_seconds: float) -> None:
        return None

    return AssistantsClient(
        ClientSettings(api_key=KEY, base_url=base_url, **settings),
        transport=httpx.MockTransport(handler), sleep=no_sleep,
    )


async def test_a_400_carries_type_code_param_message_and_request_id():
    body = {"error": {
        "message": "Invalid 'metadata': too many properties. Expected an object with at most 16 "
                   "properties, but got an object with 17 properties instead.",
        "type": "invalid_request_error", "param": "metadata", "code": "object_above_max_properties",
    }}

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(400, json=body, headers={"x-request-id": "req_abc123"})

    async with client_for(handler) as client:
        with pytest.raises(BadRequestError) as caught:
            await client.request("POST", "/assistants", json={"metadata": {}})
    error = caught.value
    assert (error.status_code, error.error_type, error.code, error.param) == (
        400, "invalid_request_error", "object_above_max_properties", "metadata")
    assert error.request_id == "req_abc123"
    assert error.method == "POST" and error.url == "http://127.0.0.1:1/v1/assistants"
    assert error.body == body
    assert str(error) == (
        "HTTP 400 object_above_max_properties: Invalid 'metadata': too many properties. Expected "
        "an object with at most 16 properties, but got an object with 17 properties instead. "
        "(request id req_abc123)"
    )


@pytest.mark.parametrize(
    ("status", "exception"),
    [(400, BadRequestError), (401, AuthenticationError), (403, PermissionDeniedError),
     (404, NotFoundError), (409, ConflictError), (422, UnprocessableEntityError),
     (429, RateLimitError), (500, InternalServerError), (503, InternalServerError),
     (418, APIStatusError)],
)
async def test_each_status_maps_to_its_exception(status, exception):
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, json={"error": {"message": "no", "type": "t", "param": None,
                                                      "code": None}})

    async with client_for(handler, max_retries=0) as client:
        with pytest.raises(exception) as caught:
            await client.request("GET", "/assistants/asst_1")
    assert type(caught.value) is exception and caught.value.status_code == status


async def test_the_real_404_reads_like_the_api():
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(404, json={"error": {
            "message": "No assistant found with id 'asst_nope'.", "type": "invalid_request_error",
            "param": None, "code": None}}, headers={"x-request-id": "req_404"})

    async with client_for(handler) as client:
        with pytest.raises(NotFoundError) as caught:
            await client.retrieve_assistant("asst_nope")
    assert not isinstance(caught.value, AssistantsShutDownError)
    assert str(caught.value) == (
        "HTTP 404 invalid_request_error: No assistant found with id 'asst_nope'. "
        "(request id req_404)"
    )


async def test_an_error_body_that_is_not_json_still_explains_itself():
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(502, text="<html>Bad Gateway</html>")

    async with client_for(handler, max_retries=0) as client:
        with pytest.raises(InternalServerError) as caught:
            await client.request("GET", "/assistants")
    assert str(caught.value) == "HTTP 502: <html>Bad Gateway</html>"


async def test_a_success_that_is_not_json_is_a_response_error():
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, text="hello", headers={"x-request-id": "req_txt"})

    async with client_for(handler) as client:
        with pytest.raises(APIResponseError) as caught:
            await client.request("GET", "/assistants")
    assert caught.value.request_id == "req_txt"
    assert str(caught.value) == (
        "GET http://127.0.0.1:1/v1/assistants answered HTTP 200 with a body that is not JSON"
    )


async def test_a_refused_connection_on_loopback_names_the_url_not_the_key():
    with socket.socket() as sock:  # a port nobody listens on: bind, then close
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings = ClientSettings(api_key=KEY, base_url=f"http://127.0.0.1:{port}/v1", max_retries=0)
    async with AssistantsClient(settings) as client:
        with pytest.raises(APIConnectionError) as caught:
            await client.request("GET", "/assistants")
    text = str(caught.value)
    assert text.startswith(f"GET http://127.0.0.1:{port}/v1/assistants failed: no answer from")
    assert KEY not in text and KEY not in repr(caught.value)


async def test_an_echoed_key_is_redacted_everywhere():
    def handler(request: httpx.Request) -> httpx.Response:
        auth = request.headers["authorization"]
        return httpx.Response(401, json={"error": {
            "message": f"Incorrect API key provided: {auth}. Also ...{KEY[-8:]}.",
            "type": "invalid_request_error", "param": auth, "code": "invalid_api_key"}})

    async with client_for(handler) as client:
        with pytest.raises(AuthenticationError) as caught:
            await client.request("GET", "/assistants")
    error = caught.value
    for text in (str(error), repr(error), repr(error.args), repr(error.body), str(error.param),
                 repr(vars(error))):
        assert KEY not in text and KEY[-8:] not in text
    assert "Incorrect API key provided: Bearer sk-***" in str(error)


@pytest.mark.parametrize("path", ["/assistants", "/assistants/asst_1", "/threads/thread_1/runs"])
async def test_the_public_service_404_explains_the_shutdown(path):
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(404, json={"error": {"message": "Invalid URL (GET /v1/assistants)",
                                                   "type": "invalid_request_error", "param": None,
                                                   "code": None}},
                              headers={"x-request-id": "req_gone"})

    async with client_for(handler, base_url="https://api.openai.com/v1") as client:
        with pytest.raises(AssistantsShutDownError) as caught:
            await client.request("GET", path)
    error = caught.value
    assert isinstance(error, NotFoundError)
    text = str(error)
    assert "public OpenAI Assistants API was shut down on 2026-08-26" in text
    assert "OPENAI_BASE_URL or --base-url" in text and "`syncer emulator" in text
    assert text.endswith("(request id req_gone)")


async def test_a_404_from_another_server_is_an_ordinary_not_found():
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(404, json={"error": {"message": "nope", "type": "x", "param": None,
                                                   "code": None}})

    async with client_for(handler, base_url="https://assistants.example.com/v1") as client:
        with pytest.raises(NotFoundError) as caught:
            await client.request("GET", "/assistants")
    assert not isinstance(caught.value, AssistantsShutDownError)


@pytest.mark.parametrize(
    ("key", "text", "expected"),
    [
        ("k", "Unknown parameter: 'bogus'.", "Unknown parameter: 'bogus'."),
        ("test", "latest test results", "latest sk-*** results"),
        ("sk-local", "bad key sk-local here", "bad key sk-*** here"),
        (KEY, f"key ...{KEY[-8:]} and {KEY}", "key ...*** and sk-***"),
    ],
)
def test_redaction_masks_the_key_but_not_words_that_contain_a_toy_key(key, text, expected):
    from syncer.errors import redact

    assert redact(text, key) == expected


async def test_a_404_from_a_base_url_without_v1_hints_at_the_missing_path():
    from syncer.emulator import EmulatorConfig, create_app

    app = create_app(EmulatorConfig())
    settings = ClientSettings(api_key=KEY, base_url="http://127.0.0.1:8000")
    async with AssistantsClient(settings, transport=httpx.ASGITransport(app=app)) as client:
        with pytest.raises(NotFoundError) as caught:
            await client.request("GET", "/assistants")
    app.state.emulator.close()
    assert caught.value.message == (
        "Invalid URL (GET /assistants); the base URL http://127.0.0.1:8000 has no path: "
        "did you mean http://127.0.0.1:8000/v1?")
