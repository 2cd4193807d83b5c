"""Restore's shared test data: the two accounts' keys, a small seeded account, and mirrors
compared as the user sees them (the syncer:source marker left out)."""

from __future__ import annotations

import json
import sqlite3

from click.testing import CliRunner

from syncer.api.client import AssistantsClient
from syncer.api.settings import ClientSettings
from syncer.cli import cli

KEY_A, KEY_B = "sk-account-a-secret", "sk-account-b-secret"
SOURCE = "syncer:source"


async def seed(base_url: str, first_thread_messages: int = 3) -> list[str]:
    """3 assistants and 4 threads of 3 messages (the first thread: ``first_thread_messages``)."""
    settings = ClientSettings.from_env(base_url=base_url, api_key=KEY_A)
    async with AssistantsClient(settings) as client:
        for n in range(3):
            await client.request("POST", "/assistants", json={
                "model": "gpt-4o", "name": f"assistant {n}", "instructions": f"rule {n}",
                "metadata": {"n": str(n)}})
        threads = []
        for t in range(4):
            thread = await client.request("POST", "/threads", json={"metadata": {"t": str(t)}})
            for m in range(first_thread_messages if t == 0 else 3):
                await client.request("POST", f"/threads/{thread['id']}/messages", json={
                    "role": "user" if m % 2 == 0 else "assistant", "content": f"t{t} m{m}",
                    "metadata": {"m": str(m)}})
            threads.append(thread["id"])
    return threads


async def seed_account(base_url: str) -> dict[str, str]:
    """Account A: assistants and threads with every case restore must handle. Returns ids."""
    settings = ClientSettings.from_env(base_url=base_url, api_key=KEY_A)
    ids: dict[str, str] = {}
    async with AssistantsClient(settings) as client:
        full = {f"k{i}": f"v{i}" for i in range(16)}
        helper = await client.request("POST", "/assistants", json={
            "model": "gpt-4o", "name": "Helper", "description": "answers questions",
            "instructions": "Be brief.", "temperature": 0.3, "top_p": 0.9,
            "response_format": {"type": "json_object"},
            "tools": [{"type": "code_interpreter"},
                      {"type": "function", "function": {"name": "lookup", "description": "find",
                                                        "parameters": {"type": "object", "properties": {"q": {"type": "string"}}}}}],
            "tool_resources": {"code_interpreter": {"file_ids": ["file-abc"]}},
            "metadata": {"team": "support"},
        })
        full_meta = await client.request("POST", "/assistants", json={
            "model": "gpt-4o-mini", "name": "Full metadata", "instructions": "x", "metadata": full,
        })
        ids["helper"], ids["full_meta"] = helper["id"], full_meta["id"]

        chat = await client.request("POST", "/threads", json={"metadata": {"customer": "c-1"}})
        for i in range(5):  # created within one second: ties in created_at
            await client.request("POST", f"/threads/{chat['id']}/messages", json={
                "role": "user" if i % 2 == 0 else "assistant",
                "content": f"message {i}: order-123{i} ünïcode",
                "metadata": {"n": str(i)},
            })
        await client.run_until_settled(chat["id"], {"assistant_id": helper["id"]}, timeout=30)
        files = await client.request("POST", "/threads", json={
            "metadata": {}, "tool_resources": {"code_interpreter": {"file_ids": ["file-thr"]}}})
        await client.request("POST", f"/threads/{files['id']}/messages", json={
            "role": "user", "content": [{"type": "text", "text": "see picture"},
                                        {"type": "image_file", "image_file": {"file_id": "file-img"}}],
            "attachments": [{"file_id": "file-att", "tools": [{"type": "code_interpreter"}]}],
        })
        await client.request("POST", f"/threads/{files['id']}/messages", json={
            "role": "user", "content": [{"type": "image_file", "image_file": {"file_id": "file-only"}}]})
        await client.request("POST", f"/threads/{files['id']}/messages", json={
            "role": "user", "content": [{"type": "image_url", "image_url": {"url": "https://example.com/a.png", "detail": "low"}},
                                        {"type": "text", "text": "and a link"}]})
        crowded = await client.request("POST", "/threads", json={"metadata": full})
        await client.request("POST", f"/threads/{crowded['id']}/messages", json={
            "role": "user", "content": "crowded metadata", "metadata": full})
        empty = await client.request("POST", "/threads", json={"metadata": {"empty": "yes"}})
        ids.update(chat=chat["id"], files=files["id"], crowded=crowded["id"], empty=empty["id"])
    return ids


def restore(db, base_url: str, *args: str, key: str = KEY_B) -> tuple[int, dict]:
    result = CliRunner().invoke(cli, ["restore", "--from", str(db), "--base-url", base_url,
                                      "--api-key", key, "--json", *args])
    assert result.exit_code in (0, 1), result.output
    return result.exit_code, json.loads(result.stdout)


# --- comparing mirrors --------------------------------------------------------------------------


def _load(value):
    # The mirror keeps objects and arrays as JSON text, scalars ("auto") as they are.
    return json.loads(value) if isinstance(value, str) and value[:1] in "{[" else value


def _meta(value) -> dict:
    meta = dict(_load(value) or {})
    meta.pop(SOURCE, None)
    return meta


def assistants_of(db) -> list[dict]:
    conn = sqlite3.connect(db)
    conn.row_factory = sqlite3.Row
    rows = conn.execute("SELECT * FROM assistants ORDER BY name").fetchall()
    conn.close()
    return [{
        "name": r["name"], "model": r["model"], "description": r["description"],
        "instructions": r["instructions"], "tools": _load(r["tools"]), "metadata": _meta(r["metadata"]),
        "temperature": r["temperature"], "top_p": r["top_p"], "response_format": _load(r["response_format"]),
    } for r in rows]


def thread_of(db, thread_id: str) -> dict:
    conn = sqlite3.connect(db)
    conn.row_factory = sqlite3.Row
    thread = conn.execute("SELECT * FROM threads WHERE id = ?", (thread_id,)).fetchone()
    messages = conn.execute(
        "SELECT * FROM messages WHERE thread_id = ? ORDER BY created_at, rowid", (thread_id,)).fetchall()
    conn.close()

    def parts(content):
        out = []
        for part in _load(content):
            if part["type"] == "text":
                out.append(("text", part["text"]["value"]))
            elif part["type"] == "image_url":
                out.append(("image_url", part["image_url"]["url"]))
        return out

    return {
        "metadata": _meta(thread["metadata"]),
        "messages": [(m["role"], parts(m["content"]), _meta(m["metadata"]))
                     for m in messages if parts(m["content"])],
    }
