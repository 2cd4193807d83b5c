"""Request bodies: JSON parsing and validation with `syncer.api.models`' request models.

Malformed JSON, a wrong content type or a body that is not a JSON object are 400s in the
real API's words; so is JSON the parser must not be fed: nested deeper than `MAX_JSON_DEPTH`
(Python's parser would recurse until it fails), an integer longer than Python converts (4,300
digits: ``sys.get_int_max_str_digits()``), ``NaN``/``Infinity`` (not JSON; answered back they would break clients), a string holding a lone
surrogate (``"\\ud800"``: a valid escape, but no Unicode text, so it could be neither stored nor
sent back). Bodies are
bounded in size before they are read (`syncer.emulator.middleware`); a body the request model rejects (a limit, a type, an unknown field) is
the 400 that `syncer.emulator.validation_errors.api_error_from_validation` renders, naming the ``param``.
"""

from __future__ import annotations

import json
import math
import re
import sys
from itertools import accumulate
from typing import Any

from pydantic import ValidationError
from starlette.requests import Request

from syncer.api import models
from syncer.emulator.http_errors import RequestRefused, bad_request
from syncer.emulator.validation_errors import api_error_from_validation, json_type_name

INVALID_JSON = (
    "We could not parse the JSON body of your request. (HINT: This likely means you aren't "
    "using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent "
    "was not valid JSON. If you have trouble figuring out how to fix this, please contact us "
    "through our help center at help.openai.com.)"
)
#: How deeply a request body's arrays and objects may nest (tool parameter schemas need a few
#: levels, nothing needs a hundred).
MAX_JSON_DEPTH = 100
_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_BRACKET_STEP = {ord("["): 1, ord("{"): 1, ord("]"): -1, ord("}"): -1}
# A \\u escape of a surrogate (D800-DFFF): only then can a parsed body hold one. A pair is one
# character and fine; alone it is no text. (UTF-8 bytes of a surrogate fail to decode anyway.)
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89abcdefABCDEF]")


async def read_json(request: Request) -> dict[str, Any]:
    """The request body as a dict; an empty body is ``{}``."""
    raw = await request.body()
    if not raw.strip():
        return {}
    content_type = request.headers.get("content-type", "")
    if content_type.split(";")[0].strip().lower() != "application/json":
        shown = content_type or "(none)"
        raise bad_request(
            f"Unsupported content type: '{shown}'. This API method only accepts "
            f"'application/json' requests, but you specified the header "
            f"'Content-Type: {shown}'. Please try again with a supported content type."
        )
    body = parse_json(raw)
    if not isinstance(body, dict):
        raise bad_request(
            f"Invalid type for body: expected an object, but got {json_type_name(body)} instead.",
            code="invalid_type",
        )
    return body


def parse_json(raw: bytes) -> Any:
    """``raw`` as JSON, or the 400 that says what is wrong with it."""
    try:
        value = json.loads(raw, parse_constant=_refuse_constant, parse_float=_finite_float)
    except RecursionError:
        raise _too_deep(None) from None
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise bad_request(INVALID_JSON) from None
    except ValueError as error:  # NaN, Infinity, 1e999, an integer too long to convert
        problem = str(error)
        if "integer string conversion" in problem:
            problem = f"an integer has more than {sys.get_int_max_str_digits()} digits"
        raise bad_request(f"We could not parse the JSON body of your request: {problem}.") from None
    if raw.count(b"[") + raw.count(b"{") > MAX_JSON_DEPTH:  # else it cannot be too deep
        depth = json_depth(raw)
        if depth > MAX_JSON_DEPTH:
            raise _too_deep(depth)
    if _SURROGATE_ESCAPE.search(raw):
        try:
            json.dumps(value, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise bad_request(
                "We could not parse the JSON body of your request: a string holds a lone "
                "surrogate (a \\ud800-\\udfff escape that is not half of a pair), which is not text."
            ) from None
    return value


def json_depth(raw: bytes) -> int:
    """How deeply the arrays and objects of a valid JSON text nest (brackets in strings do not
    count); linear in its size, at the speed of C for any depth."""
    brackets = _JSON_STRING.sub(b"", raw).translate(None, _NOT_BRACKETS)
    return max(accumulate(map(_BRACKET_STEP.__getitem__, brackets)), default=0)


def _too_deep(depth: int | None) -> RequestRefused:
    shown = f"{depth} levels" if depth is not None else "too many levels to count"
    return bad_request(
        f"The JSON body of your request is nested too deeply ({shown}; at most "
        f"{MAX_JSON_DEPTH} are accepted)."
    )


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"the number {text[:20]} is out of range")
    return value


def validate(model_name: str | type[Any], body: dict[str, Any]) -> dict[str, Any]:
    """Check ``body`` against ``syncer.api.models.<model_name>`` (or a request model class);
    return the body unchanged.

    The raw body (not the model's dump) is what the handlers use, so objects keep exactly
    the fields the client sent.
    """

    request_model = getattr(models, model_name) if isinstance(model_name, str) else model_name
    try:
        request_model(**body)  # its __init__ refuses unknown fields at every depth
    except ValidationError as exc:
        error = api_error_from_validation(exc)
        raise RequestRefused(
            400,
            error.get("message") or "Invalid request.",
            type=error.get("type") or "invalid_request_error",
            param=error.get("param"),
            code=error.get("code"),
        ) from None
    return body
