"""The JSON Schema of config files, generated from :class:`~syncer.gitops.config.AssistantConfig`.

Regenerate after changing the model (a test fails while the files are stale)::

    python -m syncer.gitops.schema

It is written to ``schema/assistant-config.schema.json`` (for editors: point the YAML language
server at it with ``# yaml-language-server: $schema=…``) and to the copy inside the package.
"""

from __future__ import annotations

import json
from pathlib import Path

from syncer.gitops.config import config_json_schema

PACKAGE_COPY = Path(__file__).resolve().parent.parent / "data" / "assistant-config.schema.json"
REPOSITORY_COPY = PACKAGE_COPY.parent.parent.parent / "schema" / "assistant-config.schema.json"


def schema_text() -> str:
    """The schema as the files hold it: indented JSON with a final newline."""
    return json.dumps(config_json_schema(), indent=2, ensure_ascii=False) + "\n"


def main() -> None:
    text = schema_text()
    for path in (REPOSITORY_COPY, PACKAGE_COPY):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
