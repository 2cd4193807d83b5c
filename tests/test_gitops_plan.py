"""The comparison rules of a plan, on plain data (the end-to-end tests show them over HTTP)."""

from __future__ import annotations

from pathlib import Path

from syncer.gitops.config import LoadedConfig
from syncer.gitops.plan import build_plan, diff_fields, same_value

FUNCTION = {
    "type": "function",
    "function": {
        "name": "f",
        "parameters": {"type": "object", "properties": {"a": {"type": "string"}}},
    },
}


def config(**fields) -> LoadedConfig:
    return LoadedConfig(
        name="A", path=Path("a.yaml"), line=1, fields={"name": "A", "model": "m", **fields}
    )


def live(**fields) -> dict:
    base = {
        "id": "asst_1",
        "object": "assistant",
        "name": "A",
        "model": "m",
        "description": None,
        "instructions": None,
        "tools": [],
        "tool_resources": {},
        "temperature": 1.0,
        "top_p": 1.0,
        "response_format": "auto",
        "metadata": {"syncer:name": "A"},
    }
    return {**base, **fields}


def test_key_order_and_number_types_never_count():
    reordered = {
        "function": {
            "parameters": {"properties": {"a": {"type": "string"}}, "type": "object"},
            "name": "f",
        },
        "type": "function",
    }
    assert same_value([FUNCTION], [reordered])
    assert same_value(1, 1.0) and not same_value(1, 1.5)


def test_what_the_server_fills_in_is_not_drift():
    filled = {
        **FUNCTION,
        "function": {**FUNCTION["function"], "strict": False, "description": None},
    }
    assert diff_fields(config(tools=[FUNCTION]), live(tools=[filled])) == []
    search = {
        "type": "file_search",
        "file_search": {
            "ranking_options": {"ranker": "default_2024_08_21", "score_threshold": 0.0}
        },
    }
    assert diff_fields(config(tools=[{"type": "file_search"}]), live(tools=[search])) == []
    assert diff_fields(config(), live(tool_resources={"code_interpreter": {"file_ids": []}})) == []


def test_what_the_server_holds_beyond_the_file_is_drift():
    strict = {**FUNCTION, "function": {**FUNCTION["function"], "strict": True}}
    [change] = diff_fields(config(tools=[FUNCTION]), live(tools=[strict]))
    assert change.field == "tools"
    [change] = diff_fields(config(), live(temperature=0.2))
    assert (change.field, change.before, change.after) == ("temperature", 0.2, 1.0)


def test_metadata_ignores_syncer_keys_but_not_empty_values():
    assert (
        diff_fields(
            config(metadata={"team": "x"}),
            live(metadata={"team": "x", "syncer:name": "A", "syncer:other": "1"}),
        )
        == []
    )
    [change] = diff_fields(config(), live(metadata={"syncer:name": "A", "note": ""}))
    assert (change.before, change.after) == ({"note": ""}, {})


def test_update_body_sends_only_changed_fields_and_keeps_the_marker():
    plan = build_plan(
        [config(temperature=0.5, metadata={"k": "v"})], [live(metadata={"syncer:name": "A"})]
    )
    [action] = plan.actions
    assert action.kind == "update"
    assert action.body == {"temperature": 0.5, "metadata": {"k": "v", "syncer:name": "A"}}


def test_replay_temporaries_are_invisible_and_namesakes_conflict():
    replay = live(id="asst_r", metadata={"syncer:replay": "x", "syncer:name": "A"})
    plain = live(id="asst_p", metadata={})
    plan = build_plan([config()], [replay, plain], prune=True)
    assert [(a.kind, a.assistant_id) for a in plan.actions] == [("conflict", "asst_p")]
    assert plan.unmanaged == 1
    adopted = build_plan([config()], [replay, plain], prune=True, adopt=True)
    assert [(a.kind, a.assistant_id, a.body) for a in adopted.actions] == [
        ("adopt", "asst_p", {"metadata": {"syncer:name": "A"}})
    ]
