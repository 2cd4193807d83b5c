"""One function per API operation. Each reads the request, checks it, changes the store.

Handlers raise `RequestRefused` for every client mistake; the app renders it in the real shape.
Checks come before changes, so a rejected request changes nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from syncer.emulator import objects
from syncer.emulator.collection import parse_list_params
from syncer.emulator.events import stream_run
from syncer.emulator.http_errors import RequestRefused, bad_request, not_found
from syncer.emulator.runs import ACTIVE
from syncer.emulator.validation import read_json, validate

if TYPE_CHECKING:
    from syncer.emulator.core import Emulator


def _emulator(request: Request) -> Emulator:
    return request.app.state.emulator  # type: ignore[no-any-return]


def _json(obj: Any) -> Response:
    return JSONResponse(obj)


def _run_response(emulator: Emulator, run: dict[str, Any]) -> Response:
    """A run, with the poll interval the SDK's ``poll()`` honours (run_ms-paced)."""
    poll_ms = max(5, min(1000, round(emulator.config.run_ms / 4)))
    return JSONResponse(run, headers={"openai-poll-after-ms": str(poll_ms)})


def _path(request: Request, name: str) -> str:
    return request.path_params[name]  # type: ignore[no-any-return]


# --- lookups (404 in the real words) ---------------------------------------------------------


def _assistant(emulator: Emulator, assistant_id: str) -> dict[str, Any]:
    found = emulator.store.get("assistant", assistant_id)
    if found is None:
        raise not_found("assistant", assistant_id)
    return found


def _thread(emulator: Emulator, thread_id: str) -> dict[str, Any]:
    found = emulator.store.get("thread", thread_id)
    if found is None:
        raise not_found("thread", thread_id)
    # Whoever looks at a thread sees its active run where the clock says it is.
    emulator.runs.advance_thread(thread_id)
    return found


def _child(emulator: Emulator, kind: str, label: str, parent: str, object_id: str) -> dict[str, Any]:
    found = emulator.store.get(kind, object_id)
    if found is None or emulator.store.parent_of(object_id) != parent:
        raise not_found(label, object_id)
    return found


def _page(emulator: Emulator, request: Request, kind: str, parent: str) -> Response:
    # The objects' stored JSON, spliced: a page of 100 is never decoded and encoded again.
    body = emulator.store.page_json(kind, parent, parse_list_params(request.query_params))
    return Response(body, media_type="application/json")


def _reject_stream(emulator: Emulator, body: dict[str, Any]) -> bool:
    """Whether to stream; with ``--no-stream`` ``stream: true`` is a 400 naming ``stream``."""
    if not body.get("stream"):
        return False
    if not emulator.config.stream:
        raise bad_request(
            "Streaming is not supported by this server. Set 'stream' to false and poll the run.",
            param="stream",
            code="unsupported_value",
        )
    return True


# --- assistants -----------------------------------------------------------------------------


async def list_assistants(request: Request) -> Response:
    return _page(_emulator(request), request, "assistant", "")


async def create_assistant(request: Request) -> Response:
    emulator = _emulator(request)
    body = validate("CreateAssistantRequest", await read_json(request))
    return _json(emulator.store.add("assistant", objects.assistant(body, emulator.now())))


async def get_assistant(request: Request) -> Response:
    return _json(_assistant(_emulator(request), _path(request, "assistant_id")))


async def modify_assistant(request: Request) -> Response:
    emulator = _emulator(request)
    found = _assistant(emulator, _path(request, "assistant_id"))
    body = validate("ModifyAssistantRequest", await read_json(request))
    objects.update_assistant(found, body)
    emulator.store.save("assistant", found)
    return _json(found)


async def delete_assistant(request: Request) -> Response:
    emulator = _emulator(request)
    assistant_id = _path(request, "assistant_id")
    _assistant(emulator, assistant_id)
    emulator.store.delete("assistant", assistant_id)
    return _json(objects.deleted(assistant_id, "assistant.deleted"))


# --- threads --------------------------------------------------------------------------------


async def list_threads(request: Request) -> Response:
    # The real service never listed threads for an API key.
    raise RequestRefused(
        403,
        "Your request to GET /v1/threads must be made with a session key (that is, it can only "
        "be made from the browser). You made it with the following key type: secret.",
        code="missing_scope",
    )


def _new_thread(emulator: Emulator, body: dict[str, Any]) -> dict[str, Any]:
    now = emulator.now()
    thread = emulator.store.add("thread", objects.thread(body, now))
    for message in body.get("messages") or []:
        emulator.store.add(
            "message", objects.message_from_request(thread["id"], message, now), thread["id"]
        )
    return thread


async def create_thread(request: Request) -> Response:
    emulator = _emulator(request)
    body = validate("CreateThreadRequest", await read_json(request))
    return _json(_new_thread(emulator, body))


async def get_thread(request: Request) -> Response:
    return _json(_thread(_emulator(request), _path(request, "thread_id")))


async def modify_thread(request: Request) -> Response:
    emulator = _emulator(request)
    found = _thread(emulator, _path(request, "thread_id"))
    body = validate("ModifyThreadRequest", await read_json(request))
    if "metadata" in body:
        found["metadata"] = dict(body["metadata"] or {})
    if "tool_resources" in body:
        found["tool_resources"] = body["tool_resources"] or {}
    emulator.store.save("thread", found)
    return _json(found)


async def delete_thread(request: Request) -> Response:
    emulator = _emulator(request)
    thread_id = _path(request, "thread_id")
    _thread(emulator, thread_id)
    emulator.store.delete("thread", thread_id)
    return _json(objects.deleted(thread_id, "thread.deleted"))


# --- messages ------------------------------------------------------------------------------


async def list_messages(request: Request) -> Response:
    emulator = _emulator(request)
    thread_id = _path(request, "thread_id")
    _thread(emulator, thread_id)
    run_id = request.query_params.get("run_id")
    if not run_id:
        return _page(emulator, request, "message", thread_id)
    page = emulator.store.run_messages(run_id).page(**parse_list_params(request.query_params))
    messages = emulator.store.objects["message"]
    return _json(page.render([messages[i] for i in page.ids]))


def _check_idle(emulator: Emulator, thread_id: str, adding: str) -> None:
    active = emulator.store.active_run.get(thread_id)
    run = emulator.store.get("run", active) if active else None
    if run is None or run["status"] not in ACTIVE:
        return
    if adding == "message":
        raise bad_request(f"Can't add messages to {thread_id} while a run {active} is active.")
    raise bad_request(f"Thread {thread_id} already has an active run {active}.")


async def create_message(request: Request) -> Response:
    emulator = _emulator(request)
    thread_id = _path(request, "thread_id")
    _thread(emulator, thread_id)
    body = validate("CreateMessageRequest", await read_json(request))
    _check_idle(emulator, thread_id, "message")
    message = objects.message_from_request(thread_id, body, emulator.now())
    return _json(emulator.store.add("message", message, thread_id))


async def get_message(request: Request) -> Response:
    emulator = _emulator(request)
    thread_id = _path(request, "thread_id")
    _thread(emulator, thread_id)
    return _json(_child(emulator, "message", "message", thread_id, _path(request, "message_id")))


async def modify_message(request: Request) -> Response:
    emulator = _emulator(request)
    thread_id = _path(request, "thread_id")
    _thread(emulator, thread_id)
    found = _child(emulator, "message", "message", thread_id, _path(request, "message_id"))
    body = validate("ModifyMessageRequest", await read_json(request))
    if "metadata" in body:
        found["metadata"] = dict(body["metadata"] or {})
    emulator.store.save("message", found)
    return _json(found)


async def delete_message(request: Request) -> Response:
    emulator = _emulator(request)
    thread_id = _path(request, "thread_id")
    _thread(emulator, thread_id)
    message_id = _path(request, "message_id")
    _child(emulator, "message", "message", thread_id, message_id)
    emulator.store.delete("message", message_id)
    return _json(objects.deleted(message_id, "thread.message.deleted"))


# --- runs ------------------------------------------------------------------------------------


async def list_runs(request: Request) -> Response:
    emulator = _emulator(request)
    thread_id = _path(request, "thread_id")
    _thread(emulator, thread_id)
    return _page(emulator, request, "run", thread_id)


async def create_run(request: Request) -> Response:
    emulator = _emulator(request)
    thread_id = _path(request, "thread_id")
    _thread(emulator, thread_id)
    body = validate("CreateRunRequest", await read_json(request))
    streaming = _reject_stream(emulator, body)
    assistant = _assistant(emulator, body["assistant_id"])
    _check_idle(emulator, thread_id, "run")
    now = emulator.now()
    for message in body.get("additional_messages") or []:
        emulator.store.add("message", objects.message_from_request(thread_id, message, now), thread_id)
    events = emulator.runs.create(thread_id, assistant, body)
    run_id = events[0][1]["id"]
    if streaming:
        return stream_run(emulator, run_id, events)
    return _run_response(emulator, emulator.store.get("run", run_id) or {})


async def create_thread_and_run(request: Request) -> Response:
    emulator = _emulator(request)
    body = validate("CreateThreadAndRunRequest", await read_json(request))
    streaming = _reject_stream(emulator, body)
    assistant = _assistant(emulator, body["assistant_id"])
    thread = _new_thread(emulator, body.get("thread") or {})
    run_body = {k: v for k, v in body.items() if k not in ("thread", "tool_resources")}
    events = emulator.runs.create(thread["id"], assistant, run_body)
    run_id = events[0][1]["id"]
    if streaming:
        return stream_run(emulator, run_id, [("thread.created", dict(thread)), *events])
    return _run_response(emulator, emulator.store.get("run", run_id) or {})


def _run(emulator: Emulator, request: Request) -> dict[str, Any]:
    thread_id = _path(request, "thread_id")
    _thread(emulator, thread_id)
    return _child(emulator, "run", "run", thread_id, _path(request, "run_id"))


async def get_run(request: Request) -> Response:
    emulator = _emulator(request)
    return _run_response(emulator, _run(emulator, request))


async def modify_run(request: Request) -> Response:
    emulator = _emulator(request)
    run = _run(emulator, request)
    # Runs take only metadata, exactly what a message modification takes.
    body = validate("ModifyMessageRequest", await read_json(request))
    if "metadata" in body:
        run["metadata"] = dict(body["metadata"] or {})
    emulator.store.save("run", run)
    return _run_response(emulator, run)


async def cancel_run(request: Request) -> Response:
    emulator = _emulator(request)
    run = _run(emulator, request)
    emulator.runs.cancel(run)
    return _run_response(emulator, run)


async def submit_tool_outputs(request: Request) -> Response:
    emulator = _emulator(request)
    run = _run(emulator, request)
    body = validate("SubmitToolOutputsRequest", await read_json(request))
    streaming = _reject_stream(emulator, body)
    events = emulator.runs.submit_tool_outputs(run, body["tool_outputs"])
    if streaming:
        return stream_run(emulator, run["id"], events)
    return _run_response(emulator, run)


# --- run steps ------------------------------------------------------------------------------


async def list_run_steps(request: Request) -> Response:
    emulator = _emulator(request)
    run = _run(emulator, request)
    return _page(emulator, request, "step", run["id"])


async def get_run_step(request: Request) -> Response:
    emulator = _emulator(request)
    run = _run(emulator, request)
    return _json(_child(emulator, "step", "run step", run["id"], _path(request, "step_id")))
