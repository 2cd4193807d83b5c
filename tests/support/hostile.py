"""The account the hostile-server tests sync: one assistant, a few threads of two messages."""

from __future__ import annotations

from syncer.api.client import AssistantsClient
from syncer.api.settings import ClientSettings

KEY = "sk-hostile-0123456789"


async def seed(base_url: str, threads: int = 3) -> list[str]:
    settings = ClientSettings.from_env(base_url=base_url, api_key=KEY)
    ids = []
    async with AssistantsClient(settings) as client:
        await client.request("POST", "/assistants", json={"model": "gpt-4o", "name": "a"})
        for t in range(threads):
            thread = await client.request("POST", "/threads", json={})
            for m in range(2):
                await client.request("POST", f"/threads/{thread['id']}/messages",
                                     json={"role": "user", "content": f"t{t} m{m}"})
            ids.append(thread["id"])
    return ids
