"""Files syncer writes: owner-only from the moment they exist, and replaced atomically.

Mirrors, backups, exports and reports hold private conversations, and a reader (CI, a person, a
later run) must never see half of one. Two helpers, used everywhere syncer writes such a file:

- ``create_private(path)``: create a new file with mode 0600 (``O_EXCL``: no chmod window);
- ``atomic_path(target)`` / ``atomic_write(target)``: write a private temporary file beside the
  target, fsync it and rename it over the target only on success; on failure it is removed.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO


def create_private(path: str | os.PathLike[str]) -> bool:
    """Create ``path`` empty and owner-only (0600); False if it already exists (left as it is)."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        return False
    return True


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike[str]) -> Iterator[Path]:
    """A private temporary path beside ``target``, renamed over it when the block succeeds.

    For writers that need a path rather than a handle (SQLite's backup). The temporary file
    exists (empty, 0600) when the block starts; it is fsynced before the rename.
    """
    target = Path(target)
    directory = target.parent if str(target.parent) else Path(".")
    # mkstemp creates the file with mode 0600 (O_EXCL, owner-only) whatever the umask.
    fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=directory)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


@contextlib.contextmanager
def atomic_write(target: str | os.PathLike[str]) -> Iterator[BinaryIO]:
    """A binary handle on a private temporary file that replaces ``target`` on success."""
    with atomic_path(target) as tmp, open(tmp, "wb") as handle:
        yield handle
        handle.flush()
