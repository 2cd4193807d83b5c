"""Config files → validated configs: variables, documents, line numbers, every kind of bad input.

No server here; the same bad-input corpus is run through the CLI against a live emulator in
test_gitops_e2e.py (zero requests reach the server).
"""

from __future__ import annotations

import os
import re
import shutil
import time
from pathlib import Path

import pytest

from syncer.errors import ConfigError, UsageError
from syncer.gitops.config import check_allow_env, expand_variables, load_configs
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
    env = {"SYNCER_VAR_MODEL": "gpt-4o", "EMPTY": ""}
    assert expand_variables("${SYNCER_VAR_MODEL}", env) == "gpt-4o"
    assert expand_variables("${SYNCER_VAR_MISSING:-fallback}", env) == "fallback"
    assert expand_variables("${EMPTY:-fallback}", env, allow_env={"EMPTY"}) == "fallback"
    assert expand_variables("a $${B} c ${SYNCER_VAR_MODEL}", env) == "a ${B} c gpt-4o"
    assert expand_variables("$5 and $HOME stay", env) == "$5 and $HOME stay"


def test_unset_variable_names_the_variable():
    with pytest.raises(ValueError, match="environment variable SYNCER_VAR_NOPE is not set"):
        expand_variables("x ${SYNCER_VAR_NOPE} y", {})


def test_variables_come_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("SYNCER_VAR_TEST_MODEL", "gpt-4.1")
    monkeypatch.setenv("SYNCER_VAR_TEST_TEMPERATURE", "0.25")
    write(
        tmp_path / "a.yaml",
        "name: A\nmodel: ${SYNCER_VAR_TEST_MODEL}\ntemperature: ${SYNCER_VAR_TEST_TEMPERATURE}\n",
    )
    [config] = load_configs(tmp_path)
    # A number from a variable arrives as text and is sent as a number.
    assert config.fields == {"name": "A", "model": "gpt-4.1", "temperature": 0.25}


# --- loading ----------------------------------------------------------------------------------------


def test_good_fixture_directory_loads_with_lines_and_marker(monkeypatch):
    monkeypatch.delenv("SYNCER_VAR_SUPPORT_MODEL", raising=False)
    monkeypatch.setenv("SYNCER_VAR_SUPPORT_TIER", "platinum")
    configs = {c.name: c for c in load_configs(GOOD)}
    assert sorted(configs) == ["Researcher", "Summarizer", "Support agent", "Triage"]
    support = configs["Support agent"]
    assert support.where == f"{GOOD / 'support.yaml'}:2"
    assert support.fields["model"] == "gpt-4o"  # ${SYNCER_VAR_SUPPORT_MODEL:-gpt-4o}
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
    monkeypatch.delenv("SYNCER_VAR_SURELY_UNSET_MODEL", raising=False)
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


# --- which variables a config may read (issue 13, item 6) ---------------------------------------


def test_only_syncer_var_variables_expand_by_default(tmp_path, monkeypatch):
    monkeypatch.setenv("SYNCER_VAR_MODEL", "gpt-4.1")
    monkeypatch.setenv("HOME_MODEL", "gpt-x")
    write(tmp_path / "a.yaml", "name: A\nmodel: ${SYNCER_VAR_MODEL}\n")
    write(tmp_path / "b.yaml", "name: B\nmodel: m\n\ndescription: ${HOME_MODEL:-x}\n")
    with pytest.raises(ConfigError) as caught:
        load_configs(tmp_path)
    assert caught.value.problems == [
        (f"{tmp_path / 'b.yaml'}:4: description: environment variable HOME_MODEL is not allowed "
        "in configs (use a SYNCER_VAR_ name, or allow it with --allow-env HOME_MODEL)")
    ]
    configs = load_configs(tmp_path, allow_env=["HOME_MODEL"])
    assert [c.fields.get("description") for c in configs] == [None, "gpt-x"]
    assert configs[0].fields["model"] == "gpt-4.1"


@pytest.mark.parametrize(
    "name", ["OPENAI_API_KEY", "OPENAI_BASE_URL", "SYNCER_BACKEND_API_KEY", "SYNCER_JUDGE_API_KEY"]
)
def test_secrets_never_expand_and_never_reach_the_error(tmp_path, monkeypatch, name):
    monkeypatch.setenv(name, "sk-distinctive-secret-0xC0FFEE")
    write(tmp_path / "a.yaml", f'name: A\nmodel: m\ninstructions: "key is ${{{name}}}"\n')
    with pytest.raises(ConfigError) as caught:
        load_configs(tmp_path)
    [problem] = caught.value.problems
    assert problem.startswith(f"{tmp_path / 'a.yaml'}:3: instructions: environment variable {name} ")
    assert "never" in problem and "0xC0FFEE" not in problem
    # --allow-env cannot open them either.
    with pytest.raises(UsageError, match=f"--allow-env {name}: .*never"):
        load_configs(tmp_path, allow_env=[name])


def test_allow_env_names_must_be_variable_names():
    with pytest.raises(UsageError, match="--allow-env 'A-B': not a variable name"):
        check_allow_env(["A-B"])
    assert check_allow_env(["X", "X", "Y_1"]) == frozenset({"X", "Y_1"})


# --- YAML features a config must not use (issue 13, item 10) ------------------------------------

ALIAS_BOMB = """\
name: Bomb
model: m
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
metadata: {bomb: *i}
"""


def test_an_alias_bomb_is_refused_before_it_expands(tmp_path):
    write(tmp_path / "bomb.yaml", ALIAS_BOMB)
    started = time.monotonic()
    with pytest.raises(ConfigError) as caught:
        load_configs(tmp_path)
    assert time.monotonic() - started < 2
    path = tmp_path / "bomb.yaml"
    assert caught.value.problems == [
        (f"{path}:3: (yaml): anchors and aliases (&, *) are not supported in configs; "
        "write the value out")
    ]


def test_a_merge_key_is_an_alias_too(tmp_path):
    write(tmp_path / "a.yaml", "base: &base {model: m}\n---\n<<: *base\nname: A\n")
    with pytest.raises(ConfigError) as caught:
        load_configs(tmp_path)
    assert [p.split(": (yaml)")[0] for p in caught.value.problems] == [f"{tmp_path / 'a.yaml'}:1"]


@pytest.mark.parametrize(
    ("value", "tag"),
    [
        ('!!python/object/apply:os.system ["echo hi"]', "!!python/object/apply:os.system"),
        ("!!python/name:os.system", "!!python/name:os.system"),
        ("!!binary aGVsbG8=", "!!binary"),
        ("!include other.yaml", "!include"),
    ],
)
def test_tags_beyond_plain_data_are_a_line_not_a_traceback(tmp_path, value, tag):
    write(tmp_path / "a.yaml", f"name: A\n\nmodel: {value}\n")
    with pytest.raises(ConfigError) as caught:
        load_configs(tmp_path)
    assert caught.value.problems == [
        f"{tmp_path / 'a.yaml'}:3: (yaml): the tag {tag} is not supported in configs"
    ]


def test_plain_data_tags_still_load(tmp_path):
    write(tmp_path / "a.yaml", "name: !!str A\nmodel: !!str 4\ntemperature: !!float 1\n")
    [config] = load_configs(tmp_path)
    assert config.fields == {"name": "A", "model": "4", "temperature": 1.0}
