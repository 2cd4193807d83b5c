"""Pydantic models for the Responses API: the response object and the create request.

``CreateResponseRequest`` takes what syncer uses: ``model``; ``input`` as a string or a list of
items (see `syncer.api.models.conversations`); ``instructions`` (not inherited through
``previous_response_id``); flat function ``tools``; ``tool_choice``; ``parallel_tool_calls``;
``previous_response_id`` or ``conversation`` (an id or ``{"id"}``; both at once is a 400 the
server gives, as the two fields are each valid on their own); ``store``; ``stream``;
``temperature``; ``top_p``; ``max_output_tokens``; ``text.format``; ``metadata``;
``truncation``. Usage is in the Responses shape (``input_tokens``, ``output_tokens``,
``total_tokens`` and their details).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Discriminator, Field, Strict

from syncer.api.models.conversations import InputItem, Item, MessageItem, OutputTextPart
from syncer.api.models.fields import (
    UNION_TAG,
    APIModel,
    Bool,
    FunctionName,
    Instructions,
    Metadata,
    Temperature,
    TopP,
    by_type,
    content_kind,
    string_or,
    union_tag,
)
from syncer.api.models.limits import MAX_TOOLS
from syncer.api.models.objects import ListPage
from syncer.api.models.requests import APIRequest

#: The smallest ``max_output_tokens`` the real API accepts.
MIN_OUTPUT_TOKENS = 16

ResponseStatus = Literal["completed", "failed", "in_progress", "cancelled", "queued", "incomplete"]


class ResponseFunctionTool(APIModel):
    """A function tool, flat (no ``function`` wrapper as in the Assistants API)."""

    type: Literal["function"] = "function"
    name: FunctionName
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: Bool | None = None


ResponseTool = Annotated[
    Annotated[ResponseFunctionTool, union_tag("function")],
    Discriminator(by_type("function")),
]


class ResponseToolChoiceFunction(APIModel):
    type: Literal["function"] = "function"
    name: str


ResponseToolChoice = Annotated[
    Annotated[Literal["none", "auto", "required"], union_tag("string")]
    | Annotated[ResponseToolChoiceFunction, union_tag("function")],
    Discriminator(string_or("function")),
]


class TextFormatText(APIModel):
    type: Literal["text"] = "text"


class TextFormatJSONObject(APIModel):
    type: Literal["json_object"] = "json_object"


class TextFormatJSONSchema(APIModel):
    type: Literal["json_schema"] = "json_schema"
    name: FunctionName
    description: str | None = None
    schema_: dict[str, Any] = Field(alias="schema")
    strict: Bool | None = None


TextFormat = Annotated[
    Annotated[TextFormatText, union_tag("text")]
    | Annotated[TextFormatJSONObject, union_tag("json_object")]
    | Annotated[TextFormatJSONSchema, union_tag("json_schema")],
    Discriminator(by_type("text")),
]


class TextConfig(APIModel):
    format: TextFormat | None = None
    verbosity: Literal["low", "medium", "high"] | None = None


class ConversationRef(APIModel):
    id: str


def _string_or_object(value: Any) -> str:
    return UNION_TAG + ("string" if isinstance(value, str) else "object")


#: ``conversation``: an id, or ``{"id": …}``.
ConversationParam = Annotated[
    Annotated[str, union_tag("string")] | Annotated[ConversationRef, union_tag("object")],
    Discriminator(_string_or_object),
]


#: ``input``: a string (one user message) or a list of items.
ResponseInput = Annotated[
    Annotated[str, union_tag("string")] | Annotated[list[InputItem], union_tag("array")],
    Discriminator(
        content_kind,
        custom_error_type="api_invalid_type",
        custom_error_message="expected one of a string or array of objects",
        custom_error_context={"expected": "one of a string or array of objects"},
    ),
]


class CreateResponseRequest(APIRequest):
    model: str
    # Optional without `| None`: a union with this annotated union cannot be built (its
    # discriminator's error context is a dict); a default is never validated anyway.
    input: ResponseInput = None  # type: ignore[assignment]
    instructions: Instructions | None = None
    tools: Annotated[list[ResponseTool], Field(max_length=MAX_TOOLS)] | None = None
    tool_choice: ResponseToolChoice | None = None
    parallel_tool_calls: Bool | None = None
    previous_response_id: str | None = None
    conversation: ConversationParam | None = None
    store: Bool | None = None
    stream: Bool | None = None
    temperature: Temperature | None = None
    top_p: TopP | None = None
    max_output_tokens: Annotated[int, Strict(), Field(ge=MIN_OUTPUT_TOKENS)] | None = None
    text: TextConfig | None = None
    metadata: Metadata | None = None
    truncation: Literal["auto", "disabled"] | None = None


class InputTokensDetails(APIModel):
    cached_tokens: int = 0
    cache_write_tokens: int = 0


class OutputTokensDetails(APIModel):
    reasoning_tokens: int = 0


class ResponseUsage(APIModel):
    input_tokens: int
    input_tokens_details: InputTokensDetails
    output_tokens: int
    output_tokens_details: OutputTokensDetails
    total_tokens: int


class ResponseError(APIModel):
    code: str
    message: str


class ResponseIncompleteDetails(APIModel):
    reason: Literal["max_output_tokens", "content_filter"] | None = None


class Response(APIModel):
    id: str
    object: Literal["response"] = "response"
    created_at: int
    status: ResponseStatus | None = None
    completed_at: int | None = None
    error: ResponseError | None = None
    incomplete_details: ResponseIncompleteDetails | None = None
    instructions: str | None = None
    max_output_tokens: int | None = None
    model: str
    output: list[Item] = Field(default_factory=list)
    parallel_tool_calls: bool = True
    previous_response_id: str | None = None
    conversation: ConversationRef | None = None
    temperature: float | None = None
    top_p: float | None = None
    text: TextConfig | None = None
    tool_choice: ResponseToolChoice = "auto"
    tools: list[ResponseTool] = Field(default_factory=list)
    truncation: Literal["auto", "disabled"] | None = None
    usage: ResponseUsage | None = None
    metadata: dict[str, str] | None = None

    @property
    def output_text(self) -> str:
        """The text of every ``output_text`` part of the output, joined (as the SDK computes it)."""
        return "".join(
            part.text
            for item in self.output
            if isinstance(item, MessageItem)
            for part in item.content
            if isinstance(part, OutputTextPart)
        )


class ResponseDeleted(APIModel):
    id: str
    object: Literal["response.deleted"] = "response.deleted"
    deleted: bool


ResponseItemList = ListPage[Item]

__all__ = [
    "MIN_OUTPUT_TOKENS",
    "ConversationParam",
    "ConversationRef",
    "CreateResponseRequest",
    "InputTokensDetails",
    "OutputTokensDetails",
    "Response",
    "ResponseDeleted",
    "ResponseError",
    "ResponseFunctionTool",
    "ResponseIncompleteDetails",
    "ResponseItemList",
    "ResponseStatus",
    "ResponseTool",
    "ResponseToolChoice",
    "ResponseToolChoiceFunction",
    "ResponseUsage",
    "TextConfig",
    "TextFormat",
    "TextFormatJSONObject",
    "TextFormatJSONSchema",
    "TextFormatText",
]
