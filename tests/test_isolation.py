"""The suite's own guard rails: no test reaches the internet or the user's settings."""

from __future__ import annotations

import os
import socket

import pytest


def test_connecting_past_loopback_is_refused():
    with pytest.raises(OSError, match="loopback"):
        socket.create_connection(("192.0.2.1", 443), timeout=1)  # TEST-NET-1, never routed


def test_resolving_a_public_name_is_refused():
    with pytest.raises(OSError, match="loopback"):
        socket.getaddrinfo("api.openai.com", 443)


def test_loopback_still_works():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        with socket.create_connection(server.getsockname(), timeout=1):
            pass


def test_user_settings_are_not_visible(tmp_path):
    assert "OPENAI_API_KEY" not in os.environ
    assert "OPENAI_BASE_URL" not in os.environ
    assert os.environ["SYNCER_DB"] == str(tmp_path / "syncer.db")
