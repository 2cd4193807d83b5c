"""The mirror database's shape, migrations and writer, with hand-made API objects."""

from __future__ import annotations

import contextlib
import sqlite3
import threading

import pytest

from syncer.errors import MirrorError, UsageError
from syncer.mirror import store as store_module
from syncer.mirror.rows import row_to_object
from syncer.mirror.schema import MIGRATIONS
from syncer.mirror.store import StateUpdate, open_mirror
from syncer.mirror.threads import check_thread_ids, read_threads_file

THREAD = {"id": "thread_a", "object": "thread", "created_at": 1700000000,
          "metadata": {"k": "v"}, "tool_resources": {}}


def message(number: int, text: str = "hello", **extra) -> dict:
    return {"id": f"msg_{number}", "object": "thread.message", "created_at": 1700000000,
            "thread_id": "thread_a", "status": "completed", "role": "user",
            "content": [{"type": "text", "text": {"value": f"{text} {number}", "annotations": []}},
                        {"type": "image_file", "image_file": {"file_id": "file_1"}}],
            "assistant_id": None, "run_id": None, "attachments": [], "metadata": {}, **extra}


@pytest.fixture
def store(tmp_path):
    with open_mirror(tmp_path / "m.db", "create") as opened:
        yield opened


def schema(path) -> list[tuple]:
    conn = sqlite3.connect(path)
    rows = conn.execute("SELECT type, name, sql FROM sqlite_master ORDER BY name").fetchall()
    conn.close()
    return rows


def test_shape_is_applied_once_and_migrations_are_recorded(tmp_path):
    path = tmp_path / "m.db"
    open_mirror(path, "create").close()
    first = schema(path)
    open_mirror(path, "create").close()
    assert schema(path) == first
    conn = sqlite3.connect(path)
    assert [r[0] for r in conn.execute("SELECT id FROM migrations ORDER BY id")] == sorted(
        number for number, _, _ in MIGRATIONS)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"assistants", "threads", "messages", "runs", "run_steps", "tracked_threads",
            "sync_state", "syncs", "meta", "migrations", "messages_fts",
            "assistants_fts"} <= tables
    fks = {(table, fk[3], fk[2], fk[4]) for table in ("messages", "runs", "run_steps")
           for fk in conn.execute(f"PRAGMA foreign_key_list({table})")}
    assert fks == {("messages", "thread_id", "threads", "id"),
                   ("runs", "thread_id", "threads", "id"),
                   ("run_steps", "run_id", "runs", "id")}
    for table, column in (("messages", "thread_id"), ("runs", "thread_id"),
                          ("run_steps", "run_id")):
        indexed = [conn.execute(f"PRAGMA index_info([{index[1]}])").fetchone()[2]
                   for index in conn.execute(f"PRAGMA index_list({table})")]
        assert column in indexed
    for table in ("assistants", "threads", "messages", "runs", "run_steps"):
        columns = [r[1] for r in conn.execute(f"PRAGMA table_info({table})")]
        assert {"id", "first_seen_at", "last_seen_at", "deleted_at"} <= set(columns)
    conn.close()


def test_fts_tables_are_found_the_way_datasette_finds_them(store):
    # datasette.utils.detect_fts: a virtual FTS table whose content= names the table.
    for table in ("messages", "assistants"):
        found = store.db.execute(
            "SELECT name FROM sqlite_master WHERE rootpage = 0 AND ("
            f" sql LIKE '%VIRTUAL TABLE%USING FTS%content=\"{table}\"%'"
            f" OR sql LIKE '%VIRTUAL TABLE%USING FTS%content=[{table}]%')").fetchall()
        assert found == [(f"{table}_fts",)]
    assert store.db["messages"].detect_fts() == "messages_fts"


def test_a_newer_database_is_refused(tmp_path):
    path = tmp_path / "m.db"
    open_mirror(path, "create").close()
    conn = sqlite3.connect(path)
    conn.execute("INSERT INTO migrations (id, name, applied_at) VALUES (999, 'future', 'x')")
    conn.commit()
    conn.close()
    with pytest.raises(MirrorError, match="newer syncer"):
        open_mirror(path, "create")


def test_pages_are_classified_and_fields_become_columns(store):
    store.write_page("threads", [THREAD])
    first = store.write_page("messages", [message(1), message(2)],
                             [StateUpdate("messages", "thread_a", cursor="msg_2")])
    assert (first.new, first.changed, first.unchanged) == (["msg_1", "msg_2"], [], [])
    assert store.state("messages", "thread_a") == ("msg_2", False)
    row = store.db.execute("SELECT text, content FROM messages WHERE id = 'msg_1'").fetchone()
    assert row[0] == "hello 1"  # only the text parts
    assert store.db.execute(
        "SELECT json_extract(content, '$[1].image_file.file_id') FROM messages"
        " WHERE id = 'msg_1'").fetchone()[0] == "file_1"
    # A field a newer server adds becomes a column, and a later page without it keeps it.
    second = store.write_page("messages", [message(1, reactions={"up": 2}), message(2)])
    assert (second.new, second.changed, second.unchanged) == ([], ["msg_1"], ["msg_2"])
    assert "reactions" in store.db["messages"].columns_dict
    store.write_page("messages", [message(3)])
    rows = {r["id"]: r for r in store.db["messages"].rows}
    assert row_to_object("messages", rows["msg_1"])["reactions"] == {"up": 2}
    assert rows["msg_3"]["reactions"] is None
    restored = row_to_object("messages", rows["msg_3"])
    assert {key: restored[key] for key in message(3)} == message(3)
    assert all(restored[key] is None for key in set(restored) - set(message(3)))


def test_unchanged_rows_only_move_last_seen_and_deleted_rows_come_back(store):
    store.write_page("threads", [THREAD])
    store.write_page("messages", [message(1)])
    before = store.db.execute("SELECT first_seen_at, last_seen_at FROM messages").fetchone()
    store.write_page("messages", [message(1)])
    after = store.db.execute("SELECT first_seen_at, last_seen_at FROM messages").fetchone()
    assert after[0] == before[0] and after[1] > before[1]
    assert store.mark_deleted("messages", "id = ?", ["msg_1"]) == 1
    assert store.mark_deleted("messages", "id = ?", ["msg_1"]) == 0
    result = store.write_page("messages", [message(1)])
    assert result.changed == ["msg_1"]
    assert store.db.execute("SELECT deleted_at FROM messages").fetchone()[0] is None


def test_a_failed_page_writes_nothing(store):
    store.write_page("threads", [THREAD])
    orphan = {**message(9), "thread_id": "thread_missing"}  # breaks the foreign key
    with pytest.raises(sqlite3.IntegrityError):
        store.write_page("messages", [message(8), orphan],
                         [StateUpdate("messages", "thread_a", cursor="msg_9")])
    assert store.db.execute("SELECT count(*) FROM messages").fetchone()[0] == 0
    assert store.state("messages", "thread_a") == (None, False)


def test_a_failed_page_in_a_group_of_commits_loses_only_itself(store):
    with store.group_commits():
        # The group keeps each page's savepoint journal in memory ...
        assert store.db.execute("PRAGMA temp_store").fetchone()[0] == 2
        store.write_page("threads", [THREAD])
        store.write_page("messages", [message(1)], [StateUpdate("messages", "thread_a", cursor="msg_1")])
        orphan = {**message(9), "thread_id": "thread_missing"}
        with pytest.raises(sqlite3.IntegrityError):
            store.write_page("messages", [message(8), orphan],
                             [StateUpdate("messages", "thread_a", cursor="msg_9")])
        store.write_page("messages", [message(2)], [StateUpdate("messages", "thread_a", cursor="msg_2")])
    assert not store.conn.in_transaction
    # ... and only the group: afterwards temporary files are SQLite's default again.
    assert store.db.execute("PRAGMA temp_store").fetchone()[0] == 0
    ids = [row[0] for row in store.db.execute("SELECT id FROM messages ORDER BY id")]
    assert ids == ["msg_1", "msg_2"]
    assert store.state("messages", "thread_a") == ("msg_2", False)


def test_server_claim(store):
    store.claim_server("http://a/v1/", "org-1", None)
    store.claim_server("http://a/v1", "org-1", None)
    with pytest.raises(MirrorError, match="--force"):
        store.claim_server("http://b/v1", "org-1", None)
    with pytest.raises(MirrorError, match="organization"):
        store.claim_server("http://a/v1", "org-2", None)
    store.claim_server("http://b/v1", None, None, force=True)
    assert store.meta()["base_url"] == "http://b/v1"


def test_corrupt_file_is_a_mirror_error(tmp_path):
    path = tmp_path / "bad.db"
    path.write_bytes(b"garbage" * 1000)
    with pytest.raises(MirrorError, match="not a usable mirror database"):
        open_mirror(path, "create")


def test_thread_registry_and_threads_file(store, tmp_path):
    assert store.track_threads(["thread_a", "thread_b"], "cli") == ["thread_a", "thread_b"]
    assert store.track_threads(["thread_a"], "cli") == []
    assert store.untrack_threads(["thread_a", "thread_x"]) == ["thread_a"]
    assert [row["id"] for row in store.tracked_threads()] == ["thread_b"]
    path = tmp_path / "t.txt"
    path.write_text("thread_1\n  # comment\n\nthread_2  # trailing\nthread_1\n")
    assert read_threads_file(path) == ["thread_1", "thread_2"]
    path.write_text("thread_1\nbad id\nthread_2\nasst_x\n")
    with pytest.raises(UsageError) as error:
        read_threads_file(path)
    assert str(error.value) == (f"{path}:2: 'bad id' is not a thread id (expected thread_…)"
                                " (and 1 more bad line(s))")
    with pytest.raises(UsageError, match="'msg_1' is not a thread id"):
        check_thread_ids(["thread_ok", "msg_1"])


def test_damaged_database_is_one_line_for_every_reader(tmp_path):
    from click.testing import CliRunner

    from syncer.cli import cli

    path = tmp_path / "m.db"
    with open_mirror(path, "create") as store:
        store.write_page("threads", [THREAD])
        store.write_page("messages", [message(n) for n in range(200)])
        store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    data = bytearray(path.read_bytes())
    page = int.from_bytes(data[16:18], "big")
    data[page:] = b"\xde\xad\xbe\xef" * ((len(data) - page) // 4)  # keep only the header page
    path.write_bytes(bytes(data))
    for args in (["status"], ["search", "hello"], ["show", "thread_a"], ["threads", "list"]):
        result = CliRunner().invoke(cli, [*args, "--db", str(path)])
        assert result.exit_code == 1, (args, result.output)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"Error: {path}"), (args, lines)


def test_a_new_mirror_is_readable_by_its_owner_only(tmp_path):
    """It holds private conversations: no other user may read it or its WAL."""
    import os
    import stat

    old = os.umask(0o022)  # the usual default, which alone would make it world-readable
    try:
        path = tmp_path / "mirror.db"
        with open_mirror(path, "create") as store:
            store.db.execute("CREATE TABLE probe (x)")  # something in the WAL
            modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in tmp_path.glob("mirror.db*")}
    finally:
        os.umask(old)
    assert "mirror.db-wal" in modes
    assert set(modes.values()) == {0o600}, modes


ISO = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$"


def test_a_mirror_written_before_one_timestamp_format_is_migrated_to_it(tmp_path):
    """An old mirror (migrations 1-3: replay times as epoch REAL, restore_map without
    fractions) passes through migration 4: every syncer timestamp ends in one format, the
    API's own created_at stays the server's integer, and replay --compare still reads it."""
    import re

    from syncer.mirror import schema as shape
    from syncer.replay.records import load_replay

    path = tmp_path / "old.db"
    newest = [m for m in shape.MIGRATIONS if m[0] <= 3]
    original = list(shape.MIGRATIONS)
    shape.MIGRATIONS[:] = newest  # build the file as syncer did before migration 4
    try:
        with open_mirror(path, "create") as store:
            store.write_page("threads", [THREAD], [])
            conn = store.conn
            conn.execute("INSERT INTO replays (id, status, started_at, finished_at, threads, "
                         "summary, options, threshold, metric) VALUES ('rp_1', 'complete', "
                         "1700000000.25, 1700000042.5, '[]', NULL, '{}', 0.8, 'ratio')")
            conn.execute("INSERT INTO replay_turns (id, replay_id, recorded_thread_id, "
                         "turn_index, status, result, recorded_at) VALUES "
                         "('rp_1:thread_a:0', 'rp_1', 'thread_a', 0, 'pass', "
                         "'{\"thread_id\": \"thread_a\", \"index\": 0, \"status\": \"pass\"}', "
                         "1700000001.0)")
            conn.execute("INSERT INTO restore_map VALUES ('thread', 'thread_a', 'http://t', "
                         "'thread_b', 'done', '2026-11-30T12:00:00Z')")
    finally:
        shape.MIGRATIONS[:] = original
    with open_mirror(path, "write"):
        pass
    conn = sqlite3.connect(path)
    conn.row_factory = sqlite3.Row
    stamps = [
        *conn.execute("SELECT started_at, finished_at FROM replays").fetchone(),
        conn.execute("SELECT recorded_at FROM replay_turns").fetchone()[0],
        conn.execute("SELECT updated_at FROM restore_map").fetchone()[0],
        *[r[0] for r in conn.execute("SELECT applied_at FROM migrations")],
        *[r[0] for r in conn.execute("SELECT first_seen_at FROM threads")],
    ]
    assert all(isinstance(s, str) and re.match(ISO, s) for s in stamps), stamps
    assert stamps[0] == "2023-11-14T22:13:20.250000Z"
    assert stamps[3] == "2026-11-30T12:00:00.000000Z"
    types = {row[1]: row[2] for row in conn.execute("PRAGMA table_info(replays)")}
    assert types["started_at"] == "TEXT" and types["finished_at"] == "TEXT"
    assert conn.execute("SELECT typeof(created_at) FROM threads").fetchone()[0] == "integer"
    replay = load_replay(conn, "rp_1")
    assert (replay.started_at, replay.finished_at) == (1700000000.25, 1700000042.5)
    conn.close()


@pytest.mark.parametrize("grouped", [False, True])
def test_a_column_added_by_a_failed_page_is_added_again_by_the_next(store, grouped):
    store.write_page("threads", [THREAD])
    orphan = {**message(9, shiny="new"), "thread_id": "thread_missing"}  # breaks the foreign key
    with store.group_commits() if grouped else contextlib.nullcontext():
        with pytest.raises(sqlite3.IntegrityError):
            store.write_page("messages", [message(8, shiny="new"), orphan])
        result = store.write_page("messages", [message(1, shiny="again")])
    assert result.new == ["msg_1"]
    assert store.db.execute("SELECT id, shiny FROM messages").fetchall() == [("msg_1", "again")]


def test_a_fresh_page_whose_objects_are_mirrored_after_all_is_compared_as_usual(store):
    store.write_page("threads", [THREAD])
    store.write_page("messages", [message(1), message(2)])
    store.mark_deleted("messages", "id = ?", ["msg_2"])
    result = store.write_page("messages", [message(1), message(2, "edited"), message(3)],
                              fresh=True)
    assert (result.unchanged, result.changed, result.new) == (["msg_1"], ["msg_2"], ["msg_3"])
    rows = store.db.execute("SELECT id, text, deleted_at FROM messages ORDER BY id").fetchall()
    assert rows == [("msg_1", "hello 1", None), ("msg_2", "edited 2", None),
                    ("msg_3", "hello 3", None)]
    # A broken reference fails a fresh page as it fails any page.
    orphan = {**message(9), "thread_id": "thread_missing"}
    with pytest.raises(sqlite3.IntegrityError):
        store.write_page("messages", [message(8), orphan], fresh=True)
    assert store.db.execute("SELECT count(*) FROM messages").fetchone()[0] == 3


def _checkpoint_threads() -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name == "syncer-checkpoints"]


def _rows_in_the_database_file(path) -> int:
    """Messages in the main file alone (``immutable``: the WAL is not read)."""
    conn = sqlite3.connect(f"file:{path}?immutable=1", uri=True)
    try:
        return conn.execute("SELECT count(*) FROM messages").fetchone()[0]
    finally:
        conn.close()


def test_a_group_of_commits_copies_its_wal_back_in_the_background(tmp_path):
    path = tmp_path / "m.db"
    with open_mirror(path, "create") as store:
        with store.group_commits(pages=5):
            # The writer's own checkpoints wait for a long log: a thread makes them.
            assert store.db.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == (
                store_module.GROUP_AUTOCHECKPOINT_PAGES)
            assert len(_checkpoint_threads()) == 1
            store.write_page("threads", [THREAD])
            for page in range(40):
                store.write_page("messages", [message(page * 10 + n) for n in range(10)])
        # Everything committed is in the database file itself, not only in the WAL ...
        assert _rows_in_the_database_file(path) == 400
        # ... and after the group the writer checkpoints as SQLite does by default.
        assert store.db.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 1000
        assert not _checkpoint_threads()


def test_without_a_group_nothing_runs_in_the_background(tmp_path):
    with open_mirror(tmp_path / "m.db", "create") as store:
        store.write_page("threads", [THREAD])
        assert not _checkpoint_threads()
        assert store.db.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 1000


def test_a_long_group_of_commits_keeps_its_wal_bounded(tmp_path, monkeypatch):
    # Writes back to back (as a sync's are): the thread's checkpoint of one group ends after
    # the next group began, so only the writer's own checkpoint lets the log start again.
    monkeypatch.setattr(store_module, "GROUP_AUTOCHECKPOINT_PAGES", 100)
    path = tmp_path / "m.db"
    longest = 0
    with open_mirror(path, "create") as store:
        page_size = store.db.execute("PRAGMA page_size").fetchone()[0]
        with store.group_commits(pages=5):
            store.write_page("threads", [THREAD])
            for page in range(300):
                store.write_page("messages", [message(page * 20 + n, "words " * 50)
                                              for n in range(20)])
                longest = max(longest, (path.parent / "m.db-wal").stat().st_size)
        assert store.db.execute("SELECT count(*) FROM messages").fetchone()[0] == 6000
    # Before: the log grew by everything written (about 3,300 pages here).
    assert longest // (page_size + 24) < 500
