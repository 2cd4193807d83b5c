"""`--api responses`: an assistant's configuration as Responses request fields, run-level
parameters, and a refused sampling parameter named clearly."""

from __future__ import annotations

from syncer.errors import BadRequestError
from syncer.replay.response_config import flatten, run_fields
from syncer.replay.responses import refusal_detail

SCHEMA = {"type": "object", "properties": {"a": {"type": "string"}}}


def test_function_tools_are_flat_with_parameters_and_strict():
    fields, left_out = flatten({
        "model": "gpt-4o", "instructions": "Be brief.",
        "tools": [
            {"type": "function", "function": {"name": "f", "description": "d"}},
            {"type": "function", "function": {"name": "g", "parameters": SCHEMA, "strict": True}},
            {"type": "code_interpreter"}, {"type": "file_search"},
        ],
        "temperature": 1.0, "top_p": 1, "response_format": "auto",
    })
    assert fields == {
        "model": "gpt-4o", "instructions": "Be brief.",
        "tools": [
            {"type": "function", "name": "f", "description": "d",
             "parameters": {"type": "object", "properties": {}}, "strict": False},
            {"type": "function", "name": "g", "parameters": SCHEMA, "strict": True},
        ],
    }
    assert left_out == ["code_interpreter", "file_search"]


def test_response_format_and_sampling_only_when_not_default():
    fields, _ = flatten({
        "model": "m", "temperature": 0.2, "top_p": 0.9,
        "response_format": {"type": "json_schema",
                            "json_schema": {"name": "out", "schema": SCHEMA, "strict": True}},
    })
    assert fields == {"model": "m", "temperature": 0.2, "top_p": 0.9, "text": {"format": {
        "type": "json_schema", "name": "out", "schema": SCHEMA, "strict": True}}}
    assert flatten({"model": "m", "response_format": {"type": "json_object"}})[0]["text"] == {
        "format": {"type": "json_object"}}
    # The mirror keeps nested values as JSON text.
    row = {"model": "m", "tools": '[{"type": "function", "function": {"name": "f"}}]',
           "response_format": '{"type": "text"}'}
    assert flatten(row)[0]["tools"][0]["name"] == "f"
    assert flatten(row)[0]["text"] == {"format": {"type": "text"}}


def test_run_level_parameters():
    assert run_fields({
        "tool_choice": {"type": "function", "function": {"name": "f"}},
        "parallel_tool_calls": False, "max_completion_tokens": 500,
        "additional_instructions": "Answer in French.", "max_prompt_tokens": 9000,
    }, "Be brief.") == {
        "tool_choice": {"type": "function", "name": "f"}, "parallel_tool_calls": False,
        "max_output_tokens": 500, "instructions": "Be brief.\n\nAnswer in French.",
    }
    assert run_fields({"tool_choice": "required"}, None) == {"tool_choice": "required"}


def test_a_refused_temperature_is_named():
    error = BadRequestError("Unsupported parameter: 'temperature' is not supported with this model.",
                            status_code=400, param="temperature", code="unsupported_parameter")
    detail = refusal_detail(error, {"model": "o3", "temperature": 0.2})
    assert detail.startswith("the server refused temperature=0.2 (from the replayed configuration;")
    assert "HTTP 400 unsupported_parameter" in detail
    other = BadRequestError("bad model", status_code=400, param="model")
    assert refusal_detail(other, {"model": "x", "temperature": 0.2}) == str(other)
