"""`syncer sync` against broken or hostile servers and under a pulled-away file: one clear
line per problem, the rest of the sync kept, no traceback, nothing claimed that is not on disk."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import shutil
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner
from hostile_proxy import hostile_proxy
from support.hostile import KEY, seed

from syncer.api.client import AssistantsClient
from syncer.api.settings import ClientSettings
from syncer.cli import cli
from syncer.emulator import EmulatorConfig, running_server
from syncer.errors import MirrorError
from syncer.mirror.store import Store, open_mirror
from syncer.mirror.sync import sync_mirror


@pytest.fixture
def server():
    with running_server(EmulatorConfig(api_key=KEY)) as server:
        server.thread_ids = asyncio.run(seed(server.base_url))
        yield server


def sync_cli(db: Path, base_url: str, *threads: str, key: str | None = KEY):
    args = ["sync", "--db", str(db), "--base-url", base_url, "-s", "--max-retries", "0"]
    if key:
        args += ["--api-key", key]
    for thread_id in threads:
        args += ["--thread", thread_id]
    return CliRunner().invoke(cli, args)


def count(db: Path, sql: str) -> int:
    conn = sqlite3.connect(db)
    try:
        return conn.execute(sql).fetchone()[0]
    finally:
        conn.close()


def test_a_non_object_or_an_object_without_id_fails_its_thread_only(server, tmp_path):
    good, junk, no_id = server.thread_ids

    def rewrite(method: str, path: str, body):
        if path.startswith(f"/v1/threads/{junk}/messages"):
            return {**body, "data": ["junk", *body["data"]]}
        if path == f"/v1/threads/{no_id}":
            return {k: v for k, v in body.items() if k != "id"}
        return None

    db = tmp_path / "m.db"
    with hostile_proxy(server.base_url) as proxy:
        proxy.rewrite = rewrite
        result = sync_cli(db, proxy.base_url, good, junk, no_id)
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output and isinstance(result.exception, SystemExit)
    errors = [line for line in result.output.splitlines() if line.startswith("Error: ")]
    assert sorted(errors) == sorted([
        f"Error: {junk}: item 1 of a list page is not an object (a JSON string)",
        f"Error: {no_id}: the answer to GET /threads/{no_id} is an object without an 'id'",
    ])
    # The rest of the sync is kept: the good thread and the assistant, complete.
    assert count(db, f"SELECT count(*) FROM messages WHERE thread_id = '{good}'") == 2
    assert count(db, "SELECT count(*) FROM assistants") == 1
    assert count(db, f"SELECT count(*) FROM threads WHERE id = '{no_id}'") == 0
    recorded = json.loads(sqlite3.connect(db).execute(
        "SELECT errors FROM syncs ORDER BY id DESC").fetchone()[0])
    assert len(recorded) == 2


def test_no_key_creates_no_mirror_file(server, tmp_path, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    db = tmp_path / "m.db"
    server.reset_stats()
    result = sync_cli(db, server.base_url, key=None)
    assert result.exit_code == 1
    assert result.output.startswith("Error: no API key") and result.output.count("\n") == 1
    assert list(tmp_path.iterdir()) == []
    assert server.stats()["requests"] == 0


def test_the_real_cause_is_recorded_in_the_syncs_row(server, tmp_path, monkeypatch):
    db = tmp_path / "m.db"
    original = Store.write_page

    def broken(self, table, *args, **kwargs):
        if table == "threads":
            raise RuntimeError("boom")
        return original(self, table, *args, **kwargs)

    monkeypatch.setattr(Store, "write_page", broken)

    async def run() -> None:
        settings = ClientSettings.from_env(base_url=server.base_url, api_key=KEY)
        with open_mirror(db, "create") as store:
            async with AssistantsClient(settings) as client:
                await sync_mirror(store, client, server.thread_ids[:1])

    with pytest.raises(RuntimeError):
        asyncio.run(run())
    row = sqlite3.connect(db).execute("SELECT status, errors FROM syncs").fetchone()
    assert row[0] == "failed" and json.loads(row[1]) == ["RuntimeError: boom"]


@pytest.mark.parametrize("how", ["deleted", "replaced"])
def test_a_mirror_file_pulled_away_during_a_sync_fails_it(server, tmp_path, how):
    db = tmp_path / "m.db"
    other = tmp_path / "other.db"
    with open_mirror(other, "create"):
        pass

    def pull_away() -> None:
        if db.exists():
            if how == "deleted":
                for suffix in ("", "-wal", "-shm"):
                    Path(f"{db}{suffix}").unlink(missing_ok=True)
            else:
                shutil.copy(other, f"{db}.new")
                os.replace(f"{db}.new", db)

    async def run() -> None:
        settings = ClientSettings.from_env(base_url=server.base_url, api_key=KEY)
        with open_mirror(db, "create") as store:
            async with AssistantsClient(settings) as client:
                await sync_mirror(store, client, server.thread_ids, on_thread=pull_away)

    with pytest.raises(MirrorError, match=f"the mirror file was {how}"):
        asyncio.run(run())


def test_field_names_that_are_not_safe_identifiers_are_refused_and_the_rest_mirrored(
        server, tmp_path):
    thread_id = server.thread_ids[0]

    def rewrite(method: str, path: str, body):
        if path.startswith(f"/v1/threads/{thread_id}/messages"):
            return {**body, "data": [{**m, "new]field": 1, 'x"; DROP TABLE messages; --': 2,
                                      "deleted_at": "2020", "fresh_field": "kept"}
                                     for m in body["data"]]}
        return None

    db = tmp_path / "m.db"
    with hostile_proxy(server.base_url) as proxy:
        proxy.rewrite = rewrite
        result = sync_cli(db, proxy.base_url, thread_id)
    assert result.exit_code == 0, result.output
    warnings = [line for line in result.output.splitlines() if line.startswith("Warning: ")]
    assert len(warnings) == 3
    assert "'messages.new]field'" in warnings[0] and "'messages.deleted_at'" in warnings[2]
    conn = sqlite3.connect(db)
    rows = conn.execute("SELECT fresh_field, deleted_at, text FROM messages").fetchall()
    assert rows == [("kept", None, "t0 m0"), ("kept", None, "t0 m1")]
    conn.close()

    # An export whose lines carry such a field, re-checksummed: load refuses only the field.
    export_dir = tmp_path / "export"
    assert CliRunner().invoke(cli, ["export", str(export_dir), "--db", str(db), "-s"]).exit_code == 0
    lines = (export_dir / "messages.jsonl").read_text().splitlines()
    hostile = "\n".join(json.dumps({**json.loads(line), "evil]col": 1}) for line in lines) + "\n"
    (export_dir / "messages.jsonl").write_text(hostile)
    manifest = json.loads((export_dir / "manifest.json").read_text())
    manifest["tables"]["messages"]["sha256"] = hashlib.sha256(hostile.encode()).hexdigest()
    (export_dir / "manifest.json").write_text(json.dumps(manifest))
    loaded = tmp_path / "loaded.db"
    result = CliRunner().invoke(cli, ["load", str(export_dir), "--db", str(loaded), "-s"])
    assert result.exit_code == 0, result.output
    assert "Warning: field 'messages.evil]col'" in result.output
    assert sqlite3.connect(loaded).execute("SELECT count(*) FROM messages").fetchone()[0] == 2


def test_force_into_another_server_keeps_the_old_servers_objects(server, tmp_path):
    db = tmp_path / "m.db"
    assert sync_cli(db, server.base_url, *server.thread_ids).exit_code == 0
    live = "SELECT count(*) FROM {} WHERE deleted_at IS NULL"
    before = {t: count(db, live.format(t)) for t in ("assistants", "threads", "messages")}
    assert before == {"assistants": 1, "threads": 3, "messages": 6}
    with running_server(EmulatorConfig(api_key=KEY)) as other:
        [other_thread] = asyncio.run(seed(other.base_url, threads=1))
        refused = sync_cli(db, other.base_url, other_thread)
        assert refused.exit_code == 1 and "--force" in refused.output
        for args in (["--force"], [], ["--full"]):
            result = CliRunner().invoke(cli, [
                "sync", "--db", str(db), "--base-url", other.base_url, "--api-key", KEY,
                "--thread", other_thread, *args])
            assert result.exit_code == 0, result.output
            if args == ["--force"]:
                assert f"instead of {server.base_url}" in result.output
                assert "kept, never marked deleted" in result.output
            assert "3 thread(s) of the previous server" in result.output
            assert " 0 deleted" in result.output
            after = {t: count(db, live.format(t)) for t in ("assistants", "threads", "messages")}
            assert after == {"assistants": 2, "threads": 4, "messages": 8}
