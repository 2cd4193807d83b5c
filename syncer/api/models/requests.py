"""Requests: what the Assistants API takes.

They refuse unknown fields at every depth and check every documented limit, so the same classes
serve the client (a request built as a model fails before it is sent; a plain dict is sent as it
is) and the emulator (which answers the real 400).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from syncer.api.models.fields import (
    AssistantTool,
    Attachment,
    Bool,
    Description,
    Instructions,
    MessageContentParam,
    Metadata,
    Name,
    ResponseFormat,
    RunTokens,
    Temperature,
    ToolChoice,
    ToolResources,
    TopP,
    TruncationStrategy,
)
from syncer.api.models.limits import (
    MAX_RUN_TOOLS,
    MAX_TOOLS,
)
from syncer.canonical import json_data

# --- requests ---------------------------------------------------------------------------------


class APIRequest(BaseModel):
    """Base of request bodies: unknown fields are refused at every depth, limits are checked.

    Build one from keywords or ``model_validate(dict)``; ``to_body()`` gives the JSON body to
    send (only the fields that were set, so "not given" and ``null`` stay distinct).
    """

    model_config = ConfigDict(extra="forbid", validate_by_name=True, validate_by_alias=True,
                              defer_build=True)

    def __init__(self, /, **data: Any) -> None:
        # extra="forbid" for the nested shared types too, which allow extras on responses.
        __tracebackhide__ = True
        self.__pydantic_validator__.validate_python(data, self_instance=self, extra="forbid")

    def to_body(self) -> dict[str, Any]:
        """The JSON request body: the fields that were set, by their API names."""
        body: dict[str, Any] = json_data(self, only_set=True)
        return body


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
