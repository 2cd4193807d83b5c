"""The demo's replay step: a sample thread passes on its own assistant, regresses on a changed config."""

from __future__ import annotations

import re
import sqlite3

from rich.console import Console

from syncer.cli.demo import Demo, replay_changed_config
from syncer.emulator import EmulatorConfig, running_server
from syncer.emulator.generate import sample_account_path


def test_demo_replay_step_shows_a_pass_then_the_changed_configs_regressions(tmp_path):
    console = Console(record=True, width=160, force_terminal=False)
    with running_server(EmulatorConfig(load=sample_account_path(), run_ms=5)) as server:
        demo = Demo(console=console, base_url=server.base_url, api_key="sk-demo-local",
                    workdir=tmp_path)
        replay_changed_config(demo)
        left = server.stats()
    text = console.export_text()
    same_id, candidate_id = demo.notes["replay_ids"]
    # Both replays' tables and summaries are shown, with their exit codes.
    first, second = text.split("--assistant", 1)
    assert re.search(r"1 threads, (\d+) turns: \1 pass, 0 regression", first), first
    assert "exit code 0" in first
    assert re.search(r"1 threads, (\d+) turns: 0 pass, \1 regression", second), second
    assert "exit code 3" in second and "regression" in second
    # The Markdown report was written and holds the side-by-side replies.
    report = (tmp_path / "replay.md").read_text()
    assert f"# Replay {candidate_id}" in report and "| recorded | new |" in report
    # Both replays are stored; the temporary candidate assistant is gone again.
    conn = sqlite3.connect(tmp_path / "replay-mirror.db")
    assert dict(conn.execute("SELECT id, status FROM replays")) == {
        same_id: "complete", candidate_id: "complete"}
    conn.close()
    assert left["by_route"].get("POST /v1/assistants") == 1
    assert left["by_route"].get("DELETE /v1/assistants/{assistant_id}") == 1
