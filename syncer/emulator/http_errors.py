"""Errors the emulator answers with, in the real API's shape.

Handlers raise `RequestRefused`; the app renders it as
``{"error": {"message", "type", "param", "code"}}`` with its HTTP status.
"""

from __future__ import annotations

from typing import Any


class RequestRefused(Exception):
    """An HTTP error answer of the Assistants API."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ):
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.param = param
        self.code = code
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return {
            "error": {
                "message": self.message,
                "type": self.type,
                "param": self.param,
                "code": self.code,
            }
        }


def not_found(kind: str, object_id: str) -> RequestRefused:
    """404 "No assistant found with id 'asst_x'." (kind: assistant, thread, message, run, run step)."""
    return RequestRefused(404, f"No {kind} found with id '{object_id}'.")


def bad_request(message: str, *, param: str | None = None, code: str | None = None) -> RequestRefused:
    return RequestRefused(400, message, param=param, code=code)
