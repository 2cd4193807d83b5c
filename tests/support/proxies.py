"""HTTP proxies on loopback that misbehave on purpose in front of an emulator."""

from __future__ import annotations

import re
import threading
from collections import Counter, defaultdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx


class LosingProxy:
    """A loopback HTTP proxy in front of the target that can lose one answer.

    ``lose_answer(route, n)``: the n-th request to ``route`` from now is carried out by the
    server, but its answer is held back — exactly what a restore killed in the instant after
    a create was sent experiences. ``created[route]`` records every object really created.
    """

    def __init__(self, upstream: str):
        self.upstream = upstream
        self.counts: Counter[str] = Counter()
        self.created: dict[str, list[str]] = defaultdict(list)
        self.target: tuple[str, int] | None = None
        self.forward_held = True
        self.held = threading.Event()
        self.release = threading.Event()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _forward(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = {k: v for k, v in self.headers.items()
                           if k.lower() not in ("host", "content-length", "connection")}
                route = f"{self.command} " + re.sub(r"/(threads|conversations)/[^/?]+/", r"/\1/{id}/",
                                                     self.path.split("?")[0])
                proxy.counts[route] += 1
                held = proxy.target == (route, proxy.counts[route])
                if held and not proxy.forward_held:
                    proxy.held.set()  # held before the server sees it
                    proxy.release.wait(30)
                    return
                answer = httpx.request(self.command, proxy.upstream + self.path, headers=headers,
                                       content=body, timeout=30)
                if self.command == "POST" and answer.status_code == 200:
                    proxy.created[route].append(answer.json().get("id"))
                if held:
                    proxy.held.set()
                    proxy.release.wait(30)
                    return
                self.send_response(answer.status_code)
                self.send_header("Content-Type", answer.headers.get("content-type", "application/json"))
                self.send_header("Content-Length", str(len(answer.content)))
                self.end_headers()
                self.wfile.write(answer.content)

            do_GET = do_POST = do_DELETE = _forward

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def lose_answer(self, route: str, n: int, *, forward: bool = True) -> None:
        """Hold the n-th ``route`` request from now: carried out, its answer lost (or, with
        ``forward=False``, never reaching the server)."""
        self.held.clear()
        self.forward_held = forward
        self.target = (route, self.counts[route] + n)

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()
