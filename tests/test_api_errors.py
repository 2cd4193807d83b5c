"""Every documented limit, answered over real HTTP by the emulator with the real API's 400.

Bodies are sent raw (httpx, then the client with plain dicts, which it sends unvalidated), so
what is checked is the server's answer: status, ``error.type/code/param/message`` and the
``x-request-id``; then that the client raises ``BadRequestError`` carrying the same.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from syncer.api import models
from syncer.api.client import AssistantsClient
from syncer.api.settings import ClientSettings
from syncer.emulator import EmulatorConfig, running_server
from syncer.emulator.server import RunningServer
from syncer.emulator.validation_errors import api_error_from_validation
from syncer.errors import BadRequestError

KEY = "sk-test-api-errors-KEY-0042"
HEADERS = {"Authorization": f"Bearer {KEY}", "OpenAI-Beta": "assistants=v2"}
Body = dict[str, Any]


def too_long(param: str, limit: int, got: int) -> str:
    return (
        f"Invalid '{param}': string too long. Expected a string with maximum length {limit}, "
        f"but got a string with length {got} instead."
    )


def too_many_items(param: str, limit: int, got: int) -> str:
    return (
        f"Invalid '{param}': array too long. Expected an array with maximum length {limit}, "
        f"but got an array with length {got} instead."
    )


def too_many_pairs(param: str, got: int) -> str:
    return (
        f"Invalid '{param}': too many properties. Expected an object with at most 16 "
        f"properties, but got an object with {got} properties instead."
    )


def function_tools(n: int, name: str = "f{i}") -> list[Body]:
    return [{"type": "function", "function": {"name": name.format(i=i)}} for i in range(n)]


NAME_PATTERN_MESSAGE = (
    "Invalid 'tools[0].function.name': string does not match pattern. "
    "Expected a string that matches the pattern '^[a-zA-Z0-9_-]{1,64}$'."
)

# Each endpoint that takes metadata, with a minimal valid body. "{...}" are filled from `world`.
METADATA_ENDPOINTS: list[tuple[str, Body]] = [
    ("/assistants", {"model": "gpt-4o"}),
    ("/assistants/{assistant}", {}),
    ("/threads", {}),
    ("/threads/{thread}", {}),
    ("/threads/{thread}/messages", {"role": "user", "content": "hi"}),
    ("/threads/{thread}/messages/{message}", {}),
    ("/threads/{run_thread}/runs", {"assistant_id": "{assistant}"}),
    ("/threads/{run_thread}/runs/{run}", {}),
    ("/threads/runs", {"assistant_id": "{assistant}"}),
]

# (case id, path, body, code, param, message) — every request here is a POST answered 400.
Case = tuple[str, str, Body, str, str, str]
CASES: list[Case] = []
for path, base in METADATA_ENDPOINTS:
    CASES += [
        (f"{path} metadata 17 pairs", path,
         {**base, "metadata": {f"k{i}": "v" for i in range(17)}},
         "object_above_max_properties", "metadata", too_many_pairs("metadata", 17)),
        (f"{path} metadata key 65", path, {**base, "metadata": {"k" * 65: "v"}},
         "string_above_max_length", "metadata", too_long("metadata", 64, 65)),
        (f"{path} metadata value 513", path, {**base, "metadata": {"note": "v" * 513}},
         "string_above_max_length", "metadata.note", too_long("metadata.note", 512, 513)),
        (f"{path} unknown parameter", path, {**base, "colour": "red"},
         "unknown_parameter", "colour", "Unknown parameter: 'colour'."),
    ]  # fmt: skip
for path, base in [("/assistants", {"model": "gpt-4o"}), ("/assistants/{assistant}", {})]:
    CASES += [
        (f"{path} name 257", path, {**base, "name": "n" * 257},
         "string_above_max_length", "name", too_long("name", 256, 257)),
        (f"{path} description 513", path, {**base, "description": "d" * 513},
         "string_above_max_length", "description", too_long("description", 512, 513)),
        (f"{path} instructions 256001", path, {**base, "instructions": "i" * 256_001},
         "string_above_max_length", "instructions", too_long("instructions", 256_000, 256_001)),
        (f"{path} tools 129", path, {**base, "tools": function_tools(129)},
         "array_above_max_length", "tools", too_many_items("tools", 128, 129)),
        (f"{path} function name 65", path, {**base, "tools": function_tools(1, "f" * 65)},
         "invalid_value", "tools[0].function.name", NAME_PATTERN_MESSAGE),
        (f"{path} function name empty", path, {**base, "tools": function_tools(1, "")},
         "invalid_value", "tools[0].function.name", NAME_PATTERN_MESSAGE),
        (f"{path} function name with a space", path,
         {**base, "tools": function_tools(1, "get weather")},
         "invalid_value", "tools[0].function.name", NAME_PATTERN_MESSAGE),
        (f"{path} temperature 2.01", path, {**base, "temperature": 2.01},
         "decimal_above_max_value", "temperature",
         "Invalid 'temperature': decimal above maximum value. Expected a value <= 2, but got 2.01 instead."),
        (f"{path} temperature -0.1", path, {**base, "temperature": -0.1},
         "decimal_below_min_value", "temperature",
         "Invalid 'temperature': decimal below minimum value. Expected a value >= 0, but got -0.1 instead."),
        (f"{path} top_p 1.5", path, {**base, "top_p": 1.5},
         "decimal_above_max_value", "top_p",
         "Invalid 'top_p': decimal above maximum value. Expected a value <= 1, but got 1.5 instead."),
        (f"{path} top_p -1", path, {**base, "top_p": -1},
         "decimal_below_min_value", "top_p",
         "Invalid 'top_p': decimal below minimum value. Expected a value >= 0, but got -1 instead."),
        (f"{path} name of the wrong type", path, {**base, "name": 7},
         "invalid_type", "name",
         "Invalid type for 'name': expected a string, but got an integer instead."),
    ]  # fmt: skip
for path in ("/threads/{run_thread}/runs", "/threads/runs"):
    base = {"assistant_id": "{assistant}"}
    CASES += [
        (f"{path} tools 21", path, {**base, "tools": function_tools(21)},
         "array_above_max_length", "tools", too_many_items("tools", 20, 21)),
        (f"{path} instructions 256001", path, {**base, "instructions": "i" * 256_001},
         "string_above_max_length", "instructions", too_long("instructions", 256_000, 256_001)),
        (f"{path} temperature 3", path, {**base, "temperature": 3},
         "decimal_above_max_value", "temperature",
         "Invalid 'temperature': decimal above maximum value. Expected a value <= 2, but got 3 instead."),
        (f"{path} top_p 1.01", path, {**base, "top_p": 1.01},
         "decimal_above_max_value", "top_p",
         "Invalid 'top_p': decimal above maximum value. Expected a value <= 1, but got 1.01 instead."),
        (f"{path} function name pattern", path, {**base, "tools": function_tools(1, "a.b")},
         "invalid_value", "tools[0].function.name", NAME_PATTERN_MESSAGE),
        (f"{path} missing assistant_id", path, {},
         "missing_required_parameter", "assistant_id",
         "Missing required parameter: 'assistant_id'."),
    ]  # fmt: skip
CASES += [
    ("create assistant without model", "/assistants", {"name": "x"},
     "missing_required_parameter", "model", "Missing required parameter: 'model'."),
    ("unknown tool type", "/assistants", {"model": "m", "tools": [{"type": "retrieval"}]},
     "invalid_value", "tools[0].type",
     ("Invalid value: 'retrieval'. Supported values are: 'code_interpreter', 'file_search', "
     "and 'function'.")),
    ("code_interpreter files 21", "/assistants",
     {"model": "m", "tool_resources": {"code_interpreter": {"file_ids": ["f"] * 21}}},
     "array_above_max_length", "tool_resources.code_interpreter.file_ids",
     too_many_items("tool_resources.code_interpreter.file_ids", 20, 21)),
    ("vector stores 2", "/threads",
     {"tool_resources": {"file_search": {"vector_store_ids": ["vs_1", "vs_2"]}}},
     "array_above_max_length", "tool_resources.file_search.vector_store_ids",
     too_many_items("tool_resources.file_search.vector_store_ids", 1, 2)),
    ("thread message metadata", "/threads",
     {"messages": [{"role": "user", "content": "x", "metadata": {"k": "v" * 600}}]},
     "string_above_max_length", "messages[0].metadata.k",
     too_long("messages[0].metadata.k", 512, 600)),
    ("message role", "/threads/{thread}/messages", {"role": "system", "content": "x"},
     "invalid_value", "role",
     "Invalid value: 'system'. Supported values are: 'user' and 'assistant'."),
    ("message content type", "/threads/{thread}/messages", {"role": "user", "content": 1},
     "invalid_type", "content",
     ("Invalid type for 'content': expected one of a string or array of objects, but got an "
     "integer instead.")),
    ("modify message content", "/threads/{thread}/messages/{message}", {"content": "x"},
     "unknown_parameter", "content", "Unknown parameter: 'content'."),
    ("additional_instructions 256001", "/threads/{run_thread}/runs",
     {"assistant_id": "{assistant}", "additional_instructions": "i" * 256_001},
     "string_above_max_length", "additional_instructions",
     too_long("additional_instructions", 256_000, 256_001)),
    ("submit outputs without tool_outputs", "/threads/{run_thread}/runs/{run}/submit_tool_outputs",
     {}, "missing_required_parameter", "tool_outputs",
     "Missing required parameter: 'tool_outputs'."),
    ("submit outputs unknown field", "/threads/{run_thread}/runs/{run}/submit_tool_outputs",
     {"tool_outputs": [{"tool_call_id": "call_1", "result": "x"}]},
     "unknown_parameter", "tool_outputs[0].result",
     "Unknown parameter: 'tool_outputs[0].result'."),
]  # fmt: skip


@pytest.fixture(scope="module")
def server() -> Iterator[RunningServer]:
    # Runs stay queued for a minute: the run below only has to exist, not progress.
    with running_server(EmulatorConfig(run_ms=60_000)) as running:
        yield running


@pytest.fixture(scope="module")
def world(server: RunningServer) -> dict[str, str]:
    """The objects the paths above need: an assistant, a thread with a message, a run."""
    with httpx.Client(base_url=server.base_url, headers=HEADERS) as http:

        def post(path: str, body: Body) -> Body:
            response = http.post(path, json=body)
            assert response.status_code == 200, response.text
            return response.json()

        assistant = post("/assistants", {"model": "gpt-4o", "name": "Errors"})
        thread = post("/threads", {})
        message = post(f"/threads/{thread['id']}/messages", {"role": "user", "content": "hi"})
        run_thread = post("/threads", {})
        run = post(f"/threads/{run_thread['id']}/runs", {"assistant_id": assistant["id"]})
    return {
        "assistant": assistant["id"],
        "thread": thread["id"],
        "message": message["id"],
        "run_thread": run_thread["id"],
        "run": run["id"],
    }


def fill(template: str, world: dict[str, str]) -> str:
    for name, value in world.items():
        template = template.replace("{" + name + "}", value)
    return template


def fill_body(body: Body, world: dict[str, str]) -> Body:
    return json.loads(fill(json.dumps(body), world))


@pytest.fixture(scope="module")
def http(server: RunningServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.base_url, headers=HEADERS, timeout=30) as client:
        yield client


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_server_answers_the_real_400(case: Case, http: httpx.Client, world: dict[str, str]) -> None:
    _, path, body, code, param, message = case
    response = http.post(fill(path, world), json=fill_body(body, world))
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/json")
    assert response.headers["x-request-id"].startswith("req_")
    assert response.json() == {
        "error": {
            "message": message,
            "type": "invalid_request_error",
            "param": param,
            "code": code,
        }
    }


@pytest.mark.parametrize(
    ("limit", "code", "message"),
    [
        ("101", "integer_above_max_value",
         "Invalid 'limit': integer above maximum value. Expected a value <= 100, but got 101 instead."),
        ("0", "integer_below_min_value",
         "Invalid 'limit': integer below minimum value. Expected a value >= 1, but got 0 instead."),
    ],
)  # fmt: skip
def test_list_limit_out_of_range(http: httpx.Client, limit: str, code: str, message: str) -> None:
    response = http.get("/assistants", params={"limit": limit})
    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["code"], error["param"], error["message"]) == (code, "limit", message)


def test_everything_at_its_limit_is_accepted(http: httpx.Client) -> None:
    body = {
        "model": "gpt-4o",
        "name": "n" * 256,
        "description": "d" * 512,
        "instructions": "i" * 256_000,
        "tools": function_tools(128, "f{i:03d}" + "_" * 60),  # names of 64 characters
        "metadata": {f"{i:02d}" + "k" * 62: "v" * 512 for i in range(16)},
        "temperature": 2,
        "top_p": 1,
    }
    response = http.post("/assistants", json=body)
    assert response.status_code == 200, response.text
    created = response.json()
    assert created["name"] == body["name"]
    assert created["metadata"] == body["metadata"]
    assert [t["function"]["name"] for t in created["tools"]] == [
        t["function"]["name"] for t in body["tools"]
    ]
    low = http.post("/assistants", json={"model": "m", "temperature": 0, "top_p": 0})
    assert low.status_code == 200, low.text


def test_a_refused_request_changes_nothing(http: httpx.Client) -> None:
    before = http.get("/assistants", params={"limit": 100}).json()["data"]
    assert http.post("/assistants", json={"model": "m", "name": "n" * 300}).status_code == 400
    assert http.get("/assistants", params={"limit": 100}).json()["data"] == before


# --- the client: BadRequestError with status, code, param, message and request id --------------


class RecordingTransport(httpx.AsyncBaseTransport):
    """Real HTTP; remembers the request id of every answer and every body sent."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.request_ids: list[str] = []
        self.bodies: list[Any] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.bodies.append(json.loads(request.content) if request.content else None)
        response = await self.inner.handle_async_request(request)
        self.request_ids.append(response.headers.get("x-request-id", ""))
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
async def test_client_raises_bad_request_with_the_api_error(
    case: Case, server: RunningServer, world: dict[str, str]
) -> None:
    _, path, body, code, param, message = case
    transport = RecordingTransport()
    settings = ClientSettings(api_key=KEY, base_url=server.base_url)
    async with AssistantsClient(settings, transport=transport) as client:
        with pytest.raises(BadRequestError) as caught:
            await client.request("POST", fill(path, world), json=fill_body(body, world))
    error = caught.value
    assert (error.status_code, error.error_type, error.code, error.param, error.message) == (
        400, "invalid_request_error", code, param, message,
    )  # fmt: skip
    assert len(transport.request_ids) == 1  # a 400 is not retried
    assert error.request_id == transport.request_ids[0]
    assert error.request_id.startswith("req_")
    assert f"HTTP 400 {code}: {message} (request id {error.request_id})" == str(error)
    assert KEY not in str(error) and KEY not in repr(error)


async def test_typed_helpers_send_plain_dicts_as_they_are(
    server: RunningServer, world: dict[str, str]
) -> None:
    """A dict body is not validated by the client: the server's 400 is what the user sees."""
    transport = RecordingTransport()
    settings = ClientSettings(api_key=KEY, base_url=server.base_url)
    bad = {"metadata": {f"k{i}": "v" for i in range(17)}}
    async with AssistantsClient(settings, transport=transport) as client:
        with pytest.raises(BadRequestError) as caught:
            await client.update_thread(world["thread"], bad)
    assert transport.bodies == [bad]
    assert (caught.value.code, caught.value.param) == ("object_above_max_properties", "metadata")
    assert caught.value.request_id == transport.request_ids[0]


def test_request_models_refuse_the_same_bodies_before_sending() -> None:
    """Built as models, the same bodies fail locally with the same code and param."""
    with pytest.raises(ValidationError) as caught:
        models.ModifyThreadRequest(metadata={f"k{i}": "v" for i in range(17)})
    local = api_error_from_validation(caught.value)
    assert (local["code"], local["param"]) == ("object_above_max_properties", "metadata")
