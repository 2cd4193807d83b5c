"""Replay's recorded conversations: an assistant with function tools, threads recorded the way
any client would (tool outputs a pure function of the call), copied into a mirror."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

from syncer.api.client import AssistantsClient
from syncer.api.settings import ClientSettings
from syncer.mirror.store import Store

API_KEY = "sk-test-replay-0123456789"


def fn_tool(name: str) -> dict[str, Any]:
    return {"type": "function", "function": {
        "name": name, "description": f"{name} tool",
        "parameters": {"type": "object", "properties": {}, "additionalProperties": True}}}


ASSISTANT = {
    "name": "weather-bot",
    "model": "gpt-4o",
    "instructions": "You answer questions about the weather. Be brief.",
    "tools": [fn_tool("get_weather"), fn_tool("get_time")],
}

# The recorded conversation: each entry is one turn's user messages; None ends with no run.
WEATHER_TURNS: list[tuple[list[str], bool]] = [
    (["Hello there"], True),
    (['Weather please: @get_weather {"city": "Paris"} and @get_time {"tz": "CET"}'], True),
    (["Thanks.", "One more thing: is it windy?"], True),
    (["bye"], False),  # trailing: no recorded run
]


def tool_output(name: str, arguments: str) -> str:
    """What the recording's 'tools' answered (a pure function of the call)."""
    return json.dumps({"tool": name, "args": json.loads(arguments), "value": len(arguments)})


def settings_for(base_url: str) -> ClientSettings:
    return ClientSettings.from_env(base_url=base_url, api_key=API_KEY)


async def record_thread(client: AssistantsClient, assistant_id: str,
                        turns: list[tuple[list[str], bool]],
                        run_settings: list[dict[str, Any]] | None = None) -> str:
    """Record a conversation; ``run_settings[i]`` are run-level parameters of the i-th run."""
    thread = (await client.create_thread({"metadata": {"case": "recorded"}})).model_dump()
    settings = iter(run_settings or [])
    for texts, with_run in turns:
        for text in texts:
            await client.create_message(
                thread["id"], {"role": "user", "content": text, "metadata": {"n": str(len(text))}})
        if not with_run:
            continue
        body = {"assistant_id": assistant_id, **next(settings, {})}
        run = (await client.run_until_settled(thread["id"], body)).model_dump()
        while run["status"] == "requires_action":
            calls = run["required_action"]["submit_tool_outputs"]["tool_calls"]
            outputs = [{"tool_call_id": c["id"],
                        "output": tool_output(c["function"]["name"], c["function"]["arguments"])}
                       for c in calls]
            run = (await client.resume_after_outputs(thread["id"], run["id"], outputs)).model_dump()
        assert run["status"] == "completed", run
    return thread["id"]


async def mirror_threads(client: AssistantsClient, store: Store, thread_ids: list[str]) -> None:
    """Copy assistants and threads into the mirror with the store's writer (server order)."""
    store.write_page("assistants", [a async for a in client.paginate("/assistants")])
    for thread_id in thread_ids:
        store.write_page("threads", [await client.request("GET", f"/threads/{thread_id}")])
        store.write_page("messages",
                         [m async for m in client.paginate(f"/threads/{thread_id}/messages")])
        runs = [r async for r in client.paginate(f"/threads/{thread_id}/runs")]
        store.write_page("runs", runs)
        for run in runs:
            store.write_page("run_steps", [
                s async for s in client.paginate(f"/threads/{thread_id}/runs/{run['id']}/steps")])


def stored_turns(db: str) -> list[dict[str, Any]]:
    conn = sqlite3.connect(db)
    conn.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in conn.execute(
            "SELECT * FROM replay_turns ORDER BY recorded_at, turn_index")]
    finally:
        conn.close()


def write_forecast_config(directory: Path) -> None:
    directory.mkdir()
    tools = "\n".join(
        f"  - type: function\n    function:\n      name: {n}\n      parameters: {{type: object}}"
        for n in ("get_weather", "get_forecast"))
    (directory / "travel.yaml").write_text(
        f"name: travel-bot\nmodel: gpt-4o\ninstructions: {ASSISTANT['instructions']}\n"
        f"tools:\n{tools}\n")
