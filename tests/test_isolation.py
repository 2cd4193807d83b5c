"""The suite's own guard rails: no test reaches the internet or the user's settings."""

from __future__ import annotations

import ast
import os
import socket
from collections.abc import Iterator
from pathlib import Path

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


TESTS = Path(__file__).resolve().parent


def _imported_modules(path: Path) -> Iterator[tuple[int, str]]:
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            yield from ((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against the importing file's folder
                folder = path.parent
                for _ in range(node.level - 1):
                    folder = folder.parent
                base = ".".join(folder.relative_to(TESTS).parts)
                names = [node.module] if node.module else [a.name for a in node.names]
                yield from ((node.lineno, ".".join(filter(None, [base, n]))) for n in names)
            elif node.module:
                yield node.lineno, node.module
                yield from ((node.lineno, f"{node.module}.{a.name}") for a in node.names)


def _is_test_module(name: str) -> bool:
    parts = name.split(".")
    if parts[0] == "tests":
        parts = parts[1:]
    return any(part.startswith("test_") or part.endswith("_test") for part in parts) and (
        (TESTS / Path(*parts)).with_suffix(".py").exists()
    )


def test_no_test_module_imports_another():
    """Shared code lives in tests/support/ or conftest fixtures: test modules stay independent
    (each runs alone, and pytest never collects one module's tests twice)."""
    offenders = [
        f"{path.relative_to(TESTS)}:{line} imports {name}"
        for path in sorted(TESTS.rglob("*.py"))
        for line, name in _imported_modules(path)
        if _is_test_module(name)
    ]
    assert offenders == []


def test_the_import_check_sees_a_test_module_import(tmp_path):
    source = "from test_sync_e2e import KEY\nimport tests.test_docs\nfrom support import mirrors\n"
    module = tmp_path / "probe.py"
    module.write_text(source)
    found = [name for _, name in _imported_modules(module) if _is_test_module(name)]
    assert found == ["test_sync_e2e", "tests.test_docs"]


def test_support_modules_are_not_collected():
    assert not [p for p in (TESTS / "support").rglob("*.py") if p.name.startswith("test_")]
