"""The contract: schema/openapi.yaml is valid, keeps everything the seed had, and agrees with
syncer.api.models (same properties, enums and limits), so neither can drift from the other."""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from openapi_spec_validator import validate
from openapi_spec_validator.validation.exceptions import OpenAPIValidationError
from pydantic import BaseModel
from ruamel.yaml import YAML
from support.openapi import METHODS, doc_operations, model_facts, schema_facts

from syncer.api import models as m

ROOT = Path(__file__).resolve().parents[1]
DOCUMENT = ROOT / "schema" / "openapi.yaml"
SEED = Path("/work/shared/seed/assistants-api-openapi.txt")
SEED_COPY = ROOT / "fixtures" / "seed-assistants-api-openapi.txt"


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    return YAML(typ="safe").load(DOCUMENT.read_text())


@pytest.fixture(scope="module")
def seed_lines() -> list[str]:
    source = SEED_COPY if SEED_COPY.exists() else SEED
    if not source.exists():
        pytest.skip("the seed contract is not available on this machine")
    return [line.strip() for line in source.read_text().splitlines()]


# --- the document is valid OpenAPI 3.1 --------------------------------------------------------


def test_document_is_valid_openapi_31(doc: dict[str, Any]) -> None:
    assert doc["openapi"] == "3.1.0"
    validate(doc)


def test_validator_would_catch_a_broken_document(doc: dict[str, Any]) -> None:
    # Guard against a validator that accepts anything (e.g. a wrong import or version).
    broken = copy.deepcopy(doc)
    broken["paths"]["/assistants"]["get"]["responses"] = "nope"
    with pytest.raises(OpenAPIValidationError):
        validate(broken)


def test_no_openapi_30_nullable_left(doc: dict[str, Any]) -> None:
    assert list(_doc_values(doc, "nullable")) == []
    # first_id / last_id are null on an empty list, as the real service answered.
    props = doc["components"]["schemas"]["ListResponse"]["properties"]
    assert props["first_id"]["type"] == ["string", "null"]
    assert props["last_id"]["type"] == ["string", "null"]


# --- faithful to the seed ---------------------------------------------------------------------


def _seed_operations(lines: list[str]) -> set[tuple[str, str, str]]:
    """(path, method, operationId) from the seed, whose indentation was lost."""
    found: set[tuple[str, str, str]] = set()
    path = method = None
    for line in lines:
        if line.startswith("/") and line.endswith(":"):
            path, method = line[:-1], None
        elif path and line.rstrip(":") in METHODS and line.endswith(":"):
            method = line[:-1]
        elif path and method and line.startswith("operationId:"):
            found.add((path, method, line.split(":", 1)[1].strip()))
        elif line == "components:":
            break
    return found


def test_every_seed_operation_is_present(doc: dict[str, Any], seed_lines: list[str]) -> None:
    seed = _seed_operations(seed_lines)
    assert len(seed) == 18  # the seed's 18 operations, parsed
    ours = {(p, meth, op["operationId"]) for p, meth, op in doc_operations(doc)}
    assert seed <= ours, sorted(seed - ours)


def test_operations_added_beyond_the_seed_are_marked(
    doc: dict[str, Any], seed_lines: list[str]
) -> None:
    seed = {(p, meth) for p, meth, _ in _seed_operations(seed_lines)}
    added = {(p, meth) for p, meth, op in doc_operations(doc) if (p, meth) not in seed}
    assert added == {
        ("/threads", "get"),
        ("/threads/{thread_id}/messages/{message_id}", "post"),
        ("/threads/{thread_id}/messages/{message_id}", "delete"),
        ("/threads/{thread_id}/runs/{run_id}", "post"),
        ("/threads/{thread_id}/runs/{run_id}/steps", "get"),
        ("/threads/{thread_id}/runs/{run_id}/steps/{step_id}", "get"),
    }
    for path, method in added:
        assert doc["paths"][path][method].get("x-syncer") == "extension", (path, method)


def test_seed_parameters_of_each_operation_are_kept(
    doc: dict[str, Any], seed_lines: list[str]
) -> None:
    by_operation: dict[str, set[str]] = {}
    operation = None
    for line in seed_lines:
        if line == "components:":
            break
        if line.startswith("operationId:"):
            operation = line.split(":", 1)[1].strip()
            by_operation[operation] = set()
        found = re.match(r"- \$ref: '#/components/parameters/(\w+)'", line)
        if found and operation:
            by_operation[operation].add(found.group(1))
    assert by_operation["listAssistants"] == {"limit", "order", "after", "before", "OpenAIBeta"}
    ours = {
        op["operationId"]: {p["$ref"].rsplit("/", 1)[1] for p in op.get("parameters", [])}
        for _, _, op in doc_operations(doc)
    }
    for operation_id, params in by_operation.items():
        assert params <= ours[operation_id], operation_id


def test_seed_component_names_are_kept(doc: dict[str, Any], seed_lines: list[str]) -> None:
    text = "\n".join(seed_lines)
    for kind in ("schemas", "parameters"):
        names = set(re.findall(rf"#/components/{kind}/(\w+)", text))
        assert names, kind
        assert names <= set(doc["components"][kind]), (kind, names - set(doc["components"][kind]))
    seed_schemas = {
        "Assistant", "CreateAssistantRequest", "ModifyAssistantRequest", "Thread",
        "CreateThreadRequest", "Message", "CreateMessageRequest", "Run", "CreateRunRequest",
        "ListResponse", "DeleteResponse",
    }  # fmt: skip
    assert all(f"{name}:" in seed_lines for name in seed_schemas)
    assert seed_schemas <= set(doc["components"]["schemas"])


def _doc_values(node: Any, key: str) -> Iterator[Any]:
    """Every value of ``key`` anywhere in the document."""
    if isinstance(node, dict):
        for k, v in node.items():
            if k == key:
                yield v
            yield from _doc_values(v, key)
    elif isinstance(node, list):
        for item in node:
            yield from _doc_values(item, key)


def _seed_lists(lines: list[str], header: str) -> list[list[str]]:
    """The ``- item`` lists that follow ``header`` lines (``enum:``, ``required:``)."""
    lists, current = [], None
    for line in lines:
        if line == header:
            current = []
            lists.append(current)
        elif current is not None and line.startswith("- ") and ":" not in line[2:]:
            current.append(line[2:].strip("'\""))
        else:
            current = None
    return [items for items in lists if items]


def test_seed_enums_are_kept(doc: dict[str, Any], seed_lines: list[str]) -> None:
    enums = _seed_lists(seed_lines, "enum:")
    assert ["queued", "in_progress", "requires_action", "cancelling", "cancelled", "failed",
            "completed", "incomplete", "expired"] in enums  # fmt: skip
    ours = [set(values) for values in _doc_values(doc, "enum")]
    for values in enums:
        assert any(set(values) <= mine for mine in ours), values


def test_seed_required_lists_are_kept(doc: dict[str, Any], seed_lines: list[str]) -> None:
    required = _seed_lists(seed_lines, "required:")
    assert ["role", "content"] in required
    ours = [set(v) for v in _doc_values(doc, "required") if isinstance(v, list)]
    for names in required:
        assert any(set(names) <= mine for mine in ours), names


def test_seed_bounds_defaults_and_descriptions_are_kept(
    doc: dict[str, Any], seed_lines: list[str]
) -> None:
    for key in ("minimum", "maximum", "default"):
        seed_values = {
            line.split(":", 1)[1].strip() for line in seed_lines if line.startswith(f"{key}:")
        }
        ours = {str(v).lower() for v in _doc_values(doc, key)}
        assert seed_values <= ours, (key, seed_values - ours)
    for key in ("description", "summary"):
        seed_texts = {
            line.split(":", 1)[1].strip()
            for line in seed_lines
            if line.startswith(f"{key}:") and not line.endswith((">-", ":"))
        }  # "description:" alone is the property of that name, ">-" a folded text
        ours = {" ".join(str(v).split()) for v in _doc_values(doc, key)}
        missing = {t for t in seed_texts if t not in ours}
        assert not missing, (key, missing)


# --- models and document agree ----------------------------------------------------------------

# operationId → (request model, 200 response model)
OPERATIONS: dict[str, tuple[type[BaseModel] | None, type[BaseModel] | None]] = {
    "listThreads": (None, None),  # always 403 missing_scope, as the real service answered
    "listAssistants": (None, m.ListPage[m.Assistant]),
    "createAssistant": (m.CreateAssistantRequest, m.Assistant),
    "getAssistant": (None, m.Assistant),
    "modifyAssistant": (m.ModifyAssistantRequest, m.Assistant),
    "deleteAssistant": (None, m.DeletedObject),
    "createThread": (m.CreateThreadRequest, m.Thread),
    "getThread": (None, m.Thread),
    "modifyThread": (m.ModifyThreadRequest, m.Thread),
    "deleteThread": (None, m.DeletedObject),
    "listMessages": (None, m.ListPage[m.Message]),
    "createMessage": (m.CreateMessageRequest, m.Message),
    "getMessage": (None, m.Message),
    "modifyMessage": (m.ModifyMessageRequest, m.Message),
    "deleteMessage": (None, m.DeletedObject),
    "listRuns": (None, m.ListPage[m.Run]),
    "createRun": (m.CreateRunRequest, m.Run),
    "getRun": (None, m.Run),
    "modifyRun": (m.ModifyRunRequest, m.Run),
    "cancelRun": (None, m.Run),
    "submitToolOutputs": (m.SubmitToolOutputsRequest, m.Run),
    "createThreadAndRun": (m.CreateThreadAndRunRequest, m.Run),
    "listRunSteps": (None, m.ListPage[m.RunStep]),
    "getRunStep": (None, m.RunStep),
}

def _operation(doc: dict[str, Any], operation_id: str) -> dict[str, Any]:
    for _, _, op in doc_operations(doc):
        if op["operationId"] == operation_id:
            return op
    raise KeyError(operation_id)


def _json_schema(node: dict[str, Any]) -> dict[str, Any]:
    return node["content"]["application/json"]["schema"]


def _request_facts(doc: dict[str, Any], operation_id: str) -> set[tuple[str, ...]]:
    return set(schema_facts(_json_schema(_operation(doc, operation_id)["requestBody"]), doc))


def _response_facts(doc: dict[str, Any], operation_id: str) -> set[tuple[str, ...]]:
    return set(schema_facts(_json_schema(_operation(doc, operation_id)["responses"]["200"]), doc))


def test_every_operation_is_mapped_to_models(doc: dict[str, Any]) -> None:
    assert {op["operationId"] for _, _, op in doc_operations(doc)} == set(OPERATIONS)
    for operation_id, (request, response) in OPERATIONS.items():
        operation = _operation(doc, operation_id)
        assert ("requestBody" in operation) == (request is not None)
        assert ("200" in operation["responses"]) == (response is not None)


@pytest.mark.parametrize(
    "operation_id", [op for op, (request, _) in OPERATIONS.items() if request is not None]
)
def test_request_model_matches_document(doc: dict[str, Any], operation_id: str) -> None:
    """Same properties at every depth, same enums, same limits, same required lists."""
    model = OPERATIONS[operation_id][0]
    assert model is not None
    ours, theirs = model_facts(model), _request_facts(doc, operation_id)
    assert sorted(ours - theirs) == [], "in the model, not in the document"
    assert sorted(theirs - ours) == [], "in the document, not in the model"


@pytest.mark.parametrize(
    "operation_id", sorted(op for op, (_, response) in OPERATIONS.items() if response is not None)
)
def test_response_model_matches_document(doc: dict[str, Any], operation_id: str) -> None:
    """Same properties at every depth and same enums (responses are not limit-checked)."""
    wanted = {"property", "enum"}
    model = OPERATIONS[operation_id][1]
    assert model is not None
    ours = {f for f in model_facts(model) if f[0] in wanted}
    theirs = {f for f in _response_facts(doc, operation_id) if f[0] in wanted}
    assert sorted(ours - theirs) == [], "in the model, not in the document"
    assert sorted(theirs - ours) == [], "in the document, not in the model"


def test_error_body_model_matches_document(doc: dict[str, Any]) -> None:
    schema = doc["components"]["schemas"]["ErrorResponse"]
    assert {f for f in schema_facts(schema, doc) if f[0] == "property"} == {
        f for f in model_facts(m.ErrorResponse) if f[0] == "property"
    }


def test_limits_in_document_are_the_model_constants(doc: dict[str, Any]) -> None:
    """The numbers users read in the contract are the constants the code enforces."""
    facts = _request_facts(doc, "createAssistant")
    assert ("maxLength", "name", str(float(m.MAX_NAME_LENGTH))) in facts
    assert ("maxLength", "description", str(float(m.MAX_DESCRIPTION_LENGTH))) in facts
    assert ("maxLength", "instructions", str(float(m.MAX_INSTRUCTIONS_LENGTH))) in facts
    assert ("maxItems", "tools", str(float(m.MAX_TOOLS))) in facts
    assert ("maxProperties", "metadata", str(float(m.MAX_METADATA_PAIRS))) in facts
    assert ("maxLength", "metadata.<key>", str(float(m.MAX_METADATA_KEY_LENGTH))) in facts
    assert ("maxLength", "metadata.*", str(float(m.MAX_METADATA_VALUE_LENGTH))) in facts
    assert ("pattern", "tools[].function.name", m.FUNCTION_NAME_PATTERN) in facts
    assert ("maximum", "temperature", "2.0") in facts
    assert ("maximum", "top_p", "1.0") in facts
    assert ("maxItems", "tools", str(float(m.MAX_RUN_TOOLS))) in _request_facts(doc, "createRun")


def test_list_parameters_match_the_real_pagination(doc: dict[str, Any]) -> None:
    params = doc["components"]["parameters"]
    assert params["limit"]["schema"] == {
        "type": "integer",
        "minimum": 1,
        "maximum": 100,
        "default": 20,
    }
    assert params["order"]["schema"]["enum"] == ["asc", "desc"]
    assert params["order"]["schema"]["default"] == "desc"
    assert params["include"]["name"] == "include[]"


def test_the_emulator_serves_exactly_the_documented_operations(doc: dict[str, Any]) -> None:
    from syncer.emulator.app import V1_ROUTES

    served = {(method.lower(), path.removeprefix("/v1")) for method, path, _ in V1_ROUTES}
    documented = {(method, path) for path, method, _ in doc_operations(doc)}
    # The successor APIs are documented in schema/responses-openapi.yaml (its own test).
    successor = {(method, path) for method, path in served
                 if path.startswith(("/responses", "/conversations"))}
    assert served - successor == documented


# What the seed's schemas had (read off the seed; its lost indentation makes parsing nesting
# unreliable, so the lists are written out).
SEED_PROPERTIES: dict[str, set[str]] = {
    "Assistant": {"id", "object", "created_at", "name", "description", "model", "instructions",
                  "tools", "metadata", "temperature", "top_p", "response_format"},
    "CreateAssistantRequest": {"model", "name", "description", "instructions", "tools",
                               "metadata", "temperature", "top_p", "response_format"},
    "ModifyAssistantRequest": {"model", "name", "description", "instructions", "tools",
                               "metadata", "temperature", "top_p", "response_format"},
    "Thread": {"id", "object", "created_at", "metadata"},
    "CreateThreadRequest": {"messages", "metadata"},
    "Message": {"id", "object", "created_at", "thread_id", "role", "content", "assistant_id",
                "run_id", "metadata"},
    "CreateMessageRequest": {"role", "content", "metadata"},
    "Run": {"id", "object", "created_at", "thread_id", "assistant_id", "status",
            "required_action", "model", "instructions", "tools", "metadata", "usage",
            "started_at", "completed_at", "cancelled_at", "failed_at", "expires_at"},
    "CreateRunRequest": {"assistant_id", "model", "instructions", "additional_instructions",
                         "tools", "metadata", "stream"},
    "ListResponse": {"object", "data", "first_id", "last_id", "has_more"},
    "DeleteResponse": {"id", "object", "deleted"},
}  # fmt: skip
SEED_LIMITS = {("CreateAssistantRequest", "temperature"), ("CreateAssistantRequest", "top_p")}
LIMIT_WORDS = {
    "maxLength",
    "maxItems",
    "minItems",
    "maxProperties",
    "pattern",
    "minimum",
    "maximum",
}


def _has_limits(schema: Any, doc: dict[str, Any], depth: int = 0) -> bool:
    """Whether a property's own schema (following $ref and unions, not sub-properties) bounds it."""
    if not isinstance(schema, dict) or depth > 10:
        return False
    if LIMIT_WORDS & schema.keys():
        return True
    if "$ref" in schema:
        return _has_limits(
            doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]], doc, depth + 1
        )
    members = schema.get("oneOf", []) + schema.get("anyOf", []) + [schema.get("items")]
    return any(_has_limits(member, doc, depth + 1) for member in members)


def test_every_addition_is_marked_as_an_extension(
    doc: dict[str, Any], seed_lines: list[str]
) -> None:
    seed_text = "\n".join(seed_lines)
    for kind in ("schemas", "parameters", "responses"):
        for name, node in doc["components"][kind].items():
            if f"{name}:" not in seed_lines and f"#/components/{kind}/{name}" not in seed_text:
                assert node.get("x-syncer") == "extension", (kind, name)
    for name, seed_props in SEED_PROPERTIES.items():
        for prop, schema in doc["components"]["schemas"][name]["properties"].items():
            added = prop not in seed_props
            bounded = _has_limits(schema, doc) and (name, prop) not in SEED_LIMITS
            if added or bounded:
                assert schema.get("x-syncer") == "extension", (name, prop)
    # the seed's inline request bodies
    for path, fields in [
        ("/threads/{thread_id}", {"metadata"}),
        ("/threads/runs", {"assistant_id", "thread", "model", "instructions", "tools", "metadata"}),
        ("/threads/{thread_id}/runs/{run_id}/submit_tool_outputs", {"tool_outputs"}),
    ]:
        body = _json_schema(doc["paths"][path]["post"]["requestBody"])
        for prop, schema in body["properties"].items():
            if prop not in fields or _has_limits(schema, doc):
                assert schema.get("x-syncer") == "extension", (path, prop)
