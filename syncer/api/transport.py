"""AiohttpTransport: httpx's API over aiohttp's connection pool (HTTP/1.1).

The code talks httpx everywhere; only what sits under it changes. httpx's own pool (httpcore,
anyio socket wrappers, h11) costs 1.5-1.7 ms of CPU per request; aiohttp's C-accelerated
parser and pool about a tenth of that (``bench/bench_transports.py`` has the side-by-side
figures). aiohttp's failures become httpx's exceptions, so retries and error messages are the
same whichever transport is used. HTTP/2 (``http2=True``) and proxies (``HTTPS_PROXY`` …)
stay on httpx's own transport (``wanted`` says when this one applies).
"""

from __future__ import annotations

import urllib.request
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import httpx

__all__ = ["READ_LIMIT", "AiohttpTransport", "BodyTooLarge", "wanted"]

#: A request extension: read the answer's body here, at most this many bytes (the response
#: comes back read, with ``READ_LIMIT`` in its extensions). Only for a body without a
#: ``Content-Encoding`` (a compressed one is read, and bounded decoded, by the caller).
READ_LIMIT = "syncer.read_limit"


class BodyTooLarge(Exception):
    """The body passed its ``READ_LIMIT``: refused unread (``response`` has status and headers)."""

    def __init__(self, response: httpx.Response):
        super().__init__("body too large")
        self.response = response

# aiohttp's exceptions → httpx's, most specific first (isinstance order matters).
_ERRORS: tuple[tuple[type[BaseException], type[httpx.TransportError]], ...] = (
    (aiohttp.ConnectionTimeoutError, httpx.ConnectTimeout),
    (aiohttp.ServerTimeoutError, httpx.ReadTimeout),
    (TimeoutError, httpx.ReadTimeout),
    (aiohttp.NonHttpUrlClientError, httpx.UnsupportedProtocol),
    (aiohttp.InvalidUrlClientError, httpx.UnsupportedProtocol),
    (aiohttp.ClientProxyConnectionError, httpx.ProxyError),
    (aiohttp.ClientHttpProxyError, httpx.ProxyError),
    (aiohttp.ClientConnectorError, httpx.ConnectError),
    (aiohttp.ServerDisconnectedError, httpx.RemoteProtocolError),
    (aiohttp.ClientPayloadError, httpx.RemoteProtocolError),
    (aiohttp.ClientResponseError, httpx.RemoteProtocolError),
    (aiohttp.ClientError, httpx.ReadError),
    (OSError, httpx.ReadError),
)


# The words httpx's own transport uses, so a failure reads the same whichever stack carried it
# (aiohttp's own text is about its internals: "Response payload is not completed: <…>").
_WORDING: tuple[tuple[type[BaseException], str], ...] = (
    (aiohttp.ServerDisconnectedError, "Server disconnected without sending a response."),
    (aiohttp.ClientPayloadError, "peer closed connection without sending complete message body"),
)


def _as_httpx(error: BaseException) -> BaseException:
    for source, target in _ERRORS:
        if isinstance(error, source):
            words = next((text for kind, text in _WORDING if isinstance(error, kind)), None)
            return target(words or str(error) or type(error).__name__)
    return error


def wanted(http2: bool) -> bool:
    """Whether this transport applies: HTTP/1.1 wanted and no proxy configured."""
    return not http2 and not urllib.request.getproxies()


class _Body(httpx.AsyncByteStream):
    """The response body, read as it arrives (so callers may bound its size or time)."""

    def __init__(self, response: aiohttp.ClientResponse):
        self._response = response

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._response.content.iter_any():
                yield chunk
        except (TimeoutError, aiohttp.ClientError, OSError) as error:
            raise _as_httpx(error) from error

    async def aclose(self) -> None:
        self._response.release()


class AiohttpTransport(httpx.AsyncBaseTransport):
    """An httpx transport that sends with one ``aiohttp.ClientSession`` (made on first use,
    inside the running event loop). Keep-alive connections are reused up to ``limit`` at once.
    """

    def __init__(self, *, limit: int = 256, tls: bool = True):
        self._limit = limit
        self._tls = tls
        self._session: aiohttp.ClientSession | None = None

    def _open(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            # httpx's certificate store (certifi, SSL_CERT_FILE), built only for https.
            ssl = httpx.create_ssl_context() if self._tls else True
            connector = aiohttp.TCPConnector(limit=self._limit, ssl=ssl)
            # No trust_env (it costs two thread hops per request: the caller uses httpx's own
            # transport when a proxy is configured), no cookies (httpx keeps them), and no
            # headers of aiohttp's own (httpx set Host, Accept, User-Agent …).
            self._session = aiohttp.ClientSession(
                connector=connector, trust_env=False, auto_decompress=False,
                cookie_jar=aiohttp.DummyCookieJar(),
                skip_auto_headers=("User-Agent", "Accept-Encoding", "Accept", "Content-Type"))
            # aiohttp silently re-sends a GET once when a kept-alive connection was dropped;
            # syncer's own retry policy (and its count of attempts) decides instead.
            self._session._retry_connection = False
        return self._session

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        timeout = request.extensions.get("timeout", {})
        body = await request.aread()
        try:
            response = await self._open().request(
                request.method, str(request.url), headers=request.headers.multi_items(),
                data=body or None, allow_redirects=False, compress=None,
                timeout=aiohttp.ClientTimeout(total=None, connect=timeout.get("pool"),
                                              sock_connect=timeout.get("connect"),
                                              sock_read=timeout.get("read")))
        except (TimeoutError, aiohttp.ClientError, OSError) as error:
            raise _as_httpx(error) from error
        extensions: dict[str, Any] = {"http_version": b"HTTP/1.1"}
        if response.reason:
            extensions["reason_phrase"] = response.reason.encode("ascii", "replace")
        limit = request.extensions.get(READ_LIMIT)
        if limit is None or "content-encoding" in response.headers:
            return httpx.Response(response.status, headers=response.raw_headers,
                                  stream=_Body(response), request=request, extensions=extensions)
        # Read here, in one piece: one response object instead of a stream and then a copy.
        content = bytearray()
        try:
            declared = response.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > limit:
                raise BodyTooLarge(httpx.Response(response.status, headers=response.raw_headers,
                                                  request=request, extensions=extensions))
            async for chunk in response.content.iter_any():
                content += chunk
                if len(content) > limit:
                    raise BodyTooLarge(httpx.Response(response.status, headers=response.raw_headers,
                                                      request=request, extensions=extensions))
        except (TimeoutError, aiohttp.ClientError, OSError) as error:
            raise _as_httpx(error) from error
        finally:
            response.release()
        extensions[READ_LIMIT] = limit
        return httpx.Response(response.status, headers=response.raw_headers, content=bytes(content),
                              request=request, extensions=extensions)

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
