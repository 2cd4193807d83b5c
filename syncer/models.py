"""Pydantic v2 models for the Assistants API v2: the objects it returns and the requests it takes.

Two families, with opposite attitudes to the unexpected:

* **API objects** (``Assistant``, ``Thread``, ``Message``, ``Run``, ``RunStep``, ``DeletedObject``,
  ``ListPage``) keep every field they do not know (``extra="allow"``): the server may be newer
  than syncer, and a mirror must not drop what it was sent.
* **Requests** (``Create…Request``, ``Modify…Request``, ``SubmitToolOutputsRequest``) refuse
  unknown fields at every depth and check every documented limit, so the same classes serve the
  client (a request built as a model fails before it is sent; a plain dict is sent as it is) and
  the emulator (which answers the real 400).  ``api_error_from_validation`` renders a
  ``ValidationError`` as the real API's error body, through a table from pydantic's error types
  to the API's codes and wording.

The reusable field types (``FunctionTool``, ``ToolResources``, …) are shared by both families.
They allow extra fields themselves (so responses keep them); request models switch them to
``extra="forbid"`` for the whole tree at validation time.  Validate them on their own with
``FunctionTool.model_validate(data, extra="forbid")`` when that is what you want.

The limits, as the real service enforced them, are constants below and are mirrored in
``schema/openapi.yaml`` (``tests/test_openapi.py`` keeps the two in agreement).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sized
from dataclasses import dataclass
from typing import Annotated, Any, Generic, Literal, Self, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Strict,
    StringConstraints,
    Tag,
    ValidationError,
    model_validator,
)

# --- limits ---------------------------------------------------------------------------------

MAX_METADATA_PAIRS = 16
MAX_METADATA_KEY_LENGTH = 64
MAX_METADATA_VALUE_LENGTH = 512
MAX_NAME_LENGTH = 256
MAX_DESCRIPTION_LENGTH = 512
MAX_INSTRUCTIONS_LENGTH = 256_000
MAX_TOOLS = 128
MAX_RUN_TOOLS = 20
MAX_CODE_INTERPRETER_FILES = 20
MAX_VECTOR_STORES = 1
FUNCTION_NAME_PATTERN = r"^[a-zA-Z0-9_-]{1,64}$"
MIN_TEMPERATURE, MAX_TEMPERATURE = 0.0, 2.0
MIN_TOP_P, MAX_TOP_P = 0.0, 1.0
MIN_RUN_TOKENS = 256  # max_prompt_tokens / max_completion_tokens lower bound of the real API
MIN_FILE_SEARCH_RESULTS, MAX_FILE_SEARCH_RESULTS = 1, 50

RunStatus = Literal[
    "queued",
    "in_progress",
    "requires_action",
    "cancelling",
    "cancelled",
    "failed",
    "completed",
    "incomplete",
    "expired",
]
RUN_STATUSES: tuple[str, ...] = RunStatus.__args__  # type: ignore[attr-defined]
#: Statuses in which a run keeps its thread busy (new messages and runs are refused).
ACTIVE_RUN_STATUSES = frozenset({"queued", "in_progress", "requires_action", "cancelling"})
#: Statuses a run never leaves.
FINAL_RUN_STATUSES = frozenset({"cancelled", "failed", "completed", "incomplete", "expired"})

RunStepStatus = Literal["in_progress", "cancelled", "failed", "completed", "expired"]
MessageStatus = Literal["in_progress", "incomplete", "completed"]
ImageDetail = Literal["auto", "low", "high"]

# --- scalar types -----------------------------------------------------------------------------
# Strict numbers and booleans: the real API answers "1.5" or true for a number with invalid_type,
# where pydantic's lax mode would quietly convert them.

Int = Annotated[int, Strict()]
Number = Annotated[float, Strict()]
Bool = Annotated[bool, Strict()]

MetadataKey = Annotated[str, StringConstraints(max_length=MAX_METADATA_KEY_LENGTH)]
MetadataValue = Annotated[str, StringConstraints(max_length=MAX_METADATA_VALUE_LENGTH)]
#: Request metadata: at most 16 pairs, keys ≤ 64 characters, values ≤ 512 characters.
Metadata = Annotated[dict[MetadataKey, MetadataValue], Field(max_length=MAX_METADATA_PAIRS)]
Name = Annotated[str, StringConstraints(max_length=MAX_NAME_LENGTH)]
Description = Annotated[str, StringConstraints(max_length=MAX_DESCRIPTION_LENGTH)]
Instructions = Annotated[str, StringConstraints(max_length=MAX_INSTRUCTIONS_LENGTH)]
FunctionName = Annotated[str, StringConstraints(pattern=FUNCTION_NAME_PATTERN)]
Temperature = Annotated[float, Strict(), Field(ge=MIN_TEMPERATURE, le=MAX_TEMPERATURE)]
TopP = Annotated[float, Strict(), Field(ge=MIN_TOP_P, le=MAX_TOP_P)]
RunTokens = Annotated[int, Strict(), Field(ge=MIN_RUN_TOKENS)]

# --- tagged unions ----------------------------------------------------------------------------
# Unions are discriminated by a function whose tags carry a marker, so that
# api_error_from_validation can drop them from an error's location: pydantic puts the tag in
# the path ("tools.0.function.function.name"), the API does not ("tools[0].function.name").

_TAG = "§"
# Tags that name a JSON type rather than a "type" value: never listed as supported values.
_SHAPE_TAGS = frozenset({"string", "array"})


_TAGS: set[str] = set()  # every tag in use: only these are dropped from error locations


def _tag(value: str) -> Tag:
    _TAGS.add(_TAG + value)
    return Tag(_TAG + value)


def _by_type(fallback: str) -> Callable[[Any], str | None]:
    """Discriminate on ``type``; anything that is not an object goes to ``fallback``.

    Routing non-objects to an object member makes pydantic report "expected an object"
    (invalid_type) rather than a confusing union error.  An object without ``type`` returns
    None: pydantic reports ``union_tag_not_found``, which is the API's missing parameter.
    """

    def discriminate(value: Any) -> str | None:
        if isinstance(value, dict):
            kind = value.get("type")
            return None if kind is None else _TAG + str(kind)
        if isinstance(value, BaseModel):
            return _TAG + str(getattr(value, "type", fallback))
        return _TAG + fallback

    discriminate.__name__ = "type"
    return discriminate


def _string_or(object_tag: str, string_tag: str = "string") -> Callable[[Any], str | None]:
    """Discriminate a ``string | object`` union (response_format, tool_choice)."""
    objects = _by_type(object_tag)

    def discriminate(value: Any) -> str | None:
        return _TAG + string_tag if isinstance(value, str) else objects(value)

    discriminate.__name__ = "type"
    return discriminate


# --- shared field types -----------------------------------------------------------------------


class APIModel(BaseModel):
    """Base of everything the API sends or takes: keeps fields it does not declare."""

    model_config = ConfigDict(extra="allow", validate_by_name=True, validate_by_alias=True)

    @model_validator(mode="after")
    def _type_is_always_sent(self) -> Self:
        # A defaulted discriminator (FunctionTool(function=...)) must survive
        # model_dump(exclude_unset=True), or the body would lose its "type".
        if "type" in type(self).model_fields:
            self.__pydantic_fields_set__.add("type")
        return self


class FunctionDefinition(APIModel):
    """A function tool's signature: name, description and JSON Schema parameters."""

    name: FunctionName
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: Bool | None = None


class FunctionTool(APIModel):
    type: Literal["function"] = "function"
    function: FunctionDefinition


class CodeInterpreterTool(APIModel):
    type: Literal["code_interpreter"] = "code_interpreter"


class FileSearchRankingOptions(APIModel):
    ranker: Literal["auto", "default_2024_08_21"] | None = None
    score_threshold: Annotated[float, Strict(), Field(ge=0, le=1)]


class FileSearchOptions(APIModel):
    max_num_results: (
        Annotated[int, Strict(), Field(ge=MIN_FILE_SEARCH_RESULTS, le=MAX_FILE_SEARCH_RESULTS)]
        | None
    ) = None
    ranking_options: FileSearchRankingOptions | None = None


class FileSearchTool(APIModel):
    type: Literal["file_search"] = "file_search"
    file_search: FileSearchOptions | None = None


#: A tool of an assistant or a run, discriminated on ``type``.
AssistantTool = Annotated[
    Annotated[CodeInterpreterTool, _tag("code_interpreter")]
    | Annotated[FileSearchTool, _tag("file_search")]
    | Annotated[FunctionTool, _tag("function")],
    Discriminator(_by_type("function")),
]


class CodeInterpreterResources(APIModel):
    file_ids: Annotated[list[str], Field(max_length=MAX_CODE_INTERPRETER_FILES)] | None = None


class FileSearchResources(APIModel):
    vector_store_ids: Annotated[list[str], Field(max_length=MAX_VECTOR_STORES)] | None = None


class ToolResources(APIModel):
    """Files for code_interpreter (≤ 20) and the vector store for file_search (≤ 1)."""

    code_interpreter: CodeInterpreterResources | None = None
    file_search: FileSearchResources | None = None


class JSONSchemaFormat(APIModel):
    name: FunctionName
    description: str | None = None
    # "schema" would shadow a BaseModel attribute: alias it.
    schema_: dict[str, Any] | None = Field(default=None, alias="schema")
    strict: Bool | None = None


class TextResponseFormat(APIModel):
    type: Literal["text"] = "text"


class JSONObjectResponseFormat(APIModel):
    type: Literal["json_object"] = "json_object"


class JSONSchemaResponseFormat(APIModel):
    type: Literal["json_schema"] = "json_schema"
    json_schema: JSONSchemaFormat


#: ``"auto"`` or ``{"type": "text" | "json_object" | "json_schema", ...}``.
ResponseFormat = Annotated[
    Annotated[Literal["auto"], _tag("string")]
    | Annotated[TextResponseFormat, _tag("text")]
    | Annotated[JSONObjectResponseFormat, _tag("json_object")]
    | Annotated[JSONSchemaResponseFormat, _tag("json_schema")],
    Discriminator(_string_or("text")),
]


class ToolChoiceFunction(APIModel):
    name: str


class ToolChoiceObject(APIModel):
    type: Literal["function", "code_interpreter", "file_search"]
    function: ToolChoiceFunction | None = None


#: ``"none" | "auto" | "required"`` or a specific tool.
ToolChoice = Annotated[
    Annotated[Literal["none", "auto", "required"], _tag("string")]
    | Annotated[ToolChoiceObject, _tag("function")]
    | Annotated[ToolChoiceObject, _tag("code_interpreter")]
    | Annotated[ToolChoiceObject, _tag("file_search")],
    Discriminator(_string_or("function")),
]


class TruncationStrategy(APIModel):
    type: Literal["auto", "last_messages"]
    last_messages: Annotated[int, Strict(), Field(ge=1)] | None = None


class AttachmentFileSearchTool(APIModel):
    type: Literal["file_search"] = "file_search"


AttachmentTool = Annotated[
    Annotated[CodeInterpreterTool, _tag("code_interpreter")]
    | Annotated[AttachmentFileSearchTool, _tag("file_search")],
    Discriminator(_by_type("code_interpreter")),
]


class Attachment(APIModel):
    """A file attached to a message, and the tools it is for."""

    file_id: str | None = None
    tools: list[AttachmentTool] | None = None


class ImageFile(APIModel):
    file_id: str
    detail: ImageDetail | None = None


class ImageURL(APIModel):
    url: str
    detail: ImageDetail | None = None


class Usage(APIModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


# --- request content parts --------------------------------------------------------------------


class TextPart(APIModel):
    type: Literal["text"] = "text"
    text: str


class ImageFilePart(APIModel):
    type: Literal["image_file"] = "image_file"
    image_file: ImageFile


class ImageURLPart(APIModel):
    type: Literal["image_url"] = "image_url"
    image_url: ImageURL


ContentPart = Annotated[
    Annotated[TextPart, _tag("text")]
    | Annotated[ImageFilePart, _tag("image_file")]
    | Annotated[ImageURLPart, _tag("image_url")],
    Discriminator(_by_type("text")),
]


def _content_kind(value: Any) -> str | None:
    if isinstance(value, str):
        return _TAG + "string"
    if isinstance(value, list | tuple):
        return _TAG + "array"
    return None  # reported as invalid_type through custom_error_type below


MessageContentParam = Annotated[
    Annotated[str, _tag("string")]
    | Annotated[list[ContentPart], Field(min_length=1), _tag("array")],
    Discriminator(
        _content_kind,
        custom_error_type="api_invalid_type",
        custom_error_message="expected one of a string or array of objects",
        custom_error_context={"expected": "one of a string or array of objects"},
    ),
]

# --- API objects ------------------------------------------------------------------------------


class Assistant(APIModel):
    id: str
    object: Literal["assistant"] = "assistant"
    created_at: int
    name: str | None = None
    description: str | None = None
    model: str
    instructions: str | None = None
    tools: list[AssistantTool] = Field(default_factory=list)
    tool_resources: ToolResources | None = None
    metadata: dict[str, Any] | None = None
    temperature: float | None = None
    top_p: float | None = None
    response_format: ResponseFormat | None = None


class Thread(APIModel):
    id: str
    object: Literal["thread"] = "thread"
    created_at: int
    metadata: dict[str, Any] | None = None
    tool_resources: ToolResources | None = None


class FileCitation(APIModel):
    file_id: str
    quote: str | None = None


class FileCitationAnnotation(APIModel):
    type: Literal["file_citation"] = "file_citation"
    text: str
    file_citation: FileCitation
    start_index: int
    end_index: int


class FilePath(APIModel):
    file_id: str


class FilePathAnnotation(APIModel):
    type: Literal["file_path"] = "file_path"
    text: str
    file_path: FilePath
    start_index: int
    end_index: int


Annotation = Annotated[FileCitationAnnotation | FilePathAnnotation, Field(discriminator="type")]


class Text(APIModel):
    value: str
    annotations: list[Annotation] = Field(default_factory=list)


class TextContent(APIModel):
    type: Literal["text"] = "text"
    text: Text


class ImageFileContent(APIModel):
    type: Literal["image_file"] = "image_file"
    image_file: ImageFile


class ImageURLContent(APIModel):
    type: Literal["image_url"] = "image_url"
    image_url: ImageURL


class RefusalContent(APIModel):
    type: Literal["refusal"] = "refusal"
    refusal: str


MessageContent = Annotated[
    TextContent | ImageFileContent | ImageURLContent | RefusalContent,
    Field(discriminator="type"),
]


class MessageIncompleteDetails(APIModel):
    reason: Literal["content_filter", "max_tokens", "run_cancelled", "run_expired", "run_failed"]


class Message(APIModel):
    id: str
    object: Literal["thread.message"] = "thread.message"
    created_at: int
    thread_id: str
    status: MessageStatus | None = None
    incomplete_details: MessageIncompleteDetails | None = None
    completed_at: int | None = None
    incomplete_at: int | None = None
    role: Literal["user", "assistant"]
    content: list[MessageContent] = Field(default_factory=list)
    assistant_id: str | None = None
    run_id: str | None = None
    attachments: list[Attachment] | None = None
    metadata: dict[str, Any] | None = None

    @property
    def text(self) -> str:
        """The message's text parts joined by blank lines (what search and transcripts show)."""
        return "\n\n".join(p.text.value for p in self.content if isinstance(p, TextContent))


class FunctionCall(APIModel):
    """The function a run asks for: ``arguments`` is a JSON string."""

    name: str
    arguments: str


class RequiredActionToolCall(APIModel):
    id: str
    type: Literal["function"] = "function"
    function: FunctionCall


class SubmitToolOutputsAction(APIModel):
    tool_calls: list[RequiredActionToolCall]


class RequiredAction(APIModel):
    type: Literal["submit_tool_outputs"] = "submit_tool_outputs"
    submit_tool_outputs: SubmitToolOutputsAction


class LastError(APIModel):
    code: Literal["server_error", "rate_limit_exceeded", "invalid_prompt"]
    message: str


class RunIncompleteDetails(APIModel):
    reason: Literal["max_completion_tokens", "max_prompt_tokens"] | None = None


class Run(APIModel):
    id: str
    object: Literal["thread.run"] = "thread.run"
    created_at: int
    thread_id: str
    assistant_id: str
    status: RunStatus
    required_action: RequiredAction | None = None
    last_error: LastError | None = None
    expires_at: int | None = None
    started_at: int | None = None
    cancelled_at: int | None = None
    failed_at: int | None = None
    completed_at: int | None = None
    incomplete_details: RunIncompleteDetails | None = None
    model: str
    instructions: str | None = None
    tools: list[AssistantTool] = Field(default_factory=list)
    metadata: dict[str, Any] | None = None
    usage: Usage | None = None
    temperature: float | None = None
    top_p: float | None = None
    max_prompt_tokens: int | None = None
    max_completion_tokens: int | None = None
    truncation_strategy: TruncationStrategy | None = None
    tool_choice: ToolChoice | None = None
    parallel_tool_calls: bool = True
    response_format: ResponseFormat | None = None

    @property
    def is_active(self) -> bool:
        """True while the run keeps its thread busy."""
        return self.status in ACTIVE_RUN_STATUSES


class MessageCreation(APIModel):
    message_id: str


class MessageCreationStepDetails(APIModel):
    type: Literal["message_creation"] = "message_creation"
    message_creation: MessageCreation


class FunctionToolCallDetails(APIModel):
    """A function call as a run step records it: ``output`` is null until submitted."""

    name: str
    arguments: str
    output: str | None = None


class FunctionToolCall(APIModel):
    id: str
    type: Literal["function"] = "function"
    function: FunctionToolCallDetails


class CodeInterpreterLogsOutput(APIModel):
    type: Literal["logs"] = "logs"
    logs: str


class CodeInterpreterImage(APIModel):
    file_id: str


class CodeInterpreterImageOutput(APIModel):
    type: Literal["image"] = "image"
    image: CodeInterpreterImage


CodeInterpreterOutput = Annotated[
    CodeInterpreterLogsOutput | CodeInterpreterImageOutput, Field(discriminator="type")
]


class CodeInterpreterCall(APIModel):
    input: str
    outputs: list[CodeInterpreterOutput] = Field(default_factory=list)


class CodeInterpreterToolCall(APIModel):
    id: str
    type: Literal["code_interpreter"] = "code_interpreter"
    code_interpreter: CodeInterpreterCall


class FileSearchResultContent(APIModel):
    type: Literal["text"] | None = None
    text: str | None = None


class FileSearchResult(APIModel):
    file_id: str
    file_name: str
    score: float
    content: list[FileSearchResultContent] | None = None


class FileSearchCall(APIModel):
    ranking_options: FileSearchRankingOptions | None = None
    results: list[FileSearchResult] | None = None


class FileSearchToolCall(APIModel):
    id: str
    type: Literal["file_search"] = "file_search"
    file_search: FileSearchCall


ToolCall = Annotated[
    FunctionToolCall | CodeInterpreterToolCall | FileSearchToolCall, Field(discriminator="type")
]


class ToolCallsStepDetails(APIModel):
    type: Literal["tool_calls"] = "tool_calls"
    tool_calls: list[ToolCall] = Field(default_factory=list)


StepDetails = Annotated[
    MessageCreationStepDetails | ToolCallsStepDetails, Field(discriminator="type")
]


class RunStepLastError(APIModel):
    code: Literal["server_error", "rate_limit_exceeded"]
    message: str


class RunStep(APIModel):
    id: str
    object: Literal["thread.run.step"] = "thread.run.step"
    created_at: int
    assistant_id: str
    thread_id: str
    run_id: str
    type: Literal["message_creation", "tool_calls"]
    status: RunStepStatus
    step_details: StepDetails
    last_error: RunStepLastError | None = None
    expired_at: int | None = None
    cancelled_at: int | None = None
    failed_at: int | None = None
    completed_at: int | None = None
    metadata: dict[str, Any] | None = None
    usage: Usage | None = None


class DeletedObject(APIModel):
    """What DELETE answers: ``{"id", "object": "assistant.deleted", "deleted": true}``."""

    id: str
    object: Literal["assistant.deleted", "thread.deleted", "thread.message.deleted"]
    deleted: bool


class ErrorDetail(APIModel):
    """The content of an error body's ``"error"`` key."""

    message: str
    type: str
    param: str | None = None
    code: str | None = None


class ErrorResponse(APIModel):
    """Every error answer: ``{"error": {"message", "type", "param", "code"}}``."""

    error: ErrorDetail


T = TypeVar("T")


class ListPage(APIModel, Generic[T]):
    """One page of a list endpoint. ``first_id``/``last_id`` are null on an empty page."""

    object: Literal["list"] = "list"
    data: list[T] = Field(default_factory=list)
    first_id: str | None = None
    last_id: str | None = None
    has_more: bool = False


# --- requests ---------------------------------------------------------------------------------


class APIRequest(BaseModel):
    """Base of request bodies: unknown fields are refused at every depth, limits are checked.

    Build one from keywords or ``model_validate(dict)``; ``to_body()`` gives the JSON body to
    send (only the fields that were set, so "not given" and ``null`` stay distinct).
    """

    model_config = ConfigDict(extra="forbid", validate_by_name=True, validate_by_alias=True)

    def __init__(self, /, **data: Any) -> None:
        # extra="forbid" for the nested shared types too, which allow extras on responses.
        __tracebackhide__ = True
        self.__pydantic_validator__.validate_python(data, self_instance=self, extra="forbid")

    def to_body(self) -> dict[str, Any]:
        """The JSON request body: the fields that were set, by their API names."""
        return self.model_dump(mode="json", by_alias=True, exclude_unset=True)


class CreateAssistantRequest(APIRequest):
    model: str
    name: Name | None = None
    description: Description | None = None
    instructions: Instructions | None = None
    tools: Annotated[list[AssistantTool], Field(max_length=MAX_TOOLS)] | None = None
    tool_resources: ToolResources | None = None
    metadata: Metadata | None = None
    temperature: Temperature | None = None
    top_p: TopP | None = None
    response_format: ResponseFormat | None = None
    reasoning_effort: Literal["low", "medium", "high"] | None = None


class ModifyAssistantRequest(APIRequest):
    model: str | None = None
    name: Name | None = None
    description: Description | None = None
    instructions: Instructions | None = None
    tools: Annotated[list[AssistantTool], Field(max_length=MAX_TOOLS)] | None = None
    tool_resources: ToolResources | None = None
    metadata: Metadata | None = None
    temperature: Temperature | None = None
    top_p: TopP | None = None
    response_format: ResponseFormat | None = None
    reasoning_effort: Literal["low", "medium", "high"] | None = None


class CreateMessageRequest(APIRequest):
    role: Literal["user", "assistant"]
    content: MessageContentParam
    attachments: list[Attachment] | None = None
    metadata: Metadata | None = None


class ModifyMessageRequest(APIRequest):
    metadata: Metadata | None = None


class ModifyRunRequest(APIRequest):
    metadata: Metadata | None = None


class CreateThreadRequest(APIRequest):
    messages: list[CreateMessageRequest] | None = None
    metadata: Metadata | None = None
    tool_resources: ToolResources | None = None


class ModifyThreadRequest(APIRequest):
    metadata: Metadata | None = None
    tool_resources: ToolResources | None = None


class _RunOptions(APIRequest):
    """What create-run and create-thread-and-run share."""

    assistant_id: str
    model: str | None = None
    instructions: Instructions | None = None
    tools: Annotated[list[AssistantTool], Field(max_length=MAX_RUN_TOOLS)] | None = None
    metadata: Metadata | None = None
    temperature: Temperature | None = None
    top_p: TopP | None = None
    max_prompt_tokens: RunTokens | None = None
    max_completion_tokens: RunTokens | None = None
    truncation_strategy: TruncationStrategy | None = None
    tool_choice: ToolChoice | None = None
    parallel_tool_calls: Bool | None = None
    response_format: ResponseFormat | None = None
    stream: Bool | None = None


class CreateRunRequest(_RunOptions):
    additional_instructions: Instructions | None = None
    additional_messages: list[CreateMessageRequest] | None = None
    reasoning_effort: Literal["low", "medium", "high"] | None = None


class CreateThreadAndRunRequest(_RunOptions):
    thread: CreateThreadRequest | None = None
    tool_resources: ToolResources | None = None


class ToolOutput(APIRequest):
    tool_call_id: str | None = None
    output: str | None = None


class SubmitToolOutputsRequest(APIRequest):
    tool_outputs: list[ToolOutput]
    stream: Bool | None = None


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
        elif part in _TAGS:
            continue
        else:
            text += f".{part}" if text else part
    return text or None


def _facts(error: dict[str, Any], param: str | None) -> dict[str, Any]:
    """Everything a message template may mention."""
    ctx = error.get("ctx") or {}
    value = error.get("input")
    allowed_text = ctx.get("expected") or ctx.get("expected_tags") or ""
    allowed = [a.removeprefix(_TAG) for a in re.findall(r"'([^']*)'", str(allowed_text))]
    if error["type"] == "union_tag_invalid":
        allowed = [a for a in allowed if a not in _SHAPE_TAGS]
    tag = ctx.get("tag")
    shown = tag.removeprefix(_TAG) if isinstance(tag, str) else value
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


__all__ = [
    "ACTIVE_RUN_STATUSES",
    "FINAL_RUN_STATUSES",
    "FUNCTION_NAME_PATTERN",
    "MAX_CODE_INTERPRETER_FILES",
    "MAX_DESCRIPTION_LENGTH",
    "MAX_FILE_SEARCH_RESULTS",
    "MAX_INSTRUCTIONS_LENGTH",
    "MAX_METADATA_KEY_LENGTH",
    "MAX_METADATA_PAIRS",
    "MAX_METADATA_VALUE_LENGTH",
    "MAX_NAME_LENGTH",
    "MAX_RUN_TOOLS",
    "MAX_TEMPERATURE",
    "MAX_TOOLS",
    "MAX_TOP_P",
    "MAX_VECTOR_STORES",
    "MIN_FILE_SEARCH_RESULTS",
    "MIN_RUN_TOKENS",
    "MIN_TEMPERATURE",
    "MIN_TOP_P",
    "RUN_STATUSES",
    "APIModel",
    "APIRequest",
    "Annotation",
    "Assistant",
    "AssistantTool",
    "Attachment",
    "AttachmentFileSearchTool",
    "AttachmentTool",
    "Bool",
    "CodeInterpreterCall",
    "CodeInterpreterImage",
    "CodeInterpreterImageOutput",
    "CodeInterpreterLogsOutput",
    "CodeInterpreterOutput",
    "CodeInterpreterResources",
    "CodeInterpreterTool",
    "CodeInterpreterToolCall",
    "ContentPart",
    "CreateAssistantRequest",
    "CreateMessageRequest",
    "CreateRunRequest",
    "CreateThreadAndRunRequest",
    "CreateThreadRequest",
    "DeletedObject",
    "Description",
    "ErrorDetail",
    "ErrorResponse",
    "FileCitation",
    "FileCitationAnnotation",
    "FilePath",
    "FilePathAnnotation",
    "FileSearchCall",
    "FileSearchOptions",
    "FileSearchRankingOptions",
    "FileSearchResources",
    "FileSearchResult",
    "FileSearchResultContent",
    "FileSearchTool",
    "FileSearchToolCall",
    "FunctionCall",
    "FunctionDefinition",
    "FunctionName",
    "FunctionTool",
    "FunctionToolCall",
    "FunctionToolCallDetails",
    "ImageDetail",
    "ImageFile",
    "ImageFileContent",
    "ImageFilePart",
    "ImageURL",
    "ImageURLContent",
    "ImageURLPart",
    "Instructions",
    "Int",
    "JSONObjectResponseFormat",
    "JSONSchemaFormat",
    "JSONSchemaResponseFormat",
    "LastError",
    "ListPage",
    "Message",
    "MessageContent",
    "MessageContentParam",
    "MessageCreation",
    "MessageCreationStepDetails",
    "MessageIncompleteDetails",
    "MessageStatus",
    "Metadata",
    "MetadataKey",
    "MetadataValue",
    "ModifyAssistantRequest",
    "ModifyMessageRequest",
    "ModifyRunRequest",
    "ModifyThreadRequest",
    "Name",
    "Number",
    "RefusalContent",
    "RequiredAction",
    "RequiredActionToolCall",
    "ResponseFormat",
    "Run",
    "RunIncompleteDetails",
    "RunStatus",
    "RunStep",
    "RunStepLastError",
    "RunStepStatus",
    "RunTokens",
    "StepDetails",
    "SubmitToolOutputsAction",
    "SubmitToolOutputsRequest",
    "Temperature",
    "Text",
    "TextContent",
    "TextPart",
    "TextResponseFormat",
    "Thread",
    "ToolCall",
    "ToolCallsStepDetails",
    "ToolChoice",
    "ToolChoiceFunction",
    "ToolChoiceObject",
    "ToolOutput",
    "ToolResources",
    "TopP",
    "TruncationStrategy",
    "Usage",
    "api_error_from_validation",
    "error_param",
    "json_type_name",
]
