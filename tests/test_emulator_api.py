"""The emulator's HTTP surface: auth, headers, errors in the real shape, validation, CRUD.

In-process through ``httpx.ASGITransport`` (the app is importable for exactly this).
"""

from __future__ import annotations

import re

import httpx
import pytest

from syncer.emulator import EmulatorConfig, create_app

HEADERS = {"Authorization": "Bearer sk-test", "OpenAI-Beta": "assistants=v2"}


def client_for(config: EmulatorConfig | None = None, headers: dict[str, str] | None = None) -> httpx.AsyncClient:
    app = create_app(config or EmulatorConfig(run_ms=0))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://emulator/v1",
                             headers=HEADERS if headers is None else headers)


@pytest.fixture
async def api():
    async with client_for() as client:
        yield client


def error_of(response: httpx.Response, status: int) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"message", "type", "param", "code"}
    return body["error"]


async def test_every_response_carries_the_real_headers(api):
    for response in (await api.get("/assistants"), await api.get("/assistants/asst_nope"),
                     await api.get("/nowhere")):
        assert re.fullmatch(r"req_[0-9a-f]{32}", response.headers["x-request-id"])
        assert int(response.headers["openai-processing-ms"]) >= 0
        assert response.headers["openai-organization"]
        assert response.headers["x-ratelimit-limit-requests"]
        assert response.headers["x-ratelimit-remaining-tokens"]
    ids = {(await api.get("/assistants")).headers["x-request-id"] for _ in range(5)}
    assert len(ids) == 5


async def test_missing_key_is_401_and_any_key_is_accepted_by_default():
    async with client_for(headers={"OpenAI-Beta": "assistants=v2"}) as anonymous:
        error = error_of(await anonymous.get("/assistants"), 401)
        assert error["message"].startswith("You didn't provide an API key.")
        error_of(await anonymous.get("/assistants", headers={"Authorization": "Bearer "}), 401)
        ok = await anonymous.get("/assistants", headers={"Authorization": "Bearer anything"})
        assert ok.status_code == 200


async def test_configured_key_is_required_and_never_echoed_whole():
    secret = "sk-emulator-secret-0123456789"
    async with client_for(EmulatorConfig(api_key=secret), headers={"OpenAI-Beta": "assistants=v2"}) as client:
        wrong_key = "sk-wrong-but-long-key-abcdef"
        response = await client.get("/assistants", headers={"Authorization": f"Bearer {wrong_key}"})
        error = error_of(response, 401)
        assert error["code"] == "invalid_api_key"
        assert error["message"].startswith("Incorrect API key provided: ")
        assert wrong_key not in response.text and secret not in response.text
        assert wrong_key[:-4] not in response.text
        good = await client.get("/assistants", headers={"Authorization": f"Bearer {secret}"})
        assert good.status_code == 200


async def test_missing_beta_header_is_invalid_beta(api):
    error = error_of(await api.get("/assistants", headers={"OpenAI-Beta": ""}), 400)
    assert error["code"] == "invalid_beta"
    async with client_for(headers={"Authorization": "Bearer k"}) as no_beta:
        error = error_of(await no_beta.get("/assistants"), 400)
    assert error == {
        "message": "You must provide the 'OpenAI-Beta' header to access the Assistants API. Please try "
                   "again by setting the header 'OpenAI-Beta: assistants=v2'.",
        "type": "invalid_request_error", "param": None, "code": "invalid_beta",
    }


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/assistants/asst_x", "No assistant found with id 'asst_x'."),
        ("/threads/thread_x", "No thread found with id 'thread_x'."),
        ("/threads/thread_x/messages", "No thread found with id 'thread_x'."),
        ("/threads/thread_x/runs/run_x", "No thread found with id 'thread_x'."),
    ],
)
async def test_not_found_in_the_real_words(api, path, message):
    error = error_of(await api.get(path), 404)
    assert error == {"message": message, "type": "invalid_request_error", "param": None, "code": None}


async def test_children_are_found_only_in_their_own_thread(api):
    one = (await api.post("/threads", json={"messages": [{"role": "user", "content": "hi"}]})).json()
    other = (await api.post("/threads")).json()
    message = (await api.get(f"/threads/{one['id']}/messages")).json()["data"][0]
    error = error_of(await api.get(f"/threads/{other['id']}/messages/{message['id']}"), 404)
    assert error["message"] == f"No message found with id '{message['id']}'."
    error = error_of(await api.get(f"/threads/{one['id']}/runs/run_nope"), 404)
    assert error["message"] == "No run found with id 'run_nope'."


async def test_malformed_json_and_wrong_content_type_are_400_not_500(api):
    bad_json = await api.post("/assistants", content=b"{not json", headers={"content-type": "application/json"})
    assert "could not parse the JSON body" in error_of(bad_json, 400)["message"]
    wrong_type = await api.post("/assistants", content=b"model=gpt-4o",
                                headers={"content-type": "application/x-www-form-urlencoded"})
    assert "Unsupported content type" in error_of(wrong_type, 400)["message"]
    not_object = await api.post("/assistants", json=["gpt-4o"])
    assert error_of(not_object, 400)["code"] == "invalid_type"
    assert (await api.get("/assistants")).json()["data"] == []  # nothing was created


@pytest.mark.parametrize(
    ("body", "param", "code"),
    [
        ({"model": "gpt-4o", "name": "n" * 257}, "name", "string_above_max_length"),
        ({"model": "gpt-4o", "description": "d" * 513}, "description", "string_above_max_length"),
        ({"model": "gpt-4o", "instructions": "i" * 256_001}, "instructions", "string_above_max_length"),
        ({"model": "gpt-4o", "metadata": {f"k{i}": "v" for i in range(17)}}, "metadata",
         "object_above_max_properties"),
        ({"model": "gpt-4o", "metadata": {"k" * 65: "v"}}, "metadata", None),
        ({"model": "gpt-4o", "metadata": {"k": "v" * 513}}, "metadata.k", "string_above_max_length"),
        ({"model": "gpt-4o", "temperature": 2.5}, "temperature", "decimal_above_max_value"),
        ({"model": "gpt-4o", "top_p": -0.1}, "top_p", "decimal_below_min_value"),
        ({"model": "gpt-4o", "tools": [{"type": "code_interpreter"}] * 129}, "tools",
         "array_above_max_length"),
        ({"model": "gpt-4o", "tools": [{"type": "function", "function": {"name": "bad name"}}]},
         "tools[0].function.name", "invalid_value"),
        ({"model": "gpt-4o", "colour": "blue"}, "colour", "unknown_parameter"),
        ({"name": "no model"}, "model", "missing_required_parameter"),
    ],
)
async def test_limits_are_400s_naming_the_param(api, body, param, code):
    error = error_of(await api.post("/assistants", json=body), 400)
    assert error["type"] == "invalid_request_error"
    assert error["param"] is not None and error["param"].startswith(param)
    if code is not None:
        assert error["code"] == code
    assert (await api.get("/assistants")).json()["data"] == []


@pytest.mark.parametrize(
    ("query", "code", "param"),
    [
        ("limit=0", "integer_below_min_value", "limit"),
        ("limit=101", "integer_above_max_value", "limit"),
        ("limit=ten", "invalid_type", "limit"),
        ("order=up", "invalid_value", "order"),
        ("after=asst_unknown", "invalid_value", "after"),
        ("before=asst_unknown", "invalid_value", "before"),
    ],
)
async def test_list_parameters_are_validated(api, query, code, param):
    error = error_of(await api.get(f"/assistants?{query}"), 400)
    assert (error["code"], error["param"]) == (code, param)


async def test_empty_list_has_null_cursors(api):
    assert (await api.get("/assistants")).json() == {
        "object": "list", "data": [], "first_id": None, "last_id": None, "has_more": False,
    }


async def test_assistant_round_trip_keeps_every_field(api):
    body = {
        "model": "gpt-4o",
        "name": "Helper",
        "description": "Helps.",
        "instructions": "Be kind.",
        "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}],
        "metadata": {"a": "1"},
        "temperature": 0.5,
        "top_p": 0.9,
        "response_format": {"type": "json_object"},
    }
    created = (await api.post("/assistants", json=body)).json()
    assert re.fullmatch(r"asst_[A-Za-z0-9]{24}", created["id"])
    assert created["object"] == "assistant"
    for field, value in body.items():
        if field != "tools":
            assert created[field] == value
    assert created["tools"][0]["function"]["name"] == "f"
    assert (await api.get(f"/assistants/{created['id']}")).json() == created

    modified = (await api.post(f"/assistants/{created['id']}", json={"name": "Renamed"})).json()
    assert modified == {**created, "name": "Renamed"}

    deleted = (await api.delete(f"/assistants/{created['id']}")).json()
    assert deleted == {"id": created["id"], "object": "assistant.deleted", "deleted": True}
    error_of(await api.get(f"/assistants/{created['id']}"), 404)


async def test_thread_with_messages_and_message_metadata(api):
    thread = (await api.post("/threads", json={
        "messages": [{"role": "user", "content": "one"},
                     {"role": "assistant", "content": [{"type": "text", "text": "two"}]}],
        "metadata": {"k": "v"},
    })).json()
    assert re.fullmatch(r"thread_[A-Za-z0-9]{24}", thread["id"])
    listed = (await api.get(f"/threads/{thread['id']}/messages", params={"order": "asc"})).json()
    assert [(m["role"], m["content"][0]["text"]["value"]) for m in listed["data"]] == [
        ("user", "one"), ("assistant", "two")]
    first = listed["data"][0]
    assert (first["assistant_id"], first["run_id"], first["status"]) == (None, None, "completed")
    changed = await api.post(f"/threads/{thread['id']}/messages/{first['id']}", json={"metadata": {"x": "y"}})
    assert changed.json()["metadata"] == {"x": "y"}
    refused = await api.post(f"/threads/{thread['id']}/messages/{first['id']}", json={"content": "edit"})
    assert error_of(refused, 400)["code"] == "unknown_parameter"

    deleted = (await api.delete(f"/threads/{thread['id']}")).json()
    assert deleted == {"id": thread["id"], "object": "thread.deleted", "deleted": True}
    error_of(await api.get(f"/threads/{thread['id']}/messages/{first['id']}"), 404)


async def test_listing_threads_needs_a_session_key_as_on_the_real_service(api):
    error = error_of(await api.get("/threads"), 403)
    assert error["code"] == "missing_scope"


async def test_unknown_routes_are_invalid_url(api):
    error = error_of(await api.get("/files"), 404)
    assert error["message"] == "Invalid URL (GET /v1/files)"
    error = error_of(await api.patch("/assistants"), 404)
    assert error["message"] == "Invalid URL (PATCH /v1/assistants)"


async def test_stats_count_requests_by_route_outside_v1():
    app = create_app(EmulatorConfig())
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://emulator",
                                 headers=HEADERS) as client:
        await client.post("/v1/assistants", json={"model": "m"})
        assistant = (await client.post("/v1/assistants", json={"model": "m"})).json()
        await client.get(f"/v1/assistants/{assistant['id']}")
        await client.get("/v1/assistants/asst_missing")
        stats = (await client.get("/_emulator/stats")).json()
        assert stats["requests"] == 4
        assert stats["writes"] == 2
        assert stats["by_route"] == {"POST /v1/assistants": 2, "GET /v1/assistants/{assistant_id}": 2}
        assert stats["by_status"] == {"200": 3, "404": 1}
        assert (await client.post("/_emulator/stats/reset")).json()["requests"] == 0
        assert (await client.get("/_emulator/stats")).json()["requests"] == 0


async def test_a_client_that_leaves_mid_body_is_no_server_error():
    """A cancelled request (the connection closes before the body arrives) changes nothing
    and is not answered with a 500 or logged as a crash."""
    app = create_app(EmulatorConfig())
    sent: list[dict] = []

    async def receive() -> dict:
        return {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
        "scheme": "http", "path": "/v1/assistants", "raw_path": b"/v1/assistants",
        "query_string": b"", "root_path": "", "server": ("127.0.0.1", 80), "client": ("127.0.0.1", 1),
        "headers": [(b"authorization", b"Bearer sk-test"), (b"openai-beta", b"assistants=v2"),
                    (b"content-type", b"application/json"), (b"content-length", b"20")],
    }
    await app(scope, receive, send)  # must not raise
    assert sent == []
    assert app.state.emulator.store.objects["assistant"] == {}
