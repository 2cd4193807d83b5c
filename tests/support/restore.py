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
