"""`syncer restore`, end to end over real HTTP: mirror account A, restore it into an empty
second server, mirror that, and compare."""

from __future__ import annotations

import asyncio
import json
import sqlite3

from click.testing import CliRunner
from support.mirrors import sync
from support.restore import KEY_A, KEY_B, assistants_of, restore, thread_of

from syncer.api.client import AssistantsClient
from syncer.api.settings import ClientSettings
from syncer.cli import cli


def test_round_trip_into_an_empty_server(source_copy, emulator, tmp_path):
    source, ids = source_copy
    tracked_before = sqlite3.connect(source).execute("SELECT id FROM tracked_threads ORDER BY id").fetchall()
    target = emulator(api_key=KEY_B)
    code, report = restore(source, target.base_url, "--yes")
    assert code == 0, report["errors"]
    assert report["created"] == {"assistants": 2, "threads": 4, "messages": 9}
    assert report["errors"] == [] and report["possible_orphans"] == []
    helper, chat, files, crowded = ids["helper"], ids["chat"], ids["files"], ids["crowded"]
    assert sorted(report["not_restorable"]) == sorted([
        f"assistant {helper}: tool_resources code_interpreter.file_ids [file-abc] not restored",
        f"assistant {ids['full_meta']}: link to the source (syncer:source: metadata already has 16 pairs) not restored",
        f"thread {files}: tool_resources code_interpreter.file_ids [file-thr] not restored",
        f"thread {crowded}: link to the source (syncer:source: metadata already has 16 pairs) not restored",
        *[f"message {m} (thread {files}): {what} not restored" for m, what in _file_message_losses(source, files)],
    ])

    restored = report["ids"]
    b = tmp_path / "b.db"
    sync(b, target.base_url, KEY_B, [restored[t] for t in (chat, files, crowded, ids["empty"])])

    # Assistants: every configuration field equal (ids, tool_resources aside).
    assert assistants_of(b) == assistants_of(source)
    # Threads: metadata and messages (role, text, order, metadata) equal.
    for name in ("chat", "files", "crowded", "empty"):
        assert thread_of(b, restored[ids[name]]) == thread_of(source, ids[name]), name
    assert len(thread_of(b, restored[chat])["messages"]) == 6  # 5 by hand + the run's reply

    # Restored objects link back to their originals; runs stayed in the archive.
    conn = sqlite3.connect(b)
    links = dict(conn.execute("SELECT id, json_extract(metadata, '$.\"syncer:source\"') FROM threads"))
    assert links[restored[chat]] == chat and links[restored[crowded]] is None
    assert conn.execute("SELECT count(*) FROM runs").fetchone() == (0,)
    conn.close()
    conn = sqlite3.connect(source)
    assert conn.execute("SELECT count(*) FROM runs").fetchone()[0] >= 1
    # Restored threads live on another server: they are not tracked for `syncer sync`.
    assert conn.execute("SELECT id FROM tracked_threads ORDER BY id").fetchall() == tracked_before
    conn.close()
    # The target's key is nowhere in the archive the id map was written into.
    for path in source.parent.glob("a.db*"):
        assert KEY_B.encode() not in path.read_bytes()


def _file_message_losses(db, thread_id):
    conn = sqlite3.connect(db)
    rows = conn.execute("SELECT id, content FROM messages WHERE thread_id = ? ORDER BY created_at, rowid",
                        (thread_id,)).fetchall()
    conn.close()
    (first, _), (second, _), _ = rows
    return [(first, "image_file part [file-img]"), (first, "attachments [file-att]"),
            (second, "image_file part [file-only]"),
            (second, "the whole message (no text or image_url content to send)")]


def test_restore_twice_creates_nothing_twice(source_copy, emulator):
    source, _ = source_copy
    target = emulator()
    code, first = restore(source, target.base_url, "--yes")
    assert code == 0
    writes = target.stats()["writes"]
    code, report = restore(source, target.base_url, "--yes")
    assert code == 0
    assert report["requests"]["writes"] == 0
    assert target.stats()["writes"] == writes  # not one create
    # The assistants were found again through the map (and their syncer:source).
    assert report["assistants"] == {"create": 0, "already": 2}
    # A no-op run reports in the same shape: nothing created, and the same id map.
    assert report["created"] == {"assistants": 0, "threads": 0, "messages": 0}
    assert report["ids"] == first["ids"] and len(first["ids"]) == 6
    assert report["errors"] == [] and report["dry_run"] is False


def test_a_copy_written_to_by_someone_else_is_blocked_exit_1_even_with_nothing_to_create(source_copy, emulator):
    """A restore killed while sending a thread's messages, then someone posts into the copy:
    the rerun must not append after a stranger's message, and must say so with exit 1."""
    source, ids = source_copy
    target = emulator()
    code, first = restore(source, target.base_url, "--yes")
    assert code == 0
    copy = first["ids"][ids["chat"]]
    conn = sqlite3.connect(source)  # what a kill between two message creates leaves
    conn.execute("UPDATE restore_map SET status = 'created' WHERE kind = 'thread' AND source_id = ?",
                 (ids["chat"],))
    conn.commit()
    conn.close()

    async def post() -> None:
        settings = ClientSettings.from_env(base_url=target.base_url, api_key=KEY_B)
        async with AssistantsClient(settings) as client:
            await client.request("POST", f"/threads/{copy}/messages",
                                 json={"role": "user", "content": "written by someone else"})

    asyncio.run(post())
    writes = target.stats()["writes"]
    result = CliRunner().invoke(cli, ["restore", "--from", str(source), "--base-url", target.base_url,
                                      "--api-key", KEY_B, "--yes"])
    assert result.exit_code == 1
    assert f"Error: thread {ids['chat']}: its copy {copy} on the target has messages this restore did not send" in result.stderr
    assert result.stdout.splitlines()[-1] == f"Nothing created in {target.base_url}."
    assert target.stats()["writes"] == writes


def test_a_half_restored_copy_deleted_on_the_target_is_restored_afresh(source_copy, emulator):
    source, ids = source_copy
    target = emulator()
    code, first = restore(source, target.base_url, "--yes")
    assert code == 0
    copy = first["ids"][ids["chat"]]
    conn = sqlite3.connect(source)  # a kill between two message creates, then…
    conn.execute("UPDATE restore_map SET status = 'created' WHERE kind = 'thread' AND source_id = ?",
                 (ids["chat"],))
    conn.commit()
    conn.close()

    async def delete() -> None:  # …someone deletes the half-made copy
        settings = ClientSettings.from_env(base_url=target.base_url, api_key=KEY_B)
        async with AssistantsClient(settings) as client:
            await client.request("DELETE", f"/threads/{copy}")

    asyncio.run(delete())
    code, report = restore(source, target.base_url, "--yes")
    assert code == 0, report["errors"]
    assert report["created"] == {"assistants": 0, "threads": 1, "messages": 6}
    again = report["ids"][ids["chat"]]
    assert again != copy
    conn = sqlite3.connect(source)
    assert conn.execute("SELECT target_id, status FROM restore_map WHERE kind = 'thread' AND source_id = ?",
                        (ids["chat"],)).fetchone() == (again, "done")
    conn.close()


def test_restoring_into_the_archives_own_server_is_flagged_in_the_plan(source_copy, emulator):
    source, _ = source_copy
    conn = sqlite3.connect(source)
    own = conn.execute("SELECT value FROM meta WHERE key = 'base_url'").fetchone()[0]
    conn.close()
    result = CliRunner().invoke(cli, ["restore", "--from", str(source), "--base-url", own,
                                      "--api-key", KEY_A, "--dry-run", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["target_is_source"] is True
    result = CliRunner().invoke(cli, ["restore", "--from", str(source), "--base-url", own,
                                      "--api-key", KEY_A, "--dry-run"])
    assert ("Warning: this is the server the archive was mirrored from: what is created are copies "
            "next to the originals (check --base-url / OPENAI_BASE_URL)") in result.stdout.splitlines()
    elsewhere = emulator()
    result = CliRunner().invoke(cli, ["restore", "--from", str(source), "--base-url",
                                      elsewhere.base_url, "--api-key", KEY_B, "--dry-run"])
    assert result.exit_code == 0 and "Warning: this is the server" not in result.output


def test_dry_run_sends_no_writes_and_counts_requests(source_copy, emulator):
    source, ids = source_copy
    target = emulator()
    result = CliRunner().invoke(cli, ["restore", "--from", str(source), "--base-url",
                                      target.base_url, "--api-key", KEY_B, "--dry-run"])
    assert result.exit_code == 0, result.output
    # --from defaults to the mirror given by --db (here through SYNCER_DB).
    again = CliRunner().invoke(cli, ["restore", "--base-url", target.base_url, "--api-key", KEY_B,
                                     "--dry-run"], env={"SYNCER_DB": str(source)})
    assert again.exit_code == 0 and again.stdout == result.stdout
    assert target.stats()["writes"] == 0
    out = result.stdout
    assert f"+ assistant {ids['helper']} (Helper)" in out
    assert f"+ thread {ids['chat']} (6 messages)" in out
    # Each thread is one create carrying its messages (and one read of their new ids).
    assert "6 create requests and 3 reads (1 lookup requests made to plan) — dry run, nothing created." in out
    assert KEY_B not in result.output
    conn = sqlite3.connect(source)
    assert conn.execute("SELECT count(*) FROM restore_map").fetchone() == (0,)
    conn.close()


def test_restore_without_yes_and_without_a_terminal_is_refused(source_copy, emulator):
    source, _ = source_copy
    target = emulator()
    result = CliRunner().invoke(cli, ["restore", "--from", str(source), "--base-url",
                                      target.base_url, "--api-key", KEY_B])
    assert result.exit_code == 1
    assert result.stderr.splitlines()[-1] == "Error: refusing to restore without --yes: stdin is not a terminal"
    assert target.stats()["writes"] == 0


def test_selecting_one_thread_and_assistants_only(source_copy, emulator):
    source, ids = source_copy
    target = emulator()
    code, report = restore(source, target.base_url, "--yes", "--thread", ids["chat"])
    assert code == 0
    assert report["created"] == {"assistants": 0, "threads": 1, "messages": 6}
    code, report = restore(source, target.base_url, "--yes", "--assistants")
    assert report["created"] == {"assistants": 2, "threads": 0, "messages": 0}
    code, report = restore(source, target.base_url, "--yes")  # the rest
    assert report["created"] == {"assistants": 0, "threads": 3, "messages": 3}
    result = CliRunner().invoke(cli, ["restore", "--from", str(source), "--base-url", target.base_url,
                                      "--api-key", KEY_B, "--yes", "--thread", "thread_nope"])
    assert result.exit_code == 1
    assert result.output.strip().splitlines()[-1] == "Error: thread_nope: no such thread in the mirror"


def test_a_failed_create_is_reported_exit_1_and_a_rerun_finishes(source_copy, emulator):
    source, ids = source_copy
    target = emulator()
    # One thread at a time: writes are the 2 assistants, then the threads in archive order.
    # The 2nd thread's create fails with a 500 and is not retried.
    target.script_faults({"fail_writes": [4], "status": 500})
    result = CliRunner().invoke(cli, ["restore", "--from", str(source), "--base-url", target.base_url,
                                      "--api-key", KEY_B, "--yes", "--max-retries", "0",
                                      "--concurrency", "1"])
    assert result.exit_code == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1 and "request id req_" in errors[0]
    failed = errors[0].split()[2].rstrip(":")
    assert errors[0].startswith(f"Error: thread {failed}: HTTP 500") and failed in ids.values()
    code, report = restore(source, target.base_url, "--yes")
    assert code == 0, report["errors"]
    # A 5xx may have come after the create took effect: restore cannot know, so it says so.
    assert report["possible_orphans"] == [f"thread {failed}"]
    assert report["created"]["threads"] == 1 and report["threads"]["already"] == 3  # the rest went on
    restored = sorted(k for k in report["ids"] if k.startswith("thread_"))
    assert restored == sorted(ids[t] for t in ("chat", "files", "crowded", "empty"))
    assert report["assistants"] == {"create": 0, "already": 2}


def test_a_refused_create_leaves_no_possible_orphan(source_copy, emulator):
    source, ids = source_copy
    target = emulator()
    conn = sqlite3.connect(source)  # a thread the target will refuse (17 metadata pairs)
    conn.execute("UPDATE threads SET metadata = ? WHERE id = ?",
                 (json.dumps({f"k{i}": "v" for i in range(17)}), ids["empty"]))
    conn.commit()
    conn.close()
    code, report = restore(source, target.base_url, "--yes")
    assert code == 1
    assert len(report["errors"]) == 1 and "HTTP 400" in report["errors"][0]
    code, report = restore(source, target.base_url, "--yes", "--thread", ids["empty"])
    assert report["possible_orphans"] == []  # a 400 created nothing


def test_bad_key_and_missing_archive_are_one_line_errors(source_copy, emulator, tmp_path):
    source, _ = source_copy
    target = emulator(api_key=KEY_B)
    result = CliRunner().invoke(cli, ["restore", "--from", str(source), "--base-url", target.base_url,
                                      "--api-key", "sk-wrong-key-123456", "--yes"])
    assert result.exit_code == 1
    assert len(result.stderr.splitlines()) == 1
    assert result.stderr.startswith("Error: HTTP 401")
    assert "sk-wrong-key-123456" not in result.output
    assert target.stats()["writes"] == 0
    result = CliRunner().invoke(cli, ["restore", "--from", str(tmp_path / "nope.db"), "--yes"])
    assert result.exit_code == 1
    assert result.output == f"Error: {tmp_path / 'nope.db'}: no mirror here (give the archive with --from or --db)\n"
    assert not (tmp_path / "nope.db").exists()


def test_a_file_that_is_not_a_mirror_is_refused_untouched(tmp_path):
    other = tmp_path / "other.db"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE notes (x)")
    conn.commit()
    conn.close()
    before = other.read_bytes()
    result = CliRunner().invoke(cli, ["restore", "--from", str(other), "--dry-run"])
    assert result.exit_code == 1
    assert result.output == f"Error: {other}: not a syncer mirror (no migrations table)\n"
    assert other.read_bytes() == before
