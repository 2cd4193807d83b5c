"""The command line loads a command's module only when it runs: the table of which module
defines which command must name every command, and the right module."""

from __future__ import annotations

import subprocess
import sys

from syncer.cli import cli
from syncer.cli.main import COMMAND_MODULES


def test_every_command_is_in_the_table_with_its_module():
    found = {name: command.callback.__module__ if command.callback else ""
             for name, command in cli.commands.items()}
    assert set(found) == set(COMMAND_MODULES)
    for name, module in found.items():
        if not isinstance(cli.commands[name], type(cli)):  # groups: their callback is a stub
            assert module == f"syncer.cli.{COMMAND_MODULES[name]}", name


def test_sync_loads_only_the_mirror_commands():
    code = ("import sys; from syncer.cli.main import cli; "
            "cli(['sync', '--help'], standalone_mode=False); "
            "print(sorted(m for m in sys.modules if m.startswith('syncer.cli.')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert "'syncer.cli.mirror'" in out
    assert "syncer.cli.emulator" not in out and "syncer.cli.replay" not in out
