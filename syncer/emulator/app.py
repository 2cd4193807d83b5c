"""The emulator's ASGI app: `create_app(config)` → a Starlette app serving the API under /v1.

    from syncer.emulator import EmulatorConfig, create_app
    app = create_app(EmulatorConfig(run_ms=50))
    httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://emulator/v1")

Outside /v1 (no key needed, unless the emulator has one): ``GET /_emulator/stats`` (requests by method and route, writes,
faults, statuses), ``POST /_emulator/stats/reset`` and ``POST /_emulator/faults``
(``{"fail_writes": [3], "status": 500}``: fail the 3rd write from now, before it has effect;
also ``fail_requests``; status 429, 500, 503 or "drop").
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from syncer.api.eager import eager_body_writes
from syncer.emulator import conversations, handlers, responses
from syncer.emulator.core import Emulator
from syncer.emulator.http_errors import RequestRefused
from syncer.emulator.middleware import EmulatorMiddleware
from syncer.emulator.options import EmulatorConfig
from syncer.emulator.validation import parse_json

V1_ROUTES: list[tuple[str, str, Any]] = [
    ("GET", "/v1/assistants", handlers.list_assistants),
    ("POST", "/v1/assistants", handlers.create_assistant),
    ("GET", "/v1/assistants/{assistant_id}", handlers.get_assistant),
    ("POST", "/v1/assistants/{assistant_id}", handlers.modify_assistant),
    ("DELETE", "/v1/assistants/{assistant_id}", handlers.delete_assistant),
    ("GET", "/v1/threads", handlers.list_threads),
    ("POST", "/v1/threads", handlers.create_thread),
    ("POST", "/v1/threads/runs", handlers.create_thread_and_run),
    ("GET", "/v1/threads/{thread_id}", handlers.get_thread),
    ("POST", "/v1/threads/{thread_id}", handlers.modify_thread),
    ("DELETE", "/v1/threads/{thread_id}", handlers.delete_thread),
    ("GET", "/v1/threads/{thread_id}/messages", handlers.list_messages),
    ("POST", "/v1/threads/{thread_id}/messages", handlers.create_message),
    ("GET", "/v1/threads/{thread_id}/messages/{message_id}", handlers.get_message),
    ("POST", "/v1/threads/{thread_id}/messages/{message_id}", handlers.modify_message),
    ("DELETE", "/v1/threads/{thread_id}/messages/{message_id}", handlers.delete_message),
    ("GET", "/v1/threads/{thread_id}/runs", handlers.list_runs),
    ("POST", "/v1/threads/{thread_id}/runs", handlers.create_run),
    ("GET", "/v1/threads/{thread_id}/runs/{run_id}", handlers.get_run),
    ("POST", "/v1/threads/{thread_id}/runs/{run_id}", handlers.modify_run),
    ("POST", "/v1/threads/{thread_id}/runs/{run_id}/cancel", handlers.cancel_run),
    ("POST", "/v1/threads/{thread_id}/runs/{run_id}/submit_tool_outputs", handlers.submit_tool_outputs),
    ("GET", "/v1/threads/{thread_id}/runs/{run_id}/steps", handlers.list_run_steps),
    ("GET", "/v1/threads/{thread_id}/runs/{run_id}/steps/{step_id}", handlers.get_run_step),
    *conversations.ROUTES,
    *responses.ROUTES,
]


def create_app(config: EmulatorConfig | None = None) -> Starlette:
    """The emulator as an ASGI app (``app.state.emulator`` is its `Emulator`)."""
    emulator = Emulator(config or EmulatorConfig())
    routes: list[BaseRoute] = [
        Route(path, endpoint, methods=[method], name=f"{method} {path}")
        for method, path, endpoint in V1_ROUTES
    ]
    v1_routes = list(routes)
    routes += [
        Route("/_emulator/stats", _stats, methods=["GET"]),
        Route("/_emulator/stats/reset", _reset_stats, methods=["POST"]),
        Route("/_emulator/faults", _script_faults, methods=["POST"]),
    ]
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        # A backend request's body leaves with its headers, not a loop pass later (Python 3.11).
        eager_body_writes(asyncio.get_running_loop())
        yield
        await emulator.stop_runs()

    app = Starlette(
        lifespan=lifespan,
        routes=routes,
        middleware=[Middleware(EmulatorMiddleware, emulator=emulator, routes=v1_routes)],
        exception_handlers={
            RequestRefused: _api_error,
            HTTPException: _invalid_url,
            Exception: _server_error,
        },
    )
    app.state.emulator = emulator
    return app


async def _stats(request: Request) -> Response:
    return JSONResponse(request.app.state.emulator.stats.snapshot())


async def _reset_stats(request: Request) -> Response:
    emulator = request.app.state.emulator
    emulator.stats.reset()
    return JSONResponse(emulator.stats.snapshot())


async def _script_faults(request: Request) -> Response:
    try:
        spec = parse_json(await request.body() or b"{}")
        if not isinstance(spec, dict):
            raise ValueError("expected a JSON object")
        return JSONResponse(request.app.state.emulator.faults.script(spec))
    except (ValueError, TypeError) as error:
        return JSONResponse({"error": {"message": str(error), "type": "invalid_request_error",
                                       "param": None, "code": None}}, status_code=400)


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestRefused)
    return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers)


async def _invalid_url(request: Request, exc: Exception) -> Response:
    # The real API answered unknown paths and methods alike with 404 "Invalid URL".
    error = RequestRefused(404, f"Invalid URL ({request.method} {request.url.path})")
    return JSONResponse(error.body(), status_code=404)


async def _server_error(request: Request, exc: Exception) -> Response:
    error = RequestRefused(
        500,
        "The server had an error while processing your request. Sorry about that!",
        type="server_error",
    )
    return JSONResponse(error.body(), status_code=500)
