"""Offline reading of the mirror: `syncer search`, `syncer show`, `syncer status`."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from support.search import write_two_threads

from syncer.cli import cli
from syncer.errors import UsageError
from syncer.mirror import query
from syncer.mirror.store import open_mirror


@pytest.fixture
def mirror(tmp_path):
    """A mirror with two threads; thread_a has a run that called a function tool."""
    return write_two_threads(tmp_path / "syncer.db")


@pytest.mark.parametrize(("typed", "match"), [
    ("refund", "refund"),
    ("order-1234", '"order-1234"'),
    ("foo.bar@x.com", '"foo.bar@x.com"'),
    ("order-12*", '"order-12"*'),
    ("refund OR shipped", "refund OR shipped"),
    ('"has shipped" NOT refund', '"has shipped" NOT refund'),
    ("(a OR b) AND c", "( a OR b ) AND c"),
    ("NEAR(order shipped, 5)", "NEAR ( order shipped , 5 )"),
    ("NEAR(order-1234 refund, 2)", 'NEAR ( "order-1234" refund , 2 )'),
    ("refund, order", "refund order"),
    ('say "hi', 'say "hi'),
])
def test_queries_are_translated_for_fts5(typed, match):
    assert query.fts_query(typed) == match


def test_search_ranks_highlights_and_filters(mirror):
    with open_mirror(mirror, "read") as store:
        hits = query.search(store, "order-1234")
        assert [h.message_id for h in hits] == ["msg_u1"]
        assert hits[0].as_dict()["snippet"] == "Where is [order-1234]? Ask foo.bar@x.com"
        assert hits[0].as_dict()["timestamp"] == "2023-11-14T22:13:20Z"
        assert [h.message_id for h in query.search(store, "foo.bar@x.com")] == ["msg_u1"]
        assert {h.message_id for h in query.search(store, "refund")} == {"msg_u2", "msg_b1"}
        assert [h.message_id for h in query.search(store, "refund", thread_id="thread_b")] == [
            "msg_b1"]
        assert [h.message_id for h in query.search(store, "order", role="assistant")] == [
            "msg_a1"]
        assert [h.message_id for h in query.search(
            store, "refund", since=query.parse_since("2023-12-01"))] == ["msg_b1"]
        # Deleted upstream: still found, and flagged.
        assert [h.deleted for h in query.search(store, "order-999")] == [True]
        # --assistant: what it wrote and what was said in threads it ran on.
        assert {h.message_id for h in query.search(store, "order OR refund",
                                                   assistant_id="asst_1")} == {
            "msg_u1", "msg_a1", "msg_u2"}
        # Porter stemming: "ship" finds "shipped".
        assert [h.message_id for h in query.search(store, "ship")] == ["msg_a1"]
        for bad in ('"unbalanced', "AND", "refund AND", "("):
            with pytest.raises(UsageError, match="malformed query"):
                query.search(store, bad)
    with pytest.raises(UsageError, match="not a date"):
        query.parse_since("last tuesday")


def test_search_command(mirror):
    runner = CliRunner()
    result = runner.invoke(cli, ["search", "order-1234", "--db", str(mirror), "--json"])
    assert result.exit_code == 0
    [hit] = json.loads(result.stdout)
    assert (hit["message_id"], hit["thread_id"], hit["role"]) == ("msg_u1", "thread_a", "user")
    text = runner.invoke(cli, ["search", "shipped", "--db", str(mirror)])
    assert "thread_a  msg_a1  assistant" in text.stdout
    bad = runner.invoke(cli, ["search", '"oops', "--db", str(mirror)])
    assert bad.exit_code == 1
    assert bad.stderr.count("\n") == 1 and bad.stderr.startswith("Error: search: malformed query")
    missing = runner.invoke(cli, ["search", "x", "--db", str(mirror.parent / "none.db")])
    assert missing.exit_code == 1 and "no mirror here yet" in missing.stderr


def test_show_is_a_transcript_with_tool_calls_and_runs(mirror):
    with open_mirror(mirror, "read") as store:
        data = query.transcript(store, "thread_a")
    kinds = [(e["type"], e.get("id") or e.get("call_id")) for e in data["entries"]]
    assert kinds == [("message", "msg_u1"), ("tool_call", "call_1"), ("message", "msg_a1"),
                     ("run", "run_1"), ("message", "msg_u2")]
    call = data["entries"][1]
    assert (call["name"], call["arguments"], call["output"]) == (
        "lookup_order", '{"id": "1234"}', "shipped")
    run = data["entries"][3]
    assert run["status"] == "completed" and run["usage"]["total_tokens"] == 150
    result = CliRunner().invoke(cli, ["show", "thread_a", "--db", str(mirror)])
    assert result.exit_code == 0
    out = result.stdout
    assert out.index("Where is order-1234") < out.index("tool call lookup_order") < out.index(
        "Parcel 1234 has shipped") < out.index("run run_1: completed") < out.index("the refund")
    assert '{"id": "1234"}' in out and "shipped" in out and "120 prompt + 30 completion" in out
    unknown = CliRunner().invoke(cli, ["show", "thread_zzz", "--db", str(mirror)])
    assert unknown.exit_code == 1 and "thread_zzz is not in the mirror" in unknown.stderr


def test_status(mirror):
    result = CliRunner().invoke(cli, ["status", "--db", str(mirror), "--json"])
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert data["tables"]["messages"] == {"rows": 4, "deleted": 1}
    assert data["tables"]["run_steps"] == {"rows": 2, "deleted": 0}
    assert data["last_sync"] is None and data["size_bytes"] > 0
    text = CliRunner().invoke(cli, ["status", "--db", str(mirror)])
    assert "messages" in text.stdout and "No sync yet" in text.stdout
