"""A loopback HTTP server that answers with raw bytes at a chosen pace (test support).

    with RawServer(dribble(b'{"object": "list", "data": []}', every=0.05)) as server:
        ...  # point a client at server.base_url
        server.requests   # the request lines it saw, e.g. ["GET /v1/assistants?... HTTP/1.1"]

For what no well-behaved server does: answers that arrive a byte at a time, bodies larger than
any bound, compression bombs, bodies that are not JSON. Each connection is served by its own
thread, so a client's retries are answered too; stopping closes every connection.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

#: writes an answer on the connection (the request has been read)
Answer = Callable[[socket.socket], None]


def head(status: int = 200, headers: dict[str, str] | None = None) -> bytes:
    lines = [f"HTTP/1.1 {status} X"] + [f"{k}: {v}" for k, v in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def answer(body: bytes, status: int = 200, headers: dict[str, str] | None = None) -> Answer:
    """A plain answer (content-type JSON unless ``headers`` say otherwise)."""
    fields = {"content-type": "application/json", "content-length": str(len(body)),
              "connection": "close", **(headers or {})}

    def send(conn: socket.socket) -> None:
        conn.sendall(head(status, fields) + body)

    return send


def dribble(body: bytes, every: float) -> Answer:
    """The whole head at once, then the body one byte every ``every`` seconds."""

    def send(conn: socket.socket) -> None:
        conn.sendall(head(200, {"content-type": "application/json",
                                "content-length": str(len(body))}))
        for byte in body:
            time.sleep(every)
            conn.sendall(bytes([byte]))

    return send


def endless(chunk: bytes = b" " * 65536) -> Answer:
    """A chunked body that never ends (until the client leaves)."""

    def send(conn: socket.socket) -> None:
        conn.sendall(head(200, {"content-type": "application/json",
                                "transfer-encoding": "chunked"}))
        frame = b"%x\r\n%s\r\n" % (len(chunk), chunk)
        while True:
            conn.sendall(frame)

    return send


def gzip_bomb(decoded_size: int) -> Answer:
    """A small gzip body that decodes to ``decoded_size`` bytes of spaces."""
    body = gzip.compress(b" " * decoded_size, compresslevel=9)
    return answer(body, headers={"content-encoding": "gzip"})


class Routes:
    """Answers by method and path (the query left out): ``Routes({"GET /v1/assistants": answer(b"[]")})``.

    The table may be changed between requests; a request it does not name gets a 404 in the
    API's error shape.
    """

    def __init__(self, table: dict[str, Answer] | None = None):
        self.table = dict(table or {})

    def answer_for(self, request_line: str) -> Answer:
        method, target = [*request_line.split(" "), "", ""][:2]
        found = self.table.get(f"{method} {target.split('?', 1)[0]}")
        if found is None:
            error = {"message": f"No route {method} {target}", "type": "invalid_request_error",
                     "param": None, "code": None}
            return answer(json.dumps({"error": error}).encode(), status=404)
        return found


class RawServer:
    """Answers every request with ``answer_with`` (or by its route) on a free loopback port."""

    def __init__(self, answer_with: Answer | Routes):
        self.answer_with = answer_with
        self.requests: list[str] = []
        self._sock = socket.create_server(("127.0.0.1", 0))
        self.port = self._sock.getsockname()[1]
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        self._connections: list[socket.socket] = []
        self._stopped = threading.Event()

    def __enter__(self) -> RawServer:
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self._stopped.set()
        self._sock.close()
        for conn in list(self._connections):
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
            conn.close()

    def _accept(self) -> None:
        while not self._stopped.is_set():
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            self._connections.append(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with contextlib.suppress(OSError):
            request = b""
            while b"\r\n\r\n" not in request:
                data = conn.recv(65536)
                if not data:
                    return
                request += data
            headers, _, body = request.partition(b"\r\n\r\n")
            length = 0
            for line in headers.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            while len(body) < length:
                body += conn.recv(65536)
            line = headers.split(b"\r\n", 1)[0].decode("latin-1")
            self.requests.append(line)
            if isinstance(self.answer_with, Routes):
                self.answer_with.answer_for(line)(conn)
            else:
                self.answer_with(conn)
        with contextlib.suppress(OSError):
            conn.close()


@contextlib.contextmanager
def serving(answer_with: Answer) -> Iterator[RawServer]:
    with RawServer(answer_with) as server:
        yield server
