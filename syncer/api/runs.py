"""Following a run to a settled state: server-sent events, with polling as the fallback.

A run is *settled* when it needs tool outputs or has ended (the official SDK's ``poll()``
set): requires_action, cancelled, completed, failed, expired, incomplete.

``settle`` asks for ``stream: true``. The server may refuse:

- a 400 naming ``stream`` (``param == "stream"`` or a message that mentions it): the request
  was rejected, nothing was created, so the same request is sent again without ``stream``;
- a 2xx whose body is not ``text/event-stream``: the server ignored ``stream`` and did the
  work (the body is the run), so the run is polled — never created a second time.

Either way the client remembers, for its lifetime, that this base URL does not stream.
A stream that breaks after the run exists is not retried either: the run is polled by id.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import httpx
from httpx_sse import EventSource, SSEError
from pydantic import BaseModel

from syncer.canonical import json_data
from syncer.errors import APIConnectionError, APIResponseError, BadRequestError, RunError

if TYPE_CHECKING:
    from syncer.api.http import HTTPClient

log = logging.getLogger("syncer.api.client")

SETTLED_STATUSES = frozenset(
    {"requires_action", "cancelled", "completed", "failed", "expired", "incomplete"}
)
RUN_EVENTS = frozenset(
    "thread.run." + status
    for status in (
        "created", "queued", "in_progress", "requires_action", "completed",
        "incomplete", "failed", "cancelling", "cancelled", "expired",
    )
)
POLL_INITIAL_DELAY = 0.1  # seconds; grows by 1.5x per poll up to POLL_MAX_DELAY
POLL_MAX_DELAY = 2.0


def outputs_body(outputs: Any) -> dict[str, Any]:
    """The submit_tool_outputs body from a list of outputs, a request model or a mapping."""
    if isinstance(outputs, BaseModel):
        body: dict[str, Any] = json_data(outputs, only_set=True)
        return body
    if isinstance(outputs, Mapping):
        return dict(outputs)
    items = [json_data(o, only_set=True) if isinstance(o, BaseModel) else dict(o) for o in outputs]
    return {"tool_outputs": items}


_STREAM_WORD = re.compile(r"\bstream(ing)?\b", re.IGNORECASE)


def _names_stream(error: BadRequestError) -> bool:
    """Whether a 400 rejects streaming itself (not, say, a metadata value saying "upstream")."""
    if error.param is not None:
        return error.param == "stream"
    return bool(_STREAM_WORD.search(error.message or ""))


def _error_text(data: str) -> str:
    """The message of an ``error`` event (``{"message": …}`` or ``{"error": {"message": …}}``)."""
    try:
        body = json.loads(data)
    except json.JSONDecodeError:
        return data
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        body = body["error"]
    if isinstance(body, dict) and body.get("message"):
        return str(body["message"])
    return data


def _run_path(thread_id: str, run_id: str) -> str:
    return f"/threads/{quote(thread_id, safe='')}/runs/{quote(run_id, safe='')}"


async def poll_run(
    client: HTTPClient, thread_id: str, run_id: str, timeout: float
) -> dict[str, Any]:
    """GET the run until it is settled; honours ``openai-poll-after-ms``. Raises RunError."""
    started = time.monotonic()
    slept = 0.0  # counted as well, so an injected sleep that returns at once still times out
    polls = 0
    while True:
        data, headers = await client.request_with_headers("GET", _run_path(thread_id, run_id))
        status = data.get("status")
        if status in SETTLED_STATUSES:
            return data
        remaining = timeout - max(time.monotonic() - started, slept)
        if remaining <= 0:
            raise RunError(
                f"run {run_id} on thread {thread_id} is still {status} after {timeout:g} s"
            )
        delay = min(POLL_INITIAL_DELAY * 1.5**polls, POLL_MAX_DELAY)
        poll_after = headers.get("openai-poll-after-ms")
        if poll_after:
            with contextlib.suppress(ValueError):  # a malformed hint: keep our own delay
                delay = max(float(poll_after) / 1000, 0.0)
        delay = min(delay, remaining)
        await client.sleep(delay)
        slept += delay
        polls += 1


async def settle(
    client: HTTPClient,
    path: str,
    body: dict[str, Any],
    thread_id: str,
    timeout: float,
    *,
    run_id: str | None = None,
) -> dict[str, Any]:
    """POST ``body`` to a run-starting endpoint and follow the run until it settles.

    ``run_id`` is known when resuming (submit_tool_outputs); for a create it comes from the
    answer. Returns the settled run's JSON.
    """
    started = time.monotonic()
    base_url = client.settings.base_url
    if base_url not in client.no_stream:
        seen: dict[str, Any] = {"id": run_id}
        try:
            async with asyncio.timeout(timeout):
                outcome = await _stream(client, path, body, seen)
        except TimeoutError:
            run = f"run {seen['id']}" if seen.get("id") else "the run"
            raise RunError(
                f"{run} on thread {thread_id} did not settle within {timeout:g} s"
            ) from None
        if outcome is not None:
            if outcome.get("status") in SETTLED_STATUSES:
                return outcome
            remaining = timeout - (time.monotonic() - started)
            return await poll_run(client, thread_id, outcome["id"], remaining)
    data = await client.request("POST", path, json={k: v for k, v in body.items() if k != "stream"})
    if data.get("status") in SETTLED_STATUSES:
        return data
    remaining = timeout - (time.monotonic() - started)
    return await poll_run(client, thread_id, str(data.get("id") or run_id), remaining)


def _remember_no_stream(client: HTTPClient, why: str) -> None:
    client.no_stream.add(client.settings.base_url)
    log.info("%s does not stream runs (%s); polling from now on", client.settings.base_url, why)


async def _stream(
    client: HTTPClient, path: str, body: dict[str, Any], seen: dict[str, Any]
) -> dict[str, Any] | None:
    """Ask for the run as server-sent events.

    Returns the settled run, or a run (at least ``{"id"}``) still to be polled, or None when
    the server rejected the stream request itself (nothing was created). ``seen["id"]`` is
    kept up to date with the run's id for the caller's timeout message.
    """
    run_id = seen.get("id")
    try:
        response = await client.send("POST", path, json={**body, "stream": True}, stream=True)
    except BadRequestError as error:
        if not _names_stream(error):
            raise
        _remember_no_stream(client, f"HTTP 400: {error.message}")
        return None
    try:
        content_type = response.headers.get("content-type", "")
        if not content_type.startswith("text/event-stream"):
            # The server ignored `stream` and did the work: the body (already read by
            # `send`) is the run itself.
            data = client.decode(response, "POST")
            if data.get("object") != "thread.run" or not data.get("id"):
                raise APIResponseError(
                    f"POST {path} with stream: true answered {content_type or 'no content type'}"
                    " that is neither server-sent events nor a run",
                    request_id=response.headers.get("x-request-id"),
                )
            _remember_no_stream(client, f"answered {content_type or 'without a content type'}")
            return data
        last_run: dict[str, Any] | None = {"id": run_id} if run_id else None
        try:
            async for event in EventSource(response).aiter_sse():
                if event.event in RUN_EVENTS:
                    last_run = json.loads(event.data)
                    seen["id"] = last_run.get("id") or seen.get("id")
                    if last_run.get("status") in SETTLED_STATUSES:
                        return last_run
                elif event.event == "error":
                    raise APIResponseError(client.redact(
                        f"POST {path}: the server sent an error event: {_error_text(event.data)}"
                    ))
                elif event.event == "done":
                    break
        except (httpx.TransportError, SSEError) as exc:
            if last_run is None:
                raise APIConnectionError(client.redact(
                    f"POST {path}: the event stream broke before the run was created ({exc!r})"
                )) from None
            log.warning("event stream for run %s broke (%s); polling it", last_run["id"],
                        client.redact(repr(exc)))
        except json.JSONDecodeError:
            raise APIResponseError(f"POST {path}: an event carried invalid JSON") from None
        if last_run is None:
            raise APIResponseError(f"POST {path}: the event stream ended without a run")
        return last_run
    finally:
        await response.aclose()
