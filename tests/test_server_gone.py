"""A server that stops answering mid-command: sync and restore stop with one line after a few
units of work in a row got no answer, keep what was done, and exit 1 (they used to fail every
remaining thread the same way, one retry cycle each)."""

from __future__ import annotations

import asyncio
import re
import sqlite3

from click.testing import CliRunner
from hostile_proxy import hostile_proxy
from support.hostile import KEY
from support.hostile import seed as seed_threads
from support.mirrors import sync
from support.restore import KEY_A, KEY_B, seed

from syncer.cli import cli
from syncer.emulator import EmulatorConfig, running_server


def errors(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith("Error: ")]


def test_sync_stops_when_the_server_stops_answering(tmp_path, monkeypatch):
    monkeypatch.setenv("SYNCER_RETRY_BASE_DELAY", "0.001")
    db = tmp_path / "m.db"
    with running_server(EmulatorConfig(api_key=KEY)) as server:
        thread_ids = asyncio.run(seed_threads(server.base_url, threads=12))
        with hostile_proxy(server.base_url) as proxy:
            # The assistants page and the first thread (GET, messages, runs), then silence.
            proxy.die_after(4)
            args = ["sync", "--db", str(db), "--base-url", proxy.base_url, "--api-key", KEY,
                    "--concurrency", "1", "--max-retries", "1", "-s"]
            for thread_id in thread_ids:
                args += ["--thread", thread_id]
            result = CliRunner().invoke(cli, args)
    assert result.exit_code == 1
    [line] = errors(result.output)
    assert re.match(r"Error: the server stopped answering \([34] threads in a row got no "
                    r"answer; last: gave up after 2 attempts: ", line), line
    assert "what was synced is kept" in line
    # Stopped early: the 12 threads were not each tried (two requests per thread with a retry).
    assert proxy.dropped <= 2 * 5
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT count(*) FROM assistants").fetchone()[0] == 1
    assert conn.execute("SELECT count(*) FROM messages").fetchone()[0] == 2
    status, logged = conn.execute("SELECT status, errors FROM syncs").fetchone()
    assert status == "failed" and "the server stopped answering" in logged
    conn.close()


def test_restore_stops_when_the_server_stops_answering(tmp_path, monkeypatch):
    monkeypatch.setenv("SYNCER_RETRY_BASE_DELAY", "0.001")
    source = tmp_path / "archive.db"
    with running_server(EmulatorConfig(api_key=KEY_A)) as server_a:
        thread_ids = asyncio.run(seed(server_a.base_url))
        sync(source, server_a.base_url, KEY_A, thread_ids)
    with running_server(EmulatorConfig(api_key=KEY_B)) as target, \
            hostile_proxy(target.base_url) as proxy:
        proxy.die_after(2)  # the plan's listing of the target and the first create
        result = CliRunner().invoke(cli, [
            "restore", "--from", str(source), "--base-url", proxy.base_url, "--api-key", KEY_B,
            "--yes", "--max-retries", "0", "--concurrency", "1"])
    assert result.exit_code == 1, result.output
    [line] = errors(result.output)
    assert line.startswith("Error: the server stopped answering (3 objects in a row")
    assert "run restore again to finish" in line
    assert proxy.dropped == 3  # then it stopped trying
    conn = sqlite3.connect(source)
    assert conn.execute("SELECT count(*) FROM restore_map WHERE status = 'done'").fetchone()[0] == 1
    conn.close()
