"""One sync / restore / migrate at a time per mirror: an flock the kernel releases with its
holder; a second one is refused naming the first (or waits); readers are never blocked."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from support.mirrors import sync
from support.restore import KEY_A, KEY_B, seed

from syncer.archive.restore import open_archive
from syncer.cli import cli
from syncer.emulator import EmulatorConfig, running_server
from syncer.errors import MirrorError
from syncer.mirror.lock import acquire, command_line, lock_path
from syncer.mirror.store import open_mirror

HOLD = """
import sys, time
from syncer.mirror.store import open_mirror
store = open_mirror(sys.argv[1], "write", lock="restore")
print("held", flush=True)
time.sleep(120)
"""


def _holder(mirror: Path) -> subprocess.Popen:
    process = subprocess.Popen([sys.executable, "-c", HOLD, str(mirror), "--api-key", "sk-hide"],
                               stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None and process.stdout.readline().strip() == "held"
    return process


@pytest.fixture
def mirror(tmp_path):
    path = tmp_path / "m.db"
    with open_mirror(path, "create"):
        pass
    return path


def test_a_second_holder_is_refused_naming_the_first_and_kill_9_leaves_no_stale_lock(mirror):
    process = _holder(mirror)
    try:
        with pytest.raises(MirrorError) as refused:
            open_mirror(mirror, "write", lock="restore")
        line = str(refused.value)
        assert "\n" not in line
        assert f"another restore holds this mirror: pid {process.pid} " in line
        assert "sk-hide" not in line and "--api-key ***" in line
        assert " since 20" in line and "--lock-timeout" in line
        # Readers are never blocked, and other operations have their own lock.
        with open_mirror(mirror, "read") as store:
            assert store.meta() == {}
        with open_mirror(mirror, "write", lock="sync"):
            pass
    finally:
        process.send_signal(signal.SIGKILL)
        process.communicate()
    # The kernel released it with the process: the file may stay, the lock does not.
    with open_mirror(mirror, "write", lock="restore") as store:
        assert store.lock is not None and store.lock.held
        holder = json.loads(Path(lock_path(str(mirror), "restore")).read_text())
        assert holder["pid"] == os.getpid()
    assert not Path(lock_path(str(mirror), "restore")).exists()  # released and removed


def test_waiting_for_the_holder_with_a_timeout(mirror):
    first = acquire(str(mirror), "sync")
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        first.release()  # the holder finishes while the second waits

    second = acquire(str(mirror), "sync", timeout=30, sleep=sleep)
    assert second.held and len(waits) == 1
    second.release()
    third = acquire(str(mirror), "sync")
    clock = iter([0.0, 0.0, 31.0])
    with pytest.raises(MirrorError, match=r"waited 30s"):
        acquire(str(mirror), "sync", timeout=30, sleep=lambda s: None, clock=lambda: next(clock))
    third.release()


def test_the_recorded_command_line_hides_secrets():
    assert command_line(["/usr/bin/syncer", "restore", "--api-key", "sk-1", "--yes",
                         "--api-key=sk-2", "--backend-api-key", "sk-3", "--db", "m.db"]) == (
        "syncer restore --api-key *** --yes --api-key=*** --backend-api-key *** --db m.db")


def test_sync_is_refused_while_another_sync_holds_the_mirror(mirror):
    with running_server(EmulatorConfig()) as server:
        held = acquire(str(mirror), "sync", command="syncer sync (the other one)")
        try:
            result = CliRunner().invoke(cli, ["sync", "--db", str(mirror), "--base-url",
                                              server.base_url, "--api-key", KEY_A, "-s"])
        finally:
            held.release()
        assert result.exit_code == 1
        assert result.output.count("\n") == 1
        assert "another sync holds this mirror" in result.output
        assert "(syncer sync (the other one))" in result.output
        assert server.stats()["requests"] == 0


def _restore(source: Path, base_url: str, *extra: str) -> subprocess.Popen:
    env = {**os.environ, "SYNCER_RETRY_BASE_DELAY": "0.001"}
    return subprocess.Popen(
        [sys.executable, "-m", "syncer", "restore", "--from", str(source), "--base-url", base_url,
         "--api-key", KEY_B, "--yes", *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def test_concurrent_restores_into_one_server_create_nothing_twice(tmp_path):
    source = tmp_path / "archive.db"
    with running_server(EmulatorConfig(api_key=KEY_A)) as server_a:
        thread_ids = asyncio.run(seed(server_a.base_url))
        sync(source, server_a.base_url, KEY_A, thread_ids)
    # Slow answers keep the first restore busy while the others start.
    with running_server(EmulatorConfig(api_key=KEY_B, latency_ms=300)) as target:
        first = _restore(source, target.base_url)
        lock = Path(lock_path(str(source), "restore"))
        deadline = time.monotonic() + 60
        while not (lock.exists() and lock.read_text()):
            assert time.monotonic() < deadline and first.poll() is None, first.communicate()
            time.sleep(0.02)
        holder = json.loads(lock.read_text())["pid"]
        assert holder == first.pid
        # A second restore (in this process) while the first holds the archive: refused at once.
        with pytest.raises(MirrorError, match=rf"another restore holds this mirror: pid {holder} "):
            open_archive(str(source))
        # A third waits for the first to finish.
        waiting = _restore(source, target.base_url, "--lock-timeout", "120")
        outcomes = {}
        for process in (first, waiting):
            out, err = process.communicate(timeout=120)
            assert process.returncode == 0, err
            outcomes[process.pid] = out
        # One of the two created everything; the other waited for it and found it all there.
        assert sorted("Nothing to create" in out for out in outcomes.values()) == [False, True]
        assert "Created 3 assistants, 4 threads, 12 messages" in outcomes[holder]
        routes = target.stats()["by_route"]
        assert routes["POST /v1/assistants"] == 3
        assert routes["POST /v1/threads"] == 4
