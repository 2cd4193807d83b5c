"""Everything every /v1 request goes through before its handler, as one ASGI middleware.

In order: request counters, latency, fault injection (before the request has any effect),
the API key, the ``OpenAI-Beta`` header, the body's size (a ``Content-Length`` above the
configured bound is a 413 before the body is read; a chunked body is counted as it arrives and
refused the moment it passes the bound, so no oversized body is ever held in memory). With a configured key, the control endpoints
(``/_emulator/*``: faults, stats, reset) need it too: without one, any local process could make
the server fail for everyone. Every response (also outside /v1) gets the real
service's headers: ``x-request-id: req_…``, ``openai-processing-ms``, ``openai-organization``,
``openai-version`` and the ``x-ratelimit-*`` family.
"""

from __future__ import annotations

import asyncio
import json
import math
import secrets
import time
from typing import TYPE_CHECKING

from starlette.requests import ClientDisconnect
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from syncer.emulator.faults import DroppedConnection, Fault
from syncer.emulator.http_errors import RequestRefused

if TYPE_CHECKING:
    from syncer.emulator.core import Emulator

ORGANIZATION = "syncer-emulator"
MISSING_KEY = (
    "You didn't provide an API key. You need to provide your API key in an Authorization header "
    "using Bearer auth (i.e. Authorization: Bearer YOUR_KEY), or as the password field (with blank "
    "username) if you're accessing the API from your browser and are prompted for a username and "
    "password. You can obtain an API key from https://platform.openai.com/account/api-keys."
)
MISSING_BETA = (
    "You must provide the 'OpenAI-Beta' header to access the Assistants API. Please try again by "
    "setting the header 'OpenAI-Beta: assistants=v2'."
)
#: The successor APIs' paths: they need no ``OpenAI-Beta`` header (the Assistants API does).
SUCCESSOR_PATHS = ("/v1/responses", "/v1/conversations")
#: The control endpoints (faults, stats, reset): they need the key when one is configured.
CONTROL_PREFIX = "/_emulator/"
RATE_LIMITS = {"requests": 10_000, "tokens": 30_000_000}


class EmulatorMiddleware:
    """Counters, latency, faults, auth and the real service's response headers."""

    def __init__(self, app: ASGIApp, emulator: Emulator, routes: list[BaseRoute]):
        self.app = app
        self.emulator = emulator
        #: the /v1 routes, to name each request's route in the counters
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = "req_" + secrets.token_hex(16)
        path: str = scope["path"]
        is_api = path == "/v1" or path.startswith("/v1/")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                elapsed = max(1, round((time.perf_counter() - started) * 1000))
                headers = [*message.get("headers", ()), *_standard_headers(request_id, elapsed, message["status"])]
                message = {**message, "headers": headers}
                if is_api:
                    self.emulator.stats.statuses[message["status"]] += 1
            await send(message)

        limit = self.emulator.config.max_body_bytes
        headers = _headers(scope)
        if not is_api:
            problem = None
            if path.startswith(CONTROL_PREFIX) and self.emulator.config.api_key is not None:
                problem = self._check_key(headers)
            if problem is None:
                problem = _check_length(headers, limit)
            if problem is not None:
                await _send_error(problem, send_with_headers)
                return
            await self.app(scope, _bounded(receive, limit), send_with_headers)
            return

        emulator = self.emulator
        method = scope["method"]
        is_write = method in ("POST", "DELETE")
        emulator.stats.count(method, self._route(scope), is_write)
        if emulator.config.latency_ms:
            await asyncio.sleep(emulator.config.latency_ms / 1000)
        fault = emulator.faults.decide(is_write)
        if fault is not None:
            emulator.stats.faults += 1
            await _answer_fault(fault, send_with_headers)
            return
        problem = self._check_headers(path, headers) or _check_length(headers, limit)
        if problem is not None:
            await _send_error(problem, send_with_headers)
            return
        try:
            await self.app(scope, _bounded(receive, limit), send_with_headers)
        except ClientDisconnect:
            # The client left before its whole body arrived (a cancelled request): nothing
            # was done and there is nobody to answer, so this is no server error.
            return

    def _route(self, scope: Scope) -> str:
        """The route template (``/v1/threads/{thread_id}``) a request matches, for counters."""
        partial = "(no route)"
        for route in self.routes:
            match, _ = route.matches(scope)
            if match is Match.FULL:
                return route.path  # type: ignore[attr-defined, no-any-return]
            if match is Match.PARTIAL and partial == "(no route)":
                partial = route.path  # type: ignore[attr-defined]  # path matches, method does not
        return partial

    def _check_headers(self, path: str, headers: dict[str, str]) -> RequestRefused | None:
        problem = self._check_key(headers)
        if problem is not None:
            return problem
        if path.startswith(SUCCESSOR_PATHS):
            return None  # the Responses and Conversations APIs need no beta header
        beta = headers.get("openai-beta")
        if beta is None:
            return RequestRefused(400, MISSING_BETA, code="invalid_beta")
        if "assistants=v2" not in [part.strip() for part in beta.split(",")]:
            return RequestRefused(
                400,
                f"Invalid value for 'OpenAI-Beta' header: '{beta[:40]}'. This server serves the "
                "Assistants API v2: set the header 'OpenAI-Beta: assistants=v2'.",
                code="invalid_beta",
            )
        return None

    def _check_key(self, headers: dict[str, str]) -> RequestRefused | None:
        """A 401 unless the request carries a bearer key (the configured one, if any)."""
        auth = headers.get("authorization", "")
        scheme, _, key = auth.partition(" ")
        key = key.strip()
        if scheme.lower() != "bearer" or not key:
            return RequestRefused(401, MISSING_KEY)
        expected = self.emulator.config.api_key
        if expected is not None and not secrets.compare_digest(key.encode(), expected.encode()):
            return RequestRefused(
                401,
                f"Incorrect API key provided: {mask_key(key)}. You can find your API key at "
                "https://platform.openai.com/account/api-keys.",
                code="invalid_api_key",
            )
        return None


def _headers(scope: Scope) -> dict[str, str]:
    """The request's headers by lower-case name (read once per request)."""
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}


def _too_large(limit: int) -> RequestRefused:
    return RequestRefused(
        413,
        f"Request body too large: this server reads at most {limit:,} bytes "
        f"({limit / 1024 / 1024:g} MiB) per request.",
        code="request_too_large",
    )


def _check_length(headers: dict[str, str], limit: int) -> RequestRefused | None:
    """A 413 for a declared ``Content-Length`` above ``limit``; a 400 for an unreadable one."""
    declared = headers.get("content-length")
    if declared is None:
        return None
    if not declared.strip().isdigit():
        return RequestRefused(400, f"Invalid Content-Length header: '{declared[:40]}'.")
    return _too_large(limit) if int(declared) > limit else None


def _bounded(receive: Receive, limit: int) -> Receive:
    """``receive`` that refuses (413) a body the moment it has passed ``limit`` bytes."""
    received = 0

    async def receive_bounded() -> Message:
        nonlocal received
        message = await receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > limit:
                raise _too_large(limit)
        return message

    return receive_bounded


def mask_key(key: str) -> str:
    """A key as error messages may show it: never whole, at most its first 3 and last 4 characters."""
    if len(key) < 12:
        return "*" * len(key)
    return key[:3] + "*" * (len(key) - 7) + key[-4:]


def _standard_headers(request_id: str, elapsed_ms: int, status: int) -> list[tuple[bytes, bytes]]:
    """The real service's headers on every response (encoded once: only the first two change)."""
    fixed = _FIXED_HEADERS_429 if status == 429 else _FIXED_HEADERS
    return [(b"x-request-id", request_id.encode()), (b"openai-processing-ms", b"%d" % elapsed_ms), *fixed]


def _fixed_headers(status: int) -> list[tuple[bytes, bytes]]:
    headers = {"openai-organization": ORGANIZATION, "openai-version": "2020-10-01"}
    for kind, limit in RATE_LIMITS.items():
        headers[f"x-ratelimit-limit-{kind}"] = str(limit)
        remaining = 0 if status == 429 and kind == "requests" else limit - 1
        headers[f"x-ratelimit-remaining-{kind}"] = str(remaining)
        headers[f"x-ratelimit-reset-{kind}"] = "1s" if kind == "requests" else "0s"
    return [(name.encode(), value.encode()) for name, value in headers.items()]


_FIXED_HEADERS = _fixed_headers(200)
_FIXED_HEADERS_429 = _fixed_headers(429)


async def _send_error(error: RequestRefused, send: Send) -> None:
    body = json.dumps(error.body()).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    headers += [(k.lower().encode(), v.encode()) for k, v in error.headers.items()]
    await send({"type": "http.response.start", "status": error.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _answer_fault(fault: Fault, send: Send) -> None:
    if fault.kind == "drop":
        await send({
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json"), (b"content-length", b"2048")],
        })
        await send({"type": "http.response.body", "body": b'{"id": "', "more_body": True})
        raise DroppedConnection("the emulator dropped the connection (fault injection)")
    if fault.kind == "429":
        error = RequestRefused(
            429,
            f"Rate limit reached for requests in organization {ORGANIZATION} on requests per min "
            f"(RPM): Limit {RATE_LIMITS['requests']}, Used {RATE_LIMITS['requests']}, Requested 1. "
            f"Please try again in {fault.retry_after_ms}ms.",
            type="requests",
            code="rate_limit_exceeded",
            headers={
                "retry-after-ms": str(fault.retry_after_ms),
                "retry-after": str(math.ceil(fault.retry_after_ms / 1000)),
            },
        )
    elif fault.kind == "503":
        error = RequestRefused(503, "The engine is currently overloaded, please try again later.",
                         type="server_error")
    else:
        error = RequestRefused(
            500,
            "The server had an error while processing your request. Sorry about that!",
            type="server_error",
        )
    await _send_error(error, send)
