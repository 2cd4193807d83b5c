"""The deterministic model: same inputs, same bytes; any changed input, a different reply."""

from __future__ import annotations

from difflib import SequenceMatcher

import pytest

from syncer.emulator.backends import deterministic as model

BASE = {
    "model": "gpt-4o",
    "instructions": "You help with travel plans.",
    "messages": [("user", "Plan a weekend in Lisbon."), ("assistant", "Sure."), ("user", "On a budget.")],
    "tool_results": [model.ToolResult("search_flights", '{"to": "LIS"}', '{"price_eur": 120}')],
}


def similarity(a: str, b: str) -> float:
    return SequenceMatcher(None, a, b, autojunk=False).ratio()


def reply(**changes) -> str:
    inputs = {**BASE, **changes}
    return model.reply(inputs["model"], inputs["instructions"], inputs["messages"], inputs["tool_results"])


def test_same_inputs_give_byte_identical_replies():
    assert reply() == reply()
    assert reply().encode() == model.reply(
        "gpt-4o", "You help with travel plans.", list(BASE["messages"]), list(BASE["tool_results"])
    ).encode()


@pytest.mark.parametrize(
    "changes",
    [
        {"model": "gpt-4o-mini"},
        {"instructions": "You help with travel plans!"},
        {"messages": [("user", "Plan a weekend in Lisbon."), ("assistant", "Sure."), ("user", "On a budget!")]},
        {"messages": [("user", "Plan a weekend in Lisbon."), ("user", "Sure."), ("user", "On a budget.")]},
        {"messages": [("user", "Plan a weekend in Lisbon."), ("user", "On a budget.")]},
        {"tool_results": [model.ToolResult("search_flights", '{"to": "LIS"}', '{"price_eur": 121}')]},
        {"tool_results": []},
    ],
)
def test_any_changed_input_changes_the_reply_substantially(changes):
    base_text = reply().split("\n\nTool results:")[0]
    changed_text = reply(**changes).split("\n\nTool results:")[0]
    assert changed_text != base_text
    assert similarity(base_text, changed_text) < 0.6


def test_reply_reads_as_sentences_and_quotes_tool_outputs_verbatim():
    text = reply()
    prose, _, results = text.partition("\n\nTool results:\n")
    sentences = [s for s in prose.split(". ") if s]
    assert 3 <= len(sentences) <= 5
    assert prose[0].isupper() and prose.endswith(".")
    assert results == '- search_flights: {"price_eur": 120}'
    assert "Tool results" not in reply(tool_results=[])


def test_mentions_become_function_calls_with_json_arguments():
    calls = model.tool_calls(
        ("user", 'Check @get_weather {"city": "Oslo", "days": [1, 2]} and @get_time, not @other'),
        ["get_weather", "get_time"],
    )
    assert calls == [
        model.ToolCallRequest("get_weather", '{"city": "Oslo", "days": [1, 2]}'),
        model.ToolCallRequest("get_time", "{}"),
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("@get_time {not json}", [("get_time", "{}")]),
        ("@get_time [1, 2]", [("get_time", "{}")]),
        ("write to me@get_time.example", []),
        ('@get_time\n{"tz": "UTC"}', [("get_time", '{"tz": "UTC"}')]),
    ],
)
def test_mention_edge_cases(text, expected):
    calls = model.tool_calls(("user", text), ["get_time"])
    assert [(c.name, c.arguments) for c in calls] == expected


def test_only_a_last_user_message_calls_tools():
    assert model.tool_calls(("assistant", "@get_time"), ["get_time"]) == []
    assert model.tool_calls(None, ["get_time"]) == []
    assert model.tool_calls(("user", "@get_time"), []) == []
