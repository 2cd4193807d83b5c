"""OpenAPI documents as comparable facts: their operations, and any JSON Schema (a document's
or a pydantic model's) flattened to (kind, path, value) tuples."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pydantic import BaseModel

METHODS = ("get", "post", "delete", "put", "patch")


def doc_operations(doc: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in doc["paths"].items():
        for method in METHODS:
            if method in item:
                yield path, method, item[method]


LIMIT_KEYS = (
    "maxLength",
    "minLength",
    "maxItems",
    "minItems",
    "maxProperties",
    "minimum",
    "maximum",
    "pattern",
)


def schema_facts(
    schema: Any, root: dict[str, Any], path: str = "", depth: int = 0
) -> Iterator[tuple[str, ...]]:
    """Flatten a JSON Schema into comparable facts: (kind, path, value).

    Unions (anyOf/oneOf/allOf) merge at the same path, so a property that exists in any member
    exists at that path; ``$ref`` is followed within ``root`` (the document or the model's
    ``$defs``). Kinds: ``property``, ``enum``, ``required`` and the limit keywords.
    """
    if not isinstance(schema, dict) or depth > 40:
        return
    if "$ref" in schema:
        target: Any = root
        for part in schema["$ref"].lstrip("#/").split("/"):
            target = target[part]
        yield from schema_facts(target, root, path, depth + 1)
    for key in ("anyOf", "oneOf", "allOf"):
        for member in schema.get(key, []):
            yield from schema_facts(member, root, path, depth + 1)
    if "const" in schema:
        yield ("enum", path, str(schema["const"]))
    for value in schema.get("enum", []):
        if value is not None:  # nullable enums list null; pydantic says so with anyOf instead
            yield ("enum", path, str(value))
    for key in LIMIT_KEYS:
        if key in schema:
            yield (
                key,
                path,
                str(float(schema[key])) if key.startswith(("min", "max")) else schema[key],
            )
    for name in schema.get("required", []):
        if name != "type":  # a defaulted discriminator: required by the API, optional in Python
            yield ("required", path, name)
    for name, sub in schema.get("properties", {}).items():
        child = f"{path}.{name}" if path else name
        yield ("property", child)
        yield from schema_facts(sub, root, child, depth + 1)
    if "items" in schema:
        yield from schema_facts(schema["items"], root, f"{path}[]", depth + 1)
    if isinstance(schema.get("additionalProperties"), dict):
        yield from schema_facts(schema["additionalProperties"], root, f"{path}.*", depth + 1)
    if "propertyNames" in schema:
        yield from schema_facts(schema["propertyNames"], root, f"{path}.<key>", depth + 1)


def model_facts(model: type[BaseModel]) -> set[tuple[str, ...]]:
    schema = model.model_json_schema(ref_template="#/$defs/{model}")
    return set(schema_facts(schema, schema))
