"""syncer.api.models: every documented limit (accepted at the limit, refused one past it), unknown
fields kept on API objects and refused on requests, and validation errors rendered exactly as
the real API's 400 bodies."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from syncer.api import models as m
from syncer.emulator.validation_errors import api_error_from_validation, error_param

Body = dict[str, Any]


def _tools(n: int) -> list[Body]:
    return [{"type": "function", "function": {"name": f"f{i}"}} for i in range(n)]


def _error(model: type[BaseModel], body: Body) -> Body:
    with pytest.raises(ValidationError) as caught:
        model.model_validate(body)
    return api_error_from_validation(caught.value)


# Every request model that takes metadata, with the smallest valid body around it.
METADATA_MODELS: list[tuple[type[BaseModel], Body]] = [
    (m.CreateAssistantRequest, {"model": "gpt-4o"}),
    (m.ModifyAssistantRequest, {}),
    (m.CreateThreadRequest, {}),
    (m.ModifyThreadRequest, {}),
    (m.CreateMessageRequest, {"role": "user", "content": "hi"}),
    (m.ModifyMessageRequest, {}),
    (m.CreateRunRequest, {"assistant_id": "asst_1"}),
    (m.CreateThreadAndRunRequest, {"assistant_id": "asst_1"}),
]

# (name, model, base body, field, value for size n, limit, past-limit size, code, param)
Limit = tuple[str, type[BaseModel], Body, str, Callable[[int], Any], int, int, str, str]
LIMITS: list[Limit] = []
for model, base in METADATA_MODELS:
    LIMITS += [
        (f"{model.__name__}.metadata pairs", model, base, "metadata",
         lambda n: {f"key{i}": "v" for i in range(n)}, 16, 17,
         "object_above_max_properties", "metadata"),
        (f"{model.__name__}.metadata key", model, base, "metadata",
         lambda n: {"k" * n: "v"}, 64, 65, "string_above_max_length", "metadata"),
        (f"{model.__name__}.metadata value", model, base, "metadata",
         lambda n: {"note": "v" * n}, 512, 513, "string_above_max_length", "metadata.note"),
    ]  # fmt: skip
ASSISTANT = {"model": "gpt-4o"}
RUN = {"assistant_id": "asst_1"}
for model, base in [(m.CreateAssistantRequest, ASSISTANT), (m.ModifyAssistantRequest, {})]:
    name = model.__name__
    LIMITS += [
        (f"{name}.name", model, base, "name", lambda n: "n" * n, 256, 257,
         "string_above_max_length", "name"),
        (f"{name}.description", model, base, "description", lambda n: "d" * n, 512, 513,
         "string_above_max_length", "description"),
        (f"{name}.instructions", model, base, "instructions", lambda n: "i" * n, 256_000,
         256_001, "string_above_max_length", "instructions"),
        (f"{name}.tools", model, base, "tools", _tools, 128, 129,
         "array_above_max_length", "tools"),
        (f"{name}.function name length", model, base, "tools",
         lambda n: [{"type": "function", "function": {"name": "f" * n}}], 64, 65,
         "invalid_value", "tools[0].function.name"),
        (f"{name}.temperature max", model, base, "temperature", lambda n: n / 100, 200, 201,
         "decimal_above_max_value", "temperature"),
        (f"{name}.temperature min", model, base, "temperature", lambda n: -n / 100, 0, 1,
         "decimal_below_min_value", "temperature"),
        (f"{name}.top_p max", model, base, "top_p", lambda n: n / 100, 100, 101,
         "decimal_above_max_value", "top_p"),
        (f"{name}.top_p min", model, base, "top_p", lambda n: -n / 100, 0, 1,
         "decimal_below_min_value", "top_p"),
        (f"{name}.code_interpreter files", model, base, "tool_resources",
         lambda n: {"code_interpreter": {"file_ids": [f"file_{i}" for i in range(n)]}}, 20, 21,
         "array_above_max_length", "tool_resources.code_interpreter.file_ids"),
        (f"{name}.vector stores", model, base, "tool_resources",
         lambda n: {"file_search": {"vector_store_ids": [f"vs_{i}" for i in range(n)]}}, 1, 2,
         "array_above_max_length", "tool_resources.file_search.vector_store_ids"),
    ]  # fmt: skip
for model in (m.CreateRunRequest, m.CreateThreadAndRunRequest):
    name = model.__name__
    LIMITS += [
        (f"{name}.tools", model, RUN, "tools", _tools, 20, 21, "array_above_max_length", "tools"),
        (f"{name}.instructions", model, RUN, "instructions", lambda n: "i" * n, 256_000,
         256_001, "string_above_max_length", "instructions"),
        (f"{name}.temperature", model, RUN, "temperature", lambda n: n / 100, 200, 201,
         "decimal_above_max_value", "temperature"),
        (f"{name}.top_p", model, RUN, "top_p", lambda n: n / 100, 100, 101,
         "decimal_above_max_value", "top_p"),
        (f"{name}.max_prompt_tokens", model, RUN, "max_prompt_tokens", lambda n: 512 - n, 256,
         257, "integer_below_min_value", "max_prompt_tokens"),
    ]  # fmt: skip
LIMITS += [
    ("CreateRunRequest.additional_instructions", m.CreateRunRequest, RUN,
     "additional_instructions", lambda n: "i" * n, 256_000, 256_001,
     "string_above_max_length", "additional_instructions"),
    ("CreateThreadRequest.messages[0].metadata", m.CreateThreadRequest, {}, "messages",
     lambda n: [{"role": "user", "content": "x", "metadata": {f"k{i}": "v" for i in range(n)}}],
     16, 17, "object_above_max_properties", "messages[0].metadata"),
]  # fmt: skip


@pytest.mark.parametrize("case", LIMITS, ids=[c[0] for c in LIMITS])
def test_limit_accepted_at_the_limit_and_refused_past_it(case: Limit) -> None:
    _, model, base, field, value, at, past, code, param = case
    model.model_validate({**base, field: value(at)})
    error = _error(model, {**base, field: value(past)})
    assert (error["code"], error["param"], error["type"]) == (code, param, "invalid_request_error")


def test_every_limit_constant_is_exercised() -> None:
    assert m.MAX_METADATA_PAIRS == 16
    assert m.MAX_METADATA_KEY_LENGTH == 64
    assert m.MAX_METADATA_VALUE_LENGTH == 512
    assert m.MAX_NAME_LENGTH == 256
    assert m.MAX_DESCRIPTION_LENGTH == 512
    assert m.MAX_INSTRUCTIONS_LENGTH == 256_000
    assert (m.MAX_TOOLS, m.MAX_RUN_TOOLS) == (128, 20)
    assert m.FUNCTION_NAME_PATTERN == r"^[a-zA-Z0-9_-]{1,64}$"


@pytest.mark.parametrize("name", ["get_weather", "A-b_9", "x" * 64])
def test_function_names_matching_the_pattern_are_accepted(name: str) -> None:
    tool = {"type": "function", "function": {"name": name}}
    m.CreateAssistantRequest.model_validate({"model": "m", "tools": [tool]})


@pytest.mark.parametrize("name", ["", "get weather", "get.weather", "wetter-für-morgen", "a/b"])
def test_function_names_off_the_pattern_are_refused(name: str) -> None:
    tool = {"type": "function", "function": {"name": name}}
    error = _error(m.CreateAssistantRequest, {"model": "m", "tools": [tool]})
    assert error == {
        "message": "Invalid 'tools[0].function.name': string does not match pattern. "
        "Expected a string that matches the pattern '^[a-zA-Z0-9_-]{1,64}$'.",
        "type": "invalid_request_error",
        "param": "tools[0].function.name",
        "code": "invalid_value",
    }


@given(length=st.integers(min_value=0, max_value=600))
def test_name_is_valid_exactly_up_to_256_characters(length: int) -> None:
    body = {"model": "m", "name": "é" * length}  # characters, not bytes
    try:
        m.CreateAssistantRequest.model_validate(body)
        accepted = True
    except ValidationError:
        accepted = False
    assert accepted == (length <= 256)


# --- the real API's error bodies ----------------------------------------------------------------

EXACT_ERRORS: list[tuple[type[BaseModel], Body, Body]] = [
    (m.CreateAssistantRequest, {"model": "m", "metadata": {f"k{i}": "v" for i in range(17)}}, {
        "message": "Invalid 'metadata': too many properties. Expected an object with at most 16 "
        "properties, but got an object with 17 properties instead.",
        "param": "metadata", "code": "object_above_max_properties"}),
    (m.CreateAssistantRequest, {"model": "m", "name": "n" * 300}, {
        "message": "Invalid 'name': string too long. Expected a string with maximum length 256, "
        "but got a string with length 300 instead.",
        "param": "name", "code": "string_above_max_length"}),
    (m.CreateAssistantRequest, {"model": "m", "metadata": {"k" * 70: "v"}}, {
        "message": "Invalid 'metadata': string too long. Expected a string with maximum length "
        "64, but got a string with length 70 instead.",
        "param": "metadata", "code": "string_above_max_length"}),
    (m.CreateAssistantRequest, {"model": "m", "foo": 1}, {
        "message": "Unknown parameter: 'foo'.", "param": "foo", "code": "unknown_parameter"}),
    (m.CreateAssistantRequest, {"model": "m", "tools": [{"type": "function", "function": {
        "name": "f", "color": "red"}}]}, {
        "message": "Unknown parameter: 'tools[0].function.color'.",
        "param": "tools[0].function.color", "code": "unknown_parameter"}),
    (m.CreateAssistantRequest, {"name": "x"}, {
        "message": "Missing required parameter: 'model'.", "param": "model",
        "code": "missing_required_parameter"}),
    (m.CreateAssistantRequest, {"model": "m", "name": 5}, {
        "message": "Invalid type for 'name': expected a string, but got an integer instead.",
        "param": "name", "code": "invalid_type"}),
    (m.CreateAssistantRequest, {"model": "m", "temperature": "hot"}, {
        "message": "Invalid type for 'temperature': expected a decimal, but got a string instead.",
        "param": "temperature", "code": "invalid_type"}),
    (m.CreateAssistantRequest, {"model": "m", "temperature": 2.5}, {
        "message": "Invalid 'temperature': decimal above maximum value. Expected a value <= 2, "
        "but got 2.5 instead.",
        "param": "temperature", "code": "decimal_above_max_value"}),
    (m.CreateAssistantRequest, {"model": "m", "top_p": -1}, {
        "message": "Invalid 'top_p': decimal below minimum value. Expected a value >= 0, but got "
        "-1 instead.",
        "param": "top_p", "code": "decimal_below_min_value"}),
    (m.CreateAssistantRequest, {"model": "m", "tools": _tools(129)}, {
        "message": "Invalid 'tools': array too long. Expected an array with maximum length 128, "
        "but got an array with length 129 instead.",
        "param": "tools", "code": "array_above_max_length"}),
    (m.CreateAssistantRequest, {"model": "m", "tools": [{"type": "retrieval"}]}, {
        "message": "Invalid value: 'retrieval'. Supported values are: 'code_interpreter', "
        "'file_search', and 'function'.",
        "param": "tools[0].type", "code": "invalid_value"}),
    (m.CreateAssistantRequest, {"model": "m", "tools": [{"function": {"name": "f"}}]}, {
        "message": "Missing required parameter: 'tools[0].type'.", "param": "tools[0].type",
        "code": "missing_required_parameter"}),
    (m.CreateAssistantRequest, {"model": "m", "tools": ["code_interpreter"]}, {
        "message": "Invalid type for 'tools[0]': expected an object, but got a string instead.",
        "param": "tools[0]", "code": "invalid_type"}),
    (m.CreateAssistantRequest, {"model": "m", "response_format": "json"}, {
        "message": "Invalid value: 'json'. Supported values are: 'auto'.",
        "param": "response_format", "code": "invalid_value"}),
    (m.CreateAssistantRequest, {"model": "m", "response_format": {"type": "yaml"}}, {
        "message": "Invalid value: 'yaml'. Supported values are: 'text', 'json_object', and "
        "'json_schema'.",
        "param": "response_format.type", "code": "invalid_value"}),
    (m.CreateMessageRequest, {"role": "system", "content": "x"}, {
        "message": "Invalid value: 'system'. Supported values are: 'user' and 'assistant'.",
        "param": "role", "code": "invalid_value"}),
    (m.CreateMessageRequest, {"role": "user", "content": 42}, {
        "message": "Invalid type for 'content': expected one of a string or array of objects, "
        "but got an integer instead.",
        "param": "content", "code": "invalid_type"}),
    (m.CreateMessageRequest, {"role": "user", "content": [{"type": "text", "text": None}]}, {
        "message": "Invalid type for 'content[0].text': expected a string, but got null instead.",
        "param": "content[0].text", "code": "invalid_type"}),
    (m.CreateRunRequest, {"assistant_id": "a", "tool_choice": "always"}, {
        "message": "Invalid value: 'always'. Supported values are: 'none', 'auto', and "
        "'required'.",
        "param": "tool_choice", "code": "invalid_value"}),
    (m.CreateRunRequest, {"assistant_id": "a", "stream": "yes"}, {
        "message": "Invalid type for 'stream': expected a boolean, but got a string instead.",
        "param": "stream", "code": "invalid_type"}),
    (m.SubmitToolOutputsRequest, {}, {
        "message": "Missing required parameter: 'tool_outputs'.", "param": "tool_outputs",
        "code": "missing_required_parameter"}),
    (m.SubmitToolOutputsRequest, {"tool_outputs": [{"tool_call_id": "c", "result": "x"}]}, {
        "message": "Unknown parameter: 'tool_outputs[0].result'.",
        "param": "tool_outputs[0].result", "code": "unknown_parameter"}),
    (m.ModifyThreadRequest, {"messages": []}, {
        "message": "Unknown parameter: 'messages'.", "param": "messages",
        "code": "unknown_parameter"}),
    (m.ModifyMessageRequest, {"content": "edited"}, {
        "message": "Unknown parameter: 'content'.", "param": "content",
        "code": "unknown_parameter"}),
]  # fmt: skip


@pytest.mark.parametrize(
    ("model", "body", "expected"),
    EXACT_ERRORS,
    ids=[f"{e[2]['code']}:{e[2]['param']}" for e in EXACT_ERRORS],
)
def test_validation_error_renders_as_the_api_400_body(
    model: type[BaseModel], body: Body, expected: Body
) -> None:
    assert _error(model, body) == {**expected, "type": "invalid_request_error"}


def test_first_error_is_reported_when_there_are_several() -> None:
    error = _error(m.CreateAssistantRequest, {"model": "m", "name": "n" * 300, "top_p": 9})
    assert error["param"] == "name"


def test_keyword_construction_validates_like_the_server() -> None:
    # The client builds requests from keywords: the same limits and the same nested strictness.
    with pytest.raises(ValidationError) as caught:
        m.CreateAssistantRequest(
            model="m", tools=[{"type": "function", "function": {"name": "f", "x": 1}}]
        )
    assert api_error_from_validation(caught.value)["code"] == "unknown_parameter"


def test_error_param_notation() -> None:
    assert error_param(("tools", 0, "§function", "function", "name")) == "tools[0].function.name"
    assert error_param(("metadata", "k" * 70, "[key]")) == "metadata"
    assert error_param(("messages", 2, "metadata", "a.b")) == "messages[2].metadata.a.b"
    assert error_param(()) is None


# --- requests: building bodies ------------------------------------------------------------------


def test_to_body_sends_only_what_was_set_and_keeps_explicit_nulls() -> None:
    request = m.ModifyAssistantRequest(description=None, metadata={"team": "core"})
    assert request.to_body() == {"description": None, "metadata": {"team": "core"}}


def test_to_body_keeps_defaulted_types_and_aliases() -> None:
    request = m.CreateAssistantRequest(
        model="gpt-4o",
        tools=[m.FunctionTool(function=m.FunctionDefinition(name="lookup")), m.CodeInterpreterTool()],
        response_format={"type": "json_schema", "json_schema": {"name": "out", "schema": {"type": "object"}}},
    )  # fmt: skip
    assert request.to_body() == {
        "model": "gpt-4o",
        "tools": [
            {"type": "function", "function": {"name": "lookup"}},
            {"type": "code_interpreter"},
        ],
        "response_format": {
            "type": "json_schema",
            "json_schema": {"name": "out", "schema": {"type": "object"}},
        },
    }
    # and the body validates again as the server would see it
    assert m.CreateAssistantRequest.model_validate(request.to_body()).to_body() == request.to_body()


def test_message_content_string_or_parts() -> None:
    parts = [
        {"type": "text", "text": "look"},
        {"type": "image_url", "image_url": {"url": "https://example.com/a.png", "detail": "low"}},
        {"type": "image_file", "image_file": {"file_id": "file_1"}},
    ]
    assert m.CreateMessageRequest(role="user", content=parts).to_body()["content"] == parts
    assert m.CreateMessageRequest(role="assistant", content="hi").to_body()["content"] == "hi"
    assert _error(m.CreateMessageRequest, {"role": "user", "content": []})["param"] == "content"


def test_run_request_fields() -> None:
    body = {
        "assistant_id": "asst_1",
        "model": "gpt-4o",
        "instructions": None,
        "additional_instructions": "be brief",
        "additional_messages": [{"role": "user", "content": "more"}],
        "tools": [{"type": "file_search", "file_search": {"max_num_results": 5}}],
        "metadata": {"k": "v"},
        "temperature": 0,
        "top_p": 1,
        "max_prompt_tokens": 256,
        "max_completion_tokens": 1000,
        "truncation_strategy": {"type": "last_messages", "last_messages": 3},
        "tool_choice": {"type": "function", "function": {"name": "lookup"}},
        "parallel_tool_calls": False,
        "response_format": "auto",
        "stream": True,
    }
    assert m.CreateRunRequest.model_validate(body).to_body() == {
        **body,
        "temperature": 0.0,
        "top_p": 1.0,
    }


# --- API objects: keep what the server sends ------------------------------------------------------

RUN = {
    "id": "run_1",
    "object": "thread.run",
    "created_at": 1700000000,
    "thread_id": "thread_1",
    "assistant_id": "asst_1",
    "status": "requires_action",
    "required_action": {
        "type": "submit_tool_outputs",
        "submit_tool_outputs": {
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "lookup", "arguments": '{"q": "x"}'},
                },
            ]
        },
    },
    "last_error": None,
    "expires_at": 1700000600,
    "started_at": 1700000001,
    "cancelled_at": None,
    "failed_at": None,
    "completed_at": None,
    "incomplete_details": None,
    "model": "gpt-4o",
    "instructions": "help",
    "tools": [
        {"type": "function", "function": {"name": "lookup", "parameters": {}, "strict": False}}
    ],
    "metadata": {},
    "usage": None,
    "temperature": 1.0,
    "top_p": 1.0,
    "max_prompt_tokens": None,
    "max_completion_tokens": None,
    "truncation_strategy": {"type": "auto", "last_messages": None},
    "tool_choice": "auto",
    "parallel_tool_calls": True,
    "response_format": "auto",
}


def test_run_parses_every_field() -> None:
    run = m.Run.model_validate(RUN)
    call = run.required_action.submit_tool_outputs.tool_calls[0]  # type: ignore[union-attr]
    assert (call.id, call.function.name, call.function.arguments) == (
        "call_1",
        "lookup",
        '{"q": "x"}',
    )
    assert run.is_active and run.expires_at == 1700000600
    # exclude_unset gives back exactly what the server sent (what a mirror stores)
    assert run.model_dump(mode="json", exclude_unset=True) == RUN


def test_unknown_fields_are_kept_at_every_depth() -> None:
    newer = {
        **RUN,
        "reasoning": {"effort": "low"},
        "tools": [
            {"type": "function", "function": {"name": "lookup", "version": 2}, "cache": True}
        ],
        "required_action": {**RUN["required_action"], "deadline": 5},
    }
    run = m.Run.model_validate(newer)
    dumped = run.model_dump(mode="json")
    assert dumped["reasoning"] == {"effort": "low"}
    assert dumped["tools"][0]["function"]["version"] == 2
    assert dumped["tools"][0]["cache"] is True
    assert dumped["required_action"]["deadline"] == 5


def test_message_with_every_content_part_and_attachment() -> None:
    message = m.Message.model_validate({
        "id": "msg_1", "object": "thread.message", "created_at": 1, "thread_id": "thread_1",
        "status": "completed", "incomplete_details": None, "completed_at": 2, "incomplete_at": None,
        "role": "assistant", "assistant_id": "asst_1", "run_id": "run_1", "metadata": {},
        "attachments": [{"file_id": "file_1", "tools": [{"type": "file_search"}]}],
        "content": [
            {"type": "text", "text": {"value": "See", "annotations": [
                {"type": "file_citation", "text": "[1]", "start_index": 0, "end_index": 3,
                 "file_citation": {"file_id": "file_1"}}]}},
            {"type": "image_file", "image_file": {"file_id": "file_2", "detail": "high"}},
            {"type": "image_url", "image_url": {"url": "https://x/y.png"}},
            {"type": "refusal", "refusal": "no"},
            {"type": "text", "text": {"value": "there", "annotations": []}},
        ],
    })  # fmt: skip
    assert message.text == "See\n\nthere"
    assert [part.type for part in message.content] == [
        "text", "image_file", "image_url", "refusal", "text"
    ]  # fmt: skip


def test_run_step_tool_calls_with_output() -> None:
    step = m.RunStep.model_validate({
        "id": "step_1", "object": "thread.run.step", "created_at": 1, "assistant_id": "asst_1",
        "thread_id": "thread_1", "run_id": "run_1", "type": "tool_calls", "status": "completed",
        "step_details": {"type": "tool_calls", "tool_calls": [
            {"id": "call_1", "type": "function",
             "function": {"name": "lookup", "arguments": "{}", "output": "42"}},
            {"id": "call_2", "type": "code_interpreter", "code_interpreter": {
                "input": "1+1", "outputs": [{"type": "logs", "logs": "2"}]}},
            {"id": "call_3", "type": "file_search", "file_search": {"results": []}},
        ]},
        "last_error": None, "expired_at": None, "cancelled_at": None, "failed_at": None,
        "completed_at": 2, "metadata": {}, "usage": {"prompt_tokens": 1, "completion_tokens": 2,
                                                    "total_tokens": 3},
    })  # fmt: skip
    details = step.step_details
    assert isinstance(details, m.ToolCallsStepDetails)
    assert details.tool_calls[0].function.output == "42"  # type: ignore[union-attr]


def test_empty_list_page_has_null_cursors() -> None:
    page = m.ListPage[m.Assistant].model_validate(
        {"object": "list", "data": [], "first_id": None, "last_id": None, "has_more": False}
    )
    assert (page.data, page.first_id, page.last_id, page.has_more) == ([], None, None, False)


def test_deleted_objects() -> None:
    for kind in ("assistant.deleted", "thread.deleted"):
        assert m.DeletedObject.model_validate({"id": "x", "object": kind, "deleted": True}).deleted


def test_objects_parse_in_the_official_sdk_types() -> None:
    """What our models hold is what the official SDK understands."""
    from openai.types.beta import Assistant as SDKAssistant
    from openai.types.beta.threads import Run as SDKRun

    assistant = m.Assistant.model_validate({
        "id": "asst_1", "object": "assistant", "created_at": 1, "model": "gpt-4o",
        "name": "n", "description": None, "instructions": "i", "metadata": {},
        "tools": [{"type": "code_interpreter"}, {"type": "function", "function": {"name": "f"}}],
        "tool_resources": {"code_interpreter": {"file_ids": []}}, "temperature": 1.0,
        "top_p": 1.0, "response_format": {"type": "json_object"},
    })  # fmt: skip
    sdk = SDKAssistant.model_validate(assistant.model_dump(mode="json"))
    assert sdk.tools[1].function.name == "f"  # type: ignore[union-attr]
    sdk_run = SDKRun.model_validate(m.Run.model_validate(RUN).model_dump(mode="json"))
    assert sdk_run.required_action.submit_tool_outputs.tool_calls[0].id == "call_1"  # type: ignore[union-attr]


# Text without the marker syncer's union tags carry, so a "§" in an error can only be a leak.
TEXT = st.text(st.characters(blacklist_characters="§"), max_size=5)
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
    max_leaves=12,
)
FIELDS = st.sampled_from(
    ["model", "name", "tools", "metadata", "temperature", "response_format", "tool_choice",
     "role", "content", "messages", "tool_outputs", "truncation_strategy", "type", "function"]
)  # fmt: skip
REQUEST_MODELS = [
    m.CreateAssistantRequest, m.ModifyAssistantRequest, m.CreateThreadRequest,
    m.ModifyThreadRequest, m.CreateMessageRequest, m.ModifyMessageRequest, m.ModifyRunRequest,
    m.CreateRunRequest, m.CreateThreadAndRunRequest, m.SubmitToolOutputsRequest,
]  # fmt: skip


@given(
    model=st.sampled_from(REQUEST_MODELS),
    body=st.dictionaries(FIELDS | TEXT, JSON, max_size=4),
)
def test_any_refused_body_renders_as_a_well_formed_api_error(
    model: type[BaseModel], body: Body
) -> None:
    """Whatever a client sends, the server can answer a proper 400 (never a 500)."""
    try:
        model.model_validate(body)
    except ValidationError as exc:
        error = api_error_from_validation(exc)
        assert error["type"] == "invalid_request_error"
        assert isinstance(error["code"], str) and error["code"]
        assert isinstance(error["message"], str) and error["message"].endswith(".")
        assert error["param"] is None or isinstance(error["param"], str)
        assert "§" not in error["message"] and "§" not in (error["param"] or "")
