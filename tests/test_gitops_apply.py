"""apply when a create's answer is lost: what the emulator's faults cannot stage (they fail a
write *before* it has effect), played by a scripted in-memory server."""

from __future__ import annotations

import itertools
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from syncer.errors import APIConnectionError
from syncer.gitops.apply import apply_plan
from syncer.gitops.config import LoadedConfig
from syncer.gitops.plan import build_plan


class ScriptedServer:
    """Assistants in a list, behind the client methods apply calls; ``on_create`` decides what
    one create does."""

    def __init__(self, on_create: str):
        self.assistants: list[dict[str, Any]] = []
        self.on_create = on_create
        self.ids = (f"asst_{n}" for n in itertools.count(1))
        self.deleted: list[str] = []

    def _store(self, body: dict[str, Any]) -> dict[str, Any]:
        assistant = {"id": next(self.ids), "object": "assistant", **body}
        self.assistants.append(assistant)
        return assistant

    async def create_assistant(self, body: dict[str, Any]) -> SimpleNamespace:
        if self.on_create == "lost-answer":  # created, then the connection dropped
            self._store(body)
            raise APIConnectionError("POST /assistants failed: no answer from the server")
        if self.on_create == "retried":  # first attempt's answer lost, the retry succeeded
            self._store(body)
        return SimpleNamespace(**self._store(body))

    async def delete_assistant(self, assistant_id: str) -> SimpleNamespace:
        self.assistants = [a for a in self.assistants if a["id"] != assistant_id]
        self.deleted.append(assistant_id)
        return SimpleNamespace(id=assistant_id, deleted=True)

    async def assistant_pages(self, **_: Any):
        yield SimpleNamespace(data=list(self.assistants))


def config(name: str) -> LoadedConfig:
    return LoadedConfig(
        name=name,
        path=Path("a.yaml"),
        line=1,
        fields={"name": name, "model": "gpt-4o"},
    )


async def test_create_whose_answer_was_lost_is_found_by_its_marker():
    server = ScriptedServer("lost-answer")
    plan = build_plan([config("A")], [])
    result = await apply_plan(server, plan)
    assert result.ok and [i for _, i in result.done] == ["asst_1"]
    assert len(server.assistants) == 1
    assert build_plan([config("A")], server.assistants).has_changes is False


async def test_copies_left_by_a_retried_create_are_removed():
    server = ScriptedServer("retried")
    result = await apply_plan(server, build_plan([config("A"), config("B")], []))
    assert result.ok
    assert result.duplicates_removed == ["asst_2", "asst_4"]
    assert [(a["id"], a["metadata"]["syncer:name"]) for a in server.assistants] == [
        ("asst_1", "A"),
        ("asst_3", "B"),
    ]
    assert build_plan([config("A"), config("B")], server.assistants).has_changes is False
