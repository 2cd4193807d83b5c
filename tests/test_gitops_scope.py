"""The config tree (issue 13, item 4) and ownership scopes (item 5), end to end.

A config directory is read recursively (hidden directories skipped), a single file can be
planned and applied, and `--prune` deletes only within the directory's scope
(`syncer:scope`, from `syncer.yaml` at the config root or `--scope`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner, Result

from syncer.cli import cli
from syncer.emulator import EmulatorConfig, running_server
from syncer.errors import ConfigError
from syncer.gitops.config import load_configs

KEY = "sk-scope-test"


@pytest.fixture
def server():
    with running_server(EmulatorConfig()) as running, httpx.Client(
        base_url=running.base_url,
        headers={"Authorization": f"Bearer {KEY}", "OpenAI-Beta": "assistants=v2"},
    ) as http:
        yield http


def syncer(http: httpx.Client, *args: str) -> Result:
    env = {"OPENAI_BASE_URL": str(http.base_url), "OPENAI_API_KEY": KEY, "SYNCER_MAX_RETRIES": "0"}
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


def assistants(http: httpx.Client) -> list[dict[str, Any]]:
    return http.get("/assistants", params={"order": "asc", "limit": 100}).json()["data"]


def owners(http: httpx.Client) -> list[tuple[str | None, str | None]]:
    """(syncer:scope, syncer:name) of every assistant, oldest first."""
    return [
        ((a["metadata"] or {}).get("syncer:scope"), (a["metadata"] or {}).get("syncer:name"))
        for a in assistants(http)
    ]


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def config(name: str, model: str = "gpt-4o") -> str:
    return f"name: {name}\nmodel: {model}\n"


# --- the config tree ----------------------------------------------------------------------------


def test_the_tree_is_read_recursively_and_hidden_directories_are_skipped(tmp_path):
    write(tmp_path / "a.yaml", config("A"))
    write(tmp_path / "team" / "x.yaml", config("X"))
    write(tmp_path / "team" / "deeper" / "y.yml", config("Y"))
    write(tmp_path / ".github" / "workflow.yaml", "on: push\njobs: {}\n")  # not a config
    write(tmp_path / "team" / ".drafts" / "z.yaml", "name: [broken\n")
    write(tmp_path / "team" / ".hidden.yaml", "name: [broken\n")
    assert [(c.name, c.path) for c in load_configs(tmp_path)] == [
        ("A", tmp_path / "a.yaml"),
        ("Y", tmp_path / "team" / "deeper" / "y.yml"),  # path order
        ("X", tmp_path / "team" / "x.yaml"),
    ]


def test_a_duplicate_name_across_subdirectories_is_reported(tmp_path):
    write(tmp_path / "a.yaml", config("Same"))
    write(tmp_path / "team" / "b.yaml", config("Same"))
    with pytest.raises(ConfigError) as caught:
        load_configs(tmp_path)
    assert caught.value.problems == [
        (f"{tmp_path / 'team' / 'b.yaml'}:1: name: duplicate name 'Same' "
        f"(first defined at {tmp_path / 'a.yaml'}:1)")
    ]


def test_prune_keeps_assistants_whose_configs_live_in_subdirectories(server, tmp_path):
    root = tmp_path / "assistants"
    write(root / "a.yaml", config("A"))
    write(root / "team" / "x.yaml", config("X"))
    assert syncer(server, "apply", str(root), "--yes").exit_code == 0
    result = syncer(server, "plan", str(root), "--prune", "--json", "--detailed-exitcode")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["actions"] == []
    assert sorted(name for _, name in owners(server)) == ["A", "X"]


def test_a_single_file_is_planned_and_applied(server, tmp_path):
    root = tmp_path / "assistants"
    write(root / "prompts" / "x.md", "Be brief.\n")
    one = write(root / "x.yaml", config("X") + "instructions_file: prompts/x.md\n")
    write(root / "other.yaml", config("Other"))
    planned = syncer(server, "plan", str(one), "--detailed-exitcode")
    assert planned.exit_code == 2, planned.output
    assert "Plan: 1 to create, 0 to update, 0 to adopt, 0 to delete." in planned.stdout
    assert syncer(server, "apply", str(one), "--yes").exit_code == 0
    [created] = assistants(server)
    assert (created["name"], created["instructions"]) == ("X", "Be brief.\n")


def test_prune_needs_the_whole_directory(server, tmp_path):
    one = write(tmp_path / "x.yaml", config("X"))
    for command in (["plan"], ["apply", "--yes"]):
        result = syncer(server, *command, str(one), "--prune")
        assert result.exit_code == 1
        assert result.stderr == (
            f"Error: --prune needs the whole config directory, not one file ({one})\n"
        )


# --- scopes -----------------------------------------------------------------------------------


def test_two_scoped_directories_on_one_account_never_prune_each_other(server, tmp_path):
    team_a, team_b = tmp_path / "a", tmp_path / "b"
    write(team_a / "syncer.yaml", "scope: team-a\n")
    write(team_a / "bot.yaml", config("Bot"))
    write(team_b / "syncer.yaml", "scope: team-b\n")
    write(team_b / "bot.yaml", config("Bot", "gpt-4o-mini"))
    write(team_b / "other.yaml", config("Other"))
    assert syncer(server, "apply", str(team_a), "--prune", "--yes").exit_code == 0
    assert syncer(server, "apply", str(team_b), "--prune", "--yes").exit_code == 0
    assert owners(server) == [("team-a", "Bot"), ("team-b", "Bot"), ("team-b", "Other")]
    # Each plans clean: the other's namesake is neither drift, a conflict nor an orphan.
    for directory, scope, others in ((team_a, "team-a", 2), (team_b, "team-b", 1)):
        result = syncer(server, "plan", str(directory), "--prune", "--json", "--detailed-exitcode")
        assert result.exit_code == 0, result.output
        plan = json.loads(result.stdout)
        assert (plan["scope"], plan["summary"]["other_scopes"]) == (scope, others)
    (team_b / "other.yaml").unlink()
    assert syncer(server, "apply", str(team_b), "--prune", "--yes").exit_code == 0
    assert owners(server) == [("team-a", "Bot"), ("team-b", "Bot")]


def test_scope_option_sets_the_scope_of_a_directory_without_syncer_yaml(server, tmp_path):
    write(tmp_path / "bot.yaml", config("Bot"))
    assert syncer(server, "apply", str(tmp_path), "--scope", "ci", "--yes").exit_code == 0
    assert owners(server) == [("ci", "Bot")]
    empty = tmp_path / "empty"
    empty.mkdir()
    # An unscoped directory sees it as another scope's: no prune.
    plan = json.loads(syncer(server, "plan", str(empty), "--prune", "--json").stdout)
    assert plan["actions"] == [] and plan["scope"] is None
    write(tmp_path / "syncer.yaml", "scope: other\n")
    clash = syncer(server, "plan", str(tmp_path), "--scope", "ci")
    assert clash.exit_code == 1
    assert clash.stderr == (
        f"Error: --scope ci, but {tmp_path / 'syncer.yaml'} gives the scope 'other'\n"
    )


def test_assistants_managed_before_scopes_are_claimed_never_pruned(server, tmp_path):
    def legacy(name: str) -> str:
        body = {"model": "gpt-4o", "name": name, "metadata": {"syncer:name": name}}
        return str(server.post("/assistants", json=body).json()["id"])

    kept, other = legacy("Bot"), legacy("Old")
    write(tmp_path / "syncer.yaml", "scope: team-a\n")
    write(tmp_path / "bot.yaml", config("Bot"))
    plan = json.loads(syncer(server, "plan", str(tmp_path), "--prune", "--json").stdout)
    assert [(a["action"], a["assistant_id"]) for a in plan["actions"]] == [("update", kept)]
    assert "syncer:scope" in plan["actions"][0]["message"]
    assert syncer(server, "apply", str(tmp_path), "--prune", "--yes").exit_code == 0
    assert [(a["id"], o) for a, o in zip(assistants(server), owners(server), strict=True)] == [
        (kept, ("team-a", "Bot")),
        (other, (None, "Old")),  # an unscoped directory's: a scoped one never deletes it
    ]
    # The unscoped directory that still has "Old" keeps managing it; its prune skips scopes.
    legacy_dir = tmp_path / "legacy"
    write(legacy_dir / "old.yaml", config("Old"))
    result = syncer(server, "plan", str(legacy_dir), "--prune", "--json", "--detailed-exitcode")
    assert result.exit_code == 0, result.output


def test_a_bad_syncer_yaml_is_a_path_line_error(server, tmp_path):
    write(tmp_path / "syncer.yaml", "scope: team a!\nextra: 1\n")
    write(tmp_path / "bot.yaml", config("Bot"))
    result = syncer(server, "plan", str(tmp_path))
    assert result.exit_code == 1
    path = tmp_path / "syncer.yaml"
    assert result.stderr.splitlines() == [
        f"Error: {path}:1: scope: must be 1-64 letters, digits, '.', '_' or '-'",
        f"Error: {path}:2: extra: unknown field",
    ]


def test_a_scope_takes_a_metadata_slot(tmp_path):
    pairs = "".join(f"  k{i}: v\n" for i in range(15))
    write(tmp_path / "syncer.yaml", "scope: s\n")
    write(tmp_path / "a.yaml", f"name: A\nmodel: m\nmetadata:\n{pairs}")
    with pytest.raises(ConfigError) as caught:
        load_configs(tmp_path)
    assert caught.value.problems == [
        (f"{tmp_path / 'a.yaml'}:3: metadata: too many metadata pairs: 15; at most 14 fit next to "
        "syncer's markers 'syncer:name' and 'syncer:scope' (the API allows 16)")
    ]


def test_syncer_yaml_below_the_root_is_refused(tmp_path):
    write(tmp_path / "bot.yaml", config("Bot"))
    write(tmp_path / "team" / "syncer.yaml", "scope: team\n")
    with pytest.raises(ConfigError) as caught:
        load_configs(tmp_path)
    assert caught.value.problems == [
        (f"{tmp_path / 'team' / 'syncer.yaml'}:1: (file): syncer.yaml belongs at the root of the "
        f"config directory ({tmp_path}); plan {tmp_path / 'team'} on its own instead")
    ]


def test_a_single_file_takes_the_scope_of_its_config_root(tmp_path):
    write(tmp_path / "syncer.yaml", "scope: team-a\n")
    one = write(tmp_path / "team" / "deep" / "bot.yaml", config("Bot"))
    [loaded] = load_configs(one)
    assert loaded.body()["metadata"] == {"syncer:name": "Bot", "syncer:scope": "team-a"}
