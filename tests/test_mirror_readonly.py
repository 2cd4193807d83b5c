"""Reading a mirror never writes it: search, show, status, backup and export leave the file's
bytes as they were, work where nothing may be written, and a backup on a full disk leaves
nothing behind."""

from __future__ import annotations

import hashlib
import os
import resource
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from syncer.cli import cli
from syncer.mirror.store import open_mirror

READERS = [["status"], ["search", "hello"], ["show", "thread_1"], ["threads", "list"]]


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def mirror(tmp_path):
    """A WAL-mode mirror, closed cleanly (no -wal or -shm beside it)."""
    path = tmp_path / "m.db"
    with open_mirror(path, "create") as store:
        store.track_threads(["thread_1"], source="test")
        store.write_page("threads", [{"id": "thread_1", "object": "thread", "created_at": 1,
                                      "metadata": {}}])
        store.write_page("messages", [{
            "id": "msg_1", "object": "thread.message", "created_at": 1, "thread_id": "thread_1",
            "role": "user", "status": "completed", "metadata": {},
            "content": [{"type": "text", "text": {"value": "hello there", "annotations": []}}]}])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.db"]
    return path


def run_readers(path: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    for args in READERS:
        result = runner.invoke(cli, [*args, "--db", str(path)])
        assert result.exit_code == 0, (args, result.output)
    for n, args in enumerate([["backup", str(tmp_path / "out" / "b.db")],
                              ["export", str(tmp_path / "out" / "export")]]):
        (tmp_path / "out").mkdir(exist_ok=True)
        result = runner.invoke(cli, [*args, "--db", str(path), "-s"])
        assert result.exit_code == 0, (n, result.output)


def test_readers_leave_the_mirror_and_a_backup_byte_for_byte_unchanged(mirror, tmp_path):
    before = digest(mirror)
    run_readers(mirror, tmp_path)
    assert digest(mirror) == before
    backup = tmp_path / "out" / "b.db"
    kept = digest(backup)
    # A backup is rollback-journal mode; reading it must not switch it to WAL.
    assert backup.read_bytes()[18:20] == b"\x01\x01"
    (tmp_path / "again").mkdir()
    run_readers(backup, tmp_path / "again")
    assert digest(backup) == kept and backup.read_bytes()[18:20] == b"\x01\x01"


def test_a_mirror_nobody_may_write_is_read_as_immutable(mirror, tmp_path, monkeypatch):
    """A read-only mount (or a file and folder this user cannot write): SQLite could not create
    the WAL index (-shm) there, so the file is opened immutable, creating nothing beside it."""
    real_access = os.access
    folder = str(mirror.parent)

    def access(path, mode, **kwargs):
        if mode == os.W_OK and str(path).startswith(folder) and "out" not in str(path):
            return False
        return real_access(path, mode, **kwargs)

    monkeypatch.setattr(os, "access", access)
    before = digest(mirror)
    run_readers(mirror, tmp_path)
    assert digest(mirror) == before
    assert not (tmp_path / "m.db-shm").exists() and not (tmp_path / "m.db-wal").exists()


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anything")
def test_a_read_only_file_in_a_read_only_folder(mirror, tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    copy = folder / "m.db"
    copy.write_bytes(mirror.read_bytes())
    copy.chmod(0o444)
    folder.chmod(0o555)
    try:
        run_readers(copy, tmp_path)
    finally:
        folder.chmod(0o755)


def _limit_file_size() -> None:
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, 20_000))


def test_a_backup_on_a_full_disk_fails_in_one_line_and_leaves_no_file(mirror, tmp_path):
    out = tmp_path / "full"
    out.mkdir()
    # A file-size limit: every write past 20 kB fails as on a full disk (EFBIG, like ENOSPC).
    result = subprocess.run(
        [sys.executable, "-m", "syncer", "backup", str(out / "b.db"), "--db", str(mirror)],
        preexec_fn=_limit_file_size, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("Error: ")
    assert "cannot write the backup" in result.stderr and str(out / "b.db") in result.stderr
    assert list(out.iterdir()) == []
