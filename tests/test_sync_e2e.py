"""`syncer sync` end to end: real HTTP on loopback against the emulator, a real SQLite file.

The account is made once through the API (assistants over two pages, a thread whose messages
span two pages, function tool calls, a run left waiting in requires_action, an empty thread),
written to an account file, and loaded into a fresh emulator by every test.
"""

from __future__ import annotations

import asyncio
import http.client
import http.server
import itertools
import json
import math
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from mirror_snapshot import api_rows

from syncer.api.client import AssistantsClient
from syncer.api.settings import ClientSettings
from syncer.cli import cli
from syncer.emulator import EmulatorConfig, running_server
from syncer.mirror.rows import row_to_object
from syncer.mirror.schema import DERIVED_COLUMNS, TABLE_ORDER

KEY = "sk-test-mirror-0123456789abcdef"
ASSISTANTS = 102
BIG_THREAD_MESSAGES = 103


def client_for(base_url: str, key: str = KEY) -> AssistantsClient:
    return AssistantsClient(ClientSettings.from_env(base_url=base_url, api_key=key))


async def build_account(base_url: str) -> list[str]:
    """Create the test account through the API; returns the thread ids."""
    async with client_for(base_url) as client:
        tool = {"type": "function", "function": {
            "name": "lookup_order", "description": "Find an order",
            "parameters": {"type": "object", "properties": {"id": {"type": "string"}}}}}
        helper = await client.create_assistant({
            "name": "Order helper", "model": "gpt-4o", "instructions": "Answer about orders.",
            "description": "Looks up orders", "tools": [tool], "metadata": {"team": "support"}})
        # Concurrent creation keeps the fixture fast; the server's order is whatever it records.
        await asyncio.gather(*(client.create_assistant(
            {"name": f"Assistant {number}", "model": "gpt-4o-mini"})
            for number in range(ASSISTANTS - 1)))
        big = await client.create_thread({"metadata": {"kind": "big"}})
        await asyncio.gather(*(client.create_message(
            big.id, {"role": "user", "content": f"note {number}"})
            for number in range(BIG_THREAD_MESSAGES)))
        await client.run_until_settled(big.id, {"assistant_id": helper.id})

        tools = await client.create_thread()
        await client.create_message(tools.id, {
            "role": "user", "content": "Where is order-1234? mail foo.bar@x.com"})
        run = await client.run_until_settled(tools.id, {"assistant_id": helper.id})
        assert run.status == "completed"
        await client.create_message(tools.id, {
            "role": "user", "content": '@lookup_order {"id": "1234"}'})
        run = await client.run_until_settled(tools.id, {"assistant_id": helper.id})
        assert run.status == "requires_action"
        calls = run.required_action.submit_tool_outputs.tool_calls
        run = await client.resume_after_outputs(
            tools.id, run.id, [{"tool_call_id": c.id, "output": "shipped"} for c in calls])
        assert run.status == "completed"

        empty = await client.create_thread()

        waiting = await client.create_thread()
        await client.create_message(waiting.id, {"role": "user", "content": "@lookup_order {}"})
        run = await client.run_until_settled(waiting.id, {"assistant_id": helper.id})
        assert run.status == "requires_action"  # stays active: the "one per active run" case
        return [big.id, tools.id, empty.id, waiting.id]


async def server_objects(base_url: str, thread_ids: list[str]) -> dict[str, list[dict]]:
    """Everything the server holds for these threads, in the server's order (asc)."""
    out: dict[str, list[dict]] = {table: [] for table in TABLE_ORDER}
    async with client_for(base_url) as client:
        out["assistants"] = [a async for a in client.paginate("/assistants")]
        for thread_id in thread_ids:
            out["threads"].append(await client.request("GET", f"/threads/{thread_id}"))
            out["messages"] += [m async for m in client.paginate(f"/threads/{thread_id}/messages")]
            runs = [r async for r in client.paginate(f"/threads/{thread_id}/runs")]
            out["runs"] += runs
            for run in runs:
                out["run_steps"] += [s async for s in client.paginate(
                    f"/threads/{thread_id}/runs/{run['id']}/steps")]
    return out


@pytest.fixture(scope="module")
def account(tmp_path_factory) -> tuple[Path, list[str]]:
    """An account file (the emulator's --load format) and its thread ids."""
    with running_server(EmulatorConfig(run_ms=1)) as server:
        thread_ids = asyncio.run(build_account(server.base_url))
        objects = asyncio.run(server_objects(server.base_url, thread_ids))
    path = tmp_path_factory.mktemp("account") / "account.json"
    path.write_text(json.dumps(objects))
    return path, thread_ids


def run_cli(*args: str, base_url: str | None = None, key: str = KEY) -> Any:
    env = {"OPENAI_API_KEY": key}
    if base_url:
        env["OPENAI_BASE_URL"] = base_url
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


def assert_exact_mirror(db: Path, expected: dict[str, list[dict]]) -> None:
    """Every server object is a live row with every field equal, in the server's order."""
    conn = sqlite3.connect(db)
    conn.row_factory = sqlite3.Row
    for table in TABLE_ORDER:
        rows = {r["id"]: dict(r) for r in conn.execute(
            f"SELECT * FROM [{table}] WHERE deleted_at IS NULL ORDER BY rowid")}
        objects = expected[table]
        assert list(rows) == [o["id"] for o in objects] or sorted(rows) == sorted(
            o["id"] for o in objects), table
        for obj in objects:
            mirrored = row_to_object(table, rows[obj["id"]])
            for key, value in obj.items():
                assert mirrored[key] == value, (table, obj["id"], key)
            extra = set(mirrored) - set(obj) - set(DERIVED_COLUMNS.get(table, ()))
            assert all(mirrored[key] is None for key in extra), (table, extra)
        if table == "messages":
            for obj in objects:
                parts = [p["text"]["value"] for p in obj["content"] if p["type"] == "text"]
                assert rows[obj["id"]]["text"] == "\n\n".join(parts)
    # Within each thread, rowid order is the server's order (created_at ties included).
    for table, parent in (("messages", "thread_id"), ("runs", "thread_id"), ("run_steps", "run_id")):
        by_parent: dict[str, list[str]] = {}
        for obj in expected[table]:
            by_parent.setdefault(obj[parent], []).append(obj["id"])
        for parent_id, ids in by_parent.items():
            got = [r[0] for r in conn.execute(
                f"SELECT id FROM [{table}] WHERE {parent} = ? AND deleted_at IS NULL"
                " ORDER BY created_at, rowid", [parent_id])]
            assert got == ids, (table, parent_id)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
    conn.close()


def thread_args(thread_ids: list[str]) -> list[str]:
    return [arg for thread_id in thread_ids for arg in ("--thread", thread_id)]


# --- the tests ------------------------------------------------------------------------------


def test_sync_mirrors_the_account_exactly(account, emulator, mirror):
    path, thread_ids = account
    server = emulator(load=path, run_ms=60_000)
    result = run_cli("sync", "--db", str(mirror), *thread_args(thread_ids),
                     base_url=server.base_url)
    assert result.exit_code == 0, result.output
    expected = asyncio.run(server_objects(server.base_url, thread_ids))
    assert_exact_mirror(mirror, expected)
    assert "Synced 4 thread(s)" in result.stderr
    conn = sqlite3.connect(mirror)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    sync = conn.execute("SELECT status, new, errors FROM syncs").fetchone()
    total = sum(len(objects) for objects in expected.values())
    assert sync == ("ok", total, "[]")


def test_second_sync_sends_only_the_allowed_requests_and_changes_nothing(account, emulator, mirror):
    path, thread_ids = account
    server = emulator(load=path, run_ms=60_000)
    first = run_cli("sync", "--db", str(mirror), *thread_args(thread_ids), "--json",
                    base_url=server.base_url)
    assert first.exit_code == 0
    before = api_rows(mirror)
    server.reset_stats()
    second = run_cli("sync", "--db", str(mirror), "--json", base_url=server.base_url)
    stats = server.stats()
    assert second.exit_code == 0, second.output
    report = json.loads(second.stdout)
    assert (report["new"], report["changed"], report["deleted"]) == (0, 0, 0)
    assert api_rows(mirror) == before
    routes = stats["by_route"]
    threads = len(thread_ids)
    active_runs = 1  # the run waiting in requires_action
    assert routes["GET /v1/assistants"] == math.ceil(ASSISTANTS / 100)
    assert routes["GET /v1/threads/{thread_id}"] == threads
    assert routes["GET /v1/threads/{thread_id}/messages"] == threads
    assert routes["GET /v1/threads/{thread_id}/runs"] == threads
    assert routes.get("GET /v1/threads/{thread_id}/runs/{run_id}/steps", 0) == active_runs
    # The bound, counted by the server: ceil(assistants/100) + 2 x threads list
    # requests plus one per run still active. On top, one GET per thread (how a thread's own
    # changes and its deletion are seen; the benchmark's minimum counts it too). Nothing else.
    list_requests = stats["requests"] - routes["GET /v1/threads/{thread_id}"]
    assert list_requests == math.ceil(ASSISTANTS / 100) + 2 * threads + active_runs
    assert stats["requests"] == list_requests + threads and stats["writes"] == 0
    assert report["requests"] == stats["requests"]


def test_new_and_changed_objects_are_picked_up(account, emulator, mirror):
    path, thread_ids = account
    big, tools, empty, waiting = thread_ids
    server = emulator(load=path, run_ms=1)
    assert run_cli("sync", "--db", str(mirror), *thread_args(thread_ids),
                   base_url=server.base_url).exit_code == 0

    async def change() -> None:
        async with client_for(server.base_url) as client:
            first = await anext(client.paginate("/assistants"))
            await client.update_assistant(first["id"], {"instructions": "New instructions"})
            await client.update_thread(tools, {"metadata": {"reviewed": "yes"}})
            newest = await anext(client.paginate(f"/threads/{tools}/messages", order="desc"))
            await client.update_message(tools, newest["id"], {"metadata": {"flag": "1"}})
            # More than a page of new messages after the cursor (probe, then walk forward
            # from the cursor), and the first messages of a thread that had none.
            for number in range(150):
                await client.create_message(tools, {"role": "user", "content": f"new {number}"})
            await asyncio.gather(*(
                client.create_message(empty, {"role": "user", "content": f"first {number}"})
                for number in range(3)))
            run = await anext(client.paginate(f"/threads/{waiting}/runs", order="desc"))
            # The run that was waiting for tool outputs is cancelled: a status change.
            await client.cancel_run(waiting, run["id"])
            await client.wait_for_run(waiting, run["id"], timeout=30)
            helper = run["assistant_id"]
            await client.create_message(big, {"role": "user", "content": "one more"})
            await client.run_until_settled(big, {"assistant_id": helper})

    asyncio.run(change())
    result = run_cli("sync", "--db", str(mirror), "--json", base_url=server.base_url)
    assert result.exit_code == 0, result.output
    expected = asyncio.run(server_objects(server.base_url, thread_ids))
    assert_exact_mirror(mirror, expected)
    report = json.loads(result.stdout)
    assert report["new"] >= 150 + 3 + 2 and report["changed"] >= 4


def test_deletions_are_marked_and_rows_kept(account, emulator, mirror):
    path, thread_ids = account
    big, tools, empty, waiting = thread_ids
    server = emulator(load=path, run_ms=60_000)
    assert run_cli("sync", "--db", str(mirror), *thread_args(thread_ids),
                   base_url=server.base_url).exit_code == 0

    async def delete() -> tuple[str, str]:
        async with client_for(server.base_url) as client:
            assistant = await anext(client.paginate("/assistants", order="desc"))
            await client.delete_assistant(assistant["id"])
            await client.delete_thread(tools)
            oldest = await anext(client.paginate(f"/threads/{big}/messages"))
            await client.request("DELETE", f"/threads/{big}/messages/{oldest['id']}")
            return assistant["id"], oldest["id"]

    assistant_id, message_id = asyncio.run(delete())
    normal = run_cli("sync", "--db", str(mirror), "--json", base_url=server.base_url)
    assert normal.exit_code == 0, normal.output
    conn = sqlite3.connect(mirror)
    deleted = lambda table, where, *p: conn.execute(  # noqa: E731
        f"SELECT count(*), count(deleted_at) FROM {table} WHERE {where}", p).fetchone()
    assert deleted("assistants", "id = ?", assistant_id) == (1, 1)
    assert deleted("threads", "id = ?", tools) == (1, 1)
    total, gone = deleted("messages", "thread_id = ?", tools)
    assert total > 0 and gone == total  # kept, marked
    # A message deleted upstream is only noticed by --full (it is not among the newest).
    assert deleted("messages", "id = ?", message_id) == (1, 0)
    full = run_cli("sync", "--db", str(mirror), "--full", "--json", base_url=server.base_url)
    assert full.exit_code == 0, full.output
    assert deleted("messages", "id = ?", message_id) == (1, 1)
    assert json.loads(full.stdout)["deleted"] == 1
    # Deleted messages stay searchable.
    hits = run_cli("search", "order-1234", "--db", str(mirror), "--json")
    assert [h["deleted"] for h in json.loads(hits.stdout)] == [True]
    expected = asyncio.run(server_objects(server.base_url, [big, empty, waiting]))
    conn.close()
    live = {t: list(objs) for t, objs in expected.items()}
    live["threads"] = list(live["threads"])
    assert_exact_mirror_subset(mirror, live)


def assert_exact_mirror_subset(db: Path, expected: dict[str, list[dict]]) -> None:
    """Every live row of these threads equals the server's object (rows of others may exist)."""
    conn = sqlite3.connect(db)
    conn.row_factory = sqlite3.Row
    for table, objects in expected.items():
        for obj in objects:
            row = conn.execute(f"SELECT * FROM [{table}] WHERE id = ?", [obj["id"]]).fetchone()
            assert row is not None and row["deleted_at"] is None, (table, obj["id"])
            mirrored = row_to_object(table, dict(row))
            assert {k: mirrored[k] for k in obj} == obj
    conn.close()


def test_fault_rate_gives_the_same_database_as_a_clean_sync(account, emulator, tmp_path):
    path, thread_ids = account
    clean, faulty = tmp_path / "clean.db", tmp_path / "faulty.db"
    server = emulator(load=path, run_ms=60_000)
    assert run_cli("sync", "--db", str(clean), *thread_args(thread_ids),
                   base_url=server.base_url).exit_code == 0
    server = emulator(load=path, run_ms=60_000, fault_rate=0.2, seed=7)
    result = run_cli("sync", "--db", str(faulty), *thread_args(thread_ids), "--json",
                     base_url=server.base_url)
    faults = server.stats()["faults"]
    assert result.exit_code == 0, result.output
    assert faults > 0
    assert api_rows(faulty) == api_rows(clean)


# --- bad input ---------------------------------------------------------------------------


def test_unreachable_server_is_one_line_and_keeps_the_mirror(account, tmp_path):
    path, thread_ids = account
    db = tmp_path / "mirror.db"
    with running_server(EmulatorConfig(load=path, run_ms=60_000)) as server:
        base_url = server.base_url
        assert run_cli("sync", "--db", str(db), *thread_args(thread_ids),
                       base_url=base_url).exit_code == 0
    before = api_rows(db)
    # Same base URL (the mirror's server), now nothing listens there.
    result = run_cli("sync", "--db", str(db), "--max-retries", "1", base_url=base_url)
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and "Traceback" not in result.output
    assert "no answer from the server" in lines[0] and "127.0.0.1" in lines[0]
    assert api_rows(db) == before
    # --force towards another server that does not answer: the mirror still belongs to its own
    # server (it is recorded only once a server has answered), so plain syncs keep working.
    def meta() -> list[tuple]:
        conn = sqlite3.connect(db)
        try:
            return conn.execute("SELECT key, value FROM meta ORDER BY key").fetchall()
        finally:
            conn.close()

    owner = meta()
    forced = run_cli("sync", "--db", str(db), "--max-retries", "0", "--force",
                     base_url="http://127.0.0.1:9/v1")
    assert forced.exit_code == 1 and len(forced.stderr.strip().splitlines()) == 1
    assert meta() == owner and ("base_url", base_url) in owner
    assert api_rows(db) == before


def test_wrong_key_is_a_401_error(account, emulator, mirror, tmp_path):
    path, thread_ids = account
    server = emulator(load=path, run_ms=60_000, api_key=KEY)
    assert run_cli("sync", "--db", str(mirror), *thread_args(thread_ids),
                   base_url=server.base_url).exit_code == 0
    before = api_rows(mirror)
    wrong = "sk-wrong-key-99999999"
    result = run_cli("sync", "--db", str(mirror), base_url=server.base_url, key=wrong)
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "HTTP 401" in lines[0]
    assert wrong not in result.output and wrong[-8:] not in result.output
    assert api_rows(mirror) == before
    conn = sqlite3.connect(mirror)
    logged = conn.execute("SELECT status, errors FROM syncs ORDER BY id DESC").fetchone()
    conn.close()
    assert logged[0] == "failed" and "HTTP 401" in logged[1]
    for file in tmp_path.iterdir():  # the failed sync is logged in `syncs`, without the key
        if file.name.startswith("mirror.db"):
            assert wrong[-8:].encode() not in file.read_bytes()


def test_unknown_thread_is_an_error_for_that_thread_only(account, emulator, mirror):
    path, thread_ids = account
    unknown = "thread_doesNotExist000000000"
    server = emulator(load=path, run_ms=60_000)
    result = run_cli("sync", "--db", str(mirror), *thread_args([*thread_ids, unknown]), "--json",
                     base_url=server.base_url)
    expected = asyncio.run(server_objects(server.base_url, thread_ids))
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["threads_failed"] == 1 and report["errors"][0].startswith(unknown)
    assert f"Error: {unknown}: HTTP 404" in result.stderr
    assert_exact_mirror(mirror, expected)  # the rest completed


def test_malformed_threads_file_names_the_line(tmp_path):
    threads_file = tmp_path / "threads.txt"
    threads_file.write_text("# tracked\nthread_abc123\n\nnot-a-thread\nthread_ok # note\n")
    result = run_cli("threads", "add", "--file", str(threads_file))
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        f"Error: {threads_file}:4: 'not-a-thread' is not a thread id (expected thread_…)")
    threads_file.write_text("# tracked\nthread_abc123\n\nthread_ok # note\n")
    assert run_cli("threads", "add", "--file", str(threads_file)).exit_code == 0
    listed = run_cli("threads", "list", "--json")
    assert [row["id"] for row in json.loads(listed.stdout)] == ["thread_abc123", "thread_ok"]
    assert run_cli("threads", "remove", "thread_ok").exit_code == 0
    listed = run_cli("threads", "list", "--json")
    assert [row["id"] for row in json.loads(listed.stdout)] == ["thread_abc123"]


def test_corrupt_database_is_one_line(tmp_path):
    db = tmp_path / "corrupt.db"
    db.write_bytes(b"this is not a database" * 100)
    for args in (["sync", "--base-url", "http://127.0.0.1:9/v1"], ["status"], ["search", "x"]):
        result = run_cli(*args, "--db", str(db))
        assert result.exit_code == 1, args
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and "not a usable mirror database" in lines[0], args
    assert db.read_bytes() == b"this is not a database" * 100


def test_other_server_is_refused_without_force(account, tmp_path):
    path, thread_ids = account
    db = tmp_path / "mirror.db"
    with running_server(EmulatorConfig(load=path, run_ms=60_000)) as first:
        assert run_cli("sync", "--db", str(db), *thread_args(thread_ids[:1]),
                       base_url=first.base_url).exit_code == 0
        with running_server(EmulatorConfig(load=path, run_ms=60_000)) as second:
            refused = run_cli("sync", "--db", str(db), base_url=second.base_url)
            assert refused.exit_code == 1 and "--force" in refused.stderr
            forced = run_cli("sync", "--db", str(db), "--force", base_url=second.base_url)
            assert forced.exit_code == 0, forced.output


def test_api_key_appears_nowhere(account, emulator, mirror, tmp_path):
    path, thread_ids = account
    server = emulator(load=path, run_ms=60_000)
    outputs = [run_cli("sync", "--db", str(mirror), *thread_args(thread_ids), "--json",
                       base_url=server.base_url)]
    outputs.append(run_cli("sync", "--db", str(mirror), "--full", base_url=server.base_url))
    outputs += [run_cli(*args, "--db", str(mirror)) for args in (
        ["status", "--json"], ["status"], ["search", "order"], ["show", thread_ids[1]],
        ["threads", "list"])]
    for result in outputs:
        assert KEY not in result.output and KEY[-8:] not in result.output
    for file in tmp_path.iterdir():
        if file.name.startswith("mirror.db"):
            assert KEY.encode() not in file.read_bytes()


def test_sync_mirrors_a_generated_account_exactly(emulator, mirror, tmp_path):
    from syncer.emulator.generate import generate_account

    account = generate_account(seed=11, assistants=105, threads=5, messages_per_thread=102,
                               runs_per_thread=4)
    path = tmp_path / "generated.json"
    path.write_text(json.dumps(account))
    thread_ids = [thread["id"] for thread in account["threads"]]
    threads_file = tmp_path / "threads.txt"
    threads_file.write_text("\n".join(thread_ids))
    server = emulator(load=path, run_ms=60_000)
    result = run_cli("sync", "--db", str(mirror), "--threads-file", str(threads_file),
                     "--concurrency", "3", base_url=server.base_url)
    assert result.exit_code == 0, result.output
    served = asyncio.run(server_objects(server.base_url, thread_ids))
    # Requests: exactly the minimum (every list max(1, ceil(n/100)), one GET per thread).
    from syncer.mirror.sync import minimum_requests

    lists = [sum(m["thread_id"] == t for m in account["messages"]) for t in thread_ids]
    lists += [sum(r["thread_id"] == t for r in account["runs"]) for t in thread_ids]
    lists += [sum(s["run_id"] == r["id"] for s in account["run_steps"])
              for r in account["runs"]]
    sync = sqlite3.connect(mirror).execute("SELECT requests FROM syncs").fetchone()[0]
    assert sync == minimum_requests(len(account["assistants"]), lists, len(thread_ids))
    assert_exact_mirror(mirror, served)
    # The server's objects are the generated ones, field for field.
    for table in TABLE_ORDER:
        assert sorted(served[table], key=lambda o: o["id"]) == sorted(
            account[table], key=lambda o: o["id"]), table


# --- a thread that keeps failing ------------------------------------------------------------


@contextmanager
def failing_proxy(upstream: str, fails: Callable[[str], bool]) -> Iterator[tuple[str, list]]:
    """A loopback HTTP proxy in front of the emulator that answers every request whose path
    (with query) ``fails`` with a server error — 500, 503 and a dropped connection in turn —
    and forwards the rest. The emulator's own faults count requests, not paths, so they cannot
    fail one thread's requests persistently. Yields the proxy's base URL and the failed paths.
    """
    host, port = upstream.removeprefix("http://").split("/")[0].split(":")
    kinds = itertools.cycle([500, 503, "drop"])
    failed: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:  # quiet
            pass

        def forward(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if fails(self.path):
                failed.append(self.path)
                kind = next(kinds)
                if kind == "drop":
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                error = json.dumps({"error": {
                    "message": "The server had an error while processing your request.",
                    "type": "server_error", "param": None, "code": None}}).encode()
                self.send_response(kind)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(error)))
                self.send_header("x-request-id", f"req_proxy{len(failed)}")
                self.end_headers()
                self.wfile.write(error)
                return
            conn = http.client.HTTPConnection(host, int(port), timeout=30)
            try:
                headers = {k: v for k, v in self.headers.items()
                           if k.lower() not in ("host", "connection", "accept-encoding")}
                conn.request(self.command, self.path, body=body or None, headers=headers)
                answer = conn.getresponse()
                data = answer.read()
            finally:
                conn.close()
            self.send_response(answer.status)
            for key, value in answer.getheaders():
                if key.lower() not in ("content-length", "transfer-encoding", "connection",
                                       "date", "server"):
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_DELETE = forward

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1", failed
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_a_thread_that_keeps_failing_is_reported_and_the_rest_is_kept(account, emulator, mirror):
    """Server errors (500, 503, dropped connections) on every request of one thread, and on
    the second messages page of another, with the default retry settings: exit 1, each failed
    thread named in the summary and the syncs log, everything else mirrored exactly; a mirrored
    thread that fails later keeps its rows (not marked deleted); the next healthy sync ends
    with the exact mirror."""
    path, thread_ids = account
    big, tools, empty, waiting = thread_ids
    server = emulator(load=path, run_ms=60_000)
    # One proxy stands for the server throughout (the mirror belongs to its URL); what it
    # fails changes between syncs. First `tools` fails everywhere, and `big` from its
    # second messages page on (after its thread, runs and first 100 messages were written).
    rule = {"fails": lambda url: tools in url or (f"{big}/messages" in url and "after=" in url)}
    with failing_proxy(server.base_url, lambda url: rule["fails"](url)) as (proxy_url, failed):
        result = run_cli("sync", "--db", str(mirror), *thread_args(thread_ids), "--json",
                         base_url=proxy_url)
        # The retry policy was used (default: 5 retries, so 6 attempts per request).
        assert failed.count(f"/v1/threads/{tools}") == 6
        assert len([u for u in failed if big in u]) == 6
        expected = asyncio.run(server_objects(server.base_url, [empty, waiting]))
        assert result.exit_code == 1, result.output
        report = json.loads(result.stdout)
        assert report["threads_failed"] == 2 and not report["ok"]
        assert sorted(e.split(":")[0] for e in report["errors"]) == sorted([big, tools])
        assert all("gave up after 6 attempts" in e for e in report["errors"]), report["errors"]
        for thread_id in (big, tools):
            assert f"Error: {thread_id}: " in result.stderr
        assert "— 2 error(s)" in result.stderr.splitlines()[-1]
        conn = sqlite3.connect(mirror)
        status, errors = conn.execute("SELECT status, errors FROM syncs").fetchone()
        assert status == "failed" and json.loads(errors) == report["errors"]
        shown = run_cli("status", "--db", str(mirror)).stdout
        assert ": failed;" in shown and f"  error: {tools}: gave up after 6 attempts" in shown
        # What the rest of the sync wrote is all there: the healthy threads exactly, and
        # the first page of `big` with its cursor; nothing of `tools`.
        assert_exact_mirror_subset(mirror, expected)
        assert conn.execute("SELECT count(*) FROM threads WHERE id = ?",
                            [tools]).fetchone() == (0,)
        assert conn.execute("SELECT count(*) FROM messages WHERE thread_id = ?",
                            [big]).fetchone() == (100,)
        assert conn.execute("SELECT count(*) FROM assistants").fetchone() == (ASSISTANTS,)

        # A healthy sync completes both (resuming `big` after its cursor).
        rule["fails"] = lambda url: False
        healthy = run_cli("sync", "--db", str(mirror), base_url=proxy_url)
        assert healthy.exit_code == 0, healthy.output
        expected = asyncio.run(server_objects(server.base_url, thread_ids))
        assert_exact_mirror(mirror, expected)
        tools_rows = conn.execute("SELECT * FROM messages WHERE thread_id = ? ORDER BY rowid",
                                  [tools]).fetchall()

        # Now mirrored, `tools` fails again while `big` gets a new message: `big` is picked
        # up, `tools` keeps every row as it was (a server error is not a deletion).
        async def add_message() -> None:
            async with client_for(server.base_url) as client:
                await client.create_message(big, {"role": "user", "content": "later"})

        asyncio.run(add_message())
        rule["fails"] = lambda url: tools in url
        again = run_cli("sync", "--db", str(mirror), "--json", base_url=proxy_url)
        assert again.exit_code == 1
        assert json.loads(again.stdout)["new"] == 1
        assert conn.execute("SELECT * FROM messages WHERE thread_id = ? ORDER BY rowid",
                            [tools]).fetchall() == tools_rows
        assert conn.execute("SELECT count(deleted_at) FROM threads").fetchone() == (0,)
        conn.close()


# --- mirror rows are the API objects ---------------------------------------------------------


def mirror_account(db: Path) -> dict[str, list[dict]]:
    """An account file's content made from the mirror's rows (``row_to_object``, row order)."""
    conn = sqlite3.connect(db)
    conn.row_factory = sqlite3.Row
    try:
        return {table: [row_to_object(table, dict(row)) for row in conn.execute(
            f"SELECT * FROM [{table}] WHERE deleted_at IS NULL ORDER BY created_at, rowid")]
            for table in TABLE_ORDER}
    finally:
        conn.close()


def test_an_account_made_from_mirror_rows_is_served_again_and_resumes(
    account, emulator, mirror, tmp_path
):
    """``row_to_object`` gives back the exact API objects (nested fields decoded, booleans
    as booleans): an account file made from the mirror's rows loads into a fresh emulator,
    which serves the same objects, and the run waiting in requires_action there accepts its
    tool outputs and completes (the report was a TypeError → 500 on submit_tool_outputs when
    step_details was still JSON text)."""
    path, thread_ids = account
    waiting = thread_ids[3]
    server = emulator(load=path, run_ms=60_000)
    assert run_cli("sync", "--db", str(mirror), *thread_args(thread_ids),
                   base_url=server.base_url).exit_code == 0
    original = asyncio.run(server_objects(server.base_url, thread_ids))
    rebuilt = mirror_account(mirror)
    for table in TABLE_ORDER:
        by_id = {obj["id"]: obj for obj in rebuilt[table]}
        for obj in original[table]:
            # Every field equal, and type for type (json.dumps tells True from 1, "1" from 1).
            mine = {key: by_id[obj["id"]][key] for key in obj}
            assert json.dumps(mine, sort_keys=True) == json.dumps(obj, sort_keys=True), (
                table, obj["id"])
    steps = [s for s in rebuilt["run_steps"] if s["thread_id"] == waiting]
    assert steps and all(isinstance(s["step_details"], dict) for s in steps)
    account_file = tmp_path / "from-mirror.json"
    account_file.write_text(json.dumps(rebuilt))
    again = emulator(load=account_file, run_ms=1)
    served = asyncio.run(server_objects(again.base_url, thread_ids))

    async def finish_waiting_run() -> tuple[str, list[dict]]:
        async with client_for(again.base_url) as client:
            run = await anext(client.paginate(f"/threads/{waiting}/runs", order="desc"))
            assert run["status"] == "requires_action"
            calls = run["required_action"]["submit_tool_outputs"]["tool_calls"]
            done = await client.resume_after_outputs(
                waiting, run["id"], [{"tool_call_id": c["id"], "output": "ok"} for c in calls])
            steps = [s async for s in client.paginate(
                f"/threads/{waiting}/runs/{run['id']}/steps")]
            return done.status, steps

    status, steps_after = asyncio.run(finish_waiting_run())
    assert served == original
    assert status == "completed"
    outputs = [c["function"]["output"] for s in steps_after if s["type"] == "tool_calls"
               for c in s["step_details"]["tool_calls"]]
    assert outputs and set(outputs) == {"ok"}


def test_readers_read_while_a_sync_writes(account, emulator, mirror):
    """WAL: a reader holding a read transaction open (a long Datasette query) does not stop a
    sync from committing, and keeps its snapshot; while a write transaction is open, `syncer
    search` and `syncer status` (a second syncer) and a plain sqlite3 connection read at once."""
    path, thread_ids = account
    big, tools = thread_ids[:2]
    server = emulator(load=path, run_ms=60_000)
    assert run_cli("sync", "--db", str(mirror), *thread_args(thread_ids),
                   base_url=server.base_url).exit_code == 0

    async def add_messages() -> None:
        async with client_for(server.base_url) as client:
            for number in range(120):
                await client.create_message(tools, {"role": "user",
                                                    "content": f"added {number}"})

    asyncio.run(add_messages())
    reader = sqlite3.connect(mirror, isolation_level=None, timeout=0)
    reader.execute("BEGIN")
    before = reader.execute("SELECT count(*) FROM messages").fetchone()[0]
    result = run_cli("sync", "--db", str(mirror), "--json", base_url=server.base_url)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["new"] == 120
    # The reader still sees its snapshot; once it ends, it sees the sync's rows.
    assert reader.execute("SELECT count(*) FROM messages").fetchone()[0] == before
    reader.execute("COMMIT")
    assert reader.execute("SELECT count(*) FROM messages").fetchone()[0] == before + 120

    # A writer in the middle of a page (what a sync holds while it writes one).
    writer = sqlite3.connect(mirror, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("UPDATE messages SET text = 'uncommitted words' WHERE thread_id = ?", [big])
    writer.execute("INSERT INTO tracked_threads (id, added_at, source) VALUES"
                   " ('thread_notyet', 'x', 'test')")
    try:
        hits = run_cli("search", "added", "--limit", "200", "--db", str(mirror), "--json")
        assert hits.exit_code == 0, hits.output
        assert len(json.loads(hits.stdout)) == 120
        assert json.loads(run_cli("search", "uncommitted", "--db", str(mirror),
                                  "--json").stdout) == []
        status = run_cli("status", "--db", str(mirror), "--json")
        assert status.exit_code == 0, status.output
        assert json.loads(status.stdout)["tracked_threads"] == len(thread_ids)
        assert reader.execute("SELECT count(*) FROM messages").fetchone()[0] == before + 120
    finally:
        writer.execute("ROLLBACK")
        writer.close()
        reader.close()


def test_bad_input_on_an_existing_mirror_loses_nothing(account, emulator, mirror, tmp_path):
    """A malformed threads file, a bad --thread id and an unknown thread id, each against a
    mirror that holds an account: one line (or one line per failed thread), exit 1, every
    mirrored row and tracked thread still there."""
    path, thread_ids = account
    bad_file = tmp_path / "threads.txt"
    bad_file.write_text(f"{thread_ids[0]}\n\n# comment\nthread_ok\norder-1234\n")
    server = emulator(load=path, run_ms=60_000)
    assert run_cli("sync", "--db", str(mirror), *thread_args(thread_ids),
                   base_url=server.base_url).exit_code == 0
    before = api_rows(mirror)
    tracked = run_cli("threads", "list", "--json", "--db", str(mirror)).stdout
    malformed = run_cli("sync", "--db", str(mirror), "--threads-file", str(bad_file),
                        base_url=server.base_url)
    assert malformed.exit_code == 1
    assert malformed.stderr == (f"Error: {bad_file}:5: 'order-1234' is not a thread id"
                                " (expected thread_…)\n")
    bad_id = run_cli("sync", "--db", str(mirror), "--thread", "msg_123", base_url=server.base_url)
    assert bad_id.exit_code == 1
    assert bad_id.stderr == "Error: 'msg_123' is not a thread id (expected thread_…)\n"
    assert run_cli("threads", "list", "--json", "--db", str(mirror)).stdout == tracked
    unknown = run_cli("sync", "--db", str(mirror), "--thread", "thread_unknown1",
                      base_url=server.base_url)
    assert unknown.exit_code == 1
    error_lines = [line for line in unknown.stderr.splitlines() if line.startswith("Error:")]
    assert len(error_lines) == 1 and error_lines[0].startswith(
        "Error: thread_unknown1: HTTP 404: no such thread on the server, and never mirrored")
    assert "request id req_" in error_lines[0] and "Traceback" not in unknown.output
    after = api_rows(mirror)
    assert after == before


def test_show_and_status_on_a_synced_mirror(account, emulator, mirror):
    """`show` on real synced threads: tool calls with their arguments and outputs, every run
    with its status and token usage as the server reports them; `status --json` counts."""
    path, thread_ids = account
    _, tools, _, waiting = thread_ids
    server = emulator(load=path, run_ms=60_000)
    synced = run_cli("sync", "--db", str(mirror), *thread_args(thread_ids), "--json",
                     base_url=server.base_url)
    expected = asyncio.run(server_objects(server.base_url, thread_ids))
    shown = run_cli("show", tools, "--db", str(mirror), "--json")
    assert shown.exit_code == 0, shown.output
    entries = json.loads(shown.stdout)["entries"]
    messages = [m for m in expected["messages"] if m["thread_id"] == tools]
    assert [e["id"] for e in entries if e["type"] == "message"] == [m["id"] for m in messages]
    runs = {r["id"]: r for r in expected["runs"] if r["thread_id"] == tools}
    shown_runs = [e for e in entries if e["type"] == "run"]
    assert {e["id"] for e in shown_runs} == set(runs)
    for entry in shown_runs:
        assert (entry["status"], entry["usage"]) == (runs[entry["id"]]["status"],
                                                     runs[entry["id"]]["usage"])
        assert entry["usage"]["total_tokens"] > 0
    [call] = [e for e in entries if e["type"] == "tool_call"]
    assert (call["name"], json.loads(call["arguments"]), call["output"]) == (
        "lookup_order", {"id": "1234"}, "shipped")
    # The call comes after the question and before the reply that used it.
    order = [e.get("id") or e.get("call_id") for e in entries]
    assert order.index(messages[2]["id"]) < order.index(call["call_id"]) < order.index(
        messages[3]["id"])
    text = run_cli("show", waiting, "--db", str(mirror)).stdout
    assert "tool call lookup_order" in text and "output:    None" in text
    assert ": requires_action" in text and "no usage yet" in text
    status = run_cli("status", "--db", str(mirror), "--json")
    data = json.loads(status.stdout)
    assert {t: c["rows"] for t, c in data["tables"].items()} == {
        t: len(objects) for t, objects in expected.items()}
    assert data["tracked_threads"] == 4 and data["server"]["base_url"] == server.base_url
    last = data["last_sync"]
    assert (last["status"], last["errors"], last["requests"]) == (
        "ok", [], json.loads(synced.stdout)["requests"])


def test_progress_bar_only_on_a_terminal_and_never_with_silent(emulator, tmp_path, monkeypatch):
    """On a terminal: a progress bar on stderr (threads, objects and their rate, requests per
    second); in a pipe or with -s: none. The summary line is the last line either way."""
    import rich.console

    from syncer.emulator.generate import sample_account_path

    threads = [t["id"] for t in json.loads(sample_account_path().read_text())["threads"]]
    server = emulator(load=sample_account_path(), latency_ms=20)
    piped = run_cli("sync", "--db", str(tmp_path / "a.db"), *thread_args(threads),
                    base_url=server.base_url)
    monkeypatch.setattr(rich.console.Console, "is_terminal", property(lambda self: True))
    shown = run_cli("sync", "--db", str(tmp_path / "b.db"), *thread_args(threads),
                    base_url=server.base_url)
    silent = run_cli("sync", "--db", str(tmp_path / "c.db"), "-s", *thread_args(threads),
                     base_url=server.base_url)
    assert "syncing" not in piped.stderr and piped.stderr.startswith("Synced 8 thread(s)")
    import re

    bar = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", shown.stderr)  # without colours and moves
    assert f"{len(threads)}/{len(threads)} threads" in bar
    assert re.search(r"threads · [\d,]+ objects \([\d,]+/s\) · \d+ req/s", bar)
    assert bar.rstrip().splitlines()[-1].startswith("Synced 8 thread(s)")
    assert silent.exit_code == 0 and silent.stderr == ""


def test_threads_remove_stops_syncing_and_keeps_the_rows(account, emulator, mirror):
    path, thread_ids = account
    _, tools, _, _ = thread_ids
    server = emulator(load=path, run_ms=60_000)
    assert run_cli("sync", "--db", str(mirror), *thread_args(thread_ids),
                   base_url=server.base_url).exit_code == 0
    before = api_rows(mirror)
    removed = run_cli("threads", "remove", tools, "--db", str(mirror))
    assert removed.exit_code == 0
    assert "Stopped tracking 1 thread(s)" in removed.stderr
    server.reset_stats()
    result = run_cli("sync", "--db", str(mirror), "--json", base_url=server.base_url)
    stats = server.stats()
    assert result.exit_code == 0 and json.loads(result.stdout)["threads"] == 3
    # Not one request for the removed thread; its rows all still there, live and searchable.
    assert stats["by_route"]["GET /v1/threads/{thread_id}"] == 3
    # The no-change bound for 3 threads (one run still active) and their GETs: nothing more.
    assert stats["requests"] == math.ceil(ASSISTANTS / 100) + 2 * 3 + 1 + 3
    assert api_rows(mirror) == before
    hits = json.loads(run_cli("search", "order-1234", "--db", str(mirror), "--json").stdout)
    assert [(h["thread_id"], h["deleted"]) for h in hits] == [(tools, False)]
    listed = json.loads(run_cli("threads", "list", "--json", "--db", str(mirror)).stdout)
    assert tools not in [row["id"] for row in listed] and len(listed) == 3
