"""Field types shared by API objects and requests: scalars with limits, tools, formats, parts.

They allow extra fields themselves (so responses keep them); request models switch them to
``extra="forbid"`` for the whole tree at validation time.  Validate them on their own with
``FunctionTool.model_validate(data, extra="forbid")`` when that is what you want.

Unions are discriminated by a function whose tags carry a marker (``UNION_TAG``), so that the
emulator can drop them from an error's location when it renders a validation error as the API's
400 (``syncer.emulator.validation_errors``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Strict,
    StringConstraints,
    Tag,
    model_validator,
)

from syncer.api.models.limits import (
    FUNCTION_NAME_PATTERN,
    MAX_CODE_INTERPRETER_FILES,
    MAX_DESCRIPTION_LENGTH,
    MAX_FILE_SEARCH_RESULTS,
    MAX_INSTRUCTIONS_LENGTH,
    MAX_METADATA_KEY_LENGTH,
    MAX_METADATA_PAIRS,
    MAX_METADATA_VALUE_LENGTH,
    MAX_NAME_LENGTH,
    MAX_TEMPERATURE,
    MAX_TOP_P,
    MAX_VECTOR_STORES,
    MIN_FILE_SEARCH_RESULTS,
    MIN_RUN_TOKENS,
    MIN_TEMPERATURE,
    MIN_TOP_P,
    ImageDetail,
)

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
# the emulator can drop them from an error's location: pydantic puts the tag in
# the path ("tools.0.function.function.name"), the API does not ("tools[0].function.name").

UNION_TAG = "§"
# Tags that name a JSON type rather than a "type" value: never listed as supported values.
SHAPE_TAGS = frozenset({"string", "array"})


UNION_TAGS: set[str] = set()  # every tag in use: only these are dropped from error locations


def union_tag(value: str) -> Tag:
    UNION_TAGS.add(UNION_TAG + value)
    return Tag(UNION_TAG + value)


def by_type(fallback: str) -> Callable[[Any], str | None]:
    """Discriminate on ``type``; anything that is not an object goes to ``fallback``.

    Routing non-objects to an object member makes pydantic report "expected an object"
    (invalid_type) rather than a confusing union error.  An object without ``type`` returns
    None: pydantic reports ``union_tag_not_found``, which is the API's missing parameter.
    """

    def discriminate(value: Any) -> str | None:
        if isinstance(value, dict):
            kind = value.get("type")
            return None if kind is None else UNION_TAG + str(kind)
        if isinstance(value, BaseModel):
            return UNION_TAG + str(getattr(value, "type", fallback))
        return UNION_TAG + fallback

    discriminate.__name__ = "type"
    return discriminate


def string_or(object_tag: str, string_tag: str = "string") -> Callable[[Any], str | None]:
    """Discriminate a ``string | object`` union (response_format, tool_choice)."""
    objects = by_type(object_tag)

    def discriminate(value: Any) -> str | None:
        return UNION_TAG + string_tag if isinstance(value, str) else objects(value)

    discriminate.__name__ = "type"
    return discriminate


# --- shared field types -----------------------------------------------------------------------


class APIModel(BaseModel):
    """Base of everything the API sends or takes: keeps fields it does not declare."""

    model_config = ConfigDict(extra="allow", validate_by_name=True, validate_by_alias=True,
                              defer_build=True)

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
    Annotated[CodeInterpreterTool, union_tag("code_interpreter")]
    | Annotated[FileSearchTool, union_tag("file_search")]
    | Annotated[FunctionTool, union_tag("function")],
    Discriminator(by_type("function")),
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
    Annotated[Literal["auto"], union_tag("string")]
    | Annotated[TextResponseFormat, union_tag("text")]
    | Annotated[JSONObjectResponseFormat, union_tag("json_object")]
    | Annotated[JSONSchemaResponseFormat, union_tag("json_schema")],
    Discriminator(string_or("text")),
]


class ToolChoiceFunction(APIModel):
    name: str


class ToolChoiceObject(APIModel):
    type: Literal["function", "code_interpreter", "file_search"]
    function: ToolChoiceFunction | None = None


#: ``"none" | "auto" | "required"`` or a specific tool.
ToolChoice = Annotated[
    Annotated[Literal["none", "auto", "required"], union_tag("string")]
    | Annotated[ToolChoiceObject, union_tag("function")]
    | Annotated[ToolChoiceObject, union_tag("code_interpreter")]
    | Annotated[ToolChoiceObject, union_tag("file_search")],
    Discriminator(string_or("function")),
]


class TruncationStrategy(APIModel):
    type: Literal["auto", "last_messages"]
    last_messages: Annotated[int, Strict(), Field(ge=1)] | None = None


class AttachmentFileSearchTool(APIModel):
    type: Literal["file_search"] = "file_search"


AttachmentTool = Annotated[
    Annotated[CodeInterpreterTool, union_tag("code_interpreter")]
    | Annotated[AttachmentFileSearchTool, union_tag("file_search")],
    Discriminator(by_type("code_interpreter")),
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
    Annotated[TextPart, union_tag("text")]
    | Annotated[ImageFilePart, union_tag("image_file")]
    | Annotated[ImageURLPart, union_tag("image_url")],
    Discriminator(by_type("text")),
]


def content_kind(value: Any) -> str | None:
    if isinstance(value, str):
        return UNION_TAG + "string"
    if isinstance(value, list | tuple):
        return UNION_TAG + "array"
    return None  # reported as invalid_type through custom_error_type below


MessageContentParam = Annotated[
    Annotated[str, union_tag("string")]
    | Annotated[list[ContentPart], Field(min_length=1), union_tag("array")],
    Discriminator(
        content_kind,
        custom_error_type="api_invalid_type",
        custom_error_message="expected one of a string or array of objects",
        custom_error_context={"expected": "one of a string or array of objects"},
    ),
]
