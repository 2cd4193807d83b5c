"""The demo's migrate step: the sample mirror becomes conversations; the summary table shows."""

from __future__ import annotations

from rich.console import Console

from syncer.cli.demo import Demo, migrate_to_conversations
from syncer.emulator import EmulatorConfig, running_server
from syncer.emulator.generate import sample_account_path


def test_demo_migrate_step_shows_the_summary_table(tmp_path):
    console = Console(record=True, width=120, force_terminal=False)
    with running_server(EmulatorConfig(load=sample_account_path())) as server:
        demo = Demo(console=console, base_url=server.base_url, api_key="sk-demo-local", workdir=tmp_path)
        migrate_to_conversations(demo)
    text = console.export_text()
    assert "syncer migrate into" in text and "function calls" in text and "messages" in text
    assert "migrating again sends 0 write requests" in text.replace("\n", " ")
    assert demo.notes["conversations"] and all(c.startswith("conv_") for c in demo.notes["conversations"].values())
