"""The demo's mirror step: the sample account synced into a mirror, then `search` and `show`."""

from __future__ import annotations

import json
import sqlite3

import pytest
from rich.console import Console

from syncer.cli.demo import Demo, mirror
from syncer.emulator import EmulatorConfig, running_server
from syncer.emulator.generate import sample_account_path
from syncer.errors import SyncerError

KEY = "sk-demo-mirror-0123456789"


def test_demo_mirror_step_syncs_searches_and_shows(tmp_path, capsys):
    console = Console(record=True, width=200)
    account = json.loads(sample_account_path().read_text())
    with running_server(EmulatorConfig(load=sample_account_path(), api_key=KEY)) as server:
        demo = Demo(console=console, base_url=server.base_url, api_key=KEY, workdir=tmp_path)
        mirror(demo)
    said = console.export_text()
    out, err = capsys.readouterr()
    out += said  # the demo prints what the commands would, on its console
    assert "$ syncer sync --db syncer.db" in said and "$ syncer search umbrella" in said
    total = sum(len(objects) for objects in account.values())
    first, second = [line for line in said.splitlines() if line.startswith("Synced ")]
    assert first.startswith(f"Synced {len(account['threads'])} thread(s): {total} new, 0 changed")
    assert ": 0 new, 0 changed, 0 deleted" in second and second.endswith("— ok")
    # search printed hits for "umbrella"; show printed a transcript with tool calls and runs.
    assert out.count("umbrella") >= 1 and "tool call " in out and "  arguments: {" in out
    assert " prompt + " in out and "completion tokens" in out
    conn = sqlite3.connect(demo.notes["db"])
    assert conn.execute("SELECT count(*) FROM messages").fetchone()[0] == len(account["messages"])
    conn.close()
    assert KEY not in said + out + err


def test_demo_mirror_step_stops_on_a_failed_sync(tmp_path, capsys):
    with running_server(EmulatorConfig(load=sample_account_path(), api_key=KEY)) as server:
        demo = Demo(console=Console(record=True), base_url=server.base_url,
                    api_key="sk-not-the-key", workdir=tmp_path)
        with pytest.raises(SyncerError, match=r"`syncer sync --db syncer.db` failed: .*HTTP 401"):
            mirror(demo)
