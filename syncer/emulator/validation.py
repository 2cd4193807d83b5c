"""Request bodies: JSON parsing and validation with `syncer.api.models`' request models.

Malformed JSON, a wrong content type or a body that is not a JSON object are 400s in the
real API's words; a body the request model rejects (a limit, a type, an unknown field) is
the 400 that `syncer.emulator.validation_errors.api_error_from_validation` renders, naming the ``param``.
"""

from __future__ import annotations

import json
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
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise bad_request(INVALID_JSON) from None
    if not isinstance(body, dict):
        raise bad_request(
            f"Invalid type for body: expected an object, but got {json_type_name(body)} instead.",
            code="invalid_type",
        )
    return body


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
