"""`json_data`: the one way a pydantic model (or a list of them) becomes plain JSON data."""

from __future__ import annotations

from syncer.api.models import Assistant, CreateAssistantRequest
from syncer.canonical import json_data

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
