"""`syncer import`: write config files for assistants that already exist.

The written file says exactly what the assistant is, in the config format, so that adopting
it (``syncer apply --adopt``) and planning again shows no changes:

- only fields that differ from the server's defaults are written (``temperature: 1.0`` …);
- ``syncer:`` metadata keys are left out (syncer adds its marker itself);
- ``${`` in any string is written as ``$${`` so that loading does not expand it;
- multi-line or long instructions are written as block scalars (``|``), checked by loading
  the text back: anything that would not survive the trip is written quoted instead.
"""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError
from ruamel.yaml.scalarstring import LiteralScalarString

from syncer import markers
from syncer.errors import UsageError
from syncer.gitops.config import API_FIELDS, expand_variables
from syncer.gitops.plan import SERVER_DEFAULTS, is_empty, same_value

#: Strings longer than this (or with a line break) become block scalars.
BLOCK_SCALAR_MIN_LENGTH = 80
_UNSAFE_IN_BLOCK = re.compile(r"[\r\x85\u2028\u2029\ufeff]|[^\S\n\t ]|[\x00-\x08\x0b-\x1f\x7f]")


def _escape(value: Any) -> Any:
    """Every ``${`` in string values written as ``$${`` (loading expands variables)."""
    if isinstance(value, str):
        return value.replace("${", "$${")
    if isinstance(value, dict):
        return {k: _escape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_escape(v) for v in value]
    return value


def _nothing_set(value: Any) -> bool:
    """``{"code_interpreter": {"file_ids": []}}`` and the like: only empty leaves."""
    if isinstance(value, dict):
        return all(_nothing_set(v) for v in value.values())
    return is_empty(value)


def assistant_to_config(assistant: dict[str, Any]) -> dict[str, Any]:
    """The config document (plain data, before escaping) that describes ``assistant``."""
    config: dict[str, Any] = {}
    for name in API_FIELDS:
        value = assistant.get(name)
        if name == "metadata":
            value = markers.user_keys(value)
        if name in ("name", "model"):
            if value:
                config[name] = value
            continue
        if _nothing_set(value) or same_value(SERVER_DEFAULTS.get(name), value):
            continue
        config[name] = value
    if "name" not in config:
        # A config needs a name; an unnamed assistant gets its id, which `apply --adopt`
        # matches (see plan.identity_name) and then sets as the name. Name first, as always.
        config = {"name": assistant["id"], **config}
    return config


def _with_block_scalars(value: Any, key: str | None = None) -> Any:
    if isinstance(value, str):
        multi_line = "\n" in value or (
            key in ("instructions", "description") and len(value) > BLOCK_SCALAR_MIN_LENGTH
        )
        if multi_line and not _UNSAFE_IN_BLOCK.search(value):
            return LiteralScalarString(value)
        return value
    if isinstance(value, dict):
        return {k: _with_block_scalars(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_with_block_scalars(v) for v in value]
    return value


def _dump(data: Any) -> str:
    yaml = YAML(typ="rt")
    yaml.width = 4096  # long lines stay whole: folding would change what a reader diffs
    yaml.indent(mapping=2, sequence=4, offset=2)
    buffer = io.StringIO()
    yaml.dump(data, buffer)
    return buffer.getvalue()


def _loads_back(text: str, expected: dict[str, Any]) -> bool:
    try:
        loaded = YAML(typ="safe").load(text)
    except YAMLError:
        return False
    return bool(_unescape(loaded) == expected)


def _unescape(value: Any) -> Any:
    if isinstance(value, str):
        return expand_variables(value, {})
    if isinstance(value, dict):
        return {k: _unescape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_unescape(v) for v in value]
    return value


def render_config(assistant: dict[str, Any]) -> str:
    """The YAML text of one assistant's config file."""
    config = assistant_to_config(assistant)
    escaped = _escape(config)
    header = f"# Imported by `syncer import` from {assistant['id']}.\n"
    text = _dump(_with_block_scalars(escaped))
    if not _loads_back(text, config):
        # A string the block style cannot carry exactly: plain quoted scalars always can.
        text = _dump(escaped)
    return header + text


def file_name(assistant: dict[str, Any]) -> str:
    """A file name from the assistant's name (lowercase words joined by dashes), else its id."""
    slug = re.sub(r"[^a-z0-9]+", "-", (assistant.get("name") or "").lower()).strip("-")[:60]
    return (slug or assistant["id"]) + ".yaml"


def write_configs(
    assistants: list[dict[str, Any]], out: Path, *, force: bool = False
) -> list[Path]:
    """Write one file per assistant into ``out``; refuses to overwrite files unless ``force``."""
    planned: list[tuple[Path, str]] = []
    taken: set[str] = set()
    for assistant in assistants:
        name = file_name(assistant)
        stem, number = name.removesuffix(".yaml"), 2
        while name in taken:
            name, number = f"{stem}-{number}.yaml", number + 1
        taken.add(name)
        planned.append((out / name, render_config(assistant)))
    existing = [str(path) for path, _ in planned if path.exists()]
    if existing and not force:
        raise UsageError(f"not overwriting existing files (use --force): {', '.join(existing)}")
    out.mkdir(parents=True, exist_ok=True)
    for path, text in planned:
        path.write_text(text, encoding="utf-8")
    return [path for path, _ in planned]
