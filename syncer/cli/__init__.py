"""The `syncer` command line: glue over the library, the only package that knows click.

``main`` holds the group and the shared options; each other module adds one family of commands.
The installed command starts from ``syncer.cli.main:cli``, which imports a family only when one
of its commands runs (start-up counts in every command's time); ``from syncer.cli import cli``
gives the group with every command loaded.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["cli"]


def __getattr__(name: str) -> Any:
    if name != "cli":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    main = importlib.import_module("syncer.cli.main")
    for module in sorted(set(main.COMMAND_MODULES.values())):
        importlib.import_module(f"syncer.cli.{module}")  # each registers its commands
    return main.cli
