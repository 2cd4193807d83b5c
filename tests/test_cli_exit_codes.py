"""Honest exit codes and output (issue 13, items 14, 15, 19, 20).

Usage errors exit 1 (2 means "changes present" for `plan --detailed-exitcode`); Ctrl-C and
SIGTERM exit 130 and leave a sync recorded `interrupted` (real signals to real processes);
`search` exits 1 when nothing matches; `threads remove` of an untracked id says so; with
`--json`, a failure also prints `{"error": {...}}` on stdout.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from syncer.cli import cli
from syncer.emulator import EmulatorConfig, running_server
from syncer.emulator.generate import generate_account

KEY = "sk-exit-codes-test"


def run(*args: str, **env: str) -> click.testing.Result:
    return CliRunner().invoke(cli, list(args), env={"OPENAI_API_KEY": KEY, **env},
                              catch_exceptions=False)


def every_command() -> list[list[str]]:
    """The command path of every command and subcommand."""
    paths = []
    for name, command in sorted(cli.commands.items()):
        if isinstance(command, click.Group):
            paths += [[name, sub] for sub in sorted(command.commands)]
        else:
            paths.append([name])
    return paths


# --- item 14: usage errors exit 1 ---------------------------------------------------------------


@pytest.mark.parametrize("path", every_command(), ids=" ".join)
def test_a_wrong_flag_exits_1_on_every_command(path):
    result = run(*path, "--no-such-flag")
    assert result.exit_code == 1, result.output
    assert "Error: No such option '--no-such-flag'." in result.stderr
    assert "Traceback" not in result.output


def test_usage_errors_never_read_as_changes_present(tmp_path):
    (tmp_path / "a.yaml").write_text("name: A\nmodel: m\n")
    for args in (["plan", str(tmp_path), "--detailed-exitcode", "--prun"],
                 ["nosuchcommand"], ["search"], ["search", "x", "--limit", "0"]):
        result = run(*args)
        assert result.exit_code == 1, (args, result.output)


# --- item 20: --json failures print an error object ---------------------------------------------


def test_json_failure_prints_an_error_object_and_the_line(tmp_path):
    (tmp_path / "a.yaml").write_text("name: A\nmodel: m\ntemperature: 9\n")
    result = run("plan", str(tmp_path), "--json")
    assert result.exit_code == 1
    problem = f"{tmp_path / 'a.yaml'}:3: temperature: Input should be less than or equal to 2"
    assert result.stderr == f"Error: {problem}\n"
    error = json.loads(result.stdout)["error"]
    assert error["type"] == "ConfigError" and error["problems"] == [problem]
    assert error["exit_code"] == 1


def test_json_failure_of_a_missing_mirror_and_of_a_usage_error(tmp_path):
    missing = run("status", "--db", str(tmp_path / "none.db"), "--json")
    assert missing.exit_code == 1
    assert json.loads(missing.stdout)["error"]["type"] == "MirrorError"
    assert missing.stderr.startswith("Error: ")
    usage = run("search", "x", "--json", "--limit", "0")
    assert usage.exit_code == 1
    error = json.loads(usage.stdout)["error"]
    assert error["type"] == "UsageError" and "--limit" in error["message"]


def test_json_failure_of_an_unreachable_server_names_no_key(tmp_path):
    result = run("sync", "--db", str(tmp_path / "m.db"), "--base-url", "http://127.0.0.1:9/v1",
                 "--max-retries", "0", "--json", "-s")
    assert result.exit_code == 1
    error = json.loads(result.stdout)["error"]
    assert error["type"] == "APIConnectionError" and error["exit_code"] == 1
    assert KEY not in result.output


# --- item 19: search, threads remove ------------------------------------------------------------


def test_search_exits_1_when_nothing_matches(tmp_path):
    db = str(tmp_path / "m.db")
    assert run("threads", "add", "thread_a", "--db", db).exit_code == 0
    text = run("search", "nothing", "--db", db)
    assert (text.exit_code, text.stdout, text.stderr) == (1, "", "No matches\n")
    as_json = run("search", "nothing", "--db", db, "--json")
    assert (as_json.exit_code, json.loads(as_json.stdout)) == (1, [])


def test_threads_remove_of_an_untracked_id_says_so(tmp_path):
    db = str(tmp_path / "m.db")
    assert run("threads", "add", "thread_a", "--db", db).exit_code == 0
    result = run("threads", "remove", "thread_zzz", "thread_a", "--db", db, "-s")
    assert result.exit_code == 1
    assert result.stderr == "Error: thread_zzz is not tracked (nothing to remove)\n"
    assert run("threads", "list", "--db", db).stdout == ""  # thread_a was still removed


# --- item 15: Ctrl-C and SIGTERM ----------------------------------------------------------------


@pytest.mark.skipif(sys.platform == "win32", reason="sends POSIX signals")
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_stopped_sync_exits_130_and_is_recorded_interrupted(tmp_path, signum):
    account = tmp_path / "account.json"
    account.write_text(json.dumps(generate_account(seed=3, assistants=1, threads=40,
                                                   messages_per_thread=4, runs_per_thread=1)))
    threads = [t["id"] for t in json.loads(account.read_text())["threads"]]
    db = tmp_path / "m.db"
    with running_server(EmulatorConfig(load=account, latency_ms=100)) as server:
        env = {**os.environ, "OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": server.base_url}
        assert run("threads", "add", *threads, "--db", str(db)).exit_code == 0
        process = subprocess.Popen(
            [sys.executable, "-m", "syncer", "sync", "--db", str(db), "--concurrency", "1", "-s"],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and not _synced_a_thread(db):
                time.sleep(0.05)
            process.send_signal(signum)
            _, err = process.communicate(timeout=60)
        finally:
            if process.poll() is None:
                process.kill()
    assert process.returncode == 130, err
    assert "Aborted!" not in err and "Traceback" not in err
    assert err.strip().splitlines()[-1] == "Interrupted."
    conn = sqlite3.connect(db)
    [(status, errors)] = conn.execute("SELECT status, errors FROM syncs").fetchall()
    conn.close()
    assert (status, json.loads(errors)) == ("interrupted", ["sync interrupted"])


def _synced_a_thread(db: Path) -> bool:
    try:
        with sqlite3.connect(db) as conn:
            return conn.execute("SELECT count(*) FROM threads").fetchone()[0] > 0
    except sqlite3.OperationalError:
        return False
