"""Shared test setup: no test touches the user's files, keys or servers."""

from __future__ import annotations

import pytest

_CONNECTION_VARIABLES = (
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "OPENAI_ORG_ID",
    "OPENAI_PROJECT_ID",
    "SYNCER_MAX_RETRIES",
    "SYNCER_TIMEOUT",
)


@pytest.fixture(autouse=True)
def isolated_environment(tmp_path, monkeypatch):
    """Point every state path at tmp_path and drop the user's connection settings.

    Backoff is shortened through the documented SYNCER_RETRY_BASE_DELAY so end-to-end tests
    against a faulty server never wait out real delays; tests of the backoff itself pass
    their own settings and an injected sleep.
    """
    for name in _CONNECTION_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SYNCER_DB", str(tmp_path / "syncer.db"))
    monkeypatch.setenv("SYNCER_RETRY_BASE_DELAY", "0.001")
    yield
