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
    process.wait(20)
    # Not communicate(): it would skip what start()'s readline() buffered after the first line.
    out, err = process.stdout.read(), process.stderr.read()
    process.stdout.close()
    process.stderr.close()
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


BETA = {"Authorization": "Bearer sk-cli", "OpenAI-Beta": "assistants=v2"}


def test_knobs_from_the_command_line(tmp_path: Path):
    """--load, --api-key, --no-stream, --run-ms, --latency-ms and the counters, as flags."""
    from syncer.emulator.generate import generate_account

    account = generate_account(seed=2, assistants=3, threads=1)
    account_file = tmp_path / "account.json"
    account_file.write_text(json.dumps(account))
    process, base_url = start("--load", str(account_file), "--api-key", "sk-cli",
                              "--no-stream", "--run-ms", "400", "--latency-ms", "150")
    root = base_url.removesuffix("/v1")
    try:
        with httpx.Client(base_url=base_url, headers=BETA, timeout=10) as api:
            assert api.get("/assistants").status_code == 200  # the first answer warms up
            listed = api.get("/assistants", params={"order": "asc"})
            # --latency-ms: every /v1 answer waits at least that long.
            assert listed.elapsed.total_seconds() >= 0.15
            assert [a["id"] for a in listed.json()["data"]] == [a["id"] for a in account["assistants"]]
            assert api.get("/assistants", headers={"Authorization": "Bearer sk-other"}).status_code == 401

            thread = api.post("/threads", json={"messages": [{"role": "user", "content": "hi"}]}).json()
            streamed = api.post(f"/threads/{thread['id']}/runs",
                                json={"assistant_id": account["assistants"][0]["id"], "stream": True})
            assert streamed.status_code == 400  # --no-stream
            assert streamed.json()["error"]["param"] == "stream"

            run = api.post(f"/threads/{thread['id']}/runs",
                           json={"assistant_id": account["assistants"][0]["id"]}).json()
            statuses = [run["status"]]
            while statuses[-1] not in ("completed", "failed", "expired"):
                statuses.append(api.get(f"/threads/{thread['id']}/runs/{run['id']}").json()["status"])
            # --run-ms 400 with 150 ms a request: the run is seen queued/in progress first.
            assert statuses[0] == "queued" and "in_progress" in statuses and statuses[-1] == "completed"

        # With --api-key the controls need the key too.
        assert httpx.get(f"{root}/_emulator/stats").status_code == 401
        key = {"Authorization": "Bearer sk-cli"}
        stats = httpx.get(f"{root}/_emulator/stats", headers=key).json()
        assert stats["by_route"]["POST /v1/threads/{thread_id}/runs"] == 2
        assert stats["by_status"]["401"] == 1 and stats["writes"] == 3
        assert httpx.post(f"{root}/_emulator/stats/reset", headers=key).status_code == 200
        assert httpx.get(f"{root}/_emulator/stats", headers=key).json()["requests"] == 0
    finally:
        code, _, err = stop(process)
    assert code == 0 and "Traceback" not in err and "sk-cli" not in err


def fault_sequence(*args: str) -> tuple[list[int | str], dict]:
    """Statuses of 30 list requests to a fresh `syncer emulator` ("drop": cut off)."""
    process, base_url = start(*args)
    outcomes: list[int | str] = []
    try:
        with httpx.Client(base_url=base_url, headers=BETA, timeout=10) as api:
            for _ in range(30):
                try:
                    response = api.get("/assistants")
                except httpx.TransportError:
                    outcomes.append("drop")
                    continue
                outcomes.append(response.status_code)
                if response.status_code == 429:
                    assert 10 <= int(response.headers["retry-after-ms"]) <= 50
        stats = httpx.get(f"{base_url.removesuffix('/v1')}/_emulator/stats").json()
    finally:
        stop(process)
    return outcomes, stats


def test_fault_rate_and_seed_from_the_command_line():
    first, stats = fault_sequence("--fault-rate", "0.6", "--seed", "5")
    again, _ = fault_sequence("--fault-rate", "0.6", "--seed", "5")
    other, _ = fault_sequence("--fault-rate", "0.6", "--seed", "6")
    assert first == again  # --seed: the same faults, request for request
    assert first != other
    assert {429, 500, 503, "drop"} <= set(first) and 200 in first
    assert stats["faults"] == sum(1 for o in first if o != 200)


def test_state_survives_a_restart(tmp_path: Path):
    state = tmp_path / "state.db"
    process, base_url = start("--state", str(state))
    try:
        created = httpx.post(f"{base_url}/assistants", json={"model": "gpt-4o", "name": "kept"},
                             headers=BETA).json()
    finally:
        assert stop(process)[0] == 0
    process, base_url = start("--state", str(state))
    try:
        again = httpx.get(f"{base_url}/assistants/{created['id']}", headers=BETA).json()
    finally:
        assert stop(process)[0] == 0
    assert again == created


@pytest.mark.parametrize(("content", "problem"), [
    (b"not a database at all, just text" * 100, "not an emulator state file (file is not a database)"),
    (None, "not an emulator state file (it has tables notes); give a new or an emulator --state file"),
])  # fmt: skip
def test_a_state_file_that_is_not_ours_is_one_line_and_exit_1(tmp_path: Path, content, problem):
    import sqlite3

    state = tmp_path / "other.db"
    if content is None:
        with sqlite3.connect(state) as db:
            db.execute("CREATE TABLE notes (text)")
    else:
        state.write_bytes(content)
    before = state.read_bytes()
    result = subprocess.run(
        [sys.executable, "-m", "syncer", "emulator", "--port", "0", "--state", str(state)],
        capture_output=True, text=True, timeout=30,
    )
    assert (result.returncode, result.stderr) == (1, f"Error: {state}: {problem}\n")
    assert state.read_bytes() == before  # the file is left as it was


def test_ctrl_c_with_an_event_stream_open_stops_quietly():
    process, base_url = start("--run-ms", "600000")  # the run would stream for ten minutes
    try:
        with httpx.Client(base_url=base_url, headers=BETA, timeout=20) as api:
            assistant = api.post("/assistants", json={"model": "gpt-4o"}).json()
            body = {"assistant_id": assistant["id"], "stream": True,
                    "thread": {"messages": [{"role": "user", "content": "hi"}]}}
            with api.stream("POST", "/threads/runs", json=body) as response:
                lines = response.iter_lines()
                assert next(lines) == "event: thread.created"
                code, _, err = stop(process)  # while the stream is still open
    finally:
        if process.poll() is None:
            process.kill()
    assert code == 0
    assert err.splitlines() == ["syncer emulator stopped"]  # no error, no traceback
