"""`json_data`: the one way a pydantic model (or a list of them) becomes plain JSON data."""

from __future__ import annotations

import json

from syncer.api.models import Assistant, CreateAssistantRequest
from syncer.canonical import compact_json, compact_json_bytes, json_copy, json_data

ASSISTANT = {
    "id": "asst_1", "object": "assistant", "created_at": 1, "model": "gpt-4o", "tools": [],
    "response_format": {"type": "json_schema",
                        "json_schema": {"name": "answer", "schema": {"type": "object"}}},
    "a_field_from_a_newer_server": {"kept": True},
}


def test_a_model_becomes_plain_data_by_its_api_names():
    data = json_data(Assistant.model_validate(ASSISTANT))
    assert data["response_format"]["json_schema"]["schema"] == {"type": "object"}
    assert "schema_" not in data["response_format"]["json_schema"]
    assert data["a_field_from_a_newer_server"] == {"kept": True}


def test_only_set_leaves_out_defaults_as_a_request_body_does():
    request = CreateAssistantRequest(model="gpt-4o", name="Helper")
    assert json_data(request, only_set=True) == {"model": "gpt-4o", "name": "Helper"}
    assert json_data(request, only_set=True) == request.to_body()


def test_lists_and_plain_data():
    model = Assistant.model_validate(ASSISTANT)
    assert json_data([model, {"id": "x"}, 3]) == [json_data(model), {"id": "x"}, 3]
    plain = {"already": ["plain"]}
    assert json_data(plain) is plain
    assert json_data(None) is None


def test_compact_json_and_json_copy_keep_what_orjson_refuses_exactly():
    value = {"big": 10**30, "text": "é ✓", "nested": [{"a": 1.5}], "none": None}
    assert compact_json(value) == json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    assert compact_json_bytes(value) == compact_json(value).encode()
    copied = json_copy(value)
    assert copied == value and copied["big"] == 10**30 and isinstance(copied["big"], int)
    copied["nested"][0]["a"] = 2
    assert value["nested"][0]["a"] == 1.5  # a deep copy
    small = {"n": [1, 2.25, "x"]}
    assert json_copy(small) == small and json_copy(small) is not small
