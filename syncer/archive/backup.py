"""Consistent snapshots of the mirror, safe to take while a sync is writing.

SQLite's online backup API copies the database inside one read transaction, so the copy
is the state of one committed moment even while another process writes (the mirror runs
in WAL mode, so the writer is never blocked either). The copy is written to a private
temporary file in the destination's folder, checked with ``PRAGMA integrity_check`` and
only then renamed into place: a failed backup never leaves a half-written file behind,
and the file is owner-only (0600) from the moment it exists because a mirror holds
private conversations.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from syncer.errors import MirrorError, UsageError
from syncer.files import atomic_path
from syncer.mirror.store import open_mirror


@dataclass
class BackupResult:
    """What a finished backup wrote."""

    path: Path
    bytes: int
    tables: dict[str, int]
    integrity: str = "ok"


def table_counts(conn: sqlite3.Connection) -> dict[str, int]:
    """Row counts of every ordinary table (FTS shadow tables and sqlite_* excluded)."""
    names = [
        row[0]
        for row in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
            "AND sql NOT LIKE 'CREATE VIRTUAL TABLE%' ORDER BY name"
        )
    ]
    fts = {
        row[0]
        for row in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND sql LIKE 'CREATE VIRTUAL TABLE%'"
        )
    }
    # FTS5 keeps its data in shadow tables named <fts>_data, <fts>_idx, …
    shadow = {n for n in names for f in fts if n.startswith(f + "_")}
    return {
        name: conn.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0]
        for name in names
        if name not in shadow
    }


def backup(
    db_path: str | os.PathLike[str], out_path: str | os.PathLike[str], *, force: bool = False
) -> BackupResult:
    """Snapshot the mirror at ``db_path`` into ``out_path`` and verify the copy.

    Refuses to replace an existing ``out_path`` unless ``force``; raises ``UsageError`` for
    that and ``MirrorError`` when the source is unusable or the copy fails its check.
    """
    out = Path(out_path)
    if out.exists() and not force:
        raise UsageError(f"{out}: already exists (use --force to overwrite it)")
    if out.exists() and not out.is_file():
        raise UsageError(f"{out}: not a regular file")
    if not out.parent.is_dir():
        raise UsageError(f"{out.parent}: no such directory")
    if out.exists() and Path(db_path).exists() and out.resolve() == Path(db_path).resolve():
        raise UsageError(f"{out}: is the mirror itself; choose another file")

    source = open_mirror(db_path, "read", mirror_only=False).conn
    writing = False  # past this point a SQLite error is the copy's (a full disk), not the source's
    try:
        with atomic_path(out) as tmp:
            target = sqlite3.connect(tmp)
            writing = True
            try:
                # pages=-1: everything in one step, i.e. one read transaction on the source,
                # so a concurrent sync cannot make the copy restart or mix two states.
                source.backup(target, pages=-1)
                # A backup is one self-contained file: no -wal sidecar to forget when copying it.
                target.execute("PRAGMA journal_mode=DELETE")
                result = target.execute("PRAGMA integrity_check").fetchall()
                integrity = "; ".join(str(row[0]) for row in result)
                if integrity != "ok":
                    raise MirrorError(f"{out}: backup failed its integrity check: {integrity[:200]}")
                tables = table_counts(target)
            finally:
                target.close()
                for suffix in ("-journal", "-wal", "-shm"):  # a failed copy leaves none behind
                    with contextlib.suppress(FileNotFoundError):
                        Path(f"{tmp}{suffix}").unlink()
            # Sidecars of the file being replaced belong to another database: SQLite would take a
            # leftover -journal for a hot journal of the new file and "roll it back" into it.
            for suffix in ("-journal", "-wal", "-shm"):
                with contextlib.suppress(FileNotFoundError):
                    Path(f"{out}{suffix}").unlink()
    except sqlite3.DatabaseError as error:
        if writing and isinstance(error, sqlite3.OperationalError) and str(error) in (
                "disk I/O error", "database or disk is full"):
            raise MirrorError(f"{out}: cannot write the backup ({error}: is the disk full?); "
                              "nothing was left behind") from None
        raise MirrorError(f"{db_path}: backup failed ({error})") from None
    except OSError as error:  # a folder we may not write to, a full disk
        raise MirrorError(f"{out}: cannot write the backup ({error.strerror or error})") from None
    finally:
        source.close()
    return BackupResult(path=out, bytes=out.stat().st_size, tables=tables)
