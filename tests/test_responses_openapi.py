"""The successor APIs' contract: schema/responses-openapi.yaml is valid OpenAPI 3.1 and agrees
with syncer's Responses and Conversations models (same properties, enums, required lists and
limits), and the emulator serves exactly the documented operations of both documents."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from openapi_spec_validator import validate
from pydantic import BaseModel
from ruamel.yaml import YAML
from support.openapi import doc_operations, model_facts, schema_facts

from syncer.api import models as m
from syncer.api.models import conversations as c
from syncer.api.models import responses as r

ROOT = Path(__file__).resolve().parents[1]
DOCUMENT = ROOT / "schema" / "responses-openapi.yaml"

# operationId → (request model, 200 response model)
OPERATIONS: dict[str, tuple[type[BaseModel] | None, Any]] = {
    "createConversation": (c.CreateConversationRequest, c.Conversation),
    "getConversation": (None, c.Conversation),
    "updateConversation": (c.UpdateConversationRequest, c.Conversation),
    "deleteConversation": (None, c.ConversationDeleted),
    "createConversationItems": (c.CreateConversationItemsRequest, c.ConversationItemList),
    "listConversationItems": (None, c.ConversationItemList),
    "getConversationItem": (None, c.Item),
    "deleteConversationItem": (None, c.Conversation),
    "createResponse": (r.CreateResponseRequest, r.Response),
    "getResponse": (None, r.Response),
    "deleteResponse": (None, r.ResponseDeleted),
    "listInputItems": (None, r.ResponseItemList),
}


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    return YAML(typ="safe").load(DOCUMENT.read_text())


def _operation(doc: dict[str, Any], operation_id: str) -> dict[str, Any]:
    return next(op for _, _, op in doc_operations(doc) if op["operationId"] == operation_id)


def _schema_facts(model: Any) -> set[tuple[str, ...]]:
    if isinstance(model, type) and issubclass(model, BaseModel):
        return model_facts(model)
    from pydantic import TypeAdapter

    schema = TypeAdapter(model).json_schema(ref_template="#/$defs/{model}")
    return set(schema_facts(schema, schema))


def test_document_is_valid_openapi_31(doc: dict[str, Any]) -> None:
    assert doc["openapi"] == "3.1.0"
    validate(doc)


def test_every_operation_is_mapped_to_models(doc: dict[str, Any]) -> None:
    assert {op["operationId"] for _, _, op in doc_operations(doc)} == set(OPERATIONS)


@pytest.mark.parametrize("operation_id", [op for op, (req, _) in OPERATIONS.items() if req is not None])
def test_request_model_matches_document(doc: dict[str, Any], operation_id: str) -> None:
    model = OPERATIONS[operation_id][0]
    ours = _schema_facts(model)
    body = _operation(doc, operation_id)["requestBody"]["content"]["application/json"]["schema"]
    theirs = set(schema_facts(body, doc))
    assert sorted(ours - theirs) == [], "in the model, not in the document"
    assert sorted(theirs - ours) == [], "in the document, not in the model"


@pytest.mark.parametrize("operation_id", sorted(OPERATIONS))
def test_response_model_matches_document(doc: dict[str, Any], operation_id: str) -> None:
    wanted = {"property", "enum"}
    ours = {f for f in _schema_facts(OPERATIONS[operation_id][1]) if f[0] in wanted}
    answer = _operation(doc, operation_id)["responses"]["200"]["content"]["application/json"]["schema"]
    theirs = {f for f in schema_facts(answer, doc) if f[0] in wanted}
    assert sorted(ours - theirs) == [], "in the model, not in the document"
    assert sorted(theirs - ours) == [], "in the document, not in the model"


def test_limits_in_document_are_the_model_constants(doc: dict[str, Any]) -> None:
    body = _operation(doc, "createConversation")["requestBody"]["content"]["application/json"]["schema"]
    facts = set(schema_facts(body, doc))
    assert ("maxItems", "items", str(float(c.MAX_CONVERSATION_ITEMS))) in facts
    assert ("maxProperties", "metadata", str(float(m.MAX_METADATA_PAIRS))) in facts
    assert ("maxLength", "metadata.<key>", str(float(m.MAX_METADATA_KEY_LENGTH))) in facts
    assert ("maxLength", "metadata.*", str(float(m.MAX_METADATA_VALUE_LENGTH))) in facts
    body = _operation(doc, "createResponse")["requestBody"]["content"]["application/json"]["schema"]
    facts = set(schema_facts(body, doc))
    assert ("minimum", "max_output_tokens", str(float(r.MIN_OUTPUT_TOKENS))) in facts
    assert ("pattern", "tools[].name", m.FUNCTION_NAME_PATTERN) in facts


def test_the_emulator_serves_exactly_the_documented_operations(doc: dict[str, Any]) -> None:
    from syncer.emulator.conversations import ROUTES as CONVERSATION_ROUTES
    from syncer.emulator.responses import ROUTES as RESPONSE_ROUTES

    served = {(method.lower(), path.removeprefix("/v1"))
              for method, path, _ in CONVERSATION_ROUTES + RESPONSE_ROUTES}
    assert served == {(method, path) for path, method, _ in doc_operations(doc)}
