"""`syncer emulator` as a user runs it: a foreground process, stopped with Ctrl-C (SIGINT)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from syncer.emulator.generate import sample_account_path

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="sends SIGINT")


def start(*args: str, env: dict[str, str] | None = None) -> tuple[subprocess.Popen, str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "syncer", "emulator", "--port", "0", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, **(env or {})},
    )
    line = process.stderr.readline()
    match = re.search(r"(http://127\.0\.0\.1:\d+/v1)", line)
    if match is None:
        process.kill()
        pytest.fail(f"no base URL announced: {line!r} {process.stderr.read()!r}")
    return process, match.group(1)


def stop(process: subprocess.Popen) -> tuple[int, str, str]:
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=20)
    return process.returncode, out, err


def test_serves_the_sample_account_and_stops_cleanly_on_ctrl_c():
    process, base_url = start("--sample")
    try:
        headers = {"Authorization": "Bearer anything", "OpenAI-Beta": "assistants=v2"}
        listed = httpx.get(f"{base_url}/assistants", params={"order": "asc"}, headers=headers).json()
        expected = json.loads(sample_account_path().read_text())["assistants"]
        assert [a["id"] for a in listed["data"]] == [a["id"] for a in expected]
    finally:
        code, out, err = stop(process)
    assert code == 0
    assert out == ""
    assert "stopped" in err and "Traceback" not in err


def test_api_key_from_the_environment_is_required(tmp_path: Path):
    process, base_url = start("--state", str(tmp_path / "state.db"),
                              env={"SYNCER_EMULATOR_API_KEY": "sk-env-key-1234567890"})
    try:
        beta = {"OpenAI-Beta": "assistants=v2"}
        wrong = httpx.get(f"{base_url}/assistants", headers={**beta, "Authorization": "Bearer sk-other"})
        assert wrong.status_code == 401
        right = httpx.post(f"{base_url}/assistants", json={"model": "gpt-4o"},
                           headers={**beta, "Authorization": "Bearer sk-env-key-1234567890"})
        assert right.status_code == 200
    finally:
        code, _, err = stop(process)
    assert code == 0
    assert "sk-env-key-1234567890" not in err
    assert (tmp_path / "state.db").exists()


def test_bad_account_file_is_one_line_and_exit_1(tmp_path: Path):
    bad = tmp_path / "account.json"
    bad.write_text('{"assistants": [{"id": "asst_1"}]}')
    result = subprocess.run(
        [sys.executable, "-m", "syncer", "emulator", "--port", "0", "--load", str(bad)],
        capture_output=True, text=True, timeout=30,
    )
    assert result.returncode == 1
    assert result.stderr == f"Error: {bad}: assistants[0]: missing 'created_at'\n"
