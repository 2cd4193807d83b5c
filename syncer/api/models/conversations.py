"""Pydantic models for the Conversations API: conversations, their items, and the requests.

Items are the successor API's unit of conversation (OpenAI's migration guide: threads →
conversations, run steps → items). syncer models the kinds it uses:

* ``message`` — role ``user | assistant | system | developer``; input parts ``input_text`` and
  ``input_image``, assistant parts ``output_text`` (with ``annotations``) and ``refusal``;
* ``function_call`` — ``call_id``, ``name``, ``arguments`` (a JSON string);
* ``function_call_output`` — ``call_id``, ``output`` (a string, or content parts: ``input_text``,
  ``input_image``, ``input_file``).

As in `syncer.api.models`, API objects keep unknown fields (``extra="allow"``) and requests refuse
them and check every limit (``MAX_CONVERSATION_ITEMS`` items a request, the metadata limits).
An input message may be "easy": no ``type`` and ``content`` as a plain string (the SDK's
``EasyInputMessage``). ``schema/responses-openapi.yaml`` mirrors these models
(``tests/test_responses_openapi.py`` keeps them in agreement).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Discriminator, Field

from syncer.api.models.fields import UNION_TAG, APIModel, Metadata, by_type, content_kind, union_tag
from syncer.api.models.limits import ImageDetail
from syncer.api.models.objects import ListPage
from syncer.api.models.requests import APIRequest

#: Items one request may carry (creating a conversation, adding items).
MAX_CONVERSATION_ITEMS = 20

Role = Literal["user", "assistant", "system", "developer"]
ItemStatus = Literal["in_progress", "completed", "incomplete"]

# --- content parts (requests and objects alike) -------------------------------------------------


class InputTextPart(APIModel):
    type: Literal["input_text"] = "input_text"
    text: str


class InputImagePart(APIModel):
    type: Literal["input_image"] = "input_image"
    image_url: str | None = None
    file_id: str | None = None
    detail: ImageDetail | None = None


class InputFilePart(APIModel):
    """A file in a function call's output (by id, URL or inline data)."""

    type: Literal["input_file"] = "input_file"
    file_id: str | None = None
    file_url: str | None = None
    file_data: str | None = None
    filename: str | None = None


class URLCitation(APIModel):
    type: Literal["url_citation"] = "url_citation"
    url: str
    title: str
    start_index: int
    end_index: int


class FileCitation(APIModel):
    type: Literal["file_citation"] = "file_citation"
    file_id: str
    filename: str | None = None
    index: int


OutputAnnotation = Annotated[
    Annotated[URLCitation, union_tag("url_citation")] | Annotated[FileCitation, union_tag("file_citation")],
    Discriminator(by_type("url_citation")),
]


class OutputTextPart(APIModel):
    type: Literal["output_text"] = "output_text"
    text: str
    annotations: list[OutputAnnotation] | None = None
    logprobs: list[dict[str, Any]] | None = None


class RefusalPart(APIModel):
    type: Literal["refusal"] = "refusal"
    refusal: str


ContentPart = Annotated[
    Annotated[InputTextPart, union_tag("input_text")]
    | Annotated[InputImagePart, union_tag("input_image")]
    | Annotated[OutputTextPart, union_tag("output_text")]
    | Annotated[RefusalPart, union_tag("refusal")],
    Discriminator(by_type("input_text")),
]

MessageContent = Annotated[
    Annotated[str, union_tag("string")] | Annotated[list[ContentPart], union_tag("array")],
    Discriminator(
        content_kind,
        custom_error_type="api_invalid_type",
        custom_error_message="expected one of a string or array of objects",
        custom_error_context={"expected": "one of a string or array of objects"},
    ),
]

OutputPart = Annotated[
    Annotated[InputTextPart, union_tag("input_text")]
    | Annotated[InputImagePart, union_tag("input_image")]
    | Annotated[InputFilePart, union_tag("input_file")],
    Discriminator(by_type("input_text")),
]

#: A function call's output: a string, or content parts.
FunctionOutput = Annotated[
    Annotated[str, union_tag("string")] | Annotated[list[OutputPart], union_tag("array")],
    Discriminator(
        content_kind,
        custom_error_type="api_invalid_type",
        custom_error_message="expected one of a string or array of objects",
        custom_error_context={"expected": "one of a string or array of objects"},
    ),
]

# --- items as requests give them ----------------------------------------------------------------


class InputMessage(APIRequest):
    """A message item; ``type`` may be left out and ``content`` may be a plain string."""

    type: Literal["message"] | None = None
    id: str | None = None
    role: Role
    content: MessageContent
    status: ItemStatus | None = None


class InputFunctionCall(APIRequest):
    type: Literal["function_call"]
    id: str | None = None
    call_id: str
    name: str
    arguments: str
    status: ItemStatus | None = None


class InputFunctionCallOutput(APIRequest):
    type: Literal["function_call_output"]
    id: str | None = None
    call_id: str
    output: FunctionOutput
    status: ItemStatus | None = None


def _item_kind(value: Any) -> str | None:
    """Items are discriminated on ``type``; an item without one is a message (EasyInputMessage)."""
    if isinstance(value, dict):
        return UNION_TAG + str(value.get("type") or "message")
    if isinstance(value, APIRequest | APIModel):
        return UNION_TAG + str(getattr(value, "type", None) or "message")
    return UNION_TAG + "message"


InputItem = Annotated[
    Annotated[InputMessage, union_tag("message")]
    | Annotated[InputFunctionCall, union_tag("function_call")]
    | Annotated[InputFunctionCallOutput, union_tag("function_call_output")],
    Discriminator(_item_kind),
]

ItemList = Annotated[list[InputItem], Field(max_length=MAX_CONVERSATION_ITEMS)]

# --- items as the API renders them --------------------------------------------------------------


class MessageItem(APIModel):
    id: str
    type: Literal["message"] = "message"
    status: ItemStatus
    role: Role
    content: list[ContentPart]


class FunctionCallItem(APIModel):
    id: str
    type: Literal["function_call"] = "function_call"
    status: ItemStatus | None = None
    call_id: str
    name: str
    arguments: str


class FunctionCallOutputItem(APIModel):
    id: str
    type: Literal["function_call_output"] = "function_call_output"
    status: ItemStatus | None = None
    call_id: str
    output: FunctionOutput


class OtherItem(APIModel):
    """An item of a kind syncer does not model (reasoning, built-in tool calls …), kept whole."""

    id: str | None = None
    type: str


_MODELLED_ITEMS = ("message", "function_call", "function_call_output")


def _rendered_kind(value: Any) -> str | None:
    kind = value.get("type") if isinstance(value, dict) else getattr(value, "type", None)
    return UNION_TAG + (str(kind) if kind in _MODELLED_ITEMS else "other")


#: An item of a conversation or of a response's input or output.
Item = Annotated[
    Annotated[MessageItem, union_tag("message")]
    | Annotated[FunctionCallItem, union_tag("function_call")]
    | Annotated[FunctionCallOutputItem, union_tag("function_call_output")]
    | Annotated[OtherItem, union_tag("other")],
    Discriminator(_rendered_kind),
]

# --- conversations ------------------------------------------------------------------------------


class Conversation(APIModel):
    id: str
    object: Literal["conversation"] = "conversation"
    created_at: int
    metadata: dict[str, str] = Field(default_factory=dict)


class ConversationDeleted(APIModel):
    id: str
    object: Literal["conversation.deleted"] = "conversation.deleted"
    deleted: bool


ConversationItemList = ListPage[Item]


class CreateConversationRequest(APIRequest):
    items: ItemList | None = None
    metadata: Metadata | None = None


class UpdateConversationRequest(APIRequest):
    metadata: Metadata


class CreateConversationItemsRequest(APIRequest):
    items: ItemList


__all__ = [
    "MAX_CONVERSATION_ITEMS",
    "ContentPart",
    "Conversation",
    "ConversationDeleted",
    "ConversationItemList",
    "CreateConversationItemsRequest",
    "CreateConversationRequest",
    "FileCitation",
    "FunctionCallItem",
    "FunctionCallOutputItem",
    "FunctionOutput",
    "InputFilePart",
    "InputFunctionCall",
    "InputFunctionCallOutput",
    "InputImagePart",
    "InputItem",
    "InputMessage",
    "InputTextPart",
    "Item",
    "ItemList",
    "ItemStatus",
    "MessageContent",
    "MessageItem",
    "OtherItem",
    "OutputAnnotation",
    "OutputPart",
    "OutputTextPart",
    "RefusalPart",
    "Role",
    "URLCitation",
    "UpdateConversationRequest",
]
