"""The hostile corpus (fixtures/hostile/): every case is run, and each must give one clear line,
the documented exit code (or HTTP status in the API's error shape), and nothing written or lost.

- configs/: `syncer plan DIR` on a directory holding only the case; no request reaches the server.
- responses/: `syncer sync` of a mirror whose server (a raw loopback server answering
  responses/server.json) answers one route with the case's bytes; the mirror keeps every row.
- exports/: `syncer load` of the case's directory into a mirror (unchanged after a refusal) and
  into a new file (none left behind after a refusal).
- bodies/: the case's bytes POSTed to one `syncer emulator` (once per module) over loopback; a
  4xx in the API's shape with a request id, and the emulator holds no more objects than before.

Each category's cases.json lists its cases: the data file, where it goes, what must come back.
A case may ask for its data to be expanded at run time ("expand": a marker replaced by a long
run of characters, so 20 MB inputs need not live in git) or for symlinks to be made.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner, Result
from fakes.raw_server import Answer, RawServer, Routes, answer, endless

from syncer.cli import cli
from syncer.emulator import EmulatorConfig, running_server

CORPUS = Path(__file__).resolve().parent.parent / "fixtures" / "hostile"
KEY = "sk-hostile-corpus-7d1f0c2b9a"
MIRROR_TABLES = ("assistants", "threads", "messages", "runs", "run_steps", "tracked_threads",
                 "sync_state", "meta")


def cases(category: str) -> list[Any]:
    listed = json.loads((CORPUS / category / "cases.json").read_text())["cases"]
    return [pytest.param(case, id=Path(case["file"]).stem) for case in listed]


def expanded(data: bytes, spec: dict[str, Any] | None) -> bytes:
    """The case's bytes with its marker replaced by ``times`` characters (``open``, then ``close``)."""
    if not spec:
        return data
    times = spec["times"]
    run = spec.get("open", "x").encode() * times + spec.get("close", "").encode() * times
    return data.replace(spec.get("marker", "@@HUGE@@").encode(), run)


def one_line(result: Result, expected: str) -> str:
    """The single line the command wrote on stderr; it holds ``expected`` and no traceback."""
    assert "Traceback" not in result.output, result.output[-2000:]
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr[-2000:]
    assert lines[0].startswith(("Error: ", "Warning: ")), lines[0]
    assert expected in lines[0], lines[0]
    assert KEY not in result.output
    return lines[0]


def snapshot(db: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every row a mirror holds that a hostile input must not change (the syncs log aside;
    ``last_seen_at`` and a cursor's ``updated_at`` move whenever a sync reads again)."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        rows = {}
        for table in MIRROR_TABLES:
            columns = [row[1] for row in conn.execute(f'PRAGMA table_info("{table}")')
                       if row[1] not in ("last_seen_at", "updated_at")]
            listed = ", ".join(f'"{column}"' for column in columns)
            rows[table] = sorted(conn.execute(f'SELECT {listed} FROM "{table}"').fetchall(),
                                 key=repr)
        return rows
    finally:
        conn.close()


def kept(before: dict[str, list[tuple[Any, ...]]], after: dict[str, list[tuple[Any, ...]]]) -> bool:
    """Every row of ``before`` is still in ``after`` (an accepted input may add rows)."""
    return all(set(rows) <= set(after[table]) for table, rows in before.items())


def copy_mirror(source: Path, target: Path) -> Path:
    for suffix in ("", "-wal", "-shm"):
        if Path(f"{source}{suffix}").exists():
            shutil.copy(f"{source}{suffix}", f"{target}{suffix}")
    return target


def no_mirror_at(db: Path) -> bool:
    return not any(Path(f"{db}{suffix}").exists() for suffix in ("", "-wal", "-shm"))


def tree(directory: Path) -> dict[str, bytes | str]:
    """What a directory holds (symlinks as their targets), to show nothing was written there."""
    return {str(p.relative_to(directory)): os.readlink(p) if p.is_symlink() else p.read_bytes()
            for p in sorted(directory.rglob("*")) if p.is_symlink() or p.is_file()}


# --- configs: syncer plan ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def counting_server() -> Iterator[RawServer]:
    """A server that answers nothing useful: configs must be refused before it is asked."""
    with RawServer(Routes()) as server:
        yield server


@pytest.mark.parametrize("case", cases("configs"))
def test_hostile_config(case, counting_server, tmp_path):
    directory = tmp_path / "assistants"
    directory.mkdir()
    source = CORPUS / "configs" / case["file"]
    (directory / source.name).write_bytes(expanded(source.read_bytes(), case.get("expand")))
    for name, target in case.get("symlinks", {}).items():
        os.symlink(target, directory / name)
    if case.get("fifo"):
        os.mkfifo(directory / case["fifo"])
    before = tree(directory)
    result = CliRunner().invoke(cli, ["plan", str(directory), "--max-retries", "0"], env={
        "OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": counting_server.base_url})
    assert result.exit_code == case["exit"], result.output[-2000:]
    one_line(result, case["line"])
    assert counting_server.requests == []
    assert tree(directory) == before


# --- responses: syncer sync against a hostile server -----------------------------------------


def raw_answer(case: dict[str, Any]) -> Answer:
    body = (CORPUS / "responses" / case["file"]).read_bytes()
    kind = case.get("answer", "plain")
    if kind == "endless":
        return endless(body)
    if kind == "truncated":  # the server promises more than it sends, then hangs up
        return answer(body, headers={"content-length": str(len(body) + 100)})
    return answer(body)


@pytest.fixture(scope="module")
def hostile_server(tmp_path_factory) -> Iterator[tuple[RawServer, Routes, Path]]:
    """The server of responses/server.json and a mirror of it (tracking its one thread)."""
    good = {route: answer(json.dumps(body).encode()) for route, body in
            json.loads((CORPUS / "responses" / "server.json").read_text()).items()}
    routes = Routes(good)
    template = tmp_path_factory.mktemp("responses") / "template.db"
    with RawServer(routes) as server:
        result = CliRunner().invoke(cli, [
            "sync", "--db", str(template), "-s", "--thread", "thread_hostile"],
            env={"OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": server.base_url})
        assert result.exit_code == 0, result.output
        assert snapshot(template)["messages"], "the template mirror holds the thread"
        yield server, routes, template
        routes.table = good


@pytest.mark.parametrize("case", cases("responses"))
def test_hostile_server_response(case, hostile_server, tmp_path):
    server, routes, template = hostile_server
    db = copy_mirror(template, tmp_path / "m.db")
    before = snapshot(db)
    good = dict(routes.table)
    routes.table = {**good, case["route"]: raw_answer(case)}
    try:
        result = CliRunner().invoke(cli, [
            "sync", "--db", str(db), "-s", "--max-retries", "0", "--timeout", "10",
            *case.get("args", [])], env={
            "OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": server.base_url,
            "SYNCER_MAX_RESPONSE_BYTES": str(1024 * 1024)})
    finally:
        routes.table = good
    assert result.exit_code == case["exit"], result.output[-2000:]
    one_line(result, case["line"])
    assert snapshot(db) == before


# --- exports: syncer load ---------------------------------------------------------------------


def rechecksum(directory: Path) -> None:
    """Make the manifest agree with the files again (for cases expanded at run time)."""
    manifest = json.loads((directory / "manifest.json").read_text())
    for entry in manifest["tables"].values():
        data = (directory / entry["file"]).read_bytes()
        entry["sha256"] = hashlib.sha256(data).hexdigest()
        entry["count"] = data.count(b"\n")
    (directory / "manifest.json").write_text(json.dumps(manifest, indent=2))


@pytest.fixture(scope="module")
def loaded_mirror(tmp_path_factory) -> Path:
    """A mirror loaded from exports/good: the mirror a hostile export is loaded into."""
    db = tmp_path_factory.mktemp("exports") / "loaded.db"
    result = CliRunner().invoke(cli, ["load", str(CORPUS / "exports" / "good"), "--db", str(db),
                                      "-s"])
    assert result.exit_code == 0, result.output
    return db


@pytest.mark.parametrize("case", cases("exports"))
def test_hostile_export(case, loaded_mirror, tmp_path):
    exports = tmp_path / "exports"
    shutil.copytree(CORPUS / "exports" / "good", exports / "good")
    directory = exports / case["file"]
    shutil.copytree(CORPUS / "exports" / case["file"], directory, symlinks=True)
    for name, target in case.get("symlinks", {}).items():
        os.symlink(target, directory / name)
    if "expand" in case:
        file = directory / case["expand"]["file"]
        file.write_bytes(expanded(file.read_bytes(), case["expand"]))
        rechecksum(directory)
    before_files = tree(exports)

    into = copy_mirror(loaded_mirror, tmp_path / "mirror.db")
    before = snapshot(into)
    result = CliRunner().invoke(cli, ["load", str(directory), "--db", str(into), "-s"])
    assert result.exit_code == case["exit"], result.output[-2000:]
    one_line(result, case["line"])
    assert kept(before, snapshot(into)) if case["exit"] == 0 else snapshot(into) == before

    fresh = tmp_path / "fresh.db"
    result = CliRunner().invoke(cli, ["load", str(directory), "--db", str(fresh), "-s"])
    assert result.exit_code == case["exit"], result.output[-2000:]
    one_line(result, case["line"])
    if case["exit"] != 0:
        assert no_mirror_at(fresh)
    assert tree(exports) == before_files


# --- bodies: the emulator over loopback ------------------------------------------------------


@pytest.fixture(scope="module")
def emulator():
    with running_server(EmulatorConfig(api_key=KEY, run_ms=0)) as server:
        yield server


def object_counts(server: Any) -> dict[str, int]:
    return {kind: len(objects) for kind, objects in server.emulator.store.objects.items()}


@pytest.mark.parametrize("case", cases("bodies"))
def test_hostile_request_body(case, emulator):
    method, path = case["route"].split(" ", 1)
    body = expanded((CORPUS / "bodies" / case["file"]).read_bytes(), case.get("expand"))
    before = object_counts(emulator)
    with httpx.Client(base_url=emulator.url, timeout=30) as client:
        response = client.request(method, path, content=body, headers={
            "Authorization": f"Bearer {KEY}", "OpenAI-Beta": "assistants=v2",
            "Content-Type": case.get("content_type", "application/json")})
    assert response.status_code == case["status"], response.text[:500]
    assert response.headers["x-request-id"].startswith("req_")
    payload = response.json()
    assert set(payload) == {"error"}
    error = payload["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["type"] == "invalid_request_error" and error["code"] == case["code"]
    assert case["message"] in error["message"] and "Traceback" not in error["message"]
    assert object_counts(emulator) == before
    assert emulator.stats()["by_status"].get("500", 0) == 0
