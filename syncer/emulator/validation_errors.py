"""A pydantic ``ValidationError`` from a request model, rendered as the real API's 400 body.

A table maps pydantic's error types to the API's codes and wording (``string_above_max_length``,
``object_above_max_properties``, ``invalid_type``, ``invalid_value``, ``unknown_parameter`` …).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sized
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from syncer.api.models.fields import (
    SHAPE_TAGS,
    UNION_TAG,
    UNION_TAGS,
)

# --- validation errors → the API's 400 body ---------------------------------------------------


@dataclass(frozen=True)
class _Rule:
    """How one kind of pydantic error reads as an API error."""

    code: str
    message: str  # str.format template over the facts gathered in _facts()
    param_suffix: str = ""  # e.g. ".type" when the error is about a missing discriminator


# Keyed by pydantic error type, or (type, qualifier) where _QUALIFIERS says how to tell cases apart.
_RULES: dict[str | tuple[str, str], _Rule] = {
    "missing": _Rule("missing_required_parameter", "Missing required parameter: '{param}'."),
    "extra_forbidden": _Rule("unknown_parameter", "Unknown parameter: '{param}'."),
    "string_too_long": _Rule(
        "string_above_max_length",
        "Invalid '{param}': string too long. Expected a string with maximum length {max_length}, but got a string with length {actual} instead.",
    ),
    "string_too_short": _Rule(
        "string_below_min_length",
        "Invalid '{param}': string too short. Expected a string with minimum length {min_length}, but got a string with length {actual} instead.",
    ),
    ("too_long", "List"): _Rule(
        "array_above_max_length",
        "Invalid '{param}': array too long. Expected an array with maximum length {max_length}, but got an array with length {actual} instead.",
    ),
    ("too_short", "List"): _Rule(
        "empty_array",
        "Invalid '{param}': empty array. Expected an array with minimum length {min_length}, but got an empty array instead.",
    ),
    ("too_long", "Dictionary"): _Rule(
        "object_above_max_properties",
        "Invalid '{param}': too many properties. Expected an object with at most {max_length} properties, but got an object with {actual} properties instead.",
    ),
    "string_pattern_mismatch": _Rule(
        "invalid_value",
        "Invalid '{param}': string does not match pattern. Expected a string that matches the pattern '{pattern}'.",
    ),
    ("literal_error", "string"): _Rule(
        "invalid_value", "Invalid value: {value}. Supported values are: {allowed}."
    ),
    ("literal_error", "other"): _Rule(
        "invalid_type", "Invalid type for '{param}': expected a string, but got {got} instead."
    ),
    "union_tag_invalid": _Rule(
        "invalid_value", "Invalid value: {value}. Supported values are: {allowed}.", ".type"
    ),
    "union_tag_not_found": _Rule(
        "missing_required_parameter", "Missing required parameter: '{param}'.", ".type"
    ),
    ("less_than_equal", "decimal"): _Rule(
        "decimal_above_max_value",
        "Invalid '{param}': decimal above maximum value. Expected a value <= {bound}, but got {input} instead.",
    ),
    ("greater_than_equal", "decimal"): _Rule(
        "decimal_below_min_value",
        "Invalid '{param}': decimal below minimum value. Expected a value >= {bound}, but got {input} instead.",
    ),
    ("less_than_equal", "integer"): _Rule(
        "integer_above_max_value",
        "Invalid '{param}': integer above maximum value. Expected a value <= {bound}, but got {input} instead.",
    ),
    ("greater_than_equal", "integer"): _Rule(
        "integer_below_min_value",
        "Invalid '{param}': integer below minimum value. Expected a value >= {bound}, but got {input} instead.",
    ),
    "invalid_type": _Rule(
        "invalid_type", "Invalid type for '{param}': expected {expected}, but got {got} instead."
    ),
}

# Pydantic's type errors, by the JSON type they wanted; all render as the "invalid_type" rule.
_EXPECTED_TYPE: dict[str, str] = {
    "string_type": "a string",
    "int_type": "an integer",
    "int_parsing": "an integer",
    "int_from_float": "an integer",
    "float_type": "a decimal",
    "float_parsing": "a decimal",
    "bool_type": "a boolean",
    "bool_parsing": "a boolean",
    "dict_type": "an object",
    "model_type": "an object",
    "model_attributes_type": "an object",
    "list_type": "an array",
    "none_required": "null",
}

_QUALIFIERS: dict[str, Callable[[dict[str, Any]], str]] = {
    "too_long": lambda e: e.get("ctx", {}).get("field_type", ""),
    "too_short": lambda e: e.get("ctx", {}).get("field_type", ""),
    "literal_error": lambda e: "string" if isinstance(e["input"], str) else "other",
    "less_than_equal": lambda e: _number_kind(e["ctx"]["le"]),
    "greater_than_equal": lambda e: _number_kind(e["ctx"]["ge"]),
}


def _number_kind(bound: Any) -> str:
    # The bound carries the field's declared type: 2.0 for temperature, 100 for limit.
    return "integer" if isinstance(bound, int) and not isinstance(bound, bool) else "decimal"


def json_type_name(value: Any) -> str:
    """How the API names a value's JSON type in messages ("an integer", "null", …)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a decimal"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list | tuple):
        return "an array"
    return "an object"


def _quoted_list(values: list[str]) -> str:
    """``'a'``, ``'a' and 'b'``, ``'a', 'b', and 'c'`` — the API's enumeration style."""
    quoted = [f"'{v}'" for v in values]
    if len(quoted) <= 2:
        return " and ".join(quoted)
    return ", ".join(quoted[:-1]) + ", and " + quoted[-1]


def _number(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def error_param(loc: tuple[str | int, ...]) -> str | None:
    """A pydantic error location in the API's notation: ``tools[0].function.name``.

    Union tags are dropped; an error about a dict key (``("metadata", "k", "[key]")``) is
    reported on the dict itself, as the API does.
    """
    parts: list[str | int] = list(loc)
    if "[key]" in parts:
        parts = parts[: max(parts.index("[key]") - 1, 0)]
    text = ""
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        elif part in UNION_TAGS:
            continue
        else:
            text += f".{part}" if text else part
    return text or None


def _facts(error: dict[str, Any], param: str | None) -> dict[str, Any]:
    """Everything a message template may mention."""
    ctx = error.get("ctx") or {}
    value = error.get("input")
    allowed_text = ctx.get("expected") or ctx.get("expected_tags") or ""
    allowed = [a.removeprefix(UNION_TAG) for a in re.findall(r"'([^']*)'", str(allowed_text))]
    if error["type"] == "union_tag_invalid":
        allowed = [a for a in allowed if a not in SHAPE_TAGS]
    tag = ctx.get("tag")
    shown = tag.removeprefix(UNION_TAG) if isinstance(tag, str) else value
    actual = len(value) if isinstance(value, Sized) else None
    return {
        "param": param,
        "input": _number(value),
        "value": f"'{shown}'" if isinstance(shown, str) else _number(shown),
        "allowed": _quoted_list(allowed),
        "got": json_type_name(value),
        "expected": ctx.get("expected") or _EXPECTED_TYPE.get(error["type"], "another type"),
        "actual": actual,
        "max_length": ctx.get("max_length"),
        "min_length": ctx.get("min_length"),
        "pattern": ctx.get("pattern"),
        "bound": _number(ctx.get("le", ctx.get("ge"))),
    }


def _rule_for(error: dict[str, Any]) -> _Rule:
    kind = error["type"]
    if kind in _EXPECTED_TYPE or kind == "api_invalid_type":
        return _RULES["invalid_type"]
    qualify = _QUALIFIERS.get(kind)
    if qualify is not None:
        rule = _RULES.get((kind, qualify(error)))
        if rule is not None:
            return rule
    return _RULES.get(kind) or _Rule("invalid_value", "Invalid '{param}': {pydantic_message}.")


def api_error_from_validation(exc: ValidationError) -> dict[str, Any]:
    """The real API's 400 error body for the first problem in ``exc``.

    Returns ``{"message", "type": "invalid_request_error", "param", "code"}`` (the content of
    the response's ``"error"`` key), e.g. code ``string_above_max_length`` with param ``name``.
    """
    errors = exc.errors(include_url=False)
    if not errors:  # pragma: no cover - pydantic never raises an empty ValidationError
        return {"message": str(exc), "type": "invalid_request_error", "param": None, "code": None}
    error: dict[str, Any] = dict(errors[0])
    rule = _rule_for(error)
    param = error_param(tuple(error["loc"]))
    if rule.param_suffix:
        param = (param or "") + rule.param_suffix if param else rule.param_suffix.lstrip(".")
    facts = _facts(error, param)
    facts["param"] = param or "body"  # a problem with the body as a whole has no param
    facts["pydantic_message"] = str(error.get("msg", "invalid")).rstrip(".")
    return {
        "message": rule.message.format(**facts),
        "type": "invalid_request_error",
        "param": param,
        "code": rule.code,
    }
