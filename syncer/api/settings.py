"""Connection settings: which server, which key, how hard to retry.

Read from the same environment variables as the official ``openai`` SDK, plus a few of
syncer's own:

    OPENAI_API_KEY            sent as ``Authorization: Bearer …`` (a ``SecretStr``: never printed)
    OPENAI_BASE_URL           the server (default https://api.openai.com/v1)
    OPENAI_ORG_ID             sent as ``OpenAI-Organization``
    OPENAI_PROJECT_ID         sent as ``OpenAI-Project``
    SYNCER_MAX_RETRIES        retries after the first attempt (default 5)
    SYNCER_TIMEOUT            seconds for one whole response, headers and body (default 600;
                              connecting: 5); an event stream's headers, then each of its reads
    SYNCER_MAX_RESPONSE_BYTES the largest response body read (default 256 MiB)
    SYNCER_RETRY_BASE_DELAY   first backoff delay in seconds (default 0.5; tests shorten it)

An empty variable counts as unset, as in most CI systems.
"""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from syncer import __version__
from syncer.errors import UsageError, validation_message

DEFAULT_BASE_URL = "https://api.openai.com/v1"
PUBLIC_API_HOST = "api.openai.com"

# field name -> environment variable
ENVIRONMENT_VARIABLES: dict[str, str] = {
    "api_key": "OPENAI_API_KEY",
    "base_url": "OPENAI_BASE_URL",
    "organization": "OPENAI_ORG_ID",
    "project": "OPENAI_PROJECT_ID",
    "max_retries": "SYNCER_MAX_RETRIES",
    "timeout": "SYNCER_TIMEOUT",
    "retry_base_delay": "SYNCER_RETRY_BASE_DELAY",
    "max_response_bytes": "SYNCER_MAX_RESPONSE_BYTES",
}
#: The largest response body read by default: a page of 100 objects at their limits, with room.
MAX_RESPONSE_BYTES = 256 * 1024 * 1024


class ClientSettings(BaseModel):
    """Everything the client needs to reach a server. Immutable; the key is a ``SecretStr``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    api_key: SecretStr | None = None
    base_url: str = DEFAULT_BASE_URL
    organization: str | None = None
    project: str | None = None
    max_retries: int = Field(5, ge=0, le=100)
    timeout: float = Field(600.0, gt=0)
    connect_timeout: float = Field(5.0, gt=0)
    retry_base_delay: float = Field(0.5, ge=0)
    retry_max_delay: float = Field(8.0, ge=0)
    max_response_bytes: int = Field(MAX_RESPONSE_BYTES, gt=0)

    @field_validator("base_url")
    @classmethod
    def _check_base_url(cls, value: str) -> str:
        parts = urlsplit(value.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"expected an http(s) URL such as http://127.0.0.1:8000/v1, got {value!r}")
        if parts.username or parts.password:
            # A URL with credentials would leak them into every error message.
            raise ValueError("the URL must not contain a user name or password")
        return value.strip().rstrip("/")

    @classmethod
    def from_env(cls, **overrides: Any) -> ClientSettings:
        """Settings from the environment; keyword arguments (when not None) win.

        Raises ``UsageError`` naming the variable or option that holds a bad value.
        """
        values: dict[str, Any] = {}
        sources: dict[str, str] = {}
        for field, variable in ENVIRONMENT_VARIABLES.items():
            raw = os.environ.get(variable, "").strip()
            if raw:
                values[field] = raw
                sources[field] = variable
        for field, value in overrides.items():
            if value is not None:
                values[field] = value
                sources[field] = "--" + field.replace("_", "-")
        try:
            return cls(**values)
        except ValidationError as exc:
            problems = []
            for error in exc.errors():
                field = str(error["loc"][0]) if error["loc"] else "settings"
                where = sources.get(field, field)
                # Never echo the offending input: for api_key it is the secret itself.
                problems.append(f"{where}: {validation_message(error)}")
            raise UsageError("invalid connection settings: " + "; ".join(problems)) from None

    @property
    def user_agent(self) -> str:
        return f"syncer/{__version__}"

    @property
    def is_public_api(self) -> bool:
        """True when pointed at OpenAI's public service (whose Assistants API is shut down)."""
        return urlsplit(self.base_url).hostname == PUBLIC_API_HOST

    @property
    def server_key(self) -> str:
        """How id maps (restore_map, migrate_map) name this server: the base URL, plus the
        organisation and project when set. Never the key."""
        return server_key(self.base_url, self.organization, self.project)

    def default_headers(self) -> dict[str, str]:
        """Headers sent with every request, except ``Authorization`` (added per request)."""
        headers = {
            "OpenAI-Beta": "assistants=v2",
            "User-Agent": self.user_agent,
            "Accept": "application/json",
        }
        if self.organization:
            headers["OpenAI-Organization"] = self.organization
        if self.project:
            headers["OpenAI-Project"] = self.project
        return headers

    def require_key(self) -> str:
        """The API key in clear; ``UsageError`` when there is none (checked before any work)."""
        key = self.secret()
        if not key:
            raise UsageError(
                "no API key: set OPENAI_API_KEY or pass --api-key "
                "(a local `syncer emulator` accepts any key, e.g. OPENAI_API_KEY=sk-local)"
            )
        return key

    def secret(self) -> str | None:
        """The API key in clear, for the Authorization header and for redaction only."""
        return self.api_key.get_secret_value() if self.api_key is not None else None


def server_key(base_url: str, organization: str | None = None, project: str | None = None) -> str:
    """A server as id maps name it: its base URL, plus ``org=`` / ``project=`` when set."""
    key = base_url.rstrip("/")
    if organization:
        key += f" org={organization}"
    if project:
        key += f" project={project}"
    return key
