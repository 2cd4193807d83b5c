"""The config tree: which YAML files a target holds, its root, and the root's ``syncer.yaml``.

- A directory is read recursively, in path order. Hidden files and directories (a leading
  ``.``: ``.git``, ``.github``, editors' drafts) are skipped, and symbolic links to directories
  are not followed. The directory is the config root.
- A single file is a target of its own. Its config root (which ``instructions_file`` may not
  leave, and whose ``syncer.yaml`` gives the scope) is the nearest directory above it holding a
  ``syncer.yaml``, looking no higher than the top of a git checkout; else the file's directory.
- ``syncer.yaml`` at the root sets the directory's ownership scope (``scope: team-a``), which
  ``--scope`` may also give. It is refused anywhere below the root: one tree, one scope.

Configs are plain data, and so is ``syncer.yaml``: :func:`unsupported_yaml` finds anchors,
aliases and tags in the event stream, before anything is built.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.events import AliasEvent, CollectionEndEvent, CollectionStartEvent, NodeEvent

from syncer.errors import ConfigError, UsageError

CONFIG_SUFFIXES = (".yaml", ".yml")
#: The config root's own settings (its scope); never a config.
ROOT_SETTINGS = "syncer.yaml"
SCOPE_PATTERN = re.compile(r"[A-Za-z0-9._-]{1,64}")
_SCOPE_RULE = "must be 1-64 letters, digits, '.', '_' or '-'"
#: Mappings and lists nested deeper than this are refused before anything is built (the
#: parser's time grows with the square of the depth: 10,000 levels took minutes).
MAX_CONFIG_NESTING = 100

#: Explicit tags that only restate plain data (``!!str 5``); any other tag is refused.
_PLAIN_TAGS = frozenset(
    f"tag:yaml.org,2002:{kind}" for kind in ("str", "int", "float", "bool", "null", "map", "seq")
)
_SHORT_TAG = "tag:yaml.org,2002:"


def unsupported_yaml(yaml: YAML, text: str) -> list[tuple[int, str]]:
    """(line, message) for anchors, aliases and tags, found in the event stream.

    Events are read one at a time and nothing is built, so an alias bomb is refused in the time
    it takes to read its few lines; a tag never reaches a constructor. Syntax errors propagate.
    """
    found: list[tuple[int, str]] = []
    depth = 0
    for event in yaml.parse(text):
        line = event.start_mark.line + 1
        if isinstance(event, CollectionStartEvent):
            depth += 1
            if depth > MAX_CONFIG_NESTING:
                found.append((line, f"nested more than {MAX_CONFIG_NESTING} levels deep"))
                break
        elif isinstance(event, CollectionEndEvent):
            depth -= 1
        if isinstance(event, AliasEvent) or (isinstance(event, NodeEvent) and event.anchor):
            found.append(
                (line, "anchors and aliases (&, *) are not supported in configs; write the value out")
            )
            break  # one line is enough: every alias of a bomb would repeat it
        tag = getattr(event, "tag", None)
        if tag is not None and str(tag) not in _PLAIN_TAGS:
            shown = str(tag).replace(_SHORT_TAG, "!!", 1)
            found.append((line, f"the tag {shown} is not supported in configs"))
    return found


def is_config_file(path: Path) -> bool:
    return path.suffix in CONFIG_SUFFIXES and not path.name.startswith(".")


def config_root(target: Path) -> Path:
    """The directory a target's configs belong to (see the module docstring)."""
    if target.is_dir():
        return target
    start = target.parent
    for directory in (start, *start.parents):
        if (directory / ROOT_SETTINGS).is_file():
            return directory
        if (directory / ".git").exists():
            break
    return start


def config_files(target: Path) -> tuple[list[Path], list[str]]:
    """The config files of a target, in path order, and problems with the tree itself."""
    if target.is_file():
        if not is_config_file(target) or target.name == ROOT_SETTINGS:
            return [], [f"{target}:1: (file): not an assistant config (a *.yaml or *.yml file)"]
        return [target], []
    files: list[Path] = []
    problems: list[str] = []
    for here, directories, names in os.walk(target):
        directories[:] = sorted(d for d in directories if not d.startswith("."))
        folder = Path(here)
        for name in sorted(names):
            path = folder / name
            if name == ROOT_SETTINGS:
                if folder != target:
                    problems.append(
                        f"{path}:1: (file): {ROOT_SETTINGS} belongs at the root of the config "
                        f"directory ({target}); plan {folder} on its own instead"
                    )
                continue
            # Not only regular files: one that cannot be read (a broken or looping link, a
            # pipe) is reported when read, never skipped, which would read as a config removed.
            if is_config_file(path):
                files.append(path)
    return sorted(files, key=lambda p: p.relative_to(target).parts), problems


def check_scope(scope: str) -> str:
    """A ``--scope`` value, checked."""
    if not SCOPE_PATTERN.fullmatch(scope):
        raise UsageError(f"--scope {scope!r}: {_SCOPE_RULE}")
    return scope


def read_scope(root: Path) -> str | None:
    """The scope ``syncer.yaml`` at ``root`` gives (None without the file or the key)."""
    path = root / ROOT_SETTINGS
    if not path.is_file():
        return None
    yaml = YAML(typ="rt")
    try:
        text = path.read_text(encoding="utf-8")
        unsupported = unsupported_yaml(yaml, text)
        if unsupported:
            raise ConfigError([f"{path}:{line}: (yaml): {message}" for line, message in unsupported])
        data = yaml.load(text)
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError([f"{path}:1: (file): cannot read: {error}"]) from error
    except MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        where = f"{mark.line + 1}:{mark.column + 1}" if mark else "1:1"
        what = " ".join(str(error.problem or error.context or "invalid YAML").split())
        raise ConfigError([f"{path}:{where}: (yaml): syntax error: {what}"]) from error
    except YAMLError as error:
        raise ConfigError([f"{path}:1: (yaml): syntax error: {' '.join(str(error).split())}"]) from error
    if data is None:
        return None
    if not isinstance(data, CommentedMap):
        raise ConfigError([f"{path}:1: (document): expected a mapping such as 'scope: team-a'"])
    problems: list[str] = []
    scope = None
    for key, value in data.items():
        line = data.lc.key(key)[0] + 1
        if key != "scope":
            problems.append(f"{path}:{line}: {key}: unknown field")
        elif not isinstance(value, str) or not SCOPE_PATTERN.fullmatch(value):
            problems.append(f"{path}:{line}: scope: {_SCOPE_RULE}")
        else:
            scope = value
    if problems:
        raise ConfigError(problems)
    return scope


def find_scope(target: str | Path, option: str | None = None) -> str | None:
    """The ownership scope of a target: ``--scope`` (``option``) or its root's ``syncer.yaml``.

    Both given and different is an error: a plan must never run under the wrong scope.
    """
    root = config_root(Path(target))
    written = read_scope(root)
    if option is not None:
        check_scope(option)
        if written is not None and written != option:
            raise UsageError(
                f"--scope {option}, but {root / ROOT_SETTINGS} gives the scope {written!r}"
            )
        return option
    return written
