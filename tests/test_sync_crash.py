"""`syncer sync` killed with SIGKILL at random moments, then resumed, ends identical to an
uninterrupted sync — a first sync killed three times, then an incremental one (more than a page
new in half the threads) killed once. Both the server and each sync run in their own process,
as in real life. ``SYNCER_CRASH_SEED`` repeats a failing run's kill points.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from mirror_snapshot import api_rows

from syncer.emulator import emulator_process
from syncer.emulator.generate import generate_account
from syncer.mirror.schema import TABLE_ORDER

KEY = "sk-test-crash-0123456789"
THREADS = 6
MESSAGES = 104  # two pages per thread
RUNS = 3


@pytest.fixture(scope="module")
def account_file(tmp_path_factory) -> Path:
    """A generated account: every thread's messages span two pages; runs have steps."""
    account = generate_account(seed=3, assistants=3, threads=THREADS,
                               messages_per_thread=MESSAGES, runs_per_thread=RUNS)
    path = tmp_path_factory.mktemp("crash") / "account.json"
    path.write_text(json.dumps(account))
    return path


def mirrored_rows(db: Path) -> int:
    """Rows written so far (read while the sync writes: WAL lets readers in)."""
    if not db.exists():
        return 0
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    try:
        return sum(conn.execute(f"SELECT count(*) FROM [{table}]").fetchone()[0]
                   for table in TABLE_ORDER)
    except sqlite3.OperationalError:  # not created yet
        return 0
    finally:
        conn.close()


def add_messages(base_url: str, thread_ids: list[str], count: int) -> int:
    """``count`` new user messages in each thread, through the API; returns how many."""
    headers = {"Authorization": f"Bearer {KEY}", "OpenAI-Beta": "assistants=v2"}

    async def add() -> None:
        async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=30) as client:
            async def one(thread_id: str) -> None:
                for number in range(count):  # in order within a thread, threads at once
                    answer = await client.post(f"/threads/{thread_id}/messages", json={
                        "role": "user", "content": f"later {number}"})
                    answer.raise_for_status()

            await asyncio.gather(*(one(thread_id) for thread_id in thread_ids))

    asyncio.run(add())
    return len(thread_ids) * count


def sync_command(db: Path, base_url: str, threads_file: Path) -> list[str]:
    return [sys.executable, "-m", "syncer", "sync", "--db", str(db), "--base-url", base_url,
            "--threads-file", str(threads_file), "--concurrency", "2", "-s"]


def test_sigkill_at_random_points_then_resume_is_identical(account_file, tmp_path):
    account = json.loads(account_file.read_text())
    threads_file = tmp_path / "threads.txt"
    threads_file.write_text("\n".join(t["id"] for t in account["threads"]) + "\n")
    env = {**os.environ, "OPENAI_API_KEY": KEY}
    reference, crashed = tmp_path / "reference.db", tmp_path / "crashed.db"
    seed = int(os.environ.get("SYNCER_CRASH_SEED", random.randrange(1_000_000)))
    rng = random.Random(seed)
    expected_rows = sum(len(objects) for objects in account.values())
    with emulator_process("--load", str(account_file), "--latency-ms", "30") as base_url:
        subprocess.run(sync_command(reference, base_url, threads_file), env=env, check=True)
        kills = []
        # Commits are grouped (a group of pages every 0.25 s): kill at a random moment after this
        # run's first group is on disk, i.e. inside a later group. Up to 8 tries for 3 kills that
        # land mid-sync (a try whose sync finishes first does not count).
        for _ in range(8):
            done = mirrored_rows(crashed)
            if len(kills) == 3 or done >= expected_rows:
                break
            proc = subprocess.Popen(sync_command(crashed, base_url, threads_file), env=env)
            while proc.poll() is None and mirrored_rows(crashed) <= done:
                time.sleep(0.01)
            time.sleep(rng.uniform(0.0, 0.3))
            killed = proc.poll() is None
            if killed:
                proc.send_signal(signal.SIGKILL)
            proc.wait()
            if killed and mirrored_rows(crashed) < expected_rows:
                kills.append(mirrored_rows(crashed))
        final = subprocess.run(sync_command(crashed, base_url, threads_file), env=env)
        assert final.returncode == 0
        assert len(kills) >= 2 and all(0 < k < expected_rows for k in kills), (seed, kills)
        assert api_rows(crashed) == api_rows(reference), f"seed {seed}"
        assert sum(len(api_rows(reference)[table]) for table in TABLE_ORDER) == expected_rows

        # Then incremental syncs: more than a page of new messages in half the threads (the
        # probe-then-walk path), killed once mid-way, resumed.
        added = add_messages(base_url, [t["id"] for t in account["threads"][::2]], 110)
        subprocess.run(sync_command(reference, base_url, threads_file), env=env, check=True)
        done = mirrored_rows(crashed)
        target = done + max(1, int(rng.uniform(0.1, 0.8) * added))
        proc = subprocess.Popen(sync_command(crashed, base_url, threads_file), env=env)
        while proc.poll() is None and mirrored_rows(crashed) < target:
            time.sleep(0.01)
        killed = proc.poll() is None
        if killed:
            proc.send_signal(signal.SIGKILL)
        proc.wait()
        resumed = subprocess.run(sync_command(crashed, base_url, threads_file), env=env)
    assert resumed.returncode == 0
    assert killed, f"seed {seed}: the incremental sync ended before the kill"
    assert api_rows(crashed) == api_rows(reference), f"seed {seed} (incremental)"
    assert sum(len(api_rows(crashed)[table]) for table in TABLE_ORDER) == expected_rows + added
    conn = sqlite3.connect(crashed)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
    # No object twice, no cursor pointing at something not mirrored.
    for table in TABLE_ORDER:
        total, distinct = conn.execute(
            f"SELECT count(*), count(DISTINCT id) FROM [{table}]").fetchone()
        assert total == distinct
    conn.close()
