"""The demo's GitOps step: the shipped sample configs are planned, applied, planned again."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from syncer.cli.demo import Demo, gitops_plan_apply
from syncer.emulator import EmulatorConfig, running_server
from syncer.emulator.generate import sample_account_path


def test_demo_step_applies_the_sample_configs_and_plans_before_and_after(tmp_path):
    console = Console(record=True, width=200)
    with running_server(EmulatorConfig(load=sample_account_path())) as server:
        demo = Demo(console=console, base_url=server.base_url, api_key="sk-demo", workdir=tmp_path)
        gitops_plan_apply(demo)
        writes = server.stats()["writes"]
    text = console.export_text()
    assert "Plan: 4 to create, 0 to update, 0 to adopt, 0 to delete." in text
    assert "No changes: the account matches the configs (4 managed assistants)." in text
    assert "    temperature: 0.3 → 0.7" in text
    assert "Plan: 0 to create, 1 to update, 0 to adopt, 0 to delete." in text
    assert writes == 4  # the edit is only planned


def test_the_demo_ships_the_sample_configs_of_fixtures():
    """The package copy (what `syncer demo` applies) is fixtures/configs/team, file for file;
    only the schema comment's relative path differs."""
    root = Path(__file__).resolve().parent.parent
    fixtures, shipped = root / "fixtures" / "configs" / "team", root / "syncer" / "data" / "sample_configs"

    def files(base: Path) -> dict[str, list[str]]:
        return {
            str(p.relative_to(base)): [
                line for line in p.read_text().splitlines() if "yaml-language-server" not in line
            ]
            for p in sorted(base.rglob("*"))
            if p.is_file()
        }

    assert files(shipped) == files(fixtures)
    assert len(files(fixtures)) == 4
