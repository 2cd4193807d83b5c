"""Shared test setup: no test touches the user's files, keys or servers; and the fixtures
most tests stand on.

    def test_x(emulator, mirror):
        server = emulator(run_ms=5, api_key=KEY)    # EmulatorConfig's keywords; stopped at teardown
        sync(mirror, server.base_url, KEY, [])     # support.mirrors.sync: the real `syncer sync`

    async def test_y(client):                       # an AssistantsClient on a fresh emulator
        await client.create_assistant({"model": "gpt-4o"})

Code shared by test modules lives in tests/support/ (a package, never collected); a test
module never imports another (tests/test_isolation.py checks it).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from support.gitops import Server
from support.mirrors import sync
from support.restore import KEY_A, seed_account

from syncer.api.client import AssistantsClient
from syncer.api.settings import ClientSettings
from syncer.emulator import EmulatorConfig, RunningServer, running_server

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


# --- emulators, clients, mirrors ------------------------------------------------------------------

#: The bearer key the ``client`` fixture sends (a default emulator accepts any key).
CLIENT_KEY = "sk-test-client-0123456789"


@pytest.fixture
def emulator() -> Iterator[Callable[..., RunningServer]]:
    """Start emulators over real HTTP on loopback; every one is stopped when the test ends.

    ``emulator(**options)`` takes EmulatorConfig's keywords (``run_ms=5, api_key=KEY, load=path``);
    ``emulator(config)`` takes a config the test built. Each call is a new, empty server.
    A test that must stop a server part-way (a restart, a --state file) uses
    ``running_server`` itself.
    """
    with ExitStack() as servers:

        def start(config: EmulatorConfig | None = None, **options: Any) -> RunningServer:
            if config is not None and options:
                raise TypeError("emulator() takes a config or keywords, not both")
            return servers.enter_context(running_server(config or EmulatorConfig(**options)))

        yield start


@pytest.fixture
async def client(emulator: Callable[..., RunningServer]) -> AsyncIterator[AssistantsClient]:
    """An AssistantsClient bound to a fresh default emulator (key ``CLIENT_KEY``)."""
    server = emulator()
    settings = ClientSettings.from_env(base_url=server.base_url, api_key=CLIENT_KEY)
    async with AssistantsClient(settings) as bound:
        yield bound


@pytest.fixture
def mirror(tmp_path: Path) -> Path:
    """Where this test's mirror lives (``tmp_path / "mirror.db"``), not created yet: fill it
    with ``support.mirrors.sync`` (the real `syncer sync`) or the command under test."""
    return tmp_path / "mirror.db"


@pytest.fixture
def gitops_server(emulator: Callable[..., RunningServer]) -> Iterator[Server]:
    """A fresh default emulator seen through support.gitops.Server (raw HTTP beside syncer)."""
    helper = Server(emulator())
    yield helper
    helper.http.close()


# --- restore's source: account A, mirrored once per module ---------------------------------------


@pytest.fixture(scope="module")
def account_a(tmp_path_factory):
    """Account A on one emulator, mirrored into a.db (built once for this module)."""
    folder = tmp_path_factory.mktemp("account_a")
    with running_server(EmulatorConfig(run_ms=0)) as server:
        ids = asyncio.run(seed_account(server.base_url))
        db = folder / "a.db"
        sync(db, server.base_url, KEY_A, [ids["chat"], ids["files"], ids["crowded"], ids["empty"]])
        yield db, ids


@pytest.fixture
def source_copy(account_a, tmp_path):
    """A private copy of a.db: restore writes its id map into the source mirror."""
    db, ids = account_a
    copy = tmp_path / "a.db"
    src, dst = sqlite3.connect(db), sqlite3.connect(copy)
    src.backup(dst)
    src.close()
    dst.close()
    return copy, ids
