"""`syncer plan` / `syncer apply` end to end: the CLI against the emulator over real HTTP.

Counters and scripted faults come from the emulator's own endpoints (`/_emulator/stats`,
`/_emulator/faults`), so "nothing was written" is what the server saw, not what syncer says.
"""

from __future__ import annotations

import json
import os
import pty
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner
from support.gitops import BAD, KEY, TEAM, Server, syncer

from syncer.api.settings import ClientSettings
from syncer.cli import cli


@pytest.fixture
def configs(tmp_path) -> Path:
    target = tmp_path / "assistants"
    shutil.copytree(TEAM, target)
    return target


def unmanaged_account(server: Server, count: int = 50) -> dict[str, bytes]:
    """``count`` assistants syncer must never touch; id → the raw JSON bytes the server serves."""
    ids = []
    for i in range(count):
        body: dict[str, Any] = {"model": "gpt-4o-mini", "name": f"Hand-made {i}"}
        if i % 3 == 0:
            body["metadata"] = {"owner": f"team-{i}", "syncer": "not a marker"}
        if i % 4 == 0:
            body["tools"] = [{"type": "function", "function": {"name": f"tool_{i}"}}]
            body["instructions"] = f"Be assistant number {i}.\nLine two."
        ids.append(server.api("POST", "/assistants", body).json()["id"])
    return {i: server.api("GET", f"/assistants/{i}").content for i in ids}


def plan_json(server: Server, directory: Path, *flags: str) -> dict[str, Any]:
    result = syncer(server, "plan", str(directory), "--json", *flags)
    assert result.exit_code in (0, 2), result.output
    return json.loads(result.stdout)


# --- the main story ---------------------------------------------------------------------------------


def test_apply_edit_prune_beside_fifty_unmanaged_assistants(gitops_server, configs):
    untouched = unmanaged_account(gitops_server, 50)

    first = syncer(gitops_server, "plan", str(configs), "--detailed-exitcode")
    assert first.exit_code == 2
    assert "Plan: 4 to create, 0 to update, 0 to adopt, 0 to delete." in first.stdout

    applied = syncer(gitops_server, "apply", str(configs), "--yes")
    assert applied.exit_code == 0, applied.output
    assert "No changes: the account matches the configs (4 managed assistants)." in applied.stdout
    managed = gitops_server.managed()
    assert sorted(managed) == ["Researcher", "Summarizer", "Support agent", "Triage"]
    assert all(len(ids) == 1 for ids in managed.values())

    again = syncer(gitops_server, "plan", str(configs), "--detailed-exitcode")
    assert again.exit_code == 0, again.output
    assert (
        again.stdout.strip()
        == "No changes: the account matches the configs (4 managed assistants)."
    )

    # One edit: exactly one update, of exactly that field.
    support = configs / "support.yaml"
    support.write_text(support.read_text().replace("temperature: 0.3", "temperature: 0.7"))
    plan = plan_json(gitops_server, configs, "--detailed-exitcode")
    assert [(a["action"], a["name"]) for a in plan["actions"]] == [("update", "Support agent")]
    assert plan["actions"][0]["assistant_id"] == managed["Support agent"][0]
    assert plan["actions"][0]["changes"] == [{"field": "temperature", "before": 0.3, "after": 0.7}]
    text = syncer(gitops_server, "plan", str(configs))
    assert text.exit_code == 0
    assert "    temperature: 0.3 → 0.7" in text.stdout
    assert syncer(gitops_server, "apply", str(configs), "--yes").exit_code == 0
    live = gitops_server.api("GET", f"/assistants/{managed['Support agent'][0]}").json()
    assert live["temperature"] == 0.7

    # A deleted file: without --prune nothing is deleted; with it, exactly that assistant.
    (configs / "triage.yml").unlink()
    assert plan_json(gitops_server, configs)["actions"] == []
    writes_before = gitops_server.stats()["writes"]
    pruned = syncer(gitops_server, "apply", str(configs), "--prune", "--yes")
    assert pruned.exit_code == 0, pruned.output
    assert f'- delete "Triage" {managed["Triage"][0]} (no config)' in pruned.stdout
    assert gitops_server.stats()["writes"] - writes_before == 1
    assert sorted(gitops_server.managed()) == ["Researcher", "Summarizer", "Support agent"]
    with pytest.raises(httpx.HTTPStatusError):
        gitops_server.api("GET", f"/assistants/{managed['Triage'][0]}")

    # The fifty unmanaged assistants: byte for byte what they were.
    assert {i: gitops_server.api("GET", f"/assistants/{i}").content for i in untouched} == untouched
    assert len(gitops_server.assistants()) == 53


def test_instructions_change_shows_a_unified_diff(gitops_server, configs):
    assert syncer(gitops_server, "apply", str(configs), "--yes").exit_code == 0
    prompt = configs / "prompts" / "support.md"
    prompt.write_text(prompt.read_text().replace("never promise refunds", "offer a refund once"))
    result = syncer(gitops_server, "plan", str(configs), "--detailed-exitcode")
    assert result.exit_code == 2
    assert "    instructions:" in result.stdout
    assert "    -- Be brief and friendly; never promise refunds." in result.stdout
    assert "    +- Be brief and friendly; offer a refund once." in result.stdout
    assert "Plan: 0 to create, 1 to update" in result.stdout


def test_json_key_order_and_server_defaults_are_not_drift(gitops_server, configs):
    assert syncer(gitops_server, "apply", str(configs), "--yes").exit_code == 0
    # Same parameters, keys in another order and flow style: still no change.
    triage = configs / "triage.yml"
    triage.write_text(
        "name: Triage\nmodel: gpt-4o-mini\ninstructions: Route each ticket to billing, shipping or other.\n"
        "tools:\n  - function:\n      parameters: {required: [queue], type: object, properties: "
        "{queue: {enum: [billing, shipping, other], type: string}}}\n      name: route_ticket\n"
        "    type: function\n"
    )
    assert syncer(gitops_server, "plan", str(configs), "--detailed-exitcode").exit_code == 0
    # The server filled in temperature, top_p, response_format and file_search options.
    researcher = next(a for a in gitops_server.assistants() if a["name"] == "Researcher")
    assert researcher["temperature"] == 1.0 and researcher["response_format"] == {
        "type": "json_object"
    }


def test_field_removed_from_the_file_goes_back_to_the_default(gitops_server, configs):
    assert syncer(gitops_server, "apply", str(configs), "--yes").exit_code == 0
    support = configs / "support.yaml"
    support.write_text(support.read_text().replace("temperature: 0.3\n", ""))
    plan = plan_json(gitops_server, configs)
    assert plan["actions"][0]["changes"] == [{"field": "temperature", "before": 0.3, "after": 1.0}]
    assert syncer(gitops_server, "apply", str(configs), "--yes").exit_code == 0
    assert syncer(gitops_server, "plan", str(configs), "--detailed-exitcode").exit_code == 0


def test_metadata_edits_keep_the_marker(gitops_server, configs):
    assert syncer(gitops_server, "apply", str(configs), "--yes").exit_code == 0
    support = configs / "support.yaml"
    support.write_text(support.read_text().replace("  tier: ${SYNCER_VAR_SUPPORT_TIER:-gold}\n", ""))
    plan = plan_json(gitops_server, configs)
    assert plan["actions"][0]["changes"] == [
        {
            "field": "metadata",
            "before": {"team": "support", "tier": "gold"},
            "after": {"team": "support"},
        }
    ]
    assert syncer(gitops_server, "apply", str(configs), "--yes").exit_code == 0
    [live] = [a for a in gitops_server.assistants() if a["name"] == "Support agent"]
    assert live["metadata"] == {"team": "support", "syncer:name": "Support agent"}


# --- ownership ---------------------------------------------------------------------------------------


def test_unmanaged_namesake_is_a_conflict_until_adopted(gitops_server, configs):
    hand_made = gitops_server.api(
        "POST", "/assistants", {"model": "gpt-3.5-turbo", "name": "Triage"}
    ).json()
    raw_before = gitops_server.api("GET", f"/assistants/{hand_made['id']}").content

    plan = syncer(gitops_server, "plan", str(configs))
    assert plan.exit_code == 1
    assert f'! conflict "Triage" {hand_made["id"]}' in plan.stdout
    assert "syncer apply --adopt" in plan.stdout
    # A conflict is an error for CI, even beside changes: 1, not 2.
    detailed = syncer(gitops_server, "plan", str(configs), "--json", "--detailed-exitcode")
    assert detailed.exit_code == 1
    summary = json.loads(detailed.stdout)["summary"]
    assert (summary["conflict"], summary["create"], summary["unmanaged"]) == (1, 3, 1)

    applied = syncer(gitops_server, "apply", str(configs), "--yes")
    assert applied.exit_code == 1
    # The other configs are applied; the conflicting one is left alone, and nothing is created for it.
    assert sorted(gitops_server.managed()) == ["Researcher", "Summarizer", "Support agent"]
    assert gitops_server.api("GET", f"/assistants/{hand_made['id']}").content == raw_before

    adopted = syncer(gitops_server, "apply", str(configs), "--adopt", "--yes")
    assert adopted.exit_code == 0, adopted.output
    assert f'~ adopt "Triage" {hand_made["id"]}' in adopted.stdout
    assert gitops_server.managed()["Triage"] == [hand_made["id"]]
    live = gitops_server.api("GET", f"/assistants/{hand_made['id']}").json()
    assert live["model"] == "gpt-4o-mini" and live["tools"][0]["function"]["name"] == "route_ticket"
    assert syncer(gitops_server, "plan", str(configs), "--detailed-exitcode").exit_code == 0


def test_prune_never_touches_unmarked_or_replay_assistants(gitops_server, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    plain = gitops_server.api("POST", "/assistants", {"model": "m", "name": "Mine"}).json()["id"]
    replay = gitops_server.api(
        "POST",
        "/assistants",
        {
            "model": "m",
            "name": "Replay tmp",
            "metadata": {"syncer:replay": "run-1", "syncer:name": "X"},
        },
    ).json()["id"]
    managed = gitops_server.api(
        "POST", "/assistants", {"model": "m", "name": "Old", "metadata": {"syncer:name": "Old"}}
    ).json()["id"]
    plan = plan_json(gitops_server, empty, "--prune")
    assert [(a["action"], a["assistant_id"]) for a in plan["actions"]] == [("delete", managed)]
    assert syncer(gitops_server, "apply", str(empty), "--prune", "--yes").exit_code == 0
    assert [a["id"] for a in gitops_server.assistants()] == [plain, replay]


def test_an_assistant_created_just_before_a_crash_is_found_by_its_marker(gitops_server, configs):
    # As if an earlier apply created it and died before printing anything.
    body = {"model": "gpt-4o-mini", "name": "Triage", "metadata": {"syncer:name": "Triage"}}
    earlier = gitops_server.api("POST", "/assistants", body).json()["id"]
    result = syncer(gitops_server, "apply", str(configs), "--yes")
    assert result.exit_code == 0, result.output
    assert gitops_server.managed()["Triage"] == [earlier]
    assert len(gitops_server.managed()) == 4


# --- failures ------------------------------------------------------------------------------------------


def five_configs(configs: Path) -> Path:
    """The team's four configs plus a fifth: five creates, in file-name order."""
    (configs / "fifth.yaml").write_text(
        "name: Fifth\nmodel: gpt-4o-mini\ndescription: number five\n"
    )
    return configs


def test_partial_failure_then_rerun_converges_without_duplicates(gitops_server, configs):
    """The server fails the third of five writes with the user's default settings: the third
    create's every attempt (the first and each default retry) gets a 500, so apply gives up."""
    five_configs(configs)
    attempts = 1 + ClientSettings().max_retries
    gitops_server.faults({"fail_writes": list(range(3, 3 + attempts)), "status": 500})
    failed = syncer(gitops_server, "apply", str(configs), "--yes", default_retries=True)
    assert failed.exit_code == 1
    assert f"Error: create 'Summarizer': gave up after {attempts} attempts: HTTP 500" in failed.stderr
    assert "Applied 2 of 5 changes; 3 not done." in failed.stderr
    assert sorted(gitops_server.managed()) == ["Fifth", "Researcher"]  # files in name order
    stats = gitops_server.stats()
    assert stats["by_status"].get("500") == attempts
    assert stats["by_route"]["POST /v1/assistants"] == 2 + attempts

    rerun = syncer(gitops_server, "apply", str(configs), "--yes", default_retries=True)
    assert rerun.exit_code == 0, rerun.output
    assert "Plan: 3 to create, 0 to update" in rerun.stdout
    managed = gitops_server.managed()
    assert sorted(managed) == ["Fifth", "Researcher", "Summarizer", "Support agent", "Triage"]
    assert all(len(ids) == 1 for ids in managed.values())
    assert len(gitops_server.assistants()) == 5
    assert syncer(gitops_server, "plan", str(configs), "--detailed-exitcode").exit_code == 0


def test_a_passing_failure_is_retried_and_apply_succeeds_without_duplicates(gitops_server, configs):
    """One 500 on the third write: the default retry absorbs it in the same run."""
    five_configs(configs)
    gitops_server.faults({"fail_writes": [3], "status": 500})
    result = syncer(gitops_server, "apply", str(configs), "--yes", default_retries=True)
    assert result.exit_code == 0, result.output
    assert gitops_server.stats()["by_status"].get("500") == 1
    managed = gitops_server.managed()
    assert len(managed) == 5 and all(len(ids) == 1 for ids in managed.values())
    assert len(gitops_server.assistants()) == 5


def test_apply_refuses_without_yes_when_stdin_is_not_a_terminal(gitops_server, configs):
    result = syncer(gitops_server, "apply", str(configs), input="y\n")
    assert result.exit_code == 1
    assert "refusing to apply without --yes: stdin is not a terminal" in result.stderr
    assert gitops_server.stats()["writes"] == 0


def test_unreachable_server_is_one_line_and_exit_1(configs):
    env = {
        "OPENAI_BASE_URL": "http://127.0.0.1:9/v1",
        "OPENAI_API_KEY": KEY,
        "SYNCER_MAX_RETRIES": "0",
    }
    result = CliRunner().invoke(cli, ["plan", str(configs)], env=env)
    assert result.exit_code == 1
    assert result.stderr.splitlines()[-1].startswith("Error: GET http://127.0.0.1:9/v1/assistants")
    assert "Traceback" not in result.output
    assert KEY not in result.output


def test_wrong_key_is_one_line_with_status_code_and_request_id(emulator, configs):
    wrong = "sk-wrong-gitops-key-0123456789"
    running = emulator(api_key="sk-the-right-one-0123456789")
    env = {"OPENAI_BASE_URL": running.base_url, "OPENAI_API_KEY": wrong}
    for args in (["plan", str(configs)], ["apply", str(configs), "--yes", "--json"]):
        result = CliRunner().invoke(cli, args, env=env)
        assert result.exit_code == 1, args
        if "--json" in args:  # the error as JSON on stdout too
            error = json.loads(result.stdout)["error"]
            assert (error["type"], error["status_code"]) == ("AuthenticationError", 401)
        else:
            assert result.stdout == ""
        last = result.stderr.splitlines()[-1]
        assert last.startswith("Error: HTTP 401 invalid_api_key: Incorrect API key provided")
        assert "(request id req_" in last
        assert wrong not in result.output and wrong[-12:] not in result.output
        assert "Traceback" not in result.output


# --- the bad-input corpus, against a live server ------------------------------------------------------


def corpus() -> list[Path]:
    return sorted(BAD.iterdir())


@pytest.mark.parametrize("command", ["plan", "apply"])
def test_every_bad_file_exits_1_naming_file_line_and_field_with_zero_writes(
    gitops_server, tmp_path, monkeypatch, command
):
    monkeypatch.delenv("SYNCER_VAR_SURELY_UNSET_MODEL", raising=False)
    checked = 0
    for entry in corpus():
        directory = tmp_path / command / entry.name
        if entry.is_dir():
            shutil.copytree(entry, directory)
        else:
            directory.mkdir(parents=True)
            shutil.copy(entry, directory / entry.name)
        args = [command, str(directory)] + (["--yes"] if command == "apply" else [])
        result = syncer(gitops_server, *args)
        assert result.exit_code == 1, (entry.name, result.output)
        assert result.stdout == "", entry.name
        for path in directory.iterdir():
            for line in path.read_bytes().splitlines():
                if line.startswith(b"# expect: "):
                    prefix = f"Error: {path}:{line[len(b'# expect: ') :].decode()}"
                    assert prefix in result.stderr, (entry.name, result.stderr)
                    checked += 1
        assert "Traceback" not in result.output
    assert checked >= 25
    stats = gitops_server.stats()
    assert stats["writes"] == 0
    assert stats["requests"] == 0  # validation happens before any API call


def _apply_on_a_terminal(server: Server, directory: Path, answer: str) -> tuple[int, str]:
    """`syncer apply` in a real process whose stdin is a pseudo-terminal, answering the prompt."""
    leader, follower = pty.openpty()
    env = {**os.environ, "OPENAI_BASE_URL": server.base_url, "OPENAI_API_KEY": KEY}
    with subprocess.Popen(
        [sys.executable, "-m", "syncer", "apply", str(directory)],
        stdin=follower,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    ) as process:
        os.close(follower)
        os.write(leader, answer.encode() + b"\n")
        out, err = process.communicate(timeout=60)
    os.close(leader)
    return process.returncode, out + err


def test_apply_on_a_terminal_asks_first(gitops_server, configs):
    code, output = _apply_on_a_terminal(gitops_server, configs, "n")
    assert code == 1
    assert "Apply these changes? [y/N]" in output and "Apply cancelled; nothing changed." in output
    assert gitops_server.stats()["writes"] == 0
    code, output = _apply_on_a_terminal(gitops_server, configs, "y")
    assert code == 0, output
    assert "No changes: the account matches the configs (4 managed assistants)." in output
    assert gitops_server.stats()["writes"] == 4


# --- what a config may read from the environment (issue 13, item 6) ----------------------------


def test_a_config_cannot_copy_the_api_key_into_plan_or_server(gitops_server, tmp_path):
    directory = tmp_path / "assistants"
    directory.mkdir()
    (directory / "a.yaml").write_text('name: A\nmodel: m\ninstructions: "key is ${OPENAI_API_KEY}"\n')
    for command in (["plan"], ["apply", "--yes"]):
        result = syncer(gitops_server, *command, str(directory))
        assert result.exit_code == 1
        assert result.stderr.startswith(
            f"Error: {directory / 'a.yaml'}:3: instructions: environment variable OPENAI_API_KEY "
            "is never readable from a config"
        )
        assert KEY not in result.output
        result = syncer(gitops_server, *command, str(directory), "--allow-env", "OPENAI_API_KEY")
        assert (result.exit_code, KEY in result.output) == (1, False)
        assert "Error: --allow-env OPENAI_API_KEY: keys and connection settings" in result.stderr
    assert gitops_server.stats()["requests"] == 0


def test_allow_env_lets_a_named_variable_through(gitops_server, tmp_path, monkeypatch):
    monkeypatch.setenv("TEAM_MODEL", "gpt-4.1-mini")
    directory = tmp_path / "assistants"
    directory.mkdir()
    (directory / "a.yaml").write_text("name: A\nmodel: ${TEAM_MODEL}\n")
    refused = syncer(gitops_server, "plan", str(directory))
    assert refused.exit_code == 1 and "--allow-env TEAM_MODEL" in refused.stderr
    result = syncer(gitops_server, "apply", str(directory), "--yes", "--allow-env", "TEAM_MODEL")
    assert result.exit_code == 0, result.output
    assert [a["model"] for a in gitops_server.assistants()] == ["gpt-4.1-mini"]


@pytest.mark.parametrize("command", ["plan", "apply", "watch", "replay"])
def test_every_command_that_reads_configs_takes_allow_env(command):
    result = CliRunner().invoke(cli, [command, "--help"])
    assert "--allow-env NAME" in result.output
