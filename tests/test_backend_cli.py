"""`syncer emulator --backend URL` as a user runs it: its own process, a real SDK client."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time

import openai
import pytest
from click.testing import CliRunner
from fakes.chat_server import FakeChatServer, Reply

from syncer.cli import cli

pytestmark = [pytest.mark.skipif(sys.platform == "win32", reason="sends SIGINT"),
              pytest.mark.filterwarnings("ignore::DeprecationWarning")]

BACKEND_KEY = "sk-backend-cli-SECRET-0123456789"


def test_a_run_through_the_command_goes_to_the_backend_model_and_the_key_stays_hidden():
    with FakeChatServer() as fake:
        fake.script(Reply(text="Hi from llama."))
        process = subprocess.Popen(
            [sys.executable, "-m", "syncer", "emulator", "--port", "0", "--backend", fake.base_url,
             "--backend-model", "llama3.2"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env={**os.environ, "SYNCER_BACKEND_API_KEY": BACKEND_KEY},
        )
        try:
            line = process.stderr.readline()
            match = re.search(r"(http://127\.0\.0\.1:\d+/v1)", line)
            assert match, line
            assert f"runs on {fake.base_url}" in line
            sdk = openai.OpenAI(base_url=match.group(1), api_key="sk-local")
            agent = sdk.beta.assistants.create(model="gpt-4o")
            run = sdk.beta.threads.create_and_run_poll(
                assistant_id=agent.id, thread={"messages": [{"role": "user", "content": "Hi"}]},
                poll_interval_ms=20)
            assert (run.status, run.model) == ("completed", "gpt-4o")  # the API keeps the client's model
        finally:
            process.send_signal(signal.SIGINT)
            process.wait(20)
            # Not communicate(): it would skip what readline() buffered.
            out, err = process.stdout.read(), process.stderr.read()
            process.stdout.close()
            process.stderr.close()
    assert process.returncode == 0
    assert fake.requests[0].body["model"] == "llama3.2"
    assert fake.requests[0].headers["authorization"] == f"Bearer {BACKEND_KEY}"
    assert "sk-local" not in str(fake.requests[0].headers)
    assert BACKEND_KEY not in line + out + err and "Traceback" not in err


@pytest.mark.parametrize(("args", "code", "message"), [
    (["--backend-model", "llama3"], 1, "--backend-model needs --backend URL"),
    (["--backend", "ftp://models.local/v1"], 1, "--backend: "),
])
def test_bad_backend_options_are_one_line(args, code, message):
    result = CliRunner().invoke(cli, ["emulator", "--port", "0", *args])
    assert result.exit_code == code
    assert message in result.output and "Traceback" not in result.output


def test_ctrl_c_while_the_backend_keeps_writing_ends_the_open_stream_at_once():
    # A token every 50 ms for 20 s: the stream is never quiet, yet Ctrl-C must not wait for it.
    with FakeChatServer() as fake:
        fake.script(Reply(text=" ".join(["word"] * 400), pace=0.05))
        process = subprocess.Popen(
            [sys.executable, "-m", "syncer", "emulator", "--port", "0", "--backend", fake.base_url],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env={**os.environ, "SYNCER_BACKEND_API_KEY": BACKEND_KEY},
        )
        try:
            match = re.search(r"(http://127\.0\.0\.1:\d+/v1)", process.stderr.readline())
            assert match
            with openai.OpenAI(base_url=match.group(1), api_key="sk-local", max_retries=0) as sdk:
                agent = sdk.beta.assistants.create(model="gpt-4o")
                names = []
                with sdk.beta.threads.create_and_run(
                        assistant_id=agent.id, stream=True,
                        thread={"messages": [{"role": "user", "content": "Write a lot"}]}) as events:
                    for event in events:
                        names.append(event.event)
                        if names.count("thread.message.delta") == 3:
                            stopped_at = time.monotonic()
                            process.send_signal(signal.SIGINT)
            _, err = process.communicate(timeout=20)
            took = time.monotonic() - stopped_at
        finally:
            if process.poll() is None:
                process.kill()
    assert process.returncode == 0
    assert err == "syncer emulator stopped\n"  # quiet: no error, no traceback
    assert "thread.run.completed" not in names  # the stream ended unfinished …
    assert took < 5, took  # … at once, not when the model is done (20 s)


@pytest.mark.parametrize(("backend", "key", "noted"), [
    ("https://127.0.0.1:9/v1", None, True),  # a hosted API with no key: every run would fail
    ("https://127.0.0.1:9/v1", "sk-hosted-0123456789", False),
    ("http://127.0.0.1:9/v1", None, False),  # a local model server needs none
])
def test_an_https_backend_without_a_key_is_noted_at_start(backend, key, noted):
    environ = {name: value for name, value in os.environ.items() if name != "SYNCER_BACKEND_API_KEY"}
    if key:
        environ["SYNCER_BACKEND_API_KEY"] = key
    process = subprocess.Popen([sys.executable, "-m", "syncer", "emulator", "--port", "0", "--backend", backend],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=environ)
    try:
        match = re.search(r"(http://127\.0\.0\.1:\d+/v1)", process.stderr.readline())
        assert match
        with openai.OpenAI(base_url=match.group(1), api_key="sk-local") as sdk:
            sdk.beta.assistants.list()  # it serves, so its start-up lines are all out
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(20)
    err = process.stderr.read()  # not communicate(): it would skip what readline() buffered
    process.stderr.close()
    assert ("SYNCER_BACKEND_API_KEY is not set" in err) is noted
    assert process.returncode == 0 and "Traceback" not in err
