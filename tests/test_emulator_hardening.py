"""The emulator under hostile use: its controls need the key, its state file is private, and
bodies that are too big, too deep or hold absurd numbers are 4xx answers in the API's shape."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import stat

import httpx
import pytest
from click.testing import CliRunner

from syncer.cli import cli
from syncer.emulator import EmulatorConfig, create_app, running_server

KEY = "sk-emulator-control-key-0123456789"
V1 = {"OpenAI-Beta": "assistants=v2"}


def client_for(config: EmulatorConfig) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(create_app(config)),
                             base_url="http://emulator")


def error_of(response: httpx.Response, status: int) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"message", "type", "param", "code"}
    return body["error"]


# --- item 7: the controls, the state file, the key's help ------------------------------------


@pytest.mark.parametrize("method, path, body", [
    ("GET", "/_emulator/stats", None),
    ("POST", "/_emulator/stats/reset", None),
    ("POST", "/_emulator/faults", {"fail_requests": [1], "status": 500}),
])
async def test_with_a_key_the_controls_need_it_too(method, path, body):
    async with client_for(EmulatorConfig(api_key=KEY, run_ms=0)) as client:
        anonymous = await client.request(method, path, json=body)
        assert error_of(anonymous, 401)["message"].startswith("You didn't provide an API key.")
        wrong = await client.request(method, path, json=body,
                                     headers={"Authorization": "Bearer sk-another-key-abcdefgh"})
        assert error_of(wrong, 401)["code"] == "invalid_api_key"
        # Nothing was scripted: the next API request still succeeds.
        ok = await client.get("/v1/assistants", headers={**V1, "Authorization": f"Bearer {KEY}"})
        assert ok.status_code == 200
        allowed = await client.request(method, path, json=body,
                                       headers={"Authorization": f"Bearer {KEY}"})
        assert allowed.status_code == 200, allowed.text


async def test_without_a_key_the_controls_stay_open():
    async with client_for(EmulatorConfig(run_ms=0)) as client:
        assert (await client.get("/_emulator/stats")).status_code == 200


def test_a_new_state_file_and_its_wal_are_owner_only(tmp_path):
    state = tmp_path / "deep" / "emulator.db"
    old_umask = os.umask(0o022)
    try:
        emulator = create_app(EmulatorConfig(state=state, run_ms=0)).state.emulator
        emulator.store.add("assistant", {"id": "asst_1", "object": "assistant", "created_at": 1})
        files = sorted(path.name for path in state.parent.iterdir())
        assert "emulator.db" in files and "emulator.db-wal" in files
        for name in files:
            assert stat.S_IMODE((state.parent / name).stat().st_mode) == 0o600, name
        emulator.close()
    finally:
        os.umask(old_umask)


def test_the_help_recommends_the_environment_variable_for_the_key():
    text = CliRunner().invoke(cli, ["emulator", "--help"], terminal_width=200).output
    assert "SYNCER_EMULATOR_API_KEY" in text
    assert "ps" in text.split("--api-key", 1)[1]


# --- item 12: JSON the parser must not be fed -------------------------------------------------

BODY_PATHS = ["/v1/assistants", "/v1/threads", "/v1/responses", "/v1/conversations",
              "/_emulator/faults"]
DEEP = b"[" * 100_000
HOSTILE_JSON = {
    "deep-array": DEEP,
    "deep-object": b'{"a":' * 50_000,
    "deep-but-closed": b'{"metadata": ' + b"[" * 101 + b"]" * 101 + b"}",
    "5001-digit-integer": b'{"metadata": {"k": ' + b"9" * 5001 + b"}}",
    "negative-5001-digit-integer": b'{"temperature": -' + b"9" * 5001 + b"}",
    "nan": b'{"temperature": NaN}',
    "infinity": b'{"temperature": -Infinity}',
    "float-overflow": b'{"temperature": 1e999}',
}


@pytest.mark.parametrize("path", BODY_PATHS)
@pytest.mark.parametrize("name", sorted(HOSTILE_JSON))
async def test_hostile_json_is_a_400_not_a_500(path, name):
    async with client_for(EmulatorConfig(run_ms=0)) as client:
        response = await client.post(path, content=HOSTILE_JSON[name], headers={
            **V1, "Authorization": "Bearer sk-test", "Content-Type": "application/json"})
        error = error_of(response, 400)
        assert error["type"] == "invalid_request_error"
        assert "Traceback" not in error["message"] and "sys." not in error["message"]
        # Nothing was created by the refused request.
        stats = (await client.get("/_emulator/stats")).json()
        assert stats["by_status"].get("500", 0) == 0


async def test_a_deep_body_names_its_depth_and_brackets_in_strings_do_not_count():
    async with client_for(EmulatorConfig(run_ms=0)) as client:
        headers = {**V1, "Authorization": "Bearer sk-test", "Content-Type": "application/json"}
        refused = await client.post("/v1/assistants", headers=headers,
                                    content=HOSTILE_JSON["deep-but-closed"])
        assert "(102 levels; at most 100 are accepted)" in error_of(refused, 400)["message"]
        name = "[" * 200 + '\\"{' * 50
        created = await client.post("/v1/assistants", headers=headers,
                                    json={"model": "gpt-4o", "instructions": name})
        assert created.status_code == 200, created.text
        assert created.json()["instructions"] == name


LONE_SURROGATES = {  # valid JSON escapes, but no Unicode text: nothing can store or send them
    "/v1/assistants": b'{"model": "gpt-4o", "instructions": "a \\ud800 b"}',
    "/v1/threads": b'{"messages": [{"role": "user", "content": "\\udfff"}]}',
    "/v1/responses": b'{"model": "gpt-4o", "input": "x\\udc00"}',
    "/v1/conversations": b'{"items": [{"type": "message", "role": "user", "content": "\\ud83d"}]}',
    "/_emulator/faults": b'{"\\ud800": 1}',
}


@pytest.mark.parametrize("path", sorted(LONE_SURROGATES))
async def test_a_lone_surrogate_is_a_400_not_a_500(path):
    async with client_for(EmulatorConfig(run_ms=0)) as client:
        headers = {**V1, "Authorization": "Bearer sk-test", "Content-Type": "application/json"}
        response = await client.post(path, content=LONE_SURROGATES[path], headers=headers)
        assert "surrogate" in error_of(response, 400)["message"]
        thread = await client.post("/v1/threads", headers=headers, content=b"{}")
        added = await client.post(f"/v1/threads/{thread.json()['id']}/messages", headers=headers,
                                  content=b'{"role": "user", "content": "\\ud800"}')
        assert "surrogate" in error_of(added, 400)["message"]
        stats = (await client.get("/_emulator/stats")).json()
        assert stats["by_status"].get("500", 0) == 0
        # A pair is one character (an emoji), and an escaped backslash is no escape at all.
        for text in ('"\\ud83d\\ude00"', '"\\\\ud800"'):
            created = await client.post("/v1/assistants", headers=headers,
                                        content=b'{"model": "gpt-4o", "name": %s}' % text.encode())
            assert created.json()["name"] == json.loads(text)


# --- item 11: request bodies are bounded, and never buffered past the bound -------------------


def raw_exchange(port: int, head: bytes, body_parts: list[bytes]) -> bytes:
    """Send a request's head and body parts over a plain socket; the answer's bytes."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(head)
        for part in body_parts:
            try:
                sock.sendall(part)
            except (BrokenPipeError, ConnectionResetError):
                break  # the server already refused and closed
        answer = b""
        with contextlib.suppress(ConnectionResetError):
            while chunk := sock.recv(65536):
                answer += chunk
                if b"\r\n\r\n" in answer and answer.rstrip().endswith(b"}"):
                    break
        return answer


def error_in(answer: bytes, status: int) -> dict:
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.split(b" ", 2)[1] == str(status).encode(), answer[:300]
    error = json.loads(body)["error"]
    assert set(error) == {"message", "type", "param", "code"}
    return error


async def test_a_declared_body_over_the_bound_is_413_in_the_api_shape():
    async with client_for(EmulatorConfig(run_ms=0, max_body_bytes=1000)) as client:
        headers = {**V1, "Authorization": "Bearer sk-test"}
        big = {"model": "gpt-4o", "instructions": "x" * 2000}
        for path in ("/v1/assistants", "/v1/responses", "/_emulator/faults"):
            error = error_of(await client.post(path, headers=headers, json=big), 413)
            assert error["code"] == "request_too_large" and "1,000 bytes" in error["message"]
        small = await client.post("/v1/assistants", headers=headers, json={"model": "gpt-4o"})
        assert small.status_code == 200
        assert (await client.get("/v1/assistants", headers=headers)).json()["data"] == [small.json()]


def test_a_250_mb_declaration_is_refused_before_the_body_is_read():
    with running_server(EmulatorConfig(run_ms=0)) as server:
        head = (b"POST /v1/assistants HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer sk-test\r\n"
                b"OpenAI-Beta: assistants=v2\r\nContent-Type: application/json\r\n"
                b"Content-Length: 262144000\r\n\r\n")
        error = error_in(raw_exchange(server.port, head, [b'{"model": "']), 413)
        assert "33,554,432 bytes (32 MiB)" in error["message"]
        assert server.stats()["writes"] == 1 and server.stats()["by_status"] == {"413": 1}


def test_a_chunked_body_is_refused_as_it_passes_the_bound_not_at_its_end():
    limit = 64 * 1024
    with running_server(EmulatorConfig(run_ms=0, max_body_bytes=limit)) as server:
        head = (b"POST /v1/assistants HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer sk-test\r\n"
                b"OpenAI-Beta: assistants=v2\r\nContent-Type: application/json\r\n"
                b"Transfer-Encoding: chunked\r\n\r\n")
        chunk = b"x" * 8192
        # Twice the bound, and never the last chunk: a server that waited for the end of the
        # body before judging its size would never answer.
        parts = [b"%x\r\n%s\r\n" % (len(chunk), chunk)] * (2 * limit // len(chunk))
        error_in(raw_exchange(server.port, head, parts), 413)
        with httpx.Client(base_url=server.base_url, headers={**V1, "Authorization": "Bearer k"}) as api:
            assert api.get("/assistants").json()["data"] == []  # nothing was created
