"""The demo's restore step: the sample mirror pushed into a second server, counts side by side."""

from __future__ import annotations

import re

from rich.console import Console

from syncer.cli.demo import Demo, restore_into_second_server
from syncer.emulator import EmulatorConfig, running_server
from syncer.emulator.generate import sample_account_path


def test_demo_restore_step_shows_equal_counts(tmp_path):
    console = Console(record=True, width=120, force_terminal=False)
    with running_server(EmulatorConfig(load=sample_account_path())) as server:
        demo = Demo(console=console, base_url=server.base_url, api_key="sk-demo-local", workdir=tmp_path)
        restore_into_second_server(demo)
    text = console.export_text()
    rows = {m.group(1): (m.group(2), m.group(3))
            for m in re.finditer(r"│ (assistants|threads|messages)\s*│ (\d+)\s*│ (\d+)\s*│", text)}
    assert set(rows) == {"assistants", "threads", "messages"}
    assert all(archived == restored and int(archived) > 0 for archived, restored in rows.values()), rows
    assert "runs" in text and "stay in the archive" in text
    assert "planning the same restore again finds 0 objects to create" in text.replace("\n", " ")
    assert len(demo.notes["restored_ids"]) == int(rows["threads"][0]) + int(rows["assistants"][0])
