"""Shared test setup: no test touches the user's files, keys or servers."""

from __future__ import annotations

import ipaddress
import socket

import pytest

_CONNECTION_VARIABLES = (
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "OPENAI_ORG_ID",
    "OPENAI_PROJECT_ID",
    "SYNCER_MAX_RETRIES",
    "SYNCER_TIMEOUT",
    "SYNCER_JUDGE_BASE_URL",
    "SYNCER_JUDGE_API_KEY",
    "SYNCER_MAX_RESPONSE_BYTES",
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


_LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1", "", None}


def _is_loopback(host: object) -> bool:
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(str(host).split("%")[0]).is_loopback
    except ValueError:
        return False


@pytest.fixture(autouse=True, scope="session")
def loopback_only():
    """No test reaches past this machine: connecting or resolving anything else fails loudly."""
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex
    real_getaddrinfo = socket.getaddrinfo

    def check(address: object) -> None:
        if isinstance(address, tuple) and not _is_loopback(address[0]):
            raise OSError(f"tests may only connect to loopback, not {address[0]!r}")

    def connect(self, address):
        check(address)
        return real_connect(self, address)

    def connect_ex(self, address):
        check(address)
        return real_connect_ex(self, address)

    def getaddrinfo(host, *args, **kwargs):
        if not _is_loopback(host):
            raise socket.gaierror(f"tests may only resolve loopback names, not {host!r}")
        return real_getaddrinfo(host, *args, **kwargs)

    socket.socket.connect = connect
    socket.socket.connect_ex = connect_ex
    socket.getaddrinfo = getaddrinfo
    yield
    socket.socket.connect = real_connect
    socket.socket.connect_ex = real_connect_ex
    socket.getaddrinfo = real_getaddrinfo
