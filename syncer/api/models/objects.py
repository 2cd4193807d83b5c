"""API objects: what the Assistants API returns.

They keep every field they do not know (``extra="allow"``): the server may be newer than syncer,
and a mirror must not drop what it was sent.
"""

from __future__ import annotations

from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import Field

from syncer.api.models.fields import (
    APIModel,
    AssistantTool,
    Attachment,
    FileSearchRankingOptions,
    ImageFile,
    ImageURL,
    ResponseFormat,
    ToolChoice,
    ToolResources,
    TruncationStrategy,
    Usage,
)
from syncer.api.models.limits import (
    ACTIVE_RUN_STATUSES,
    MessageStatus,
    RunStatus,
    RunStepStatus,
)

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
