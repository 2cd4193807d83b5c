"""Every exception syncer raises on purpose.

The CLI turns any ``SyncerError`` into a one-line message and a non-zero exit;
anything else is a bug and keeps its traceback.

    SyncerError
    ├── UsageError                 bad arguments or input files (config, threads file, …)
    │   └── ConfigError            an assistant config file is invalid (carries every problem)
    ├── MirrorError                the mirror database is unusable (corrupt, other server, …)
    ├── APIError                   anything that went wrong talking to a server
    │   ├── APIConnectionError     no HTTP answer: refused, reset, DNS, TLS …
    │   │   └── APITimeoutError    no answer in time
    │   ├── APIResponseError       an answer that is not what the API promises (bad JSON, bad SSE)
    │   └── APIStatusError         an HTTP error status, with the API's error body
    │       ├── BadRequestError            400
    │       ├── AuthenticationError        401
    │       ├── PermissionDeniedError      403
    │       ├── NotFoundError              404
    │       │   └── AssistantsShutDownError  404 from the public service, shut down 2026-08-26
    │       ├── ConflictError              409
    │       ├── UnprocessableEntityError   422
    │       ├── RateLimitError             429
    │       └── InternalServerError        ≥ 500
    └── RunError                   a run ended badly or did not end in time (replay, demo)

No exception, message or repr ever contains the API key: the client never puts
it anywhere but the ``Authorization`` header, and ``redact()`` is applied to
every message built from text a server sent back.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any


class SyncerError(Exception):
    """Base class: a problem syncer can explain in one line."""


class UsageError(SyncerError):
    """The user's arguments or input files are wrong."""


class ConfigError(UsageError):
    """One or more problems in assistant config files.

    ``problems`` holds one ``path:line: field: message`` string each.
    """

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


class MirrorError(SyncerError):
    """The mirror database cannot be used as asked."""


class RunError(SyncerError):
    """A run failed, was cancelled, or did not finish in time."""


class APIError(SyncerError):
    """Talking to the server failed."""

    def __init__(
        self,
        message: str,
        *,
        method: str | None = None,
        url: str | None = None,
        request_id: str | None = None,
    ):
        self.message = message
        self.method = method
        self.url = url
        self.request_id = request_id
        # Set by the client when it gives up on a retryable error: the attempts it sent.
        self.attempts = 1
        super().__init__(message)

    def _describe(self) -> str:
        return self.message

    def __str__(self) -> str:
        head = f"gave up after {self.attempts} attempts: " if self.attempts > 1 else ""
        return head + self._describe()


class APIConnectionError(APIError):
    """The request got no HTTP answer."""


class APITimeoutError(APIConnectionError):
    """The request timed out."""


class APIResponseError(APIError):
    """The server answered with something the API never sends."""


class APIStatusError(APIError):
    """The server answered with an HTTP error status.

    Carries the status, the API's ``error.type``/``code``/``param``/``message``
    and the ``x-request-id`` header.
    """

    status_code: int = 0

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        error_type: str | None = None,
        code: str | None = None,
        param: str | None = None,
        body: Any = None,
        method: str | None = None,
        url: str | None = None,
        request_id: str | None = None,
    ):
        self.status_code = status_code
        self.error_type = error_type
        self.code = code
        self.param = param
        self.body = body
        super().__init__(message, method=method, url=url, request_id=request_id)

    def _describe(self) -> str:
        parts = [f"HTTP {self.status_code}"]
        if self.code:
            parts.append(self.code)
        elif self.error_type:
            parts.append(self.error_type)
        head = " ".join(parts)
        tail = f" (request id {self.request_id})" if self.request_id else ""
        return f"{head}: {self.message}{tail}"


class BadRequestError(APIStatusError):
    status_code = 400


class AuthenticationError(APIStatusError):
    status_code = 401


class PermissionDeniedError(APIStatusError):
    status_code = 403


class NotFoundError(APIStatusError):
    status_code = 404


class AssistantsShutDownError(NotFoundError):
    """The public OpenAI service answered 404: its Assistants API is gone."""


class ConflictError(APIStatusError):
    status_code = 409


class UnprocessableEntityError(APIStatusError):
    status_code = 422


class RateLimitError(APIStatusError):
    status_code = 429


class InternalServerError(APIStatusError):
    status_code = 500


_BY_STATUS: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    422: UnprocessableEntityError,
    429: RateLimitError,
}


def status_error_class(status_code: int) -> type[APIStatusError]:
    """The exception class for an HTTP error status."""
    if status_code >= 500:
        return InternalServerError
    return _BY_STATUS.get(status_code, APIStatusError)


def redact(text: str, secret: str | None) -> str:
    """``text`` with every occurrence of ``secret`` (and its tail) masked."""
    if not secret:
        return text
    if len(secret) < 8:
        # A toy key for a local server ("x", "test"): mask it only where it stands alone,
        # or every "test" inside a word would become "sk-***".
        pattern = rf"(?<![A-Za-z0-9]){re.escape(secret)}(?![A-Za-z0-9])"
        return re.sub(pattern, "sk-***", text)
    text = text.replace(secret, "sk-***")
    # Servers sometimes echo only the end of a key ("...ab12"): mask that too.
    if len(secret) >= 8:
        text = text.replace(secret[-8:], "***")
    return text


def validation_message(error: Mapping[str, Any]) -> str:
    """One pydantic error's message for a person: a validator's own words without pydantic's
    "Value error, " prefix."""
    return str(error.get("msg", "invalid value")).removeprefix("Value error, ")
