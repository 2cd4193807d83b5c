"""`syncer migrate` killed with SIGKILL at several points (a create whose answer is lost, between
two chunks of one conversation, a chunk on the server but not recorded), then rerun: every
thread ends as exactly one complete conversation, no item duplicated or missing, and a
conversation lost in a kill is reported as a possible orphan (at most one per kill)."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys

import openai
from support.migrate import KEY, account, expected_items, listed_items, migrate
from support.mirrors import sync
from support.proxies import LosingProxy

from syncer.emulator import EmulatorConfig, running_server

CREATE = "POST /v1/conversations"
ADD = "POST /v1/conversations/{id}/items"


def migrate_process(db, base_url: str) -> subprocess.Popen:
    env = {**os.environ, "SYNCER_RETRY_BASE_DELAY": "0.001"}
    return subprocess.Popen(
        [sys.executable, "-m", "syncer", "migrate", "--from", str(db), "--base-url", base_url,
         "--api-key", KEY, "--yes"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def kill_at(db, proxy: LosingProxy, route: str, n: int, *, forward: bool) -> str:
    """Run a migration, hold its n-th ``route`` request (forwarded or not), SIGKILL it there."""
    proxy.lose_answer(route, n, forward=forward)
    process = migrate_process(db, proxy.base_url)
    if not proxy.held.wait(60):
        process.kill()
        raise AssertionError(f"migrate never sent {n} x {route}: {process.communicate()}")
    process.send_signal(signal.SIGKILL)
    _, stderr = process.communicate()
    assert process.returncode == -signal.SIGKILL
    return stderr


def orphans(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "possible orphan" in line]


def test_migrate_killed_part_way_and_rerun_ends_exact(tmp_path):
    data = account()
    path = tmp_path / "account.json"
    path.write_text(json.dumps(data))
    db = tmp_path / "mirror.db"
    threads = [t["id"] for t in data["threads"]]
    with running_server(EmulatorConfig(load=path)) as server:
        sync(db, server.base_url, KEY, threads)
        proxy = LosingProxy(server.url)
        try:
            stderrs = [
                # 1. A conversation is created, its answer lost: a real orphan.
                kill_at(db, proxy, CREATE, 2, forward=True),
                # 2. Killed between two chunks of one conversation (the next chunk never sent).
                kill_at(db, proxy, ADD, 2, forward=False),
                # 3. A chunk reaches the server, the answer is lost: it must be counted, not resent.
                kill_at(db, proxy, ADD, 3, forward=True),
            ]
            final = migrate_process(db, proxy.base_url)
            _, stderr = final.communicate(timeout=120)
            assert final.returncode == 0, stderr
            stderrs.append(stderr)
            # And a rerun now writes nothing.
            server.reset_stats()
            again = migrate_process(db, proxy.base_url)
            _, err = again.communicate(timeout=60)
            assert again.returncode == 0, err
            assert server.stats()["writes"] == 0
        finally:
            proxy.close()

        reported = [orphans(s) for s in stderrs]
        assert reported[0] == [] and len(reported[1]) == 1, reported
        assert all(len(r) <= 1 for r in reported), reported
        created = [c for c in proxy.created[CREATE] if c]
        extra = len(created) - len(threads)
        assert 1 <= extra <= sum(len(r) for r in reported) <= 3

        conn = sqlite3.connect(db)
        done = dict(conn.execute("SELECT thread_id, conversation_id FROM migrate_map "
                                 "WHERE status = 'done'"))
        rows = conn.execute("SELECT count(*) FROM migrate_map").fetchone()[0]
        conn.close()
        assert sorted(done) == sorted(threads) and rows == len(threads)
        sdk = openai.OpenAI(base_url=server.base_url, api_key=KEY, max_retries=0)
        for thread_id in threads:
            assert listed_items(sdk, done[thread_id]) == expected_items(data, thread_id), thread_id


def test_a_lost_answer_retried_by_the_client_duplicates_nothing(tmp_path, monkeypatch):
    """No kill: the server adds a chunk (or creates a conversation) but the connection drops
    before the answer arrives, and the client retries. The retry must not add the chunk again
    (a server need not honour Idempotency-Key: OpenAI's SDK sends none), and a conversation
    created twice is reported as a possible orphan, not kept silently."""
    monkeypatch.setenv("SYNCER_RETRY_BASE_DELAY", "0.001")
    data = account()
    path = tmp_path / "account.json"
    path.write_text(json.dumps(data))
    db = tmp_path / "mirror.db"
    threads = [t["id"] for t in data["threads"]]
    with running_server(EmulatorConfig(load=path)) as server:
        sync(db, server.base_url, KEY, threads)
        proxy = LosingProxy(server.url)
        proxy.release.set()  # a held answer is dropped at once: the client sees the connection cut
        try:
            proxy.lose_answer(ADD, 2, forward=True)
            longest = [arg for t in threads[4:] for arg in ("--thread", t)]  # several chunks each
            code, out = migrate(db, proxy.base_url, "--yes", "--concurrency", "1", *longest)
            assert code == 0, out
            assert proxy.held.is_set()
            proxy.lose_answer(CREATE, 1, forward=True)
            code, out = migrate(db, proxy.base_url, "--yes", "--concurrency", "1")
            assert proxy.held.is_set()
        finally:
            proxy.close()
        assert code == 0, out
        # The conversation created twice: one of the two is an orphan, and it is named.
        created = [c for c in proxy.created[CREATE] if c]
        assert len(created) == len(threads) + 1
        assert "possible orphan" in out, out
        conn = sqlite3.connect(db)
        done = dict(conn.execute("SELECT thread_id, conversation_id FROM migrate_map "
                                 "WHERE status = 'done'"))
        conn.close()
        assert sorted(done) == sorted(threads)
        sdk = openai.OpenAI(base_url=server.base_url, api_key=KEY, max_retries=0)
        for thread_id in threads:
            assert listed_items(sdk, done[thread_id]) == expected_items(data, thread_id), thread_id
