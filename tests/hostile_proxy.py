"""A loopback HTTP proxy in front of the emulator that turns it into a hostile server (test
support): it rewrites chosen JSON answers, and can stop answering altogether.

    with hostile_proxy(server.base_url) as proxy:
        proxy.rewrite = lambda method, path, body: ...   # the JSON to send instead, or None
        proxy.die_after(5)                               # requests after the 5th: dropped
        ... point syncer at proxy.base_url ...
"""

from __future__ import annotations

import http.client
import http.server
import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

Rewrite = Callable[[str, str, Any], Any]


class HostileProxy:
    def __init__(self, upstream: str):
        host, port = upstream.removeprefix("http://").split("/")[0].split(":")
        self.upstream = (host, int(port))
        self.rewrite: Rewrite | None = None
        self.requests = 0
        self.dropped = 0
        self._alive_for: int | None = None
        self._lock = threading.Lock()
        self.base_url = ""

    def die_after(self, requests: int) -> None:
        """Answer ``requests`` more requests, then drop every connection without an answer."""
        with self._lock:
            self._alive_for = self.requests + requests

    def _dead(self) -> bool:
        with self._lock:
            self.requests += 1
            dead = self._alive_for is not None and self.requests > self._alive_for
            self.dropped += dead
            return dead


@contextmanager
def hostile_proxy(upstream: str) -> Iterator[HostileProxy]:
    proxy = HostileProxy(upstream)

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:  # quiet
            pass

        def forward(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if proxy._dead():
                self.close_connection = True
                self.connection.shutdown(2)
                return
            conn = http.client.HTTPConnection(*proxy.upstream, timeout=30)
            try:
                headers = {k: v for k, v in self.headers.items()
                           if k.lower() not in ("host", "connection", "accept-encoding")}
                conn.request(self.command, self.path, body=body or None, headers=headers)
                answer = conn.getresponse()
                data = answer.read()
            finally:
                conn.close()
            content_type = answer.getheader("Content-Type") or ""
            if proxy.rewrite is not None and content_type.startswith("application/json"):
                replaced = proxy.rewrite(self.command, self.path, json.loads(data))
                if replaced is not None:
                    data = json.dumps(replaced).encode()
            self.send_response(answer.status)
            for key, value in answer.getheaders():
                if key.lower() not in ("content-length", "transfer-encoding", "connection",
                                       "date", "server"):
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_DELETE = forward

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    proxy.base_url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    try:
        yield proxy
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
