"""Ids from user input or from a server stay one path segment: they cannot reach another endpoint."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote

import httpx
import pytest
from click.testing import CliRunner

from syncer.api.client import AssistantsClient
from syncer.api.settings import ClientSettings
from syncer.cli import cli

HOSTILE = "asst_x/../threads?limit=1"
QUOTED = "asst_x%2F..%2Fthreads%3Flimit%3D1"


class _Recording(BaseHTTPRequestHandler):
    """Records each request line's target exactly as sent; answers 404 like the real API."""

    targets: list[str]

    def do_GET(self) -> None:
        self.targets.append(self.path)
        body = json.dumps({"error": {"message": "No such object", "type": "invalid_request_error",
                                     "param": None, "code": None}}).encode()
        self.send_response(404)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def recording_server() -> Iterator[tuple[str, list[str]]]:
    targets: list[str] = []
    handler = type("Handler", (_Recording,), {"targets": targets})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1", targets
    finally:
        server.shutdown()
        server.server_close()


def test_import_sends_a_hostile_id_as_one_encoded_segment(recording_server):
    base_url, targets = recording_server
    env = {"OPENAI_BASE_URL": base_url, "OPENAI_API_KEY": "sk-test", "SYNCER_MAX_RETRIES": "0"}
    result = CliRunner().invoke(cli, ["import", HOSTILE, "--out", "out"], env=env)
    assert result.exit_code == 1
    [target] = targets
    # One segment under /assistants ('/' and '?' quoted; a transport may leave '=' as it is).
    assert target.startswith("/v1/assistants/asst_x%2F..%2Fthreads%3F")
    assert target.count("/") == 3 and "?" not in target
    assert unquote(target) == f"/v1/assistants/{HOSTILE}"
    assert "Traceback" not in result.output


def _recorder() -> tuple[httpx.MockTransport, list[str]]:
    seen: list[str] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.raw_path.decode())
        return httpx.Response(200, json={"object": "list", "data": [{"id": "x"}], "has_more": False,
                                         "first_id": "x", "last_id": "x"})

    return httpx.MockTransport(handle), seen


async def test_raw_json_methods_quote_every_id():
    transport, seen = _recorder()
    settings = ClientSettings.from_env(base_url="http://127.0.0.1:1/v1", api_key="sk-test")
    async with AssistantsClient(settings, transport=transport) as client:
        await client.get_assistant_json(HOSTILE)
        await client.get_thread_json(HOSTILE)
        await client.get_run_json(HOSTILE, HOSTILE)
        for pages in (client.assistant_pages(), client.thread_message_pages(HOSTILE),
                      client.thread_run_pages(HOSTILE), client.run_step_pages(HOSTILE, HOSTILE),
                      client.conversation_item_pages(HOSTILE)):
            assert [page.data async for page in pages] == [[{"id": "x"}]]
    paths = [path.split("?")[0] for path in seen]
    assert paths == [
        f"/v1/assistants/{QUOTED}",
        f"/v1/threads/{QUOTED}",
        f"/v1/threads/{QUOTED}/runs/{QUOTED}",
        "/v1/assistants",
        f"/v1/threads/{QUOTED}/messages",
        f"/v1/threads/{QUOTED}/runs",
        f"/v1/threads/{QUOTED}/runs/{QUOTED}/steps",
        f"/v1/conversations/{QUOTED}/items",
    ]


@pytest.mark.parametrize("dots", [".", ".."])
async def test_a_dot_id_is_not_a_dot_segment(dots):
    # "runs/../steps" would be normalised to another endpoint by the URL parser.
    transport, seen = _recorder()
    settings = ClientSettings.from_env(base_url="http://127.0.0.1:1/v1", api_key="sk-test")
    async with AssistantsClient(settings, transport=transport) as client:
        await client.get_thread_json(dots)
        assert [page.data async for page in client.run_step_pages("thread_1", dots)] == [[{"id": "x"}]]
    escaped = dots.replace(".", "%2E")
    assert [path.split("?")[0] for path in seen] == [
        f"/v1/threads/{escaped}", f"/v1/threads/thread_1/runs/{escaped}/steps"]
