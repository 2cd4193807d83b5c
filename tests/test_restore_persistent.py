"""Restore into `syncer emulator --state FILE` (a separate process), restart it, mirror it:
the restored contents survived."""

from __future__ import annotations

import asyncio
import sqlite3

from support.mirrors import sync
from support.restore import KEY_A, KEY_B, assistants_of, restore, seed, thread_of

from syncer.emulator import EmulatorConfig, emulator_process, running_server


def test_restore_into_a_persistent_emulator_survives_a_restart(tmp_path):
    source = tmp_path / "a.db"
    with running_server(EmulatorConfig()) as server_a:
        threads = asyncio.run(seed(server_a.base_url))
        sync(source, server_a.base_url, KEY_A, threads)

    state = tmp_path / "emulator-state.db"
    # Stopped with Ctrl-C (SIGINT), the documented way, between the two runs.
    with emulator_process("--state", str(state)) as base_url:
        code, report = restore(source, base_url, "--yes")
        assert code == 0, report
        assert report["created"] == {"assistants": 3, "threads": 4, "messages": 12}
    assert state.exists()

    port = int(base_url.rsplit(":", 1)[1].split("/")[0])
    with emulator_process("--state", str(state), port=port) as base_url_again:
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

    assert assistants_of(mirror) == assistants_of(source)
    for thread_id in threads:
        assert thread_of(mirror, restored[thread_id]) == thread_of(source, thread_id)
