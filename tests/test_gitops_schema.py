"""The config JSON Schema: generated from the pydantic model, never stale, and it agrees with
the loader on good and bad files."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from ruamel.yaml import YAML

from syncer.gitops.schema import PACKAGE_COPY, REPOSITORY_COPY, schema_text

ROOT = Path(__file__).resolve().parent.parent
GOOD = ROOT / "fixtures" / "configs" / "team"
BAD = ROOT / "fixtures" / "bad-configs"


@pytest.mark.parametrize("path", [REPOSITORY_COPY, PACKAGE_COPY], ids=["schema/", "syncer/data/"])
def test_schema_file_is_up_to_date(path):
    assert path.exists(), f"{path} is missing: run `python -m syncer.gitops.schema`"
    assert path.read_text(encoding="utf-8") == schema_text(), (
        f"{path} is stale: run `python -m syncer.gitops.schema`"
    )


def documents(path: Path) -> list[dict]:
    return [d for d in YAML(typ="safe").load_all(path.read_text(encoding="utf-8")) if d]


def test_schema_accepts_the_good_configs():
    validator = jsonschema.Draft202012Validator(json.loads(schema_text()))
    docs = [d for p in sorted(GOOD.glob("*.y*ml")) for d in documents(p)]
    assert len(docs) == 4
    for doc in docs:
        if doc["name"] == "Support agent":
            doc["model"] = "gpt-4o"  # variables are expanded before validation
        assert list(validator.iter_errors(doc)) == [], doc["name"]


@pytest.mark.parametrize(
    "name",
    [
        "unknown-field.yaml",
        "unknown-nested-field.yaml",
        "missing-name.yaml",
        "temperature-above-range.yaml",
        "metadata-too-many-pairs.yaml",
        "metadata-reserved-key.yaml",
        "function-name-pattern.yaml",
        "too-many-tools.yaml",
        "tool-unknown-type.yaml",
    ],
)
def test_schema_rejects_what_the_loader_rejects(name):
    validator = jsonschema.Draft202012Validator(json.loads(schema_text()))
    [doc] = documents(BAD / name)
    assert list(validator.iter_errors(doc)), name


def test_schema_accepts_variables_where_numbers_go():
    """`temperature: ${TEMPERATURE:-0.2}` loads (the loader expands it), so editors accept it."""
    validator = jsonschema.Draft202012Validator(json.loads(schema_text()))
    doc = {"name": "A", "model": "${MODEL}", "temperature": "${T:-0.2}", "top_p": "${P}"}
    assert list(validator.iter_errors(doc)) == []
    assert list(validator.iter_errors({**doc, "temperature": "warm"}))
