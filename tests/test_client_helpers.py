"""Typed helpers: the right method and path, bodies as given, answers as syncer.api.models."""

from __future__ import annotations

import json

import httpx
import pytest

from syncer.api import models
from syncer.api.client import AssistantsClient
from syncer.api.settings import ClientSettings
from syncer.errors import APIResponseError

ASSISTANT = {"id": "asst_1", "object": "assistant", "created_at": 1, "model": "gpt-4o",
             "tools": [], "metadata": {}, "brand_new_field": "kept"}
THREAD = {"id": "thread_1", "object": "thread", "created_at": 1, "metadata": {}}
MESSAGE = {"id": "msg_1", "object": "thread.message", "created_at": 1, "thread_id": "thread_1",
           "role": "user", "content": [{"type": "text", "text": {"value": "hi",
                                                                  "annotations": []}}],
           "assistant_id": None, "run_id": None, "attachments": [], "metadata": {},
           "status": "completed"}
RUN = {"id": "run_1", "object": "thread.run", "created_at": 1, "thread_id": "thread_1",
       "assistant_id": "asst_1", "status": "queued", "model": "gpt-4o", "tools": []}
STEP = {"id": "step_1", "object": "thread.run.step", "created_at": 1, "run_id": "run_1",
        "assistant_id": "asst_1", "thread_id": "thread_1", "type": "message_creation",
        "status": "completed", "step_details": {"type": "message_creation",
                                                "message_creation": {"message_id": "msg_1"}}}


class Recorder:
    def __init__(self, answer: dict):
        self.answer = answer
        self.calls: list[tuple[str, str, object, dict]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        raw = request.read()
        self.calls.append((request.method, request.url.raw_path.decode().split("?")[0],
                           json.loads(raw) if raw else None, dict(request.url.params)))
        if request.method == "GET" and request.url.path.endswith(("/assistants", "/messages",
                                                                  "/runs", "/steps")):
            return httpx.Response(200, json={"object": "list", "data": [self.answer],
                                             "first_id": self.answer["id"],
                                             "last_id": self.answer["id"], "has_more": False})
        return httpx.Response(200, json=self.answer)


def client_for(recorder: Recorder) -> AssistantsClient:
    return AssistantsClient(ClientSettings(api_key="sk-test", base_url="http://127.0.0.1:1/v1"),
                            transport=httpx.MockTransport(recorder))


@pytest.mark.parametrize(
    ("answer", "call", "expected", "model"),
    [
        (ASSISTANT, lambda c: c.create_assistant({"model": "gpt-4o"}),
         ("POST", "/v1/assistants", {"model": "gpt-4o"}), models.Assistant),
        (ASSISTANT, lambda c: c.retrieve_assistant("asst_1"),
         ("GET", "/v1/assistants/asst_1", None), models.Assistant),
        (ASSISTANT, lambda c: c.update_assistant("asst_1", {"name": "n"}),
         ("POST", "/v1/assistants/asst_1", {"name": "n"}), models.Assistant),
        ({"id": "asst_1", "object": "assistant.deleted", "deleted": True},
         lambda c: c.delete_assistant("asst_1"),
         ("DELETE", "/v1/assistants/asst_1", None), models.DeletedObject),
        (THREAD, lambda c: c.create_thread(), ("POST", "/v1/threads", {}), models.Thread),
        (THREAD, lambda c: c.retrieve_thread("thread_1"),
         ("GET", "/v1/threads/thread_1", None), models.Thread),
        (THREAD, lambda c: c.update_thread("thread_1", {"metadata": {"a": "b"}}),
         ("POST", "/v1/threads/thread_1", {"metadata": {"a": "b"}}), models.Thread),
        ({"id": "thread_1", "object": "thread.deleted", "deleted": True},
         lambda c: c.delete_thread("thread_1"),
         ("DELETE", "/v1/threads/thread_1", None), models.DeletedObject),
        (MESSAGE, lambda c: c.create_message("thread_1", {"role": "user", "content": "hi"}),
         ("POST", "/v1/threads/thread_1/messages", {"role": "user", "content": "hi"}),
         models.Message),
        (MESSAGE, lambda c: c.retrieve_message("thread_1", "msg_1"),
         ("GET", "/v1/threads/thread_1/messages/msg_1", None), models.Message),
        (MESSAGE, lambda c: c.update_message("thread_1", "msg_1", {"metadata": {}}),
         ("POST", "/v1/threads/thread_1/messages/msg_1", {"metadata": {}}), models.Message),
        (RUN, lambda c: c.create_run("thread_1", {"assistant_id": "asst_1"}),
         ("POST", "/v1/threads/thread_1/runs", {"assistant_id": "asst_1"}), models.Run),
        (RUN, lambda c: c.create_thread_and_run({"assistant_id": "asst_1"}),
         ("POST", "/v1/threads/runs", {"assistant_id": "asst_1"}), models.Run),
        (RUN, lambda c: c.retrieve_run("thread_1", "run_1"),
         ("GET", "/v1/threads/thread_1/runs/run_1", None), models.Run),
        (RUN, lambda c: c.cancel_run("thread_1", "run_1"),
         ("POST", "/v1/threads/thread_1/runs/run_1/cancel", None), models.Run),
        (RUN, lambda c: c.submit_tool_outputs("thread_1", "run_1",
                                              [{"tool_call_id": "call_1", "output": "4"}]),
         ("POST", "/v1/threads/thread_1/runs/run_1/submit_tool_outputs",
          {"tool_outputs": [{"tool_call_id": "call_1", "output": "4"}]}), models.Run),
        (STEP, lambda c: c.retrieve_run_step("thread_1", "run_1", "step_1"),
         ("GET", "/v1/threads/thread_1/runs/run_1/steps/step_1", None), models.RunStep),
    ],
)
async def test_each_helper_calls_its_endpoint_and_returns_its_model(answer, call, expected, model):
    recorder = Recorder(answer)
    async with client_for(recorder) as client:
        result = await call(client)
    assert recorder.calls[0][:3] == expected
    assert isinstance(result, model) and result.id == answer["id"]


async def test_unknown_fields_from_a_newer_server_are_kept():
    async with client_for(Recorder(ASSISTANT)) as client:
        assistant = await client.retrieve_assistant("asst_1")
    assert assistant.model_extra == {"brand_new_field": "kept"}


async def test_list_helpers_send_their_filters():
    recorder = Recorder(MESSAGE)
    async with client_for(recorder) as client:
        messages = [m async for m in client.list_messages("thread_1", run_id="run_9", limit=5)]
    assert [m.id for m in messages] == ["msg_1"]
    assert recorder.calls[0][3] == {"run_id": "run_9", "order": "asc", "limit": "5"}

    recorder = Recorder(STEP)
    async with client_for(recorder) as client:
        steps = [s async for s in client.list_run_steps(
            "thread_1", "run_1", include=["step_details.tool_calls[*].file_search.results[*].content"])]
    assert isinstance(steps[0], models.RunStep)
    assert recorder.calls[0][1] == "/v1/threads/thread_1/runs/run_1/steps"
    assert recorder.calls[0][3]["include[]"] == (
        "step_details.tool_calls[*].file_search.results[*].content")

    recorder = Recorder(RUN)
    async with client_for(recorder) as client:
        runs = [r async for r in client.list_runs("thread_1", order="desc")]
    assert isinstance(runs[0], models.Run) and recorder.calls[0][3]["order"] == "desc"


async def test_a_dict_body_is_sent_as_is_even_when_the_api_would_reject_it():
    recorder = Recorder(ASSISTANT)
    too_much = {f"k{i}": "v" for i in range(17)}
    async with client_for(recorder) as client:
        await client.create_assistant({"model": "gpt-4o", "metadata": too_much, "bogus": 1})
    assert recorder.calls[0][2] == {"model": "gpt-4o", "metadata": too_much, "bogus": 1}


async def test_a_request_model_sends_only_what_was_set():
    recorder = Recorder(ASSISTANT)
    body = models.CreateAssistantRequest(model="gpt-4o", name="Helper",
                                         tools=[models.FunctionTool(function={"name": "f"})])
    async with client_for(recorder) as client:
        await client.create_assistant(body)
    assert recorder.calls[0][2] == {"model": "gpt-4o", "name": "Helper",
                                    "tools": [{"type": "function", "function": {"name": "f"}}]}


async def test_ids_cannot_reach_another_endpoint():
    recorder = Recorder(ASSISTANT)
    async with client_for(recorder) as client:
        await client.retrieve_assistant("../threads/thread_1?x=1")
    assert recorder.calls[0][1] == "/v1/assistants/..%2Fthreads%2Fthread_1%3Fx%3D1"


async def test_an_object_that_breaks_the_api_shape_is_a_response_error():
    async with client_for(Recorder({"id": "asst_1", "object": "assistant"})) as client:
        with pytest.raises(APIResponseError) as caught:
            await client.retrieve_assistant("asst_1")
    assert str(caught.value).startswith(
        "the server's Assistant object (id 'asst_1') does not match the API: created_at: "
    )
