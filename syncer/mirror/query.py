"""Reading the mirror offline: full-text search, thread transcripts, status. Never writes.

Search translates what people type into an FTS5 query (``fts_query``): plain words pass
through, a term with punctuation (``order-1234``, ``foo.bar@x.com``) becomes a quoted phrase,
and the FTS5 operators (``AND``, ``OR``, ``NOT``, ``NEAR``, parentheses, ``"quotes"``, ``*``)
pass through unchanged. Hits are ranked with bm25 over the newest ``CANDIDATES`` matches
(every match of a rarer query; see ``search``) and come with a highlighted snippet.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from syncer.errors import MirrorError, UsageError
from syncer.mirror.schema import REPLAY_THREAD, TABLE_ORDER
from syncer.mirror.store import Store

#: Snippet highlight markers: control characters no message contains, swapped for styling later.
MARK_START, MARK_END = "\x02", "\x03"

#: How many of the newest matches search ranks (bm25); the README gives the figures at 2M messages.
CANDIDATES = 2000

_TOKEN = re.compile(r'\s*("(?:[^"]|"")*"?|\(|\)|,|[^\s()",]+)')
_OPERATORS = {"AND", "OR", "NOT"}
_BAREWORD = re.compile(r"^\w+\*?$")


def fts_query(text: str) -> str:
    """The FTS5 MATCH expression for a query as a person types it."""
    out: list[str] = []
    position = 0
    text = text.strip()
    depth = 0  # parentheses open
    near: list[int] = []  # the depths at which a NEAR( group opened: its commas are syntax
    while position < len(text):
        match = _TOKEN.match(text, position)
        if not match or match.end() == position:
            break
        position = match.end()
        token = match.group(1)
        if token == ",":
            if near and near[-1] == depth:
                out.append(token)  # NEAR(a b, 5): the distance follows
            continue  # elsewhere a comma is punctuation, as the tokenizer treats it
        if token == "(":
            depth += 1
        elif token == ")":
            if near and near[-1] == depth:
                near.pop()
            depth -= 1
        if token.startswith('"') or token in ("(", ")") or token in _OPERATORS:
            out.append(token)  # quotes (even unbalanced: FTS5 reports those), groups, operators
        elif token == "NEAR" and text[position:position + 1] == "(":
            near.append(depth + 1)
            out.append(token)
        elif _BAREWORD.match(token):
            out.append(token)
        else:
            prefix = token.endswith("*")
            core = token[:-1] if prefix else token
            if not core.strip("*"):
                raise UsageError(f"search: {token!r} alone matches nothing: put it after the "
                                 "start of a word (refund*)")
            out.append('"' + core.replace('"', '""') + '"' + ("*" if prefix else ""))
    return " ".join(out)


def parse_since(value: str) -> int:
    """``--since`` as a Unix timestamp: ``YYYY-MM-DD`` or an ISO 8601 date-time (UTC if naive)."""
    try:
        if len(value) == 10:
            moment = datetime.combine(date.fromisoformat(value), datetime.min.time())
        else:
            moment = datetime.fromisoformat(value)
    except ValueError:
        raise UsageError(f"--since: {value!r} is not a date (YYYY-MM-DD or ISO 8601)") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp())


@dataclass
class Hit:
    """One search result."""

    message_id: str
    thread_id: str
    role: str
    created_at: int
    snippet: str
    score: float
    run_id: str | None
    assistant_id: str | None
    deleted: bool

    def as_dict(self, start: str = "[", end: str = "]") -> dict[str, Any]:
        return {
            "message_id": self.message_id, "thread_id": self.thread_id, "role": self.role,
            "created_at": self.created_at, "timestamp": iso(self.created_at),
            "snippet": self.snippet.replace(MARK_START, start).replace(MARK_END, end),
            "score": self.score, "run_id": self.run_id, "assistant_id": self.assistant_id,
            "deleted": self.deleted,
        }


def iso(timestamp: int | None) -> str | None:
    if timestamp is None:
        return None
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _has_replays(store: Store) -> bool:
    """Whether any thread is a replay's (from migration 10's index: no scan of the threads)."""
    return store.db.execute(f"SELECT 1 FROM threads WHERE {REPLAY_THREAD} LIMIT 1").fetchone() is not None


def search(store: Store, query: str, *, thread_id: str | None = None,
           assistant_id: str | None = None, role: str | None = None, since: int | None = None,
           limit: int = 20, include_replays: bool = False,
           candidates: int | None = None) -> list[Hit]:
    """Messages matching ``query``, best first (bm25 over the ``candidates`` newest matches:
    ``CANDIDATES`` by default, ``0`` for every match).

    Threads a replay made (``syncer:replay`` in their metadata) are left out unless
    ``include_replays`` or the thread is asked for by ``thread_id``.

    ``assistant_id`` keeps the messages that assistant wrote and the messages of threads it
    ran on (what was said to it). Deleted messages stay searchable and are flagged.
    """
    match = fts_query(query)
    if not match:
        raise UsageError("search: the query is empty")
    where = ["messages_fts MATCH ?"]
    params: list[Any] = [match]
    if thread_id:
        where.append("m.thread_id = ?")
        params.append(thread_id)
    if assistant_id:
        where.append("(m.assistant_id = ? OR m.thread_id IN"
                     " (SELECT thread_id FROM runs WHERE assistant_id = ?))")
        params += [assistant_id, assistant_id]
    if not include_replays and not thread_id and _has_replays(store):
        where.append(f"m.thread_id NOT IN (SELECT id FROM threads WHERE {REPLAY_THREAD})")
    if role:
        where.append("m.role = ?")
        params.append(role)
    if since is not None:
        where.append("m.created_at >= ?")
        params.append(since)
    # Ranking: bm25 over the CANDIDATES newest matches (newest by rowid: rows are written in
    # the server's order), not over every match. The FTS index yields matches newest first, so
    # the scan stops after CANDIDATES rows; a word in a third of 2,000,000 messages no longer
    # scores 700,000 of them. A query with fewer matches is ranked exactly as before; one
    # with more ranks the recent ones (the scores are the same bm25 numbers either way).
    # Snippets are made for the hits kept only.
    candidates = max(limit, CANDIDATES) if candidates is None else candidates
    window = f" ORDER BY messages_fts.rowid DESC LIMIT {int(candidates)}" if candidates else ""
    # The filters need the messages table; without them the window is read from the index alone.
    source = ("messages_fts JOIN messages m ON m.rowid = messages_fts.rowid" if len(where) > 1
              else "messages_fts")
    sql = (
        "SELECT c.rowid, c.score FROM ("
        " SELECT messages_fts.rowid AS rowid, bm25(messages_fts) AS score"
        f" FROM {source} WHERE {' AND '.join(where)}{window}"
        ") c JOIN messages mm ON mm.rowid = c.rowid ORDER BY c.score, mm.created_at DESC LIMIT ?"
    )
    try:
        ranked = store.db.execute(sql, [*params, limit]).fetchall()
        if not ranked:
            return []
        marks = ", ".join("?" * len(ranked))
        details = {r[0]: r[1:] for r in store.db.execute(
            "SELECT messages_fts.rowid, m.id, m.thread_id, m.role, m.created_at,"
            f" snippet(messages_fts, 0, '{MARK_START}', '{MARK_END}', '…', 16),"
            " m.run_id, m.assistant_id, m.deleted_at IS NOT NULL"
            " FROM messages_fts JOIN messages m ON m.rowid = messages_fts.rowid"
            f" WHERE messages_fts MATCH ? AND messages_fts.rowid IN ({marks})",
            [match, *(r[0] for r in ranked)])}
    except sqlite3.OperationalError as error:
        message = str(error)
        if "no such table" in message:
            raise MirrorError(f"{store.path}: not a syncer mirror ({message})") from None
        raise UsageError(f"search: malformed query {query!r} ({message})") from None
    hits = []
    for rowid, score in ranked:
        r = details[rowid]
        hits.append(Hit(message_id=r[0], thread_id=r[1], role=r[2], created_at=r[3],
                        snippet=r[4], score=round(score, 4), run_id=r[5], assistant_id=r[6],
                        deleted=bool(r[7])))
    return hits


# --- show: a thread as a transcript -------------------------------------------------------------


def _decode(value: Any) -> Any:
    if isinstance(value, str) and value[:1] in "{[":
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _rows(store: Store, sql: str, params: list[Any]) -> list[dict[str, Any]]:
    cursor = store.db.execute(sql, params)
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor]


def transcript(store: Store, thread_id: str) -> dict[str, Any]:
    """The thread, its messages oldest first, tool calls (arguments and outputs) from run steps,
    and each run's status and token usage, as one list of ``entries`` in reading order.
    """
    threads = _rows(store, "SELECT * FROM threads WHERE id = ?", [thread_id])
    if not threads:
        raise UsageError(f"thread {thread_id} is not in the mirror {store.path}"
                         " (track it with `syncer threads add`, then `syncer sync`)")
    thread = threads[0]
    messages = _rows(store, "SELECT id, role, created_at, text, content, run_id, assistant_id,"
                     " status, deleted_at FROM messages WHERE thread_id = ?"
                     " ORDER BY created_at, rowid", [thread_id])
    runs = _rows(store, "SELECT id, assistant_id, model, status, usage, created_at, last_error,"
                 " required_action FROM runs WHERE thread_id = ? ORDER BY created_at, rowid",
                 [thread_id])
    steps = _rows(store, "SELECT id, run_id, type, status, step_details, usage FROM run_steps"
                  " WHERE thread_id = ? ORDER BY created_at, rowid", [thread_id])

    # Tool calls come before the message their run wrote next (the message_creation step).
    calls_before: dict[str, list[dict[str, Any]]] = {}
    leftover: dict[str, list[dict[str, Any]]] = {}
    pending: dict[str, list[dict[str, Any]]] = {}
    for step in steps:
        details = _decode(step["step_details"]) or {}
        if details.get("type") == "tool_calls":
            for call in details.get("tool_calls") or []:
                pending.setdefault(step["run_id"], []).append(_tool_call(step, call))
        elif details.get("type") == "message_creation":
            message_id = (details.get("message_creation") or {}).get("message_id")
            if message_id and pending.get(step["run_id"]):
                calls_before.setdefault(message_id, []).extend(pending.pop(step["run_id"]))
    leftover.update(pending)

    last_message_of_run: dict[str, str] = {}
    for message in messages:
        if message["run_id"]:
            last_message_of_run[message["run_id"]] = message["id"]
    run_entries = {run["id"]: _run_entry(run) for run in runs}
    runs_after_message: dict[str, list[str]] = {}
    for run in runs:
        anchor = last_message_of_run.get(run["id"])
        if anchor is None:  # a run that wrote nothing: place it by time
            earlier = [m["id"] for m in messages if m["created_at"] <= run["created_at"]]
            anchor = earlier[-1] if earlier else ""
        runs_after_message.setdefault(anchor, []).append(run["id"])

    entries: list[dict[str, Any]] = []

    def emit_runs(anchor: str) -> None:
        for run_id in runs_after_message.get(anchor, []):
            entries.extend(leftover.get(run_id, []))
            entries.append(run_entries[run_id])

    emit_runs("")
    for message in messages:
        entries.extend(calls_before.get(message["id"], []))
        entries.append({
            "type": "message", "id": message["id"], "role": message["role"],
            "created_at": message["created_at"], "timestamp": iso(message["created_at"]),
            "text": message["text"] or _non_text(message["content"]),
            "run_id": message["run_id"], "status": message["status"],
            "deleted": message["deleted_at"] is not None,
        })
        emit_runs(message["id"])
    return {
        "thread": {"id": thread["id"], "created_at": thread["created_at"],
                   "timestamp": iso(thread["created_at"]),
                   "metadata": _decode(thread["metadata"]),
                   "deleted": thread["deleted_at"] is not None},
        "entries": entries,
    }


def _tool_call(step: dict[str, Any], call: dict[str, Any]) -> dict[str, Any]:
    kind = call.get("type")
    found = call.get(kind) if isinstance(kind, str) else None
    body: dict[str, Any] = found if isinstance(found, dict) else {}
    if kind == "function":
        name, arguments, output = body.get("name"), body.get("arguments"), body.get("output")
    elif kind == "code_interpreter":
        name, arguments = "code_interpreter", body.get("input")
        output = json.dumps(body.get("outputs")) if body.get("outputs") is not None else None
    else:
        name, arguments, output = kind, json.dumps(body) if body else None, None
    return {"type": "tool_call", "run_id": step["run_id"], "step_id": step["id"],
            "call_id": call.get("id"), "name": name, "arguments": arguments, "output": output,
            "status": step["status"]}


def _run_entry(run: dict[str, Any]) -> dict[str, Any]:
    return {"type": "run", "id": run["id"], "assistant_id": run["assistant_id"],
            "model": run["model"], "status": run["status"], "usage": _decode(run["usage"]),
            "last_error": _decode(run["last_error"]), "created_at": run["created_at"],
            "timestamp": iso(run["created_at"])}


def _non_text(content: Any) -> str:
    parts = _decode(content) or []
    kinds = [p.get("type", "?") for p in parts if isinstance(p, dict)]
    return f"[{', '.join(kinds)}]" if kinds else ""


# --- status -------------------------------------------------------------------------------


def status(store: Store) -> dict[str, Any]:
    """Counts per table, tracked threads, the last sync and its outcome, the database size."""
    tables = {}
    for table in TABLE_ORDER:
        total, deleted = store.db.execute(
            f"SELECT count(*), count(deleted_at) FROM [{table}]").fetchone()
        tables[table] = {"rows": total, "deleted": deleted}
    tracked = store.db.execute("SELECT count(*) FROM tracked_threads").fetchone()[0]
    last = _rows(store, "SELECT * FROM syncs ORDER BY id DESC LIMIT 1", [])
    last_sync = None
    if last:
        row = last[0]
        if row["status"] == "running":
            row["status"] = "running or interrupted"
        row["errors"] = json.loads(row["errors"] or "[]")
        row["full"] = bool(row["full"])
        last_sync = row
    size = sum(os.path.getsize(store.path + suffix) for suffix in ("", "-wal")
               if os.path.exists(store.path + suffix))
    return {"database": store.path, "size_bytes": size, "server": store.meta(),
            "tables": tables, "tracked_threads": tracked, "last_sync": last_sync}
