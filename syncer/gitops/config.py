"""Assistant config files: a directory of YAML → validated configs that remember their lines.

One assistant per YAML document; a file may hold several documents. Loading happens in three
passes so that every problem in every file is reported at once, before any API call:

1. parse each ``*.yaml``/``*.yml`` file of the target (:mod:`syncer.gitops.tree`: a directory
   read recursively, or one file) with ruamel.yaml (round-trip mode keeps the line and
   column of every key and item), expanding ``${VAR}`` / ``${VAR:-default}`` in string values.
   Configs are plain data: anchors and aliases (an alias bomb expands a few lines into
   gigabytes) and tags beyond the core schema (``!!python/...``, ``!include``) are refused from
   the event stream, before anything is built. Only ``SYNCER_VAR_*`` variables and those named
   with ``--allow-env`` expand; keys and connection settings never do (:data:`SECRET_VARIABLES`);
2. validate each document against :class:`AssistantConfig` (the API's own limits come from
   ``syncer.api.models``) and read its ``instructions_file``;
3. check names are unique across all documents.

Problems are ``path:line: field: message`` strings collected into one :class:`ConfigError`.
"""

from __future__ import annotations

import functools
import itertools
import os
import re
import stat
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
)
from pydantic_core import ErrorDetails
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq, TaggedScalar
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from syncer import markers
from syncer.api.models import (
    MAX_INSTRUCTIONS_LENGTH,
    MAX_METADATA_PAIRS,
    MAX_TEMPERATURE,
    MAX_TOOLS,
    MAX_TOP_P,
    MIN_TEMPERATURE,
    MIN_TOP_P,
    AssistantTool,
    Description,
    Instructions,
    Metadata,
    Name,
    ResponseFormat,
    ToolResources,
)
from syncer.canonical import json_data
from syncer.errors import ConfigError, UsageError, validation_message
from syncer.gitops.tree import config_files, config_root, find_scope, unsupported_yaml

#: A config file larger than this is refused unread (instructions hold at most 256,000
#: characters; YAML is parsed at about a megabyte a second).
MAX_CONFIG_FILE_BYTES = 4 * 1024 * 1024
DEFAULT_DIRECTORY = "assistants"

#: The marker takes one of the API's metadata slots.
MAX_CONFIG_METADATA_PAIRS = MAX_METADATA_PAIRS - 1

#: The API fields a config may set, in the order files and plans show them.
API_FIELDS = (
    "name",
    "model",
    "description",
    "instructions",
    "tools",
    "tool_resources",
    "temperature",
    "top_p",
    "response_format",
    "metadata",
)

Location = tuple[str | int, ...]


def _not_bool(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError("Input should be a number, not true/false")
    return value


#: Numbers may also come as text (from a variable), but never as true/false.
_NOT_BOOL = BeforeValidator(_not_bool)


class AssistantConfig(BaseModel):
    """One assistant as written in a config file (the API's create body, plus ``instructions_file``).

    ``tools``, ``tool_resources`` and ``response_format`` take exactly the API's JSON shape.
    """

    model_config = ConfigDict(
        extra="forbid",
        title="syncer assistant config",
        json_schema_extra={
            "description": "One assistant managed by `syncer plan/apply`. A YAML file may hold "
            "several documents, one assistant each. String values may use ${VAR}, "
            "${VAR:-default} and $${ for a literal ${.",
        },
    )

    name: Annotated[
        Name,
        Field(
            min_length=1,
            description="The assistant's name; also its identity under syncer's management.",
        ),
    ]
    model: Annotated[str, Field(min_length=1, description="The model id, e.g. gpt-4o.")]
    description: Description | None = None
    instructions: Annotated[Instructions | None, Field(description="The system instructions.")] = (
        None
    )
    instructions_file: Annotated[
        str | None,
        Field(
            min_length=1,
            description="A file holding the instructions, relative to this YAML file; it must "
            "stay inside the config directory. Excludes `instructions`.",
        ),
    ] = None
    tools: Annotated[list[AssistantTool] | None, Field(max_length=MAX_TOOLS)] = None
    tool_resources: ToolResources | None = None
    # Not the API's strict number types: "${TEMPERATURE:-0.2}" expands to a string.
    temperature: (
        Annotated[float, Field(ge=MIN_TEMPERATURE, le=MAX_TEMPERATURE), _NOT_BOOL] | None
    ) = None
    top_p: Annotated[float, Field(ge=MIN_TOP_P, le=MAX_TOP_P), _NOT_BOOL] | None = None
    response_format: ResponseFormat | None = None
    metadata: Annotated[
        Metadata | None,
        Field(
            description=f"At most {MAX_CONFIG_METADATA_PAIRS} pairs (syncer's marker takes one "
            f"slot); keys starting with `{markers.PREFIX}` are reserved.",
        ),
    ] = None

    @field_validator("metadata", mode="before")
    @classmethod
    def _room_for_marker(cls, value: Any) -> Any:
        # Checked before the shared Metadata type so that 16 or 17 pairs get the message that
        # explains the real limit here (15), not the API's 16.
        if isinstance(value, dict):
            reserved = sorted(
                k for k in value if isinstance(k, str) and k.startswith(markers.PREFIX)
            )
            if reserved:
                raise ValueError(
                    f"keys starting with '{markers.PREFIX}' are reserved for syncer: {', '.join(reserved)}"
                )
            if len(value) > MAX_CONFIG_METADATA_PAIRS:
                raise ValueError(
                    f"too many metadata pairs: {len(value)}; at most {MAX_CONFIG_METADATA_PAIRS} "
                    f"fit next to syncer's marker '{markers.MANAGED}' (the API allows {MAX_METADATA_PAIRS})"
                )
        return value


@dataclass
class LoadedConfig:
    """A validated config document and where it came from."""

    name: str
    path: Path  # the YAML file, as the user's directory argument spells it
    line: int  # 1-based line of the document's first key
    #: The API fields the file sets (instructions read from instructions_file), in API JSON shape.
    fields: dict[str, Any]
    lines: dict[str, int] = field(default_factory=dict)  # top-level field → 1-based line
    scope: str | None = None  # the config directory's ownership scope (syncer.yaml / --scope)

    @property
    def where(self) -> str:
        return f"{self.path}:{self.line}"

    def markers(self) -> dict[str, str]:
        """syncer's ownership keys for this config's assistant."""
        keys = {markers.MANAGED: self.name}
        if self.scope is not None:
            keys[markers.SCOPE] = self.scope
        return keys

    def body(self) -> dict[str, Any]:
        """The create request body: the file's fields plus syncer's ownership markers."""
        body = dict(self.fields)
        body["metadata"] = {**(self.fields.get("metadata") or {}), **self.markers()}
        return body


# --- ${VAR} expansion --------------------------------------------------------------------------

_REFERENCE = re.compile(r"\$\$\{|\$\{([^}]*)\}|\$\{")
_VARIABLE = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)(?::-(.*))?", re.DOTALL)
_VARIABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

#: A config may read these variables without being told (a file merged into the repository must
#: not be able to copy CI secrets to the server: the allow-list is opt-in).
VARIABLE_PREFIX = "SYNCER_VAR_"
#: Never readable from a config, not even with --allow-env: the keys and the connection.
SECRET_VARIABLES = ("SYNCER_BACKEND_API_KEY", "SYNCER_JUDGE_API_KEY", "SYNCER_EMULATOR_API_KEY")
SECRET_PREFIXES = ("OPENAI_",)


class _ExpansionError(ValueError):
    pass


def is_secret_variable(name: str) -> bool:
    """Whether ``name`` holds a key or a connection setting (never expanded in a config)."""
    return name in SECRET_VARIABLES or name.startswith(SECRET_PREFIXES)


def check_allow_env(names: Iterable[str]) -> frozenset[str]:
    """The ``--allow-env`` names, checked: variable names, none of them a secret."""
    allowed = set()
    for name in names:
        if not _VARIABLE_NAME.fullmatch(name):
            raise UsageError(f"--allow-env {name!r}: not a variable name")
        if is_secret_variable(name):
            raise UsageError(
                f"--allow-env {name}: keys and connection settings can never be read by a config"
            )
        allowed.add(name)
    return frozenset(allowed)


def expand_variables(
    text: str,
    environ: Mapping[str, str] | None = None,
    allow_env: Collection[str] = (),
) -> str:
    """``text`` with ``${VAR}`` and ``${VAR:-default}`` replaced; ``$${`` becomes a literal ``${``.

    Only ``SYNCER_VAR_*`` and the ``allow_env`` names may be read, never a secret. Raises
    ``ValueError`` naming the variable when it may not be read, or is unset with no default.
    """
    env = os.environ if environ is None else environ

    def replace(match: re.Match[str]) -> str:
        whole = match.group(0)
        if whole == "$${":
            return "${"
        body = match.group(1)
        if body is None:
            raise _ExpansionError("unclosed '${' (write '$${' for a literal '${')")
        variable = _VARIABLE.fullmatch(body)
        if not variable:
            raise _ExpansionError(f"malformed variable reference '${{{body}}}'")
        name, default = variable.group(1), variable.group(2)
        # Checked before the value is looked at, defaults included: what a file may read must
        # not depend on what happens to be set.
        if is_secret_variable(name):
            raise _ExpansionError(
                f"environment variable {name} is never readable from a config (keys and "
                "connection settings stay out of configs)"
            )
        if not name.startswith(VARIABLE_PREFIX) and name not in allow_env:
            raise _ExpansionError(
                f"environment variable {name} is not allowed in configs (use a {VARIABLE_PREFIX} "
                f"name, or allow it with --allow-env {name})"
            )
        value = env.get(name)
        # Like the shell's ${VAR:-default}: the default also covers a set-but-empty variable.
        if value is None or (value == "" and default is not None):
            if default is None:
                raise _ExpansionError(
                    f"environment variable {name} is not set (and no default given)"
                )
            return default
        return value

    return _REFERENCE.sub(replace, text)


# --- YAML → plain data with a line for every location --------------------------------------------


def _plain(
    node: Any,
    loc: Location,
    lines: dict[Location, int],
    line: int,
    problems: list[tuple[Location, int, str]],
    expand: Callable[[str], str],
) -> Any:
    """Plain Python data from a ruamel node; records 1-based lines and expansion problems."""
    lines[loc] = line
    if isinstance(node, CommentedMap):
        out: dict[Any, Any] = {}
        for key, value in node.items():
            key_line = node.lc.key(key)[0] + 1 if key in node.lc.data else line
            out[key] = _plain(value, (*loc, key), lines, key_line, problems, expand)
        return out
    if isinstance(node, CommentedSeq):
        items = []
        for index, value in enumerate(node):
            item_line = node.lc.item(index)[0] + 1 if index in node.lc.data else line
            items.append(_plain(value, (*loc, index), lines, item_line, problems, expand))
        return items
    if isinstance(node, TaggedScalar):
        node = str(node.value)  # !!str 5: the only tagged scalar the event check lets through
    if isinstance(node, str):
        try:
            return expand(str(node))
        except _ExpansionError as error:
            problems.append((loc, line, str(error)))
            return str(node)
    if isinstance(node, bool) or node is None:
        return node
    if isinstance(node, int):
        return int(node)
    if isinstance(node, float):
        return float(node)
    return node  # dates and other YAML types: pydantic reports them as the wrong type


def _field_name(loc: Location) -> str:
    """``tools[0].function.name`` for ``("tools", 0, "function", "name")``."""
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text or "(document)"


def _data_location(data: Any, loc: Location) -> Location:
    """The part of a pydantic error location that exists in the data.

    Pydantic puts union tags ("function", "function-after[...]", "str") into locations; they
    name no key of the file, so they are dropped to find the file's field and line.
    """
    kept: list[str | int] = []
    current = data
    for part in loc:
        in_dict = isinstance(current, dict) and part in current
        in_list = isinstance(current, list) and isinstance(part, int) and 0 <= part < len(current)
        if in_dict or in_list:
            current = current[part]
            kept.append(part)
    return tuple(kept)


def _message(error: ErrorDetails) -> str:
    kind = error.get("type", "")
    context = error.get("ctx") or {}
    if kind == "extra_forbidden":
        return "unknown field"
    if kind == "missing":
        return "required field is missing"
    if kind == "union_tag_invalid":
        expected = str(context.get("expected_tags", "")).replace("§", "")
        return f"unknown type {str(context.get('tag', '')).replace('§', '')!r}; expected one of {expected}"
    if kind == "union_tag_not_found":
        return "an object with a 'type' field is required"
    return validation_message(error).replace("§", "")


# --- files → configs -----------------------------------------------------------------------------


@dataclass
class _Document:
    path: Path
    line: int
    data: Any
    lines: dict[Location, int]


def _parse_file(path: Path, problems: list[str], expand: Callable[[str], str]) -> list[_Document]:
    yaml = YAML(typ="rt")
    try:
        info = path.stat()
    except OSError as error:
        problems.append(f"{path}:1: (file): cannot read: {error.strerror}")
        return []
    if not stat.S_ISREG(info.st_mode):
        problems.append(f"{path}:1: (file): not a regular file")
        return []
    if info.st_size > MAX_CONFIG_FILE_BYTES:
        problems.append(
            f"{path}:1: (file): {info.st_size:,} bytes; a config file is at most "
            f"{MAX_CONFIG_FILE_BYTES:,} bytes (4 MiB)"
        )
        return []
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        line = error.object[: error.start].count(b"\n") + 1
        problems.append(
            f"{path}:{line}: (file): not UTF-8 text ({error.reason} at byte {error.start})"
        )
        return []
    except OSError as error:
        problems.append(f"{path}:1: (file): cannot read: {error.strerror}")
        return []
    documents: list[_Document] = []
    try:
        unsupported = unsupported_yaml(yaml, text)
        if unsupported:
            problems.extend(f"{path}:{line}: (yaml): {message}" for line, message in unsupported)
            return []
        for index, node in enumerate(yaml.load_all(text)):
            if node is None:
                continue  # an empty document (e.g. a trailing ---)
            if not isinstance(node, CommentedMap):
                # A plain value has no line of its own; composing the stream again finds it.
                # (Only as far as this document: a later syntax error is reported below.)
                composed = next(itertools.islice(YAML().compose_all(text), index, None))
                line = composed.start_mark.line + 1
                kind = "a list" if isinstance(node, CommentedSeq) else f"a single value ({node!r})"
                problems.append(
                    f"{path}:{line}: (document): expected a mapping of assistant fields, got {kind}"
                )
                continue
            start = node.lc.line + 1 if node.lc.line is not None else 1
            lines: dict[Location, int] = {}
            expansion: list[tuple[Location, int, str]] = []
            data = _plain(node, (), lines, start, expansion, expand)
            for loc, at, message in expansion:
                problems.append(f"{path}:{at}: {_field_name(loc)}: {message}")
            documents.append(_Document(path, start, data, lines))
    except MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        where = f"{mark.line + 1}:{mark.column + 1}" if mark else "1:1"
        what = error.problem or error.context or "invalid YAML"
        problems.append(f"{path}:{where}: (yaml): syntax error: {' '.join(str(what).split())}")
    except YAMLError as error:
        problems.append(f"{path}:1: (yaml): syntax error: {' '.join(str(error).split())}")
    return documents


def _instructions_from_file(
    doc: _Document, relative: str, root: Path, problems: list[str]
) -> str | None:
    at = f"{doc.path}:{doc.lines.get(('instructions_file',), doc.line)}: instructions_file"
    if Path(relative).is_absolute():
        problems.append(f"{at}: must be a path relative to the YAML file, got {relative!r}")
        return None
    target = (doc.path.parent / relative).resolve()
    # resolve() follows symlinks, so a link pointing outside the directory is caught too.
    if not target.is_relative_to(root):
        problems.append(f"{at}: {relative!r} is outside the config directory")
        return None
    if not target.is_file():
        problems.append(f"{at}: {relative!r} does not exist or is not a file")
        return None
    try:
        text = target.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        problems.append(f"{at}: cannot read {relative!r}: {error}")
        return None
    if len(text) > MAX_INSTRUCTIONS_LENGTH:
        problems.append(
            f"{at}: {relative!r} holds {len(text)} characters; instructions allow at most {MAX_INSTRUCTIONS_LENGTH}"
        )
        return None
    return text


def _validate(
    doc: _Document, root: Path, scope: str | None, problems: list[str]
) -> LoadedConfig | None:
    before = len(problems)
    try:
        # extra="forbid" reaches into the shared tool types too (they allow extras on responses).
        config = AssistantConfig.model_validate(doc.data, extra="forbid")
    except ValidationError as error:
        for item in error.errors():
            raw = tuple(item["loc"])
            if item.get("type") == "missing" and raw:
                # The missing key is not in the file: report it at its parent's line.
                parent = _data_location(doc.data, raw[:-1])
                loc, line = (*parent, raw[-1]), doc.lines.get(parent, doc.line)
            else:
                loc = _data_location(doc.data, raw)
                if item.get("type") == "union_tag_invalid":
                    loc = (*loc, "type")  # the tag names a type no union member has
                line = doc.lines.get(loc, doc.lines.get(loc[:-1], doc.line))
            problems.append(f"{doc.path}:{line}: {_field_name(loc)}: {_message(item)}")
        return None
    # The validated values in the API's JSON shape ("0.2" from a variable becomes 0.2).
    dumped = json_data(config, only_set=True)
    fields = {key: dumped[key] for key in API_FIELDS if dumped.get(key) is not None}
    if config.instructions_file is not None and config.instructions is not None:
        line = doc.lines.get(("instructions_file",), doc.line)
        problems.append(
            f"{doc.path}:{line}: instructions_file: set either instructions or instructions_file, not both"
        )
    elif config.instructions_file is not None:
        text = _instructions_from_file(doc, config.instructions_file, root, problems)
        if text is not None:
            fields["instructions"] = text
    pairs = len(fields.get("metadata") or {})
    if scope is not None and pairs > MAX_METADATA_PAIRS - 2:
        line = doc.lines.get(("metadata",), doc.line)
        problems.append(
            f"{doc.path}:{line}: metadata: too many metadata pairs: {pairs}; at most "
            f"{MAX_METADATA_PAIRS - 2} fit next to syncer's markers '{markers.MANAGED}' and "
            f"'{markers.SCOPE}' (the API allows {MAX_METADATA_PAIRS})"
        )
    if len(problems) > before:
        return None
    fields = {key: fields[key] for key in API_FIELDS if key in fields}  # the API's field order
    top_lines = {str(loc[0]): line for loc, line in doc.lines.items() if len(loc) == 1}
    return LoadedConfig(
        name=config.name, path=doc.path, line=doc.line, fields=fields, lines=top_lines,
        scope=scope,
    )


def load_configs(
    target: str | Path,
    environ: Mapping[str, str] | None = None,
    *,
    allow_env: Iterable[str] = (),
    scope: str | None = None,
) -> list[LoadedConfig]:
    """Every config under ``target`` (a directory, read recursively, or one file), validated;
    raises :class:`ConfigError` with all problems (see :mod:`syncer.gitops.tree`).

    ``allow_env`` names variables the files may read besides ``SYNCER_VAR_*`` (``--allow-env``);
    ``scope`` is ``--scope`` (else the config root's ``syncer.yaml`` gives it).
    """
    expand = functools.partial(
        expand_variables, environ=environ, allow_env=check_allow_env(allow_env)
    )
    target_arg = Path(target)
    if not target_arg.exists():
        raise ConfigError([f"{target_arg}: (directory): no such directory"])
    effective_scope = find_scope(target_arg, scope)
    root = config_root(target_arg).resolve()
    files, problems = config_files(target_arg)
    configs: list[LoadedConfig] = []
    documents: list[_Document] = []
    for path in files:
        documents.extend(_parse_file(path, problems, expand))
    for doc in documents:
        loaded = _validate(doc, root, effective_scope, problems)
        if loaded is not None:
            configs.append(loaded)
    # Names are checked on every document that has one, valid or not, so that a duplicate is
    # reported alongside the document's other problems.
    seen: dict[str, str] = {}
    for doc in documents:
        name = doc.data.get("name")
        if not isinstance(name, str):
            continue
        line = doc.lines.get(("name",), doc.line)
        first = seen.setdefault(name, f"{doc.path}:{line}")
        if first != f"{doc.path}:{line}":
            problems.append(
                f"{doc.path}:{line}: name: duplicate name {name!r} (first defined at {first})"
            )
    if problems:
        raise ConfigError(sorted(problems, key=_problem_order))
    return configs


def _problem_order(problem: str) -> tuple[str, int]:
    """File, then line: problems read top to bottom, whichever pass found them."""
    match = re.match(r"(.*?):(\d+):", problem)
    return (match.group(1), int(match.group(2))) if match else (problem, 0)


def config_json_schema() -> dict[str, Any]:
    """The JSON Schema of one config document (for editors with a YAML language server).

    Tightened to what the loader accepts: no unknown fields at any depth, a tool's ``type``
    is required, and metadata leaves room for the marker and avoids ``syncer:`` keys.
    """
    schema = AssistantConfig.model_json_schema()
    for definition in schema.get("$defs", {}).values():
        definition["additionalProperties"] = False
        kind = definition.get("properties", {}).get("type", {})
        if "const" in kind:
            definition["required"] = sorted({*definition.get("required", []), "type"})
    for number in ("temperature", "top_p"):
        # "${TEMPERATURE:-0.2}" is text until the loader expands it: let editors accept it.
        schema["properties"][number]["anyOf"].append(
            {"type": "string", "pattern": r"\$\{", "description": "a ${VAR} reference"}
        )
    for option in schema["properties"]["metadata"]["anyOf"]:
        if option.get("type") == "object":
            option["maxProperties"] = MAX_CONFIG_METADATA_PAIRS
            option["propertyNames"] = {
                **option.get("propertyNames", {}),
                "not": {"pattern": f"^{re.escape(markers.PREFIX)}"},
            }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://syncer.invalid/schema/assistant-config.schema.json",
        **schema,
    }
