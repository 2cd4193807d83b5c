"""Config files → validated configs: variables, documents, line numbers, every kind of bad input.

No server here; the same bad-input corpus is run through the CLI against a live emulator in
test_gitops_e2e.py (zero requests reach the server).
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

from syncer.errors import ConfigError
from syncer.gitops.config import expand_variables, load_configs
from syncer.markers import MANAGED as MARKER_KEY

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
BAD = FIXTURES / "bad-configs"
GOOD = FIXTURES / "configs" / "team"


def bad_entries() -> list[Path]:
    return sorted(BAD.iterdir())


def copy_entry(entry: Path, into: Path) -> Path:
    """A config directory holding just this corpus entry (a file, or a directory of files)."""
    target = into / "assistants"
    if entry.is_dir():
        shutil.copytree(entry, target)
    else:
        target.mkdir()
        shutil.copy(entry, target / entry.name)
    return target


def expectations(directory: Path) -> list[str]:
    """``path:line: field`` prefixes from the ``# expect:`` comments of the entry's files."""
    found = []
    for path in sorted(directory.iterdir()):
        match = re.search(rb"# expect: (.+)\n", path.read_bytes())
        if match:
            found.append(f"{path}:{match.group(1).decode()}")
    return found


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


# --- ${VAR} ---------------------------------------------------------------------------------------


def test_variables_defaults_and_literal_dollar():
    env = {"MODEL": "gpt-4o", "EMPTY": ""}
    assert expand_variables("${MODEL}", env) == "gpt-4o"
    assert expand_variables("${MISSING:-fallback}", env) == "fallback"
    assert expand_variables("${EMPTY:-fallback}", env) == "fallback"
    assert expand_variables("a $${B} c ${MODEL}", env) == "a ${B} c gpt-4o"
    assert expand_variables("$5 and $HOME stay", env) == "$5 and $HOME stay"


def test_unset_variable_names_the_variable():
    with pytest.raises(ValueError, match="environment variable NOPE is not set"):
        expand_variables("x ${NOPE} y", {})


def test_variables_come_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("SYNCER_TEST_MODEL", "gpt-4.1")
    monkeypatch.setenv("SYNCER_TEST_TEMPERATURE", "0.25")
    write(
        tmp_path / "a.yaml",
        "name: A\nmodel: ${SYNCER_TEST_MODEL}\ntemperature: ${SYNCER_TEST_TEMPERATURE}\n",
    )
    [config] = load_configs(tmp_path)
    # A number from a variable arrives as text and is sent as a number.
    assert config.fields == {"name": "A", "model": "gpt-4.1", "temperature": 0.25}


# --- loading ----------------------------------------------------------------------------------------


def test_good_fixture_directory_loads_with_lines_and_marker(monkeypatch):
    monkeypatch.delenv("SUPPORT_MODEL", raising=False)
    monkeypatch.setenv("SUPPORT_TIER", "platinum")
    configs = {c.name: c for c in load_configs(GOOD)}
    assert sorted(configs) == ["Researcher", "Summarizer", "Support agent", "Triage"]
    support = configs["Support agent"]
    assert support.where == f"{GOOD / 'support.yaml'}:2"
    assert support.fields["model"] == "gpt-4o"  # ${SUPPORT_MODEL:-gpt-4o}
    assert support.fields["metadata"] == {"team": "support", "tier": "platinum"}
    assert support.fields["instructions"] == (GOOD / "prompts" / "support.md").read_text()
    assert "instructions_file" not in support.fields
    assert support.fields["tools"][0]["function"]["parameters"]["required"] == ["order_id"]
    assert support.body()["metadata"][MARKER_KEY] == "Support agent"
    # Two documents in one file, each with its own line.
    assert configs["Summarizer"].where == f"{GOOD / 'research.yaml'}:12"
    assert configs["Summarizer"].fields["instructions"].endswith("written like ${AMOUNT}.")


def test_several_documents_and_empty_documents(tmp_path):
    write(tmp_path / "many.yml", "---\nname: One\nmodel: m\n---\n---\nname: Two\nmodel: m\n...\n")
    assert [c.name for c in load_configs(tmp_path)] == ["One", "Two"]


def test_every_problem_in_every_file_is_reported_at_once(tmp_path):
    write(tmp_path / "a.yaml", "name: A\nmodel: m\ntemperature: 9\n---\nname: B\nmodl: m\n")
    write(tmp_path / "b.yaml", "name: [unclosed\n")
    with pytest.raises(ConfigError) as caught:
        load_configs(tmp_path)
    assert caught.value.problems == [
        f"{tmp_path / 'a.yaml'}:3: temperature: Input should be less than or equal to 2",
        f"{tmp_path / 'a.yaml'}:5: model: required field is missing",
        f"{tmp_path / 'a.yaml'}:6: modl: unknown field",
        f"{tmp_path / 'b.yaml'}:2:1: (yaml): syntax error: expected ',' or ']', but got '<stream end>'",
    ]


def test_instructions_file_symlink_out_of_the_directory_is_refused(tmp_path):
    outside = write(tmp_path / "secret.txt", "not for the API")
    configs = tmp_path / "assistants"
    write(configs / "a.yaml", "name: A\nmodel: m\ninstructions_file: prompts/link.md\n")
    (configs / "prompts").mkdir()
    os.symlink(outside, configs / "prompts" / "link.md")
    with pytest.raises(ConfigError) as caught:
        load_configs(configs)
    assert caught.value.problems == [
        f"{configs / 'a.yaml'}:3: instructions_file: 'prompts/link.md' is outside the config directory"
    ]


def test_instructions_file_in_a_subdirectory_of_another_file(tmp_path):
    write(tmp_path / "prompts" / "p.md", "Hello\n")
    write(tmp_path / "a.yaml", "name: A\nmodel: m\ninstructions_file: ./prompts/../prompts/p.md\n")
    assert load_configs(tmp_path)[0].fields["instructions"] == "Hello\n"


def test_missing_directory_is_one_clear_problem(tmp_path):
    with pytest.raises(ConfigError) as caught:
        load_configs(tmp_path / "nowhere")
    assert caught.value.problems == [f"{tmp_path / 'nowhere'}: (directory): no such directory"]


def test_metadata_with_fifteen_pairs_fits_next_to_the_marker(tmp_path):
    pairs = "".join(f"  k{i}: v\n" for i in range(15))
    write(tmp_path / "a.yaml", f"name: A\nmodel: m\nmetadata:\n{pairs}")
    [config] = load_configs(tmp_path)
    assert len(config.body()["metadata"]) == 16


# --- the bad-input corpus ------------------------------------------------------------------------------


def test_corpus_is_large_and_every_entry_declares_its_problem():
    files = [p for p in BAD.rglob("*") if p.is_file()]
    assert len(files) >= 25
    for entry in bad_entries():
        directory = entry if entry.is_dir() else entry.parent
        names = [p.name for p in (directory.iterdir() if entry.is_dir() else [entry])]
        assert any(b"# expect:" in (directory / n).read_bytes() for n in names), entry


@pytest.mark.parametrize("entry", bad_entries(), ids=lambda p: p.name)
def test_bad_config_is_reported_with_file_line_and_field(entry, tmp_path, monkeypatch):
    monkeypatch.delenv("SYNCER_TEST_SURELY_UNSET_MODEL", raising=False)
    directory = copy_entry(entry, tmp_path)
    expected = expectations(directory)
    with pytest.raises(ConfigError) as caught:
        load_configs(directory)
    problems = caught.value.problems
    for prefix in expected:
        assert any(p.startswith(prefix) for p in problems), (prefix, problems)
    for problem in problems:
        # path:line: field: message (or path:line:column: (yaml): message)
        assert re.match(r"^/.+\.ya?ml:\d+(:\d+)?: \S+: .+", problem), problem


def test_a_document_that_is_not_a_mapping_says_what_it_is(tmp_path):
    write(tmp_path / "a.yaml", "- name: A\n  model: m\n---\n# a comment\njust text\n")
    with pytest.raises(ConfigError) as caught:
        load_configs(tmp_path)
    assert caught.value.problems == [
        f"{tmp_path / 'a.yaml'}:1: (document): expected a mapping of assistant fields, got a list",
        (f"{tmp_path / 'a.yaml'}:5: (document): expected a mapping of assistant fields, "
        "got a single value ('just text')"),
    ]
