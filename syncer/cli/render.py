"""Text for the terminal: the lines the commands print, shared by the CLI and the demo.

Each function takes the library's result and returns lines (ANSI styles through click.style),
so a command echoes them and the demo prints them on its console.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import click

from syncer.mirror import query as queries


def search_hits(hits: Sequence[queries.Hit]) -> list[str]:
    """Each hit as a heading line (time, thread, message, role) and its snippet, highlighted."""
    lines = []
    for hit in hits:
        snippet = hit.snippet.replace("\n", " ")
        snippet = snippet.replace(queries.MARK_START, "\x1b[1;33m").replace(
            queries.MARK_END, "\x1b[0m")
        deleted = " (deleted)" if hit.deleted else ""
        lines.append(f"{queries.iso(hit.created_at)}  {hit.thread_id}  {hit.message_id}  "
                     f"{hit.role}{deleted}")
        lines.append(f"    {snippet}")
    return lines


def transcript(data: dict[str, Any]) -> list[str]:
    """A thread as `syncer show` prints it: messages, tool calls with outputs, runs."""
    thread = data["thread"]
    deleted = " (deleted upstream)" if thread["deleted"] else ""
    lines = [click.style(f"Thread {thread['id']}{deleted}", bold=True)
             + f"  created {thread['timestamp']}"]
    for entry in data["entries"]:
        if entry["type"] == "message":
            head = f"{entry['role']} · {entry['timestamp']} · {entry['id']}"
            lines += ["", click.style(head, bold=True), entry["text"]]
        elif entry["type"] == "tool_call":
            lines += ["", click.style(f"tool call {entry['name']}", fg="cyan")
                      + f" ({entry['call_id']}, {entry['status']})",
                      f"  arguments: {entry['arguments']}",
                      f"  output:    {entry['output']}"]
        else:
            usage = entry["usage"] or {}
            tokens = (f"{usage.get('prompt_tokens', 0)} prompt + "
                      f"{usage.get('completion_tokens', 0)} completion tokens"
                      if usage else "no usage yet")
            lines += ["", click.style(f"run {entry['id']}: {entry['status']}", fg="magenta")
                      + f" · {entry['assistant_id']} · {entry['model']} · {tokens}"]
    return lines


def mirror_status(data: dict[str, Any]) -> list[str]:
    """`syncer status`: rows per table, tracked threads, the last sync."""
    server = data["server"].get("base_url", "(never synced)")
    lines = [f"Mirror {data['database']} ({data['size_bytes'] / 1e6:.1f} MB) of {server}"]
    for table, counts in data["tables"].items():
        lines.append(f"  {table:<11} {counts['rows']:>9,} rows  ({counts['deleted']:,} deleted)")
    lines.append(f"  tracked threads: {data['tracked_threads']:,}")
    last = data["last_sync"]
    if last:
        lines.append(f"Last sync #{last['id']} {last['started_at']} → {last['finished_at'] or '-'}: "
                     f"{last['status']}; {last['requests']:,} requests, {last['new']:,} new, "
                     f"{last['changed']:,} changed, {last['deleted']:,} deleted, "
                     f"{len(last['errors'])} error(s)")
        lines += [f"  error: {error}" for error in last["errors"]]
    else:
        lines.append("No sync yet")
    return lines


def migrate_summary(summary: dict[str, Any], *, dry_run: bool = False,
                    created: dict[str, int] | None = None) -> list[str]:
    """`syncer migrate`'s summary table: threads, messages, function calls, what was not
    carried and why, and the requests (to send, or sent)."""
    threads = summary["threads"]
    rows = [
        ("threads", f"{threads['selected']:,}",
         (f"{threads['create']} to create, {threads['resume']} to finish, "
         f"{threads['already']} already migrated, {threads['blocked']} blocked")),
        ("messages", f"{summary['messages']:,}", "as message items"),
        ("function calls", f"{summary['function_calls']:,}",
         "as function_call + function_call_output, original call_id"),
        ("items", f"{summary['items']:,}", f"{summary['items_to_send']:,} to send"),
    ]
    if threads.get("replays_left_out"):
        rows.append(("replay threads", f"{threads['replays_left_out']:,}",
                     "left out (a replay made them; name one with --thread)"))
    rows.extend(("not carried", f"{entry['count']:,}", entry["why"])
                for entry in summary["not_carried"])
    width = max(len(r[0]) for r in rows)
    count_width = max(len(r[1]) for r in rows)
    verb = "would migrate" if dry_run else "migrate"
    lines = [click.style(f"syncer {verb} into {summary['target']}", bold=True)]
    lines += [f"  {name:<{width}}  {count:>{count_width}}  {note}" for name, count, note in rows]
    requests = summary["requests"]
    if created is None:
        lines.append(f"  {requests['writes']} write requests ({requests['lookups']} reads to plan)"
                     + (" — dry run, nothing written." if dry_run else ""))
    else:
        lines.append(f"  created {created['conversations']} conversations and "
                     f"{created['items']} items")
    return lines
