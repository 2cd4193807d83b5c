"""`syncer export` / `syncer load`: portable, checksummed JSON Lines copies of the mirror."""

from __future__ import annotations

import json
import os
import sqlite3
import stat

import pytest
from click.testing import CliRunner

from syncer.cli import cli
from syncer.mirror.schema import OBJECT_TABLES
from syncer.mirror.store import StateUpdate, open_mirror

API_TABLES = tuple(OBJECT_TABLES)


def build_mirror(path):
    """A mirror written through the store, with the awkward cases an export must keep."""
    assistants = [
        {"id": "asst_1", "object": "assistant", "created_at": 1700000000, "name": "Ünïcode ☃",
         "description": None, "model": "gpt-4o", "instructions": '["looks like JSON"]',
         "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}],
         "tool_resources": {}, "metadata": {"team": "a"}, "temperature": 0.5, "top_p": 1.0,
         "response_format": "auto"},
        {"id": "asst_2", "object": "assistant", "created_at": 1700000000, "name": "second",
         "description": "d", "model": "gpt-4o-mini", "instructions": "be brief", "tools": [],
         "tool_resources": {"code_interpreter": {"file_ids": ["file-1"]}}, "metadata": {},
         "temperature": None, "top_p": None, "response_format": {"type": "json_object"},
         "newer_field": {"added": "by a newer server"}},
    ]
    thread = {"id": "thread_1", "object": "thread", "created_at": 1700000001,
              "tool_resources": None, "metadata": {"k": "v"}}
    messages = [
        {"id": f"msg_{i}", "object": "thread.message", "created_at": 1700000002, "thread_id": "thread_1",
         "status": "completed", "role": "user" if i % 2 == 0 else "assistant",
         "content": [{"type": "text", "text": {"value": f"line {i}\nwith newline", "annotations": []}}],
         "assistant_id": None, "run_id": None, "attachments": [], "metadata": {"i": str(i)},
         "incomplete_details": None, "completed_at": None, "incomplete_at": None}
        for i in range(5)
    ]
    run = {"id": "run_1", "object": "thread.run", "created_at": 1700000003, "thread_id": "thread_1",
           "assistant_id": "asst_1", "status": "completed", "parallel_tool_calls": True,
           "usage": {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}, "tools": []}
    step = {"id": "step_1", "object": "thread.run.step", "created_at": 1700000004,
            "thread_id": "thread_1", "run_id": "run_1", "assistant_id": "asst_1",
            "type": "message_creation", "status": "completed",
            "step_details": {"type": "message_creation", "message_creation": {"message_id": "msg_1"}}}
    with open_mirror(path, "create") as store:
        store.claim_server("http://127.0.0.1:1/v1", None, None)
        store.track_threads(["thread_1"], "cli")
        store.write_page("assistants", assistants, [StateUpdate("assistants", "", "asst_2")])
        store.write_page("threads", [thread])
        store.write_page("messages", messages)
        store.write_page("runs", [run])
        store.write_page("run_steps", [step])
        store.mark_deleted("messages", "id = ?", ["msg_4"])
        store.db.execute("INSERT INTO restore_map VALUES ('thread', 'thread_1', 'http://127.0.0.1:2/v1',"
                         " 'thread_9', 'done', '2026-11-25T00:00:00Z')")


def dump(path, bookkeeping=("first_seen_at", "last_seen_at", "deleted_at")):
    """Every API table as (columns → values) in rowid order, plus the registry and meta."""
    db = sqlite3.connect(path)
    db.row_factory = sqlite3.Row
    out = {}
    for table in (*API_TABLES, "tracked_threads", "meta", "restore_map"):
        rows = [dict(r) for r in db.execute(f"SELECT * FROM [{table}] ORDER BY rowid")]
        out[table] = [{k: v for k, v in r.items() if k not in bookkeeping or table in API_TABLES} for r in rows]
    db.close()
    return out


def test_export_then_load_into_a_fresh_mirror_gives_the_same_mirror(tmp_path):
    source, fresh, out = tmp_path / "a.db", tmp_path / "b.db", tmp_path / "export"
    build_mirror(source)
    old_umask = os.umask(0o022)  # a permissive umask must not leak into the export
    try:
        result = CliRunner().invoke(cli, ["export", str(out), "--db", str(source), "--json"])
    finally:
        os.umask(old_umask)
    assert result.exit_code == 0, result.output
    manifest = json.loads(result.output)
    assert manifest["tables"]["messages"]["count"] == 5
    # What `sha256sum` and `wc -l` would say about each file is what the manifest says.
    import hashlib

    for entry in manifest["tables"].values():
        data = (out / entry["file"]).read_bytes()
        assert (hashlib.sha256(data).hexdigest(), data.count(b"\n")) == (entry["sha256"], entry["count"])
    assert {name: e["count"] for name, e in manifest["tables"].items()} == {
        "assistants": 2, "threads": 1, "messages": 5, "runs": 1, "run_steps": 1,
        "tracked_threads": 1, "meta": len(manifest["source"]) - 1, "restore_map": 1}
    assert manifest["source"]["base_url"] == "http://127.0.0.1:1/v1"
    assert manifest["format"] == "syncer-export" and manifest["syncer_version"]
    assert manifest["exported_at"].endswith("Z")

    # Lines are the API objects, nested values as JSON (not JSON text), strings untouched.
    first = json.loads((out / "assistants.jsonl").read_text().splitlines()[0])
    assert first["tools"][0]["function"]["name"] == "f"
    assert first["instructions"] == '["looks like JSON"]'
    assert first["response_format"] == "auto"
    assert first["_mirror"]["deleted_at"] is None
    second = json.loads((out / "assistants.jsonl").read_text().splitlines()[1])
    assert second["newer_field"] == {"added": "by a newer server"}

    # Owner-only folder and files.
    assert stat.S_IMODE(out.stat().st_mode) == 0o700
    for path in out.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path

    result = CliRunner().invoke(cli, ["load", str(out), "--db", str(fresh)])
    assert result.exit_code == 0, result.output
    assert dump(fresh) == dump(source)

    # Full-text search works on the loaded mirror (the store's triggers saw the rows).
    db = sqlite3.connect(fresh)
    hits = db.execute("SELECT count(*) FROM messages_fts WHERE messages_fts MATCH 'newline'").fetchone()
    db.close()
    assert hits == (5,)

    # Loading again changes nothing.
    result = CliRunner().invoke(cli, ["load", str(out), "--db", str(fresh), "--json"])
    assert result.exit_code == 0, result.output
    assert all(c["added"] == c["updated"] == 0 for c in json.loads(result.output)["tables"].values())
    assert dump(fresh) == dump(source)


@pytest.mark.parametrize("tamper", ["edit", "append", "truncate", "delete"])
def test_a_tampered_export_is_rejected_and_nothing_is_written(tmp_path, tamper):
    source, fresh, out = tmp_path / "a.db", tmp_path / "b.db", tmp_path / "export"
    build_mirror(source)
    assert CliRunner().invoke(cli, ["export", str(out), "--db", str(source)]).exit_code == 0
    target = out / "messages.jsonl"
    if tamper == "edit":
        target.write_text(target.read_text().replace("line 3", "line X"))
    elif tamper == "append":
        target.write_text(target.read_text() + target.read_text().splitlines()[0] + "\n")
    elif tamper == "truncate":
        target.write_text("\n".join(target.read_text().splitlines()[:2]) + "\n")
    else:
        target.unlink()
    result = CliRunner().invoke(cli, ["load", str(out), "--db", str(fresh)])
    assert result.exit_code == 1
    if tamper == "delete":
        assert result.output == f"Error: {target}: missing (listed in manifest.json)\n"
    else:
        assert result.output == (
            f"Error: {target}: checksum mismatch: the file changed after the export; nothing loaded\n"
        )
    assert not fresh.exists()


def test_load_keeps_newer_rows_of_an_existing_mirror(tmp_path):
    source, out = tmp_path / "a.db", tmp_path / "export"
    build_mirror(source)
    assert CliRunner().invoke(cli, ["export", str(out), "--db", str(source)]).exit_code == 0
    with open_mirror(source, "create") as store:  # the mirror moves on after the export
        store.write_page("threads", [{"id": "thread_1", "object": "thread", "created_at": 1700000001,
                                      "tool_resources": None, "metadata": {"k": "changed"}}])
    before = dump(source)
    result = CliRunner().invoke(cli, ["load", str(out), "--db", str(source)])
    assert result.exit_code == 0, result.output
    assert dump(source) == before


def test_export_refuses_to_overwrite_and_load_refuses_another_servers_export(tmp_path):
    source, out = tmp_path / "a.db", tmp_path / "export"
    build_mirror(source)
    assert CliRunner().invoke(cli, ["export", str(out), "--db", str(source)]).exit_code == 0
    result = CliRunner().invoke(cli, ["export", str(out), "--db", str(source)])
    assert result.exit_code == 1
    assert result.output == f"Error: {out}: already holds an export (use --force to replace it)\n"
    assert CliRunner().invoke(cli, ["export", str(out), "--db", str(source), "--force"]).exit_code == 0

    other = tmp_path / "other.db"
    with open_mirror(other, "create") as store:
        store.claim_server("http://127.0.0.1:2/v1", None, None)
    result = CliRunner().invoke(cli, ["load", str(out), "--db", str(other)])
    assert result.exit_code == 1
    assert result.output.startswith(f"Error: {other} mirrors base_url 'http://127.0.0.1:2/v1'")
    assert CliRunner().invoke(cli, ["load", str(out), "--db", str(other), "--force"]).exit_code == 0


def test_load_of_a_folder_without_manifest_is_a_one_line_error(tmp_path):
    (tmp_path / "x").mkdir()
    result = CliRunner().invoke(cli, ["load", str(tmp_path / "x")])
    assert result.exit_code == 1
    assert result.output == f"Error: {tmp_path / 'x'}: no manifest.json (not a syncer export, or an interrupted one)\n"


def test_export_and_load_of_a_synced_mirror(tmp_path):
    """A mirror made by `syncer sync` (runs, steps, tool calls) survives export → load intact."""
    from syncer.emulator import EmulatorConfig, running_server
    from syncer.emulator.generate import generate_account

    account = generate_account(seed=5, assistants=3, threads=4, messages_per_thread=8,
                               runs_per_thread=3, tool_call_ratio=0.5)
    (tmp_path / "account.json").write_text(json.dumps(account))
    source, fresh, out = tmp_path / "a.db", tmp_path / "b.db", tmp_path / "export"
    with running_server(EmulatorConfig(load=tmp_path / "account.json")) as server:
        args = ["sync", "--db", str(source), "--base-url", server.base_url, "--api-key", "sk-x", "-s"]
        for thread in account["threads"]:
            args += ["--thread", thread["id"]]
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == 0, result.output
    result = CliRunner().invoke(cli, ["export", str(out), "--db", str(source), "--json"])
    assert result.exit_code == 0, result.output
    counts = {name: entry["count"] for name, entry in json.loads(result.stdout)["tables"].items()}
    assert {name: counts[name] for name in API_TABLES} == {name: len(account[name]) for name in API_TABLES}
    # Each line is the API object as the server holds it (bookkeeping aside).
    steps = [json.loads(line) for line in (out / "run_steps.jsonl").read_text().splitlines()]
    by_id = {step["id"]: step for step in account["run_steps"]}
    for step in steps:
        step.pop("_mirror")
        assert {k: v for k, v in step.items() if v is not None} == {
            k: v for k, v in by_id[step["id"]].items() if v is not None}

    assert CliRunner().invoke(cli, ["load", str(out), "--db", str(fresh)]).exit_code == 0
    assert dump(fresh) == dump(source)
    assert "sk-x" not in "".join(p.read_text() for p in out.iterdir())


def test_a_bad_line_in_a_consistent_export_names_file_and_line_and_loads_nothing(tmp_path):
    import hashlib

    source, fresh, out = tmp_path / "a.db", tmp_path / "b.db", tmp_path / "export"
    build_mirror(source)
    assert CliRunner().invoke(cli, ["export", str(out), "--db", str(source)]).exit_code == 0
    # A broken exporter, not tampering: the manifest agrees with the file.
    target = out / "messages.jsonl"
    lines = target.read_text().splitlines()
    lines[2] = lines[2][:-1]
    target.write_text("\n".join(lines) + "\n")
    manifest = json.loads((out / "manifest.json").read_text())
    manifest["tables"]["messages"]["sha256"] = hashlib.sha256(target.read_bytes()).hexdigest()
    (out / "manifest.json").write_text(json.dumps(manifest))
    result = CliRunner().invoke(cli, ["load", str(out), "--db", str(fresh)])
    assert result.exit_code == 1
    assert result.output.startswith(f"Error: {target}:3: not valid JSON (")
    assert len(result.output.splitlines()) == 1
    assert not list(tmp_path.glob("b.db*"))  # the mirror this load created is gone again


def test_a_manifest_missing_a_table_is_rejected(tmp_path):
    source, fresh, out = tmp_path / "a.db", tmp_path / "b.db", tmp_path / "export"
    build_mirror(source)
    assert CliRunner().invoke(cli, ["export", str(out), "--db", str(source)]).exit_code == 0
    manifest = json.loads((out / "manifest.json").read_text())
    del manifest["tables"]["messages"]  # cut by hand: the load would silently drop every message
    (out / "manifest.json").write_text(json.dumps(manifest))
    result = CliRunner().invoke(cli, ["load", str(out), "--db", str(fresh)])
    assert result.exit_code == 1
    assert result.output == f"Error: {out / 'manifest.json'}: tables.messages: missing (every export lists it)\n"
    assert not fresh.exists()


def test_export_force_into_a_shared_folder_keeps_its_mode_and_writes_private_files(tmp_path):
    source, shared = tmp_path / "a.db", tmp_path / "shared"
    build_mirror(source)
    shared.mkdir()
    shared.chmod(0o755)
    (shared / "notes.txt").write_text("someone else's")
    result = CliRunner().invoke(cli, ["export", str(shared), "--db", str(source)])
    assert result.exit_code == 1
    assert result.output == f"Error: {shared}: not empty (use --force to write into it anyway)\n"
    assert CliRunner().invoke(cli, ["export", str(shared), "--db", str(source), "--force"]).exit_code == 0
    assert stat.S_IMODE(shared.stat().st_mode) == 0o755  # not ours to lock others out of
    assert (shared / "notes.txt").read_text() == "someone else's"
    for path in shared.glob("*.json*"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


def test_a_replaced_export_has_no_manifest_until_it_is_complete(tmp_path, monkeypatch):
    """--force over an old export, interrupted: no manifest is left vouching for files that
    were half replaced, so load refuses it instead of loading a mix."""
    from syncer.archive import export as export_module

    source, out = tmp_path / "a.db", tmp_path / "export"
    build_mirror(source)
    assert CliRunner().invoke(cli, ["export", str(out), "--db", str(source)]).exit_code == 0
    real = export_module.row_to_line

    def interrupted(table, row):
        if table == "messages":
            raise KeyboardInterrupt  # Ctrl-C part-way through the new export
        return real(table, row)

    monkeypatch.setattr(export_module, "row_to_line", interrupted)
    result = CliRunner().invoke(cli, ["export", str(out), "--db", str(source), "--force"])
    assert result.exit_code == 130  # Ctrl-C
    assert not (out / "manifest.json").exists()
    assert not list(out.glob(".*.tmp"))  # no half-written file either
    monkeypatch.undo()
    result = CliRunner().invoke(cli, ["load", str(out), "--db", str(tmp_path / "b.db")])
    assert result.exit_code == 1
    assert "no manifest.json" in result.output
    # Running the export again (no --force needed: no manifest) completes it.
    assert CliRunner().invoke(cli, ["export", str(out), "--db", str(source)]).exit_code == 0
    assert CliRunner().invoke(cli, ["load", str(out), "--db", str(tmp_path / "b.db")]).exit_code == 0


def test_export_into_a_folder_that_cannot_be_made_is_a_one_line_error(tmp_path):
    source = tmp_path / "a.db"
    build_mirror(source)
    out = tmp_path / "no-such-parent" / "export"
    result = CliRunner().invoke(cli, ["export", str(out), "--db", str(source)])
    assert result.exit_code == 1
    assert result.output == f"Error: {out}: cannot write the export (No such file or directory)\n"
