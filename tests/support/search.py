"""A small mirror for the search tests: two threads, a run that called a function tool."""

from __future__ import annotations

from pathlib import Path

from syncer.mirror.store import open_mirror

T0 = 1_700_000_000  # 2023-11-14T22:13:20Z


def text_message(message_id, thread_id, role, text, created_at=T0, run_id=None,
                 assistant_id=None):
    return {"id": message_id, "object": "thread.message", "created_at": created_at,
            "thread_id": thread_id, "status": "completed", "role": role,
            "content": [{"type": "text", "text": {"value": text, "annotations": []}}],
            "assistant_id": assistant_id, "run_id": run_id, "attachments": [], "metadata": {}}


def write_two_threads(path: Path) -> Path:
    """Two threads; thread_a has a run that called a function tool (msg_b1 deleted)."""
    with open_mirror(path, "create") as store:
        for thread_id in ("thread_a", "thread_b"):
            store.write_page("threads", [{"id": thread_id, "object": "thread",
                                          "created_at": T0, "metadata": {}}])
        # Same created_at second throughout: the order is the order written (the server's).
        store.write_page("messages", [
            text_message("msg_u1", "thread_a", "user", "Where is order-1234? Ask foo.bar@x.com"),
            text_message("msg_a1", "thread_a", "assistant", "Parcel 1234 has shipped today, order confirmed.",
                         run_id="run_1", assistant_id="asst_1"),
            text_message("msg_u2", "thread_a", "user", "Thanks, and the refund?"),
        ])
        store.write_page("messages", [
            text_message("msg_b1", "thread_b", "user", "refund for order-999 please",
                         created_at=T0 + 86_400 * 30),
        ])
        store.write_page("runs", [{
            "id": "run_1", "object": "thread.run", "created_at": T0, "thread_id": "thread_a",
            "assistant_id": "asst_1", "status": "completed", "model": "gpt-4o",
            "usage": {"prompt_tokens": 120, "completion_tokens": 30, "total_tokens": 150}}])
        store.write_page("run_steps", [
            {"id": "step_1", "object": "thread.run.step", "created_at": T0,
             "thread_id": "thread_a", "run_id": "run_1", "type": "tool_calls",
             "status": "completed", "step_details": {"type": "tool_calls", "tool_calls": [{
                 "id": "call_1", "type": "function", "function": {
                     "name": "lookup_order", "arguments": '{"id": "1234"}',
                     "output": "shipped"}}]}},
            {"id": "step_2", "object": "thread.run.step", "created_at": T0,
             "thread_id": "thread_a", "run_id": "run_1", "type": "message_creation",
             "status": "completed", "step_details": {"type": "message_creation",
                                                     "message_creation": {"message_id": "msg_a1"}}},
        ])
        store.mark_deleted("messages", "id = ?", ["msg_b1"])
    return path
