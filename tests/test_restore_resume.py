"""`syncer restore` killed with SIGKILL part-way, then rerun: complete, nothing duplicated,
and a thread lost in the kill reported as a possible orphan (at most one per kill)."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys

from support.mirrors import sync
from support.proxies import LosingProxy
from support.restore import KEY_A, KEY_B, SOURCE, assistants_of, restore, seed, thread_of

from syncer.api.client import AssistantsClient
from syncer.api.settings import ClientSettings
from syncer.emulator import EmulatorConfig, running_server


def restore_process(source, base_url: str) -> subprocess.Popen:
    env = {**os.environ, "SYNCER_RETRY_BASE_DELAY": "0.001"}
    return subprocess.Popen(
        [sys.executable, "-m", "syncer", "restore", "--from", str(source), "--base-url", base_url,
         "--api-key", KEY_B, "--yes"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def kill_after_lost_answer(source, proxy: LosingProxy, route: str, n: int) -> str:
    """Run a restore, lose the answer to its n-th ``route`` request, SIGKILL it there."""
    proxy.lose_answer(route, n)
    process = restore_process(source, proxy.base_url)
    if not proxy.held.wait(30):
        process.kill()
        raise AssertionError(f"restore never sent {n} x {route}: {process.communicate()}")
    process.send_signal(signal.SIGKILL)
    _, stderr = process.communicate()
    assert process.returncode == -signal.SIGKILL
    return stderr


def orphan_warnings(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "possible orphan" in line]


def test_restore_killed_part_way_and_rerun_completes_without_duplicates(tmp_path):
    source = tmp_path / "a.db"
    with running_server(EmulatorConfig()) as server_a:
        # The long thread: 32 messages go with its create, the other 8 one request each.
        threads = asyncio.run(seed(server_a.base_url, first_thread_messages=40))
        sync(source, server_a.base_url, KEY_A, threads)

    with running_server(EmulatorConfig()) as target:
        proxy = LosingProxy(target.url)
        try:
            stderrs = [
                # 1. An assistant is created, the answer lost, the restore killed.
                kill_after_lost_answer(source, proxy, "POST /v1/assistants", 2),
                # 2. A thread is created, the answer lost: a real orphan.
                kill_after_lost_answer(source, proxy, "POST /v1/threads", 2),
                # 3. A message in the middle of a thread.
                kill_after_lost_answer(source, proxy, "POST /v1/threads/{id}/messages", 5),
            ]
            final = restore_process(source, proxy.base_url)
            _, stderr = final.communicate(timeout=60)
            assert final.returncode == 0, stderr
            stderrs.append(stderr)
        finally:
            proxy.close()
        created = proxy.created

        # No duplicate assistants: the one whose answer was lost was found by syncer:source.
        assert len(created["POST /v1/assistants"]) == 3
        # Messages: not one sent twice (the lost one was counted when the thread resumed; the
        # comparison below would show any duplicate too).
        assert len(created["POST /v1/threads/{id}/messages"]) == 40 - 32
        # Threads: kill 2 made a real orphan; a kill may make at most one (thread creates are
        # serialised) and the run after it reports it. Every orphan is reported (none hidden);
        # a reported intent may also have died before reaching the server.
        reported = [orphan_warnings(s) for s in stderrs]
        assert all(len(r) <= 1 for r in reported), reported
        assert reported[0] == [] and len(reported[2]) == 1
        extra_threads = len(created["POST /v1/threads"]) - len(threads)
        assert 1 <= extra_threads <= sum(len(r) for r in reported) <= 3
        orphan_source = reported[2][0].split()[2].rstrip(":")
        assert orphan_source in threads

        conn = sqlite3.connect(source)
        restored = dict(conn.execute(
            "SELECT source_id, target_id FROM restore_map WHERE kind = 'thread' AND status = 'done'"))
        conn.close()
        assert sorted(restored) == sorted(threads)
        mirror_b = tmp_path / "b.db"
        sync(mirror_b, target.base_url, KEY_B, list(restored.values()))

    assert assistants_of(mirror_b) == assistants_of(source)
    for thread_id in threads:
        assert thread_of(mirror_b, restored[thread_id]) == thread_of(source, thread_id)
    conn = sqlite3.connect(mirror_b)
    sources = [row[0] for row in conn.execute(
        f"SELECT json_extract(metadata, '$.\"{SOURCE}\"') FROM assistants")]
    conn.close()
    assert len(sources) == len(set(sources)) == 3


def test_messages_archived_after_a_restore_are_appended_by_the_next_one(tmp_path):
    source = tmp_path / "a.db"
    with running_server(EmulatorConfig()) as server_a, running_server(EmulatorConfig()) as target:
        threads = asyncio.run(seed(server_a.base_url))
        sync(source, server_a.base_url, KEY_A, threads)
        code, first = restore(source, target.base_url, "--yes")
        assert code == 0 and first["created"] == {"assistants": 3, "threads": 4, "messages": 12}

        async def more() -> None:  # the conversation goes on in account A
            settings = ClientSettings.from_env(base_url=server_a.base_url, api_key=KEY_A)
            async with AssistantsClient(settings) as client:
                for text in ("later 1", "later 2"):
                    await client.request("POST", f"/threads/{threads[1]}/messages",
                                         json={"role": "user", "content": text})

        asyncio.run(more())
        sync(source, server_a.base_url, KEY_A, threads)
        code, second = restore(source, target.base_url, "--yes")
        assert code == 0
        assert second["created"] == {"assistants": 0, "threads": 0, "messages": 2}
        assert second["threads"] == {"create": 0, "resume": 1, "already": 3, "blocked": 0}
        mirror_b = tmp_path / "b.db"
        sync(mirror_b, target.base_url, KEY_B, [second["ids"][t] for t in threads])
    restored = thread_of(mirror_b, second["ids"][threads[1]])
    assert restored == thread_of(source, threads[1])
    assert [parts for _, parts, _ in restored["messages"]][-2:] == [[("text", "later 1")], [("text", "later 2")]]


def test_an_assistant_without_room_for_its_link_is_not_duplicated_by_a_kill(tmp_path):
    """16 metadata pairs leave no room for syncer:source: the rerun still finds the assistant
    the killed run created (by its configuration), instead of creating it twice."""
    source = tmp_path / "a.db"
    full = {f"k{i}": f"v{i}" for i in range(16)}
    with running_server(EmulatorConfig()) as server_a:

        async def twins() -> None:  # two archived assistants alike in every field
            settings = ClientSettings.from_env(base_url=server_a.base_url, api_key=KEY_A)
            async with AssistantsClient(settings) as client:
                for _ in range(2):
                    await client.request("POST", "/assistants", json={
                        "model": "gpt-4o", "name": "twin", "instructions": "x", "metadata": full})

        asyncio.run(twins())
        sync(source, server_a.base_url, KEY_A, [])

    with running_server(EmulatorConfig()) as target:
        proxy = LosingProxy(target.url)
        try:
            first = kill_after_lost_answer(source, proxy, "POST /v1/assistants", 2)
            final = restore_process(source, proxy.base_url)
            _, second = final.communicate(timeout=60)
            assert final.returncode == 0, second
        finally:
            proxy.close()
        assert len(proxy.created["POST /v1/assistants"]) == 2
        assert orphan_warnings(first) == orphan_warnings(second) == []
        assert "assistants: 0 to create, 2 already there" in second
        conn = sqlite3.connect(source)
        mapped = sorted(row[0] for row in conn.execute(
            "SELECT target_id FROM restore_map WHERE kind = 'assistant' AND status = 'done'"))
        conn.close()
        assert mapped == sorted(proxy.created["POST /v1/assistants"])
        mirror_b = tmp_path / "b.db"
        sync(mirror_b, target.base_url, KEY_B, [])
    assert assistants_of(mirror_b) == assistants_of(source)
