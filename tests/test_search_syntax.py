"""FTS5 syntax passes through `syncer search` (NEAR with a distance); `*` alone is an error;
threads a replay made stay out of search and restore unless --include-replays."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from support.restore import restore
from support.search import text_message, write_two_threads

from syncer import markers
from syncer.cli import cli
from syncer.emulator import EmulatorConfig, running_server
from syncer.mirror.schema import REPLAY_THREAD
from syncer.mirror.store import open_mirror


@pytest.fixture
def mirror(tmp_path):
    """The search tests' mirror: two threads, a run that called a function tool."""
    return write_two_threads(tmp_path / "syncer.db")


def search(db, *args):
    return CliRunner().invoke(cli, ["search", *args, "--db", str(db), "--json"])


def test_near_with_a_distance_passes_through(mirror):
    # "Parcel 1234 has shipped today, order confirmed.": one word between shipped and order.
    result = search(mirror, "NEAR(shipped order, 1)")
    assert result.exit_code == 0, result.output
    assert '"message_id": "msg_a1"' in result.output
    assert search(mirror, "NEAR(shipped order, 0)").output.strip() == "[]"


def test_a_star_alone_is_one_line_error(mirror):
    for query in ("*", "refund OR *"):
        result = search(mirror, query)
        assert result.exit_code == 1
        assert result.stderr.startswith("Error: search: '*' alone matches nothing")
        assert result.stderr.count("\n") == 1
        # --json: the same error as an object on stdout too (issue 13, item 20).
        assert json.loads(result.stdout)["error"]["type"] == "UsageError"


def add_replay_thread(db) -> None:
    with open_mirror(db, "write") as store:
        store.write_page("threads", [{"id": "thread_replay", "object": "thread", "created_at": 1,
                                      "metadata": {markers.REPLAY: "1"}}])
        store.write_page("messages", [text_message(
            "msg_r1", "thread_replay", "user", "refund replayed")])


def test_replay_threads_are_left_out_of_search_unless_asked_for(mirror):
    add_replay_thread(mirror)
    assert "msg_r1" not in search(mirror, "refund").output
    assert "msg_r1" in search(mirror, "refund", "--include-replays").output
    assert "msg_r1" in search(mirror, "refund", "--thread", "thread_replay").output


def test_which_threads_are_replays_is_read_from_an_index_not_a_scan(mirror):
    # Every search asks; on a mirror of 40,000 threads a scan of their metadata cost ~10 ms.
    add_replay_thread(mirror)
    with open_mirror(mirror, "read") as store:
        plan = store.db.execute(f"EXPLAIN QUERY PLAN SELECT 1 FROM threads WHERE {REPLAY_THREAD}").fetchall()
        found = [row[0] for row in store.db.execute(f"SELECT id FROM threads WHERE {REPLAY_THREAD}")]
    assert "USING INDEX threads_replay" in plan[0][3] and found == ["thread_replay"]


def test_replay_threads_are_left_out_of_restore_unless_asked_for(source_copy):
    db, _ids = source_copy
    add_replay_thread(db)
    with running_server(EmulatorConfig()) as target:
        _, plain = restore(db, target.base_url, "--dry-run")
        _, wide = restore(db, target.base_url, "--dry-run", "--include-replays")
    assert plain["skipped_replays"] == 1 and wide["skipped_replays"] == 0
    assert wide["threads"]["create"] == plain["threads"]["create"] + 1


def test_emoji_are_searchable_also_in_a_mirror_made_before(tmp_path):
    db = tmp_path / "m.db"
    with open_mirror(db, "create") as store:
        # A mirror from before migration 8: its index built with the old tokenizer.
        store.db.execute("DROP TABLE messages_fts")
        store.db.table("messages").enable_fts(["text"], create_triggers=False, tokenize="porter")
        store.db.execute("DELETE FROM migrations WHERE id = 8")
        store.write_page("threads", [{"id": "thread_e", "object": "thread", "created_at": 1,
                                      "metadata": {}}])
        store.write_page("messages", [
            text_message("msg_e1", "thread_e", "user", "launch 🚀 at noon ✅"),
            text_message("msg_e2", "thread_e", "user", "price 5€ refunded")])
    assert search(db, "🚀").output.strip() == "[]"  # the old index has no such token
    with open_mirror(db, "write"):
        pass  # migration 8 rebuilds the index
    for query, expected in (("🚀", "msg_e1"), ("✅", "msg_e1"), ("refund", "msg_e2")):
        result = search(db, query)
        assert result.exit_code == 0 and f'"message_id": "{expected}"' in result.output, query
