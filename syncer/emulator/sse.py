"""Server-sent events on the wire: the frames, and the streaming response that carries them.

Frames are ``event: <name>`` and ``data: <compact JSON>`` lines ending ``\\r\\n``, a blank
line after each event; every event already known is written at once (one write per burst
instead of one per event is most of a stream's CPU: see ``bench/bench_backend.py``).

The response is Starlette's `StreamingResponse` (it stops the body when the client goes away)
with the headers an event stream needs. A body that may wait a long time for its next event
yields `PING` (a comment line, which every SSE client skips) after `PING_EVERY` seconds of
silence, so proxies do not cut an idle stream.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from typing import Any

from starlette.responses import StreamingResponse

from syncer.canonical import compact_json_bytes

#: A comment line: keeps an idle stream open through proxies, skipped by every client.
PING = b": ping\r\n\r\n"
#: Seconds of silence after which a waiting stream sends `PING`.
PING_EVERY = 15.0
#: The last event of every Assistants stream.
DONE = b"event: done\r\ndata: [DONE]\r\n\r\n"
HEADERS = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}


def frames(events: Iterable[tuple[str, Any]]) -> bytes:
    """``(name, data)`` events as SSE frames, in one piece of bytes."""
    return b"".join(
        b"event: %s\r\ndata: %s\r\n\r\n" % (name.encode(), compact_json_bytes(data)) for name, data in events
    )


def event_stream(body: AsyncIterator[bytes]) -> StreamingResponse:
    """The ``text/event-stream`` response that sends ``body``'s pieces as they come."""
    return StreamingResponse(body, media_type="text/event-stream", headers=HEADERS)
