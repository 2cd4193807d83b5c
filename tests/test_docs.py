"""The docs keep up with the code: every command has help and is shown in the README."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import click
import pytest

from syncer.cli import cli

README = (Path(__file__).parent.parent / "README.md").read_text()


def _commands(group: click.Group, prefix: str = "syncer") -> list[tuple[str, click.Command]]:
    found = []
    for name, command in sorted(group.commands.items()):
        path = f"{prefix} {name}"
        found.append((path, command))
        if isinstance(command, click.Group):
            found.extend(_commands(command, path))
    return found


COMMANDS = _commands(cli)


def test_every_command_is_found():
    names = {path for path, _ in COMMANDS}
    assert {"syncer sync", "syncer plan", "syncer replay", "syncer restore", "syncer emulator"} <= names


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=[p for p, _ in COMMANDS])
def test_command_has_help(path, command):
    assert command.help and command.help.strip(), f"{path} has no help text"
    for param in command.params:
        if isinstance(param, click.Option) and not param.hidden:
            assert param.help, f"{path} {param.opts[0]} has no help text"


@pytest.mark.parametrize("path", [p for p, _ in COMMANDS])
def test_command_is_in_readme(path):
    assert re.search(rf"{re.escape(path)}\b", README), (
        f"{path} is not shown in README.md"
    )


def test_quickstart_is_two_commands_install_demo_then_tests():
    section = README.split("## Quickstart", 1)[1]
    block = section.split("```bash", 1)[1].split("```", 1)[0]
    lines = [line for line in block.splitlines() if line.strip()]
    assert len(lines) == 2
    assert "pip install" in lines[0] and "syncer demo" in lines[0]
    assert lines[1].startswith("pytest")


ROOT = Path(__file__).parent.parent
ARCHITECTURE = (ROOT / "docs" / "architecture.md").read_text()
LAYOUT = ARCHITECTURE.split("```")[3]  # the second code block: the file list


def _modules() -> list[Path]:
    return sorted(p.relative_to(ROOT / "syncer") for p in (ROOT / "syncer").rglob("*.py")
                  if p.name not in ("__init__.py", "__main__.py"))


@pytest.mark.parametrize("module", _modules(), ids=str)
def test_the_architecture_page_names_every_module_under_its_package(module: Path):
    """docs/architecture.md lists each module by name, under its package's heading."""
    lines = LAYOUT.splitlines()
    where = 0
    for package in module.parts[:-1]:
        heading = [i for i, line in enumerate(lines[where:], where)
                   if re.match(rf"\s*{re.escape(package)}/(\s|$)", line)]
        assert heading, f"docs/architecture.md has no `{package}/` for {module}"
        where = heading[0]
    assert re.search(rf"(^|\s){re.escape(module.name)}(\s|$)", "\n".join(lines[where:]), re.MULTILINE), (
        f"docs/architecture.md does not list {module}")


def test_the_architecture_page_shows_the_layers_of_the_import_contract():
    """The layers drawn on the page are the ones import-linter enforces (pyproject.toml)."""
    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    layers = next(c for c in contracts["contracts"] if c["type"] == "layers")["layers"]
    drawn = [line.split("  ")[0].strip() for line in ARCHITECTURE.split("```")[1].strip().splitlines()]
    assert [layer.replace("syncer.", "") for layer in layers] == drawn
