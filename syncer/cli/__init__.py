"""The `syncer` command line: glue over the library, the only package that knows click.

``main`` holds the group and the shared options; each other module adds one family of commands.
"""

from syncer.cli import archive, emulator, gitops, migrate, mirror, replay  # noqa: F401  (they register commands)
from syncer.cli.main import cli

__all__ = ["cli"]
