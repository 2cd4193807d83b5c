"""Restore into `syncer emulator --state FILE` (a separate process), restart it, mirror it:
the restored contents survived."""

from __future__ import annotations

import asyncio
import re
import signal
import sqlite3
import subprocess
import sys

from test_restore_resume import seed
from test_restore_roundtrip import KEY_A, KEY_B, assistants_of, restore, sync, thread_of

from syncer.emulator import EmulatorConfig, running_server


def start_emulator(state, port: int = 0) -> tuple[subprocess.Popen, str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "syncer", "emulator", "--state", str(state), "--port", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    line = process.stderr.readline()
    match = re.search(r"serving (http://127\.0\.0\.1:\d+/v1)", line)
    assert match, line + process.stderr.read()
    return process, match.group(1)


def stop(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGINT)  # Ctrl-C: the documented way to stop it
    process.wait(timeout=20)
    process.stderr.close()


def test_restore_into_a_persistent_emulator_survives_a_restart(tmp_path):
    source = tmp_path / "a.db"
    with running_server(EmulatorConfig()) as server_a:
        threads = asyncio.run(seed(server_a.base_url))
        sync(source, server_a.base_url, KEY_A, threads)

    state = tmp_path / "emulator-state.db"
    process, base_url = start_emulator(state)
    try:
        code, report = restore(source, base_url, "--yes")
        assert code == 0, report
        assert report["created"] == {"assistants": 3, "threads": 4, "messages": 12}
    finally:
        stop(process)
    assert state.exists()

    port = int(base_url.rsplit(":", 1)[1].split("/")[0])
    process, base_url_again = start_emulator(state, port)
    try:
        assert base_url_again == base_url
        # The same server again (same state, same address): the id map knows everything.
        code, report = restore(source, base_url, "--yes")
        assert code == 0 and report["requests"]["writes"] == 0
        conn = sqlite3.connect(source)
        restored = dict(conn.execute(
            "SELECT source_id, target_id FROM restore_map WHERE kind = 'thread' AND target = ?",
            (base_url,)))
        conn.close()
        mirror = tmp_path / "restored.db"
        sync(mirror, base_url, KEY_B, [restored[t] for t in threads])
    finally:
        stop(process)

    assert assistants_of(mirror) == assistants_of(source)
    for thread_id in threads:
        assert thread_of(mirror, restored[thread_id]) == thread_of(source, thread_id)
