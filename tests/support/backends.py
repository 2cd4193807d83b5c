"""The emulator's chat backend as the tests configure it: a known key, short timeouts, and
retries that never sleep for real."""

from __future__ import annotations

from syncer.emulator.backends.chat import ChatBackend, backend_settings

BACKEND_KEY = "sk-backend-SECRET-0123456789abcdef"
CLIENT_KEY = "sk-client-key-abcdef0123456789"


async def no_sleep(delay: float) -> None:
    """Retries wait for nothing (the delays are the client's; tested in test_client_retries)."""


def chat_backend(url: str, **settings) -> ChatBackend:
    values = {"max_retries": 2, "timeout": 5.0, **settings}
    return ChatBackend(backend_settings(url, environ={"SYNCER_BACKEND_API_KEY": BACKEND_KEY}, **values),
                       sleep=no_sleep)
