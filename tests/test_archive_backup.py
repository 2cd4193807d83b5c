"""`syncer backup`: consistent, verified, owner-only snapshots of the mirror."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import stat
import subprocess
import sys
import textwrap
import time

import pytest
import sqlite_utils
from click.testing import CliRunner

from syncer.cli import cli

# A writer that keeps committing to the mirror the way a sync does (WAL, one transaction
# per page), so a backup taken meanwhile must capture one consistent moment.
WRITER = textwrap.dedent(
    """
    import sqlite3, sys
    db = sqlite3.connect(sys.argv[1], isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    n = 0
    while True:
        db.execute("BEGIN IMMEDIATE")
        db.executemany("INSERT INTO messages (id, thread_id, role, text) VALUES (?, 'thread_1', 'user', ?)",
                       [(f"msg_{n}_{i}", "x" * 300) for i in range(100)])
        db.execute("INSERT OR REPLACE INTO sync_state (key, page) VALUES ('thread_1', ?)", (n,))
        db.execute("COMMIT")
        n += 1
        if n == 1:
            print("ready", flush=True)
    """
)


# The check a user would run on a backup, in a process of its own: the sqlite3 shell, or,
# where it is not installed, Python's sqlite3 module in a fresh interpreter (same output).
SHELL = textwrap.dedent(
    """
    import sqlite3, sys
    db = sqlite3.connect(sys.argv[1])
    for statement in sys.argv[2].split(";"):
        if statement.strip():
            for row in db.execute(statement):
                print("|".join(map(str, row)))
    """
)


def sqlite_shell(path, sql: str) -> list[str]:
    """The output lines of ``sql`` run against the database file ``path`` by another process."""
    if shutil.which("sqlite3"):
        command = ["sqlite3", str(path), sql]
    else:
        command = [sys.executable, "-c", SHELL, str(path), sql]
    return subprocess.run(command, capture_output=True, text=True, check=True).stdout.split()


def make_mirror(path):
    db = sqlite_utils.Database(path)
    db.conn.execute("PRAGMA journal_mode=WAL")
    db["threads"].insert({"id": "thread_1", "object": "thread", "metadata": "{}"}, pk="id")
    db["messages"].insert({"id": "msg_0", "thread_id": "thread_1", "role": "user", "text": "hi"}, pk="id")
    db["sync_state"].create({"key": str, "page": int}, pk="key")
    db.conn.close()


def test_backup_while_a_writer_commits_is_consistent_and_private(tmp_path):
    mirror = tmp_path / "mirror.db"
    make_mirror(mirror)
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(mirror)], stdout=subprocess.PIPE)
    try:
        assert writer.stdout.readline().strip() == b"ready"
        old_umask = os.umask(0o022)  # a permissive umask must not leak into the backup
        try:
            results = []
            for n in range(3):
                out = tmp_path / f"backup{n}.db"
                result = CliRunner().invoke(cli, ["backup", str(out), "--db", str(mirror), "--json"])
                assert result.exit_code == 0, result.output
                results.append(out)
                time.sleep(0.05)  # let the writer commit more pages between snapshots
        finally:
            os.umask(old_umask)
    finally:
        writer.kill()
        writer.wait()
        writer.stdout.close()
    counts = []
    for out in results:
        assert stat.S_IMODE(out.stat().st_mode) == 0o600
        # The backup is a single self-contained file (no -wal sidecar needed) that the
        # sqlite3 shell opens and finds intact.
        integrity, count = sqlite_shell(out, "PRAGMA integrity_check; SELECT count(*) FROM messages;")
        assert integrity == "ok"
        # Consistency: every committed page is complete (100 rows each) and its cursor
        # was saved in the same transaction.
        db = sqlite3.connect(out)
        pages = db.execute("SELECT page FROM sync_state WHERE key = 'thread_1'").fetchone()[0]
        db.close()
        assert int(count) == 1 + 100 * (pages + 1)
        counts.append(int(count))
    assert counts == sorted(counts) and counts[0] < counts[-1]  # taken while data kept arriving
    assert not list(tmp_path.glob("*.tmp"))


def test_backup_refuses_to_overwrite_without_force(tmp_path):
    mirror = tmp_path / "mirror.db"
    make_mirror(mirror)
    out = tmp_path / "out.db"
    out.write_text("precious")
    result = CliRunner().invoke(cli, ["backup", str(out), "--db", str(mirror)])
    assert result.exit_code == 1
    assert result.output.strip() == f"Error: {out}: already exists (use --force to overwrite it)"
    assert out.read_text() == "precious"

    out.chmod(0o644)
    result = CliRunner().invoke(cli, ["backup", str(out), "--db", str(mirror), "--force"])
    assert result.exit_code == 0, result.output
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    db = sqlite3.connect(out)
    assert db.execute("SELECT text FROM messages").fetchall() == [("hi",)]
    db.close()


def test_force_over_a_database_with_a_hot_journal_gives_an_intact_backup(tmp_path):
    """The file a backup replaces may leave a -journal behind (a crash mid-transaction).
    SQLite would roll that journal back into the new file on first open."""
    mirror, out = tmp_path / "mirror.db", tmp_path / "out.db"
    make_mirror(mirror)
    old = sqlite3.connect(tmp_path / "old.db", isolation_level=None)
    old.execute("CREATE TABLE t (x)")
    old.executemany("INSERT INTO t VALUES (?)", [("a" * 500,)] * 200)
    old.execute("PRAGMA cache_size=1")  # spill pages into the file mid-transaction
    old.execute("BEGIN")
    old.executemany("INSERT INTO t VALUES (?)", [("b" * 500,)] * 1000)
    old.execute("UPDATE t SET x = 'z'")
    # The state a crash leaves: the database file and its hot journal.
    shutil.copy(tmp_path / "old.db", out)
    shutil.copy(tmp_path / "old.db-journal", tmp_path / "out.db-journal")
    old.execute("ROLLBACK")
    old.close()

    result = CliRunner().invoke(cli, ["backup", str(out), "--db", str(mirror), "--force"])
    assert result.exit_code == 0, result.output
    assert sqlite_shell(out, "PRAGMA integrity_check; SELECT text FROM messages;") == ["ok", "hi"]


def test_the_shell_check_works_without_the_sqlite3_cli(tmp_path, monkeypatch):
    """Where no sqlite3 shell is installed, the backup is still opened by another process."""
    mirror, out = tmp_path / "mirror.db", tmp_path / "out.db"
    make_mirror(mirror)
    assert CliRunner().invoke(cli, ["backup", str(out), "--db", str(mirror)]).exit_code == 0
    monkeypatch.setattr(shutil, "which", lambda name: None)
    assert sqlite_shell(out, "PRAGMA integrity_check; SELECT count(*) FROM messages;") == ["ok", "1"]


@pytest.mark.parametrize("content", [None, b"this is not a database" * 100])
def test_backup_of_a_missing_or_corrupt_mirror_is_one_line_error(tmp_path, content):
    mirror = tmp_path / "mirror.db"
    if content is not None:
        mirror.write_bytes(content)
    out = tmp_path / "out.db"
    result = CliRunner().invoke(cli, ["backup", str(out), "--db", str(mirror)])
    assert result.exit_code == 1
    assert len(result.output.strip().splitlines()) == 1
    assert result.output.startswith(f"Error: {mirror}: ")
    assert not out.exists()
    assert list(tmp_path.iterdir()) == ([mirror] if content else [])


def test_backup_during_a_real_sync_is_intact_and_opens_in_sqlite3(tmp_path):
    """`syncer sync` (a separate process) writes the mirror while backups are taken."""
    from syncer.emulator import EmulatorConfig, running_server
    from syncer.emulator.generate import generate_account

    account = generate_account(seed=3, assistants=4, threads=30, messages_per_thread=20,
                               runs_per_thread=3)
    (tmp_path / "account.json").write_text(json.dumps(account))
    threads_file = tmp_path / "threads.txt"
    threads_file.write_text("\n".join(t["id"] for t in account["threads"]) + "\n")
    mirror = tmp_path / "mirror.db"
    # Latency stretches the sync out so the backups land in the middle of it.
    with running_server(EmulatorConfig(load=tmp_path / "account.json", latency_ms=10)) as server:
        sync = subprocess.Popen(
            [sys.executable, "-m", "syncer", "sync", "--db", str(mirror), "--base-url", server.base_url,
             "--api-key", "sk-test", "--threads-file", str(threads_file), "--concurrency", "2", "-s"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            backups, during = [], 0
            while len(backups) < 8:
                if mirror.exists() and sqlite3_has(mirror, "messages"):
                    out = tmp_path / f"backup{len(backups)}.db"
                    result = CliRunner().invoke(cli, ["backup", str(out), "--db", str(mirror), "-s"])
                    assert result.exit_code == 0, result.output
                    running = sync.poll() is None
                    during += running
                    backups.append(out)
                    if not running:
                        break
                time.sleep(0.1)
            assert sync.wait(timeout=120) == 0, sync.stderr.read()
        finally:
            if sync.poll() is None:
                sync.kill()
                sync.wait()
            sync.stderr.close()
    assert during >= 2, "no backup was taken while the sync was writing"
    for out in backups:
        assert stat.S_IMODE(out.stat().st_mode) == 0o600
        checked = sqlite_shell(out, "PRAGMA integrity_check; PRAGMA foreign_key_check; "
                               "SELECT count(*) FROM messages WHERE thread_id NOT IN (SELECT id FROM threads);")
        assert checked == ["ok", "0"], checked
    # The last backup, taken after the sync ended, holds everything it mirrored.
    final = tmp_path / "final.db"
    assert CliRunner().invoke(cli, ["backup", str(final), "--db", str(mirror)]).exit_code == 0
    db = sqlite3.connect(final)
    assert db.execute("SELECT count(*) FROM messages").fetchone() == (len(account["messages"]),)
    db.close()


def sqlite3_has(path, table: str) -> bool:
    db = sqlite3.connect(path)
    try:
        return db.execute("SELECT 1 FROM sqlite_master WHERE name = ?", (table,)).fetchone() is not None
    except sqlite3.DatabaseError:
        return False
    finally:
        db.close()


def test_backup_into_a_folder_it_may_not_write_is_a_one_line_error(tmp_path, monkeypatch):
    import tempfile

    mirror, out = tmp_path / "mirror.db", tmp_path / "out.db"
    make_mirror(mirror)

    def read_only_folder(*args, **kwargs):  # what a folder without write permission answers
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "mkstemp", read_only_folder)
    result = CliRunner().invoke(cli, ["backup", str(out), "--db", str(mirror)])
    assert result.exit_code == 1
    assert result.output == f"Error: {out}: cannot write the backup (Permission denied)\n"
    assert not out.exists()
