"""The API key, the backend key and the judge key appear in no file, log or output.

One user's whole session with distinctive keys: an emulator in its own process (its key from
the environment, runs on a model backend with its own key), then apply, a run, threads add,
sync, search, show, status, backup, export, load, replay, restore, migrate, and failing
commands (a wrong key, a dead server). Afterwards every file the session produced, the
emulator's log, every command's stdout and stderr and every log record (DEBUG and up) are
searched for each key, whole and in part.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from fakes.chat_server import FakeChatServer
from fakes.judge import grading

from syncer.api.client import AssistantsClient
from syncer.api.settings import ClientSettings
from syncer.cli import cli

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="sends SIGINT")

API_KEY = "sk-canary-API-4f1c9e27b3d84a6f"
BACKEND_KEY = "sk-canary-BACKEND-8e2d7c51a9f04b3e"
JUDGE_KEY = "sk-canary-JUDGE-3b6a0f94d2c75e18"
WRONG_KEY = "sk-canary-WRONG-7d9e1a3c5b2f4068"
SECRETS = {"api": API_KEY, "backend": BACKEND_KEY, "judge": JUDGE_KEY, "wrong": WRONG_KEY}

CONFIG = """\
name: canary-helper
model: gpt-4o
instructions: Answer briefly.
"""


def start_emulator(tmp_path: Path, backend_url: str) -> tuple[subprocess.Popen[str], str, Path]:
    log = tmp_path / "emulator.log"
    with log.open("w") as log_file:
        process = subprocess.Popen(
            [sys.executable, "-m", "syncer", "emulator", "--port", "0", "--backend", backend_url,
             "--state", str(tmp_path / "emulator" / "state.db")],
            stdout=log_file, stderr=subprocess.STDOUT, text=True,
            env={**os.environ, "SYNCER_EMULATOR_API_KEY": API_KEY,
                 "SYNCER_BACKEND_API_KEY": BACKEND_KEY, "SYNCER_JUDGE_API_KEY": JUDGE_KEY},
        )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        match = re.search(r"(http://127\.0\.0\.1:\d+/v1)", log.read_text())
        if match:
            return process, match.group(1), log
        assert process.poll() is None, log.read_text()
        time.sleep(0.05)
    raise AssertionError("the emulator did not start: " + log.read_text())


async def converse(base_url: str, assistant_name: str) -> str:
    settings = ClientSettings(api_key=API_KEY, base_url=base_url)
    async with AssistantsClient(settings) as client:
        named = [a async for a in client.list_assistants() if a.name == assistant_name]
        assistant = named[0]
        thread = await client.create_thread(
            {"messages": [{"role": "user", "content": "Say hello to the canary."}]})
        run = await client.run_until_settled(thread.id, {"assistant_id": assistant.id},
                                             timeout=30)
        assert run.status == "completed", run
        return thread.id


def test_no_key_is_written_printed_or_logged(tmp_path, monkeypatch, caplog):
    caplog.set_level(logging.DEBUG)
    configs = tmp_path / "configs"
    configs.mkdir()
    (configs / "helper.yaml").write_text(CONFIG)
    mirror = tmp_path / "mirror.db"
    outputs: list[str] = []
    with FakeChatServer() as backend, FakeChatServer(grading(lambda reply: 4)) as judge:
        process, base_url, log = start_emulator(tmp_path, backend.base_url)
        try:
            env = {"OPENAI_API_KEY": API_KEY, "OPENAI_BASE_URL": base_url,
                   "SYNCER_BACKEND_API_KEY": BACKEND_KEY, "SYNCER_JUDGE_API_KEY": JUDGE_KEY,
                   "SYNCER_JUDGE_BASE_URL": judge.base_url, "SYNCER_DB": str(mirror)}
            for name, value in env.items():
                monkeypatch.setenv(name, value)

            def run(*args: str, code: int = 0) -> None:
                result = CliRunner().invoke(cli, list(args))
                outputs.append(result.stdout + result.stderr)
                assert result.exit_code == code, (args, result.output)

            run("apply", str(configs), "--yes")
            thread_id = asyncio.run(converse(base_url, "canary-helper"))
            run("threads", "add", thread_id)
            run("sync")
            run("sync", "--json", "--full")
            run("search", "canary")
            run("show", thread_id)
            run("status")
            run("status", "--json")
            run("plan", str(configs))
            run("backup", str(tmp_path / "backup.db"))
            run("export", str(tmp_path / "export"))
            run("load", str(tmp_path / "export"), "--db", str(tmp_path / "loaded.db"))
            run("replay", thread_id, "--run-timeout", "30")
            run("replay", thread_id, "--json", "--judge", "judge-1",
                "--report", str(tmp_path / "report.xml"))
            run("restore", "--from", str(tmp_path / "backup.db"), "--assistants", "--threads",
                "--yes", "--db", str(tmp_path / "restored.db"))
            run("migrate", "--yes")
            # Failing commands: a wrong key, a server that is gone.
            run("sync", "--api-key", WRONG_KEY, code=1)
            run("apply", str(configs), "--yes", "--api-key", WRONG_KEY, code=1)
            run("replay", thread_id, "--api-key", WRONG_KEY, code=1)
        finally:
            process.send_signal(signal.SIGINT)
            process.wait(30)
        assert backend.requests, "the runs went to the backend"
        assert judge.requests, "the replay was judged"
    run("sync", "--max-retries", "0", code=1)

    def leaks(text: str | bytes, where: str) -> list[str]:
        data = text.encode() if isinstance(text, str) else text
        found = []
        for name, secret in SECRETS.items():
            # Whole, or its distinctive middle (masks may show the first 3 and last 4).
            if secret.encode() in data or secret[3:-4].encode() in data:
                found.append(f"{name} key in {where}")
        return found

    problems: list[str] = []
    files = [path for path in tmp_path.rglob("*") if path.is_file()]
    assert len(files) > 10, files
    for path in files:
        problems += leaks(path.read_bytes(), str(path.relative_to(tmp_path)))
    for number, text in enumerate(outputs):
        problems += leaks(text, f"the output of command {number}")
    problems += leaks(caplog.text, "the log records")
    problems += leaks("\n".join(repr(r.args) for r in caplog.records), "the log arguments")
    assert problems == []
    assert "Traceback" not in log.read_text() and process.returncode == 0
