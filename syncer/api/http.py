"""HTTPClient: sending to an OpenAI-style API, with retries, errors and lazy pagination.

Async httpx underneath. Every request is retried like the official SDK does (see
``syncer.api.retry``); errors become the ``syncer.errors`` tree with the HTTP status, the
API's ``error.type/code/param/message`` and the ``x-request-id``. List endpoints are walked
lazily (``pages``/``paginate``, see ``syncer.api.pagination``).

Every answer is bounded: ``settings.timeout`` bounds a whole response (headers and body, not
each read: a server dribbling a byte at a time cannot hold a command), and
``settings.max_response_bytes`` its decoded body (counted as it arrives, so neither a huge
body nor a compression bomb is held in memory). An event stream's body is read by its caller.

The API key lives only in ``settings`` (a ``SecretStr``) and in the ``Authorization`` header
of each request; every message built from a server's answer goes through ``redact``.
The typed clients (``syncer.api.client``) build on this class.
"""

from __future__ import annotations

import asyncio
import json as jsonlib
import logging
import random
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any, Self, TypeVar
from urllib.parse import quote, urlsplit

import httpx
import orjson
from pydantic import BaseModel, ValidationError

from syncer.api import transport as aiohttp_transport
from syncer.api.pagination import Order, Page, iterate_pages
from syncer.api.request_url import RequestURLs
from syncer.api.retry import retry_delay, should_retry_status
from syncer.api.settings import ClientSettings
from syncer.canonical import json_data
from syncer.errors import (
    APIConnectionError,
    APIError,
    APIResponseError,
    APIStatusError,
    APITimeoutError,
    AssistantsShutDownError,
    UsageError,
    redact,
    status_error_class,
)

__all__ = ["SHUTDOWN_MESSAGE", "Body", "HTTPClient", "Page", "dump_body", "parse_object", "path_segment"]

log = logging.getLogger("syncer.api.client")

Sleep = Callable[[float], Awaitable[Any]]
Body = BaseModel | Mapping[str, Any]

SHUTDOWN_MESSAGE = (
    "the public OpenAI Assistants API was shut down on 2026-08-26, so {base_url} no longer "
    "serves {path}. Point syncer at an Assistants-compatible server with OPENAI_BASE_URL or "
    "--base-url, for example a local one: run `syncer emulator --port 8000` and use "
    "--base-url http://127.0.0.1:8000/v1"
)
_ASSISTANTS_PATHS = ("/assistants", "/threads")


def path_segment(value: str) -> str:
    """An id as one path segment (an id with '/' or '?' must not reach another endpoint, nor
    an id "." or "..", which a URL parser removes as a dot segment: its dots are escaped)."""
    segment = quote(str(value), safe="")
    return segment.replace(".", "%2E") if segment in (".", "..") else segment


def _is_event_stream(response: httpx.Response) -> bool:
    return str(response.headers.get("content-type", "")).startswith("text/event-stream")


def dump_body(body: Body | None) -> dict[str, Any]:
    """A request body as JSON-ready data.

    Pydantic request models are dumped with only the fields that were set; plain mappings
    are sent as they are, unvalidated (so tests can send invalid bodies to a server).
    """
    if body is None:
        return {}
    if isinstance(body, BaseModel):
        data: dict[str, Any] = json_data(body, only_set=True)
        return data
    if isinstance(body, Mapping):
        return dict(body)
    raise TypeError(f"body must be a pydantic model or a mapping, not {type(body).__name__}")


M = TypeVar("M", bound=BaseModel)


def parse_object(model: type[M], data: dict[str, Any]) -> M:
    """``data`` as a ``syncer.api.models`` object; a malformed object is an APIResponseError."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "(object)"
        raise APIResponseError(
            f"the server's {model.__name__} object (id {data.get('id')!r}) does not match the API: "
            f"{where}: {first['msg']}"
            + (f" (and {exc.error_count() - 1} more problems)" if exc.error_count() > 1 else "")
        ) from None


class HTTPClient:
    """An async client for an OpenAI-style API server. Use as ``async with``.

    ``transport`` replaces the network (``httpx.MockTransport``, ``httpx.ASGITransport``);
    ``sleep`` is awaited for every retry and poll delay (tests inject a recorder);
    ``requests_sent`` counts the HTTP attempts actually sent, retries included.
    """

    def __init__(
        self,
        settings: ClientSettings | None = None,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Sleep = asyncio.sleep,
        http2: bool = False,
        rand: Callable[[], float] = random.random,
    ):
        self.settings = settings if settings is not None else ClientSettings.from_env()
        self.requests_sent = 0
        #: retries so far (each a request sent again after a failure or a 429/5xx)
        self.retries = 0
        #: awaited for every retry and poll delay (tests inject a recorder)
        self.sleep = sleep
        self._rand = rand
        # Base URLs that refused `stream: true`: asked once, then polled for this client's life.
        self.no_stream: set[str] = set()
        timeout = httpx.Timeout(
            self.settings.timeout, connect=min(self.settings.connect_timeout, self.settings.timeout)
        )
        options: dict[str, Any] = {}
        if transport is not None:
            options["transport"] = transport
        elif aiohttp_transport.wanted(http2):
            # httpx's API over aiohttp's pool: a tenth of httpcore's CPU per request.
            options["transport"] = aiohttp_transport.AiohttpTransport(
                tls=self.settings.base_url.startswith("https:"))
        elif http2:
            options["http2"] = True
        try:
            self._http = httpx.AsyncClient(
                base_url=self.settings.base_url + "/",
                headers=self.settings.default_headers(),
                timeout=timeout,
                follow_redirects=False,
                **options,
            )
        except ImportError:  # http2=True without the optional h2 package
            raise UsageError("HTTP/2 needs the h2 package: pip install 'httpx[http2]'") from None
        # With a transport of our choosing (no proxy, no HTTP/2 pool of httpx's own), requests
        # are built and handed to it directly: `AsyncClient.send`'s cookie jar, auth and redirect
        # steps do nothing for this API and cost a third of the client's CPU per request (see
        # bench/bench_transports.py). The request is the one `AsyncClient.build_request` makes.
        self._transport: httpx.AsyncBaseTransport | None = options.get("transport")
        self._headers = list(self._http.headers.multi_items())
        self._extensions = {"timeout": timeout.as_dict()}
        self._urls = RequestURLs(self.settings.base_url)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(base_url={self.settings.base_url!r}, "
            f"max_retries={self.settings.max_retries}, requests_sent={self.requests_sent})"
        )

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()

    # --- sending, retrying, errors ---------------------------------------------------------

    def redact(self, text: str) -> str:
        return redact(text, self.settings.secret())

    def _display_url(self, url: httpx.URL) -> str:
        # Never the query (cursors are harmless, but keep messages short) nor credentials.
        return self.redact(f"{url.scheme}://{url.netloc.decode('ascii', 'replace')}{url.path}")

    def _request_headers(self, method: str) -> dict[str, str]:
        key = self.settings.require_key()
        headers = {"Authorization": f"Bearer {key}"}
        if method != "GET":
            # Same key on every retry of one write, as the SDK does, so a server that
            # deduplicates can tell a retry from a new request.
            headers["Idempotency-Key"] = f"syncer-retry-{uuid.uuid4()}"
        return headers

    async def send(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        stream: bool = False,
        max_retries: int | None = None,
    ) -> httpx.Response:
        """Send with retries; return a successful response or raise a ``syncer.errors`` error.

        With ``stream=True`` the body is not read yet: the caller must ``aclose()`` it.
        ``max_retries`` overrides the settings' for this call (0: a caller that must look at
        the server before sending a write again, because a lost answer may hide its effect).
        """
        headers = self._request_headers(method)
        max_retries = self.settings.max_retries if max_retries is None else max_retries
        for retries_taken in range(max_retries + 1):
            request = self._build(method, path, json, params, headers)
            url = self._display_url(request.url)
            self.requests_sent += 1
            answer_headers: httpx.Headers | None = None
            error: APIError
            try:
                async with asyncio.timeout(self.settings.timeout):
                    response = await self._send(request, read=not stream)
                    if aiohttp_transport.READ_LIMIT in response.extensions:
                        pass  # read by the transport, within the bound
                    elif not (stream and response.is_success and _is_event_stream(response)):
                        # Read here (also a stream that is not an event stream after all), so
                        # that a connection dropped mid-body is retried like any other request.
                        response = await self._read_bounded(response, method, url)
            except (httpx.TimeoutException, TimeoutError) as exc:
                what = (type(exc).__name__ if isinstance(exc, httpx.TimeoutException)
                        else "no whole answer in time")
                error = APITimeoutError(
                    f"{method} {url} timed out ({what}, timeout {self.settings.timeout:g} s)",
                    method=method, url=url,
                )
                retryable = True
            except httpx.TransportError as exc:
                reason = self.redact(str(exc)) or type(exc).__name__
                error = APIConnectionError(
                    f"{method} {url} failed: no answer from the server ({reason})",
                    method=method, url=url,
                )
                retryable = not isinstance(exc, httpx.UnsupportedProtocol)
            else:
                if response.is_success:
                    return response
                answer_headers = response.headers
                error = self._status_error(response, method, path, url)
                retryable = should_retry_status(response.status_code, response.headers)
            if not retryable or retries_taken == max_retries:
                if retryable and retries_taken > 0:
                    error.attempts = retries_taken + 1
                raise error
            delay = retry_delay(
                retries_taken,
                answer_headers,
                base=self.settings.retry_base_delay,
                maximum=self.settings.retry_max_delay,
                rand=self._rand,
            )
            log.info(
                "retrying %s %s in %.3f s (retry %d of %d): %s",
                method, url, delay, retries_taken + 1, max_retries, error,
            )
            self.retries += 1
            await self.sleep(delay)
        raise AssertionError("unreachable: the loop returns or raises")  # pragma: no cover

    def _build(self, method: str, path: str, json: Any, params: Mapping[str, Any] | None,
               headers: dict[str, str]) -> httpx.Request:
        if self._transport is None:
            return self._http.build_request(
                method, path, json=json, params=dict(params) if params else None, headers=headers)
        return httpx.Request(
            method, self._urls.url(path, params),
            headers=[*self._headers, *headers.items()], json=json, extensions=self._extensions)

    async def _send(self, request: httpx.Request, *, read: bool) -> httpx.Response:
        """The answer, its body not read yet (or read by syncer's transport when ``read``:
        then ``READ_LIMIT`` is in its extensions)."""
        if self._transport is None:
            return await self._http.send(request, stream=True)
        if read and isinstance(self._transport, aiohttp_transport.AiohttpTransport):
            request.extensions[aiohttp_transport.READ_LIMIT] = self.settings.max_response_bytes
        try:
            response = await self._transport.handle_async_request(request)
        except aiohttp_transport.BodyTooLarge as refused:
            method, url = request.method, self._display_url(request.url)
            raise self._too_large(refused.response, method, url, self.settings.max_response_bytes) from None
        response.request = request
        return response

    async def _read_bounded(self, response: httpx.Response, method: str, url: str) -> httpx.Response:
        """``response`` read whole, refused (`APIResponseError`) past ``max_response_bytes``."""
        limit = self.settings.max_response_bytes
        try:
            declared = response.headers.get("content-length", "")
            if (declared.isdigit() and int(declared) > limit
                    and "content-encoding" not in response.headers):
                raise self._too_large(response, method, url, limit)
            body = bytearray()
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > limit:
                    raise self._too_large(response, method, url, limit)
        finally:
            await response.aclose()
        # A read response of its own, as httpx would have built (the body is decoded now).
        headers = [(name, value) for name, value in response.headers.multi_items()
                   if name.lower() not in ("content-encoding", "content-length", "transfer-encoding")]
        return httpx.Response(response.status_code, headers=headers, content=bytes(body),
                              request=response.request, extensions=response.extensions)

    @staticmethod
    def _too_large(response: httpx.Response, method: str, url: str, limit: int) -> APIResponseError:
        return APIResponseError(
            f"{method} {url} answered HTTP {response.status_code} with a body over {limit:,} "
            "bytes; refused unread (raise SYNCER_MAX_RESPONSE_BYTES if the server is right)",
            method=method, url=url, request_id=response.headers.get("x-request-id"),
        )

    def _status_error(
        self, response: httpx.Response, method: str, path: str, url: str
    ) -> APIStatusError:
        """The exception for an HTTP error answer, built from the API's error body."""
        request_id = response.headers.get("x-request-id")
        try:
            body: Any = response.json()
        except (ValueError, RecursionError):  # RecursionError: JSON nested past Python's stack
            body = None
        error = body.get("error") if isinstance(body, dict) else None
        error_type = code = param = None
        if isinstance(error, dict):
            message = str(error.get("message") or "")
            error_type, code, param = error.get("type"), error.get("code"), error.get("param")
        elif isinstance(error, str):
            message = error
        else:
            message = response.text.strip()[:500]
        message = self.redact(message or response.reason_phrase or "error")
        status = response.status_code
        cls: type[APIStatusError] = status_error_class(status)
        if status == 404 and self.settings.is_public_api and path.startswith(_ASSISTANTS_PATHS):
            cls = AssistantsShutDownError
            message = SHUTDOWN_MESSAGE.format(base_url=self.settings.base_url, path=path)
        elif status == 404 and urlsplit(self.settings.base_url).path in ("", "/"):
            # The most common set-up mistake: http://host:8000 instead of http://host:8000/v1.
            base = self.settings.base_url.rstrip("/")
            message += f"; the base URL {base} has no path: did you mean {base}/v1?"
        if body is not None:
            # A server may echo the Authorization header back; keep the body clean too.
            body = jsonlib.loads(self.redact(jsonlib.dumps(body)))
        return cls(
            message,
            status_code=status,
            error_type=self.redact(str(error_type)) if error_type else None,
            code=self.redact(str(code)) if code else None,
            param=self.redact(str(param)) if param else None,
            body=body,
            method=method,
            url=url,
            request_id=request_id,
        )

    def decode(self, response: httpx.Response, method: str) -> dict[str, Any]:
        url = self._display_url(response.request.url)
        if not response.content:
            return {}
        try:
            data = orjson.loads(response.content)
        except (ValueError, RecursionError):  # RecursionError: JSON nested past Python's stack
            raise APIResponseError(
                f"{method} {url} answered HTTP {response.status_code} with a body that is not JSON",
                method=method, url=url, request_id=response.headers.get("x-request-id"),
            ) from None
        if not isinstance(data, dict):
            raise APIResponseError(
                f"{method} {url} answered with JSON that is not an object",
                method=method, url=url, request_id=response.headers.get("x-request-id"),
            )
        return data

    async def request_with_headers(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        max_retries: int | None = None,
    ) -> tuple[dict[str, Any], httpx.Headers]:
        """Like ``request``, also returning the answer's headers (``openai-poll-after-ms`` …)."""
        response = await self.send(method, path, json=json, params=params, max_retries=max_retries)
        return self.decode(response, method), response.headers

    async def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        max_retries: int | None = None,
    ) -> dict[str, Any]:
        """One API call (retried as needed; ``max_retries`` overrides the settings'); the
        answer's JSON object.

        ``path`` is relative to the base URL, e.g. ``"/assistants/asst_1"``.
        """
        data, _ = await self.request_with_headers(method, path, json=json, params=params,
                                                  max_retries=max_retries)
        return data

    # --- pagination --------------------------------------------------------------------------

    async def pages(
        self,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        order: Order = "asc",
        limit: int = 100,
        after: str | None = None,
        before: str | None = None,
    ) -> AsyncIterator[Page]:
        """Walk a list endpoint lazily, one request per page.

        Forward from ``after`` (or the start), or backward from ``before``; stops when
        ``has_more`` is false or a page is empty.
        """

        async def fetch(query: dict[str, Any]) -> dict[str, Any]:
            return await self.request("GET", path, params=query)

        async for page in iterate_pages(
            fetch, params=dict(params or {}), order=order, limit=limit, after=after, before=before
        ):
            yield page

    async def paginate(
        self,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        order: Order = "asc",
        limit: int = 100,
        after: str | None = None,
        before: str | None = None,
    ) -> AsyncIterator[dict[str, Any]]:
        """Every object of a list endpoint, in the order walked.

        Forward (``after``): the requested ``order``. Backward (``before``): outwards from the
        cursor, i.e. the reverse of ``order`` (each page is reversed, so the whole sequence
        moves steadily away from the cursor).
        """
        backward = before is not None
        async for page in self.pages(
            path, params=params, order=order, limit=limit, after=after, before=before
        ):
            for item in reversed(page.data) if backward else page.data:
                yield item

    async def _typed(self, model: type[M], path: str, **opts: Any) -> AsyncIterator[M]:
        params = {k: opts.pop(k) for k in ("run_id", "include") if opts.get(k) is not None}
        if "include" in params:
            params["include[]"] = params.pop("include")
        async for item in self.paginate(path, params=params, **opts):
            yield parse_object(model, item)
