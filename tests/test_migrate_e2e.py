"""`syncer migrate`, end to end over real HTTP: a generated account is mirrored, the mirror
becomes conversations on `syncer emulator`, and the official SDK lists them back."""

from __future__ import annotations

import asyncio
import json
import sqlite3

import openai
import pytest
from support.migrate import KEY, account, expected_items, listed_items, migrate
from support.mirrors import sync

from syncer.api.client import AssistantsClient
from syncer.api.settings import ClientSettings
from syncer.emulator import EmulatorConfig, running_server
from syncer.mirror.lock import acquire


def migrated(db, target: str) -> dict[str, str]:
    conn = sqlite3.connect(db)
    try:
        return dict(conn.execute("SELECT thread_id, conversation_id FROM migrate_map "
                                 "WHERE status = 'done' AND target = ?", (target,)))
    finally:
        conn.close()


@pytest.fixture
def mirrored(tmp_path):
    """A running emulator holding the account, and its mirror."""
    data = account()
    path = tmp_path / "account.json"
    path.write_text(json.dumps(data))
    db = tmp_path / "mirror.db"
    with running_server(EmulatorConfig(load=path)) as server:
        sync(db, server.base_url, KEY, [t["id"] for t in data["threads"]])
        yield server, db, data


def test_every_thread_becomes_its_conversation_exactly(mirrored):
    server, db, data = mirrored
    code, dry = migrate(db, server.base_url, "--dry-run", "--json")
    assert code == 0 and dry["dry_run"] is True
    assert dry["threads"]["create"] == len(data["threads"]) == 7
    assert dry["messages"] == len(data["messages"])
    server.reset_stats()

    code, report = migrate(db, server.base_url, "--yes", "--json")
    assert code == 0, report
    stats = server.stats()
    assert stats["writes"] == dry["requests"]["writes"] == report["requests"]["writes"]
    calls = sum(len(s["step_details"]["tool_calls"]) for s in data["run_steps"]
                if s["step_details"]["type"] == "tool_calls")
    assert report["function_calls"] == calls > 20
    assert report["created"]["conversations"] == 7
    assert report["not_carried"] == []

    conversations = migrated(db, server.base_url)
    assert sorted(conversations) == sorted(t["id"] for t in data["threads"])
    sdk = openai.OpenAI(base_url=server.base_url, api_key=KEY, max_retries=0)
    lengths = []
    for thread in data["threads"]:
        conversation = sdk.conversations.retrieve(conversations[thread["id"]])
        assert conversation.metadata == {"syncer:thread_id": thread["id"], **thread["metadata"]}
        want = expected_items(data, thread["id"])
        assert listed_items(sdk, conversation.id) == want
        lengths.append(len(want))
    assert max(lengths) > 40 and min(lengths) < 20  # several chunks, and one request

    # The conversation is usable on the Responses API: its call/output pairs are valid.
    longest = max(data["threads"], key=lambda t: len(expected_items(data, t["id"])))
    response = sdk.responses.create(model="gpt-4o", conversation=conversations[longest["id"]],
                                    input="Thanks, one more question: what did we decide?")
    assert response.status == "completed" and response.output_text

    # A second run writes nothing (one read per conversation to check it is still there).
    server.reset_stats()
    code, again = migrate(db, server.base_url, "--yes", "--json")
    assert code == 0 and again["threads"]["already"] == 7
    stats = server.stats()
    assert stats["writes"] == 0 and again["created"] == {"conversations": 0, "items": 0}


def test_what_cannot_be_carried_is_named_and_images_and_metadata_fit(tmp_path):
    db = tmp_path / "mirror.db"
    with running_server(EmulatorConfig()) as server:
        async def seed() -> tuple[str, str]:
            settings = ClientSettings.from_env(base_url=server.base_url, api_key=KEY)
            async with AssistantsClient(settings) as client:
                crowded = {f"k{i:02}": f"v{i}" for i in range(16)}
                thread = await client.request("POST", "/threads", json={"metadata": crowded})
                path = f"/threads/{thread['id']}/messages"
                await client.request("POST", path, json={"role": "user", "content": [
                    {"type": "text", "text": "look"},
                    {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}},
                    {"type": "image_url", "image_url": {"url": "https://example.com/b.png", "detail": "low"}},
                    {"type": "image_file", "image_file": {"file_id": "file-old"}}],
                    "metadata": {"n": "1"}})
                await client.request("POST", path, json={"role": "user", "content": [
                    {"type": "image_file", "image_file": {"file_id": "file-only"}}]})
                gone = await client.request("POST", path, json={"role": "assistant", "content": "gone"})
                await client.request("POST", path, json={
                    "role": "user", "content": "with a file",
                    "attachments": [{"file_id": "file-att", "tools": [{"type": "code_interpreter"}]}]})
                return thread["id"], gone["id"]

        thread_id, gone = asyncio.run(seed())
        sync(db, server.base_url, KEY, [thread_id])
        conn = sqlite3.connect(db)
        conn.execute("UPDATE messages SET deleted_at = '2026-01-01T00:00:00.000000Z' WHERE id = ?", (gone,))
        conn.commit()
        conn.close()

        code, report = migrate(db, server.base_url, "--yes", "--json")
        assert code == 0, report
        reasons = {entry["reason"]: entry["count"] for entry in report["not_carried"]}
        assert reasons == {"image_file": 2, "empty_message": 1, "message_metadata": 1,
                           "deleted": 1, "attachments": 1, "thread_metadata": 1}
        assert report["messages"] == 2
        sdk = openai.OpenAI(base_url=server.base_url, api_key=KEY, max_retries=0)
        conversation_id = migrated(db, server.base_url)[thread_id]
        conversation = sdk.conversations.retrieve(conversation_id)
        assert len(conversation.metadata) == 16
        assert conversation.metadata["syncer:thread_id"] == thread_id
        items = list(sdk.conversations.items.list(conversation_id, order="asc"))
        assert [part.model_dump(exclude_none=True) for part in items[0].content] == [
            {"type": "input_text", "text": "look"},
            {"type": "input_image", "image_url": "https://example.com/a.png", "detail": "auto"},
            {"type": "input_image", "image_url": "https://example.com/b.png", "detail": "low"},
        ]
        assert len(items) == 2

        # The summary table names each reason.
        code, text = migrate(db, server.base_url, "--yes", "--thread", thread_id)
        assert code == 0 and "image_file part" in text and "already migrated" in text


def test_bad_input_is_one_line_and_writes_nothing(mirrored, tmp_path):
    server, db, _data = mirrored
    server.reset_stats()
    code, out = migrate(db, server.base_url, "--yes", "--thread", "thread_nope")
    assert code == 1 and out.strip().splitlines() == ["Error: thread_nope: no such thread in the mirror"]
    code, out = migrate(tmp_path / "missing.db", server.base_url, "--yes")
    assert code == 1 and len(out.strip().splitlines()) == 1 and out.startswith("Error:")
    code, out = migrate(db, "http://127.0.0.1:9/v1", "--yes", "--max-retries", "0")
    assert code == 1 and len(out.strip().splitlines()) == 1 and out.startswith("Error:"), out
    assert server.stats()["writes"] == 0

    with running_server(EmulatorConfig(api_key="sk-the-right-one")) as locked:
        code, out = migrate(db, locked.base_url, "--yes", key="sk-wrong-key-123456")
        assert code == 1 and len(out.strip().splitlines()) == 1 and "401" in out, out
        assert "sk-wrong-key-123456" not in out
        assert locked.stats()["writes"] == 0
    # No key is stored in the mirror.
    assert KEY.encode() not in db.read_bytes()
    assert not migrated(db, server.base_url)


def test_a_conversation_deleted_on_the_target_is_migrated_afresh(mirrored):
    server, db, data = mirrored
    thread_id = data["threads"][0]["id"]
    assert migrate(db, server.base_url, "--yes", "--thread", thread_id)[0] == 0
    first = migrated(db, server.base_url)[thread_id]
    sdk = openai.OpenAI(base_url=server.base_url, api_key=KEY, max_retries=0)
    sdk.conversations.delete(first)
    code, report = migrate(db, server.base_url, "--yes", "--json", "--thread", thread_id)
    assert code == 0 and report["threads"]["create"] == 1
    second = migrated(db, server.base_url)[thread_id]
    assert second != first
    assert listed_items(sdk, second) == expected_items(data, thread_id)


def test_a_second_migration_of_one_mirror_is_refused_while_the_first_runs(mirrored):
    server, db, _data = mirrored
    server.reset_stats()
    held = acquire(str(db), "migrate", command="syncer migrate (the other one)")
    try:
        code, out = migrate(db, server.base_url, "--yes")
        dry_code, dry = migrate(db, server.base_url, "--dry-run", "--json")  # a reader: not blocked
    finally:
        held.release()
    assert code == 1 and out.count("\n") == 1 and "(syncer migrate (the other one))" in out, out
    assert server.stats()["writes"] == 0
    assert dry_code == 0 and dry["threads"]["create"] == 7
