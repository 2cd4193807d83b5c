"""Server-sent events on the wire: the frames, and the streaming response that carries them.

Frames are ``event: <name>`` and ``data: <compact JSON>`` lines ending ``\\r\\n``, a blank
line after each event; every event already known is written at once (one write per burst
instead of one per event is most of a stream's CPU: see ``bench/bench_backend.py``).

`EventStream` is the ``text/event-stream`` response: it sends the headers with the body's first
piece and the pieces as they come, stops the body when the client goes away, and sends a
`Final` piece together with the end of the response (one write, not two). It does what Starlette's `StreamingResponse` did without
its task group and cancel scope per response. A body that may wait a long time for its next
event yields `PING` (a comment line, which every SSE client skips) after `PING_EVERY` seconds
of silence, so proxies do not cut an idle stream.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable
from typing import Any

from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from syncer.canonical import compact_json_bytes

#: A comment line: keeps an idle stream open through proxies, skipped by every client.
PING = b": ping\r\n\r\n"
#: Seconds of silence after which a waiting stream sends `PING`.
PING_EVERY = 15.0
#: The last event of every Assistants stream.
DONE = b"event: done\r\ndata: [DONE]\r\n\r\n"
HEADERS = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}


class Final(bytes):
    """The last piece of a stream's body: it goes out with the end of the response."""


def frames(events: Iterable[tuple[str, Any]]) -> bytes:
    """``(name, data)`` events as SSE frames, in one piece of bytes."""
    return b"".join(
        b"event: %s\r\ndata: %s\r\n\r\n" % (name.encode(), compact_json_bytes(data)) for name, data in events
    )


class EventStream(Response):
    """The ``text/event-stream`` response that sends ``body``'s pieces as they come (see the
    module docstring)."""

    media_type = "text/event-stream"

    def __init__(self, body: AsyncIterator[bytes]) -> None:
        self.body_iterator = body
        self.status_code = 200
        self.background = None
        self.init_headers(HEADERS)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        task = asyncio.current_task()
        assert task is not None
        gone = False

        async def watch() -> None:
            """The client going away cancels the body, wherever it waits."""
            nonlocal gone
            while (await receive())["type"] != "http.disconnect":
                pass
            gone = True
            task.cancel()

        watcher = asyncio.get_running_loop().create_task(watch())
        try:
            started = False
            async for piece in self.body_iterator:
                if not started:  # the headers go out with the first piece
                    await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
                    started = True
                final = isinstance(piece, Final)
                await send({"type": "http.response.body", "body": piece, "more_body": not final})
                if final:
                    break
            else:
                if not started:
                    await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
                await send({"type": "http.response.body", "body": b"", "more_body": False})
        except asyncio.CancelledError:
            if not gone:
                raise
            task.uncancel()  # the client left: there is nobody to answer, and no error
        finally:
            watcher.cancel()  # no await before this: the end of the response is no disconnect
        aclose = getattr(self.body_iterator, "aclose", None)
        if aclose is not None:
            await aclose()


def event_stream(body: AsyncIterator[bytes]) -> EventStream:
    """The ``text/event-stream`` response that sends ``body``'s pieces as they come."""
    return EventStream(body)
