"""The emulator under hostile use: its controls need the key, its state file is private, and
bodies that are too big, too deep or hold absurd numbers are 4xx answers in the API's shape."""

from __future__ import annotations

import os
import stat

import httpx
import pytest
from click.testing import CliRunner

from syncer.cli import cli
from syncer.emulator import EmulatorConfig, create_app

KEY = "sk-emulator-control-key-0123456789"
V1 = {"OpenAI-Beta": "assistants=v2"}


def client_for(config: EmulatorConfig) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(create_app(config)),
                             base_url="http://emulator")


def error_of(response: httpx.Response, status: int) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"message", "type", "param", "code"}
    return body["error"]


# --- item 7: the controls, the state file, the key's help ------------------------------------


@pytest.mark.parametrize("method, path, body", [
    ("GET", "/_emulator/stats", None),
    ("POST", "/_emulator/stats/reset", None),
    ("POST", "/_emulator/faults", {"fail_requests": [1], "status": 500}),
])
async def test_with_a_key_the_controls_need_it_too(method, path, body):
    async with client_for(EmulatorConfig(api_key=KEY, run_ms=0)) as client:
        anonymous = await client.request(method, path, json=body)
        assert error_of(anonymous, 401)["message"].startswith("You didn't provide an API key.")
        wrong = await client.request(method, path, json=body,
                                     headers={"Authorization": "Bearer sk-another-key-abcdefgh"})
        assert error_of(wrong, 401)["code"] == "invalid_api_key"
        # Nothing was scripted: the next API request still succeeds.
        ok = await client.get("/v1/assistants", headers={**V1, "Authorization": f"Bearer {KEY}"})
        assert ok.status_code == 200
        allowed = await client.request(method, path, json=body,
                                       headers={"Authorization": f"Bearer {KEY}"})
        assert allowed.status_code == 200, allowed.text


async def test_without_a_key_the_controls_stay_open():
    async with client_for(EmulatorConfig(run_ms=0)) as client:
        assert (await client.get("/_emulator/stats")).status_code == 200


def test_a_new_state_file_and_its_wal_are_owner_only(tmp_path):
    state = tmp_path / "deep" / "emulator.db"
    old_umask = os.umask(0o022)
    try:
        emulator = create_app(EmulatorConfig(state=state, run_ms=0)).state.emulator
        emulator.store.add("assistant", {"id": "asst_1", "object": "assistant", "created_at": 1})
        files = sorted(path.name for path in state.parent.iterdir())
        assert "emulator.db" in files and "emulator.db-wal" in files
        for name in files:
            assert stat.S_IMODE((state.parent / name).stat().st_mode) == 0o600, name
        emulator.close()
    finally:
        os.umask(old_umask)


def test_the_help_recommends_the_environment_variable_for_the_key():
    text = CliRunner().invoke(cli, ["emulator", "--help"], terminal_width=200).output
    assert "SYNCER_EMULATOR_API_KEY" in text
    assert "ps" in text.split("--api-key", 1)[1]
