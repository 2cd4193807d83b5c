"""Migrate's shared test data: a generated account with long threads and function calls, and
the conversation items it must become (worked out independently of syncer's code)."""

from __future__ import annotations

import json

import openai
from click.testing import CliRunner

from syncer.cli import cli
from syncer.emulator.generate import generate_account

KEY = "sk-migrate-secret-key"


def account() -> dict[str, list[dict]]:
    """Short threads and long ones (41 messages, many function calls: several chunks each)."""
    short = generate_account(seed=1, assistants=2, threads=4, messages_per_thread=6,
                             runs_per_thread=2, tool_call_ratio=0.5)
    long = generate_account(seed=2, assistants=3, threads=3, messages_per_thread=41,
                            runs_per_thread=15, tool_call_ratio=0.8)
    return {kind: short[kind] + long[kind] for kind in short}


def expected_items(data: dict[str, list[dict]], thread_id: str) -> list[dict]:
    """What the conversation must hold, built from the account itself (independently of
    syncer's code): messages in order, each run's calls + outputs before its reply."""
    calls: dict[str, list[dict]] = {}
    for step in data["run_steps"]:
        if step["thread_id"] == thread_id and step["step_details"]["type"] == "tool_calls":
            for call in step["step_details"]["tool_calls"]:
                calls.setdefault(step["run_id"], []).append(call)
    items = []
    for message in (m for m in data["messages"] if m["thread_id"] == thread_id):
        for call in calls.get(message.get("run_id") or "", []):
            items.append({"type": "function_call", "call_id": call["id"],
                          "name": call["function"]["name"], "arguments": call["function"]["arguments"]})
            items.append({"type": "function_call_output", "call_id": call["id"],
                          "output": call["function"]["output"]})
        kind = "output_text" if message["role"] == "assistant" else "input_text"
        items.append({"type": "message", "role": message["role"],
                      "content": [(kind, part["text"]["value"]) for part in message["content"]]})
    return items


def listed_items(sdk: openai.OpenAI, conversation_id: str) -> list[dict]:
    """A conversation's items, through the official SDK (auto-paginating, oldest first)."""
    items = []
    for item in sdk.conversations.items.list(conversation_id, order="asc", limit=7):
        if item.type == "message":
            items.append({"type": "message", "role": item.role,
                          "content": [(part.type, part.text) for part in item.content]})
        elif item.type == "function_call":
            items.append({"type": "function_call", "call_id": item.call_id, "name": item.name,
                          "arguments": item.arguments})
        elif item.type == "function_call_output":
            items.append({"type": "function_call_output", "call_id": item.call_id,
                          "output": item.output})
        else:
            items.append({"type": item.type})
    return items


def migrate(db, base_url: str, *args: str, key: str = KEY) -> tuple[int, dict | str]:
    """``syncer migrate --from DB --base-url URL --api-key KEY ARGS``: the exit code, and the
    JSON summary (with --json and exit 0) or the output."""
    result = CliRunner().invoke(cli, ["migrate", "--from", str(db), "--base-url", base_url,
                                      "--api-key", key, *args])
    if "--json" in args and result.exit_code == 0:
        return result.exit_code, json.loads(result.stdout)
    return result.exit_code, result.output
