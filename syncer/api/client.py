"""AssistantsClient: the typed Assistants API (v2) methods, on top of ``HTTPClient``.

Runs are followed with server-sent events when the server streams and by polling when it does
not (``syncer.api.runs``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from syncer.api import runs
from syncer.api.http import SHUTDOWN_MESSAGE, Body, Page, dump_body, parse_object
from syncer.api.http import path_segment as _segment
from syncer.api.models import Assistant, DeletedObject, Message, Run, RunStep, Thread
from syncer.api.successor import SuccessorMethods

__all__ = ["SHUTDOWN_MESSAGE", "AssistantsClient", "Page"]


class AssistantsClient(SuccessorMethods):
    """An async client for an Assistants API (v2) server. Use as ``async with``.

    It speaks the successor APIs too (conversations, responses: `SuccessorMethods`).

    ``transport`` replaces the network (``httpx.MockTransport``, ``httpx.ASGITransport``);
    ``sleep`` is awaited for every retry and poll delay (tests inject a recorder);
    ``requests_sent`` counts the HTTP attempts actually sent, retries included.
    """

    # --- assistants ----------------------------------------------------------------------------

    async def create_assistant(self, body: Body) -> Assistant:
        return parse_object(Assistant, await self.request("POST", "/assistants", json=dump_body(body)))

    async def retrieve_assistant(self, assistant_id: str) -> Assistant:
        return parse_object(Assistant, await self.request("GET", f"/assistants/{_segment(assistant_id)}"))

    async def update_assistant(self, assistant_id: str, body: Body) -> Assistant:
        path = f"/assistants/{_segment(assistant_id)}"
        return parse_object(Assistant, await self.request("POST", path, json=dump_body(body)))

    async def delete_assistant(self, assistant_id: str) -> DeletedObject:
        path = f"/assistants/{_segment(assistant_id)}"
        return parse_object(DeletedObject, await self.request("DELETE", path))

    def list_assistants(self, **page_opts: Any) -> AsyncIterator[Assistant]:
        """Every assistant (``order``, ``limit``, ``after``, ``before`` as in ``paginate``)."""
        return self._typed(Assistant, "/assistants", **page_opts)

    # --- threads -------------------------------------------------------------------------------

    async def create_thread(self, body: Body | None = None) -> Thread:
        return parse_object(Thread, await self.request("POST", "/threads", json=dump_body(body)))

    async def retrieve_thread(self, thread_id: str) -> Thread:
        return parse_object(Thread, await self.request("GET", f"/threads/{_segment(thread_id)}"))

    async def update_thread(self, thread_id: str, body: Body) -> Thread:
        path = f"/threads/{_segment(thread_id)}"
        return parse_object(Thread, await self.request("POST", path, json=dump_body(body)))

    async def delete_thread(self, thread_id: str) -> DeletedObject:
        path = f"/threads/{_segment(thread_id)}"
        return parse_object(DeletedObject, await self.request("DELETE", path))

    # --- messages ------------------------------------------------------------------------------

    async def create_message(self, thread_id: str, body: Body) -> Message:
        path = f"/threads/{_segment(thread_id)}/messages"
        return parse_object(Message, await self.request("POST", path, json=dump_body(body)))

    async def retrieve_message(self, thread_id: str, message_id: str) -> Message:
        path = f"/threads/{_segment(thread_id)}/messages/{_segment(message_id)}"
        return parse_object(Message, await self.request("GET", path))

    async def update_message(self, thread_id: str, message_id: str, body: Body) -> Message:
        path = f"/threads/{_segment(thread_id)}/messages/{_segment(message_id)}"
        return parse_object(Message, await self.request("POST", path, json=dump_body(body)))

    def list_messages(self, thread_id: str, **opts: Any) -> AsyncIterator[Message]:
        """A thread's messages; also takes ``run_id`` to filter by run."""
        return self._typed(Message, f"/threads/{_segment(thread_id)}/messages", **opts)

    # --- runs ----------------------------------------------------------------------------------

    async def create_run(self, thread_id: str, body: Body) -> Run:
        path = f"/threads/{_segment(thread_id)}/runs"
        return parse_object(Run, await self.request("POST", path, json=dump_body(body)))

    async def create_thread_and_run(self, body: Body) -> Run:
        return parse_object(Run, await self.request("POST", "/threads/runs", json=dump_body(body)))

    async def retrieve_run(self, thread_id: str, run_id: str) -> Run:
        path = f"/threads/{_segment(thread_id)}/runs/{_segment(run_id)}"
        return parse_object(Run, await self.request("GET", path))

    def list_runs(self, thread_id: str, **opts: Any) -> AsyncIterator[Run]:
        return self._typed(Run, f"/threads/{_segment(thread_id)}/runs", **opts)

    async def cancel_run(self, thread_id: str, run_id: str) -> Run:
        path = f"/threads/{_segment(thread_id)}/runs/{_segment(run_id)}/cancel"
        return parse_object(Run, await self.request("POST", path))

    async def submit_tool_outputs(self, thread_id: str, run_id: str, outputs: Any) -> Run:
        """Answer a run's function calls: a list of ``{tool_call_id, output}``, or a body."""
        path = f"/threads/{_segment(thread_id)}/runs/{_segment(run_id)}/submit_tool_outputs"
        body = runs.outputs_body(outputs)
        return parse_object(Run, await self.request("POST", path, json=body))

    def list_run_steps(self, thread_id: str, run_id: str, **opts: Any) -> AsyncIterator[RunStep]:
        """A run's steps; also takes ``include`` (a list, sent as ``include[]``)."""
        path = f"/threads/{_segment(thread_id)}/runs/{_segment(run_id)}/steps"
        return self._typed(RunStep, path, **opts)

    async def retrieve_run_step(self, thread_id: str, run_id: str, step_id: str) -> RunStep:
        path = (
            f"/threads/{_segment(thread_id)}/runs/{_segment(run_id)}/steps/{_segment(step_id)}"
        )
        return parse_object(RunStep, await self.request("GET", path))

    # --- raw JSON: what the server sent, unparsed -----------------------------------------------
    # For callers that keep or compare the server's own fields (the mirror stores them as sent,
    # gitops diffs them): a model would add defaulted fields. Ids are quoted as in the typed
    # methods above.

    async def get_assistant_json(self, assistant_id: str) -> dict[str, Any]:
        return await self.request("GET", f"/assistants/{_segment(assistant_id)}")

    async def get_thread_json(self, thread_id: str) -> dict[str, Any]:
        return await self.request("GET", f"/threads/{_segment(thread_id)}")

    async def get_run_json(self, thread_id: str, run_id: str) -> dict[str, Any]:
        return await self.request("GET", f"/threads/{_segment(thread_id)}/runs/{_segment(run_id)}")

    def assistant_pages(self, **page_opts: Any) -> AsyncIterator[Page]:
        """The assistants, a page (raw objects) per request (``order``, ``limit``, ``after``, ``before``)."""
        return self.pages("/assistants", **page_opts)

    def thread_message_pages(self, thread_id: str, **page_opts: Any) -> AsyncIterator[Page]:
        return self.pages(f"/threads/{_segment(thread_id)}/messages", **page_opts)

    def thread_run_pages(self, thread_id: str, **page_opts: Any) -> AsyncIterator[Page]:
        return self.pages(f"/threads/{_segment(thread_id)}/runs", **page_opts)

    def run_step_pages(self, thread_id: str, run_id: str, **page_opts: Any) -> AsyncIterator[Page]:
        path = f"/threads/{_segment(thread_id)}/runs/{_segment(run_id)}/steps"
        return self.pages(path, **page_opts)

    # --- following runs ----------------------------------------------------------------------

    async def run_until_settled(self, thread_id: str, body: Body, timeout: float = 600.0) -> Run:
        """Create a run and follow it until it needs tool outputs or has ended.

        Streams (server-sent events) when the server can; otherwise polls, and remembers
        that this server does not stream.
        """
        path = f"/threads/{_segment(thread_id)}/runs"
        data = await runs.settle(self, path, dump_body(body), thread_id, timeout)
        return parse_object(Run, data)

    async def resume_after_outputs(
        self, thread_id: str, run_id: str, outputs: Any, timeout: float = 600.0
    ) -> Run:
        """Submit tool outputs and follow the run again, like ``run_until_settled``."""
        path = f"/threads/{_segment(thread_id)}/runs/{_segment(run_id)}/submit_tool_outputs"
        body = runs.outputs_body(outputs)
        data = await runs.settle(self, path, body, thread_id, timeout, run_id=run_id)
        return parse_object(Run, data)

    async def wait_for_run(self, thread_id: str, run_id: str, timeout: float = 600.0) -> Run:
        """Poll a run (with backoff) until it needs tool outputs or has ended."""
        return parse_object(Run, await runs.poll_run(self, thread_id, run_id, timeout))
