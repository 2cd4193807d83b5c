"""`syncer watch`: a real process watching a real directory, planning against the emulator.

The waits are generous (up to 20 s each) and poll the output; typical latency is far lower and
is not asserted here.
"""

from __future__ import annotations

import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from support.gitops import KEY, TEAM, Server

WAIT = 20.0


class Watcher:
    """`syncer watch` in a subprocess; its stdout and stderr lines collected by threads."""

    def __init__(self, server: Server, directory: Path, *flags: str):
        env = {
            **os.environ,
            "OPENAI_BASE_URL": server.base_url,
            "OPENAI_API_KEY": KEY,
            "SYNCER_MAX_RETRIES": "0",
            "PYTHONUNBUFFERED": "1",
        }
        self.process = subprocess.Popen(
            [sys.executable, "-m", "syncer", "watch", str(directory), "--debounce", "100", *flags],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        self.lines: queue.Queue[tuple[str, str]] = queue.Queue()
        self.seen: list[tuple[str, str]] = []
        self.pumps = [
            threading.Thread(target=self._pump, args=(name, stream), daemon=True)
            for name, stream in (("out", self.process.stdout), ("err", self.process.stderr))
        ]
        for pump in self.pumps:
            pump.start()

    def _pump(self, name: str, stream) -> None:
        for line in stream:
            self.lines.put((name, line.rstrip("\n")))

    def wait_for(self, stream: str, predicate: Callable[[str], bool]) -> str:
        """The first new line on ``stream`` that satisfies ``predicate`` (fails after WAIT s)."""
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            try:
                name, line = self.lines.get(timeout=0.1)
            except queue.Empty:
                assert self.process.poll() is None, f"watch exited: {self.seen}"
                continue
            self.seen.append((name, line))
            if name == stream and predicate(line):
                return line
        raise AssertionError(f"nothing matched on {stream} within {WAIT} s; saw {self.seen}")

    def stop(self) -> int:
        self.process.send_signal(signal.SIGINT)
        try:
            code = self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            code = self.process.wait()
        for pump in self.pumps:
            pump.join(5)
        for stream in (self.process.stdout, self.process.stderr):
            stream.close()
        return code


def test_writing_a_file_triggers_a_new_plan_and_problems_do_not_stop_it(gitops_server, tmp_path):
    directory = tmp_path / "assistants"
    shutil.copytree(TEAM, directory)
    watcher = Watcher(gitops_server, directory)
    try:
        watcher.wait_for("out", lambda line: line.startswith("Plan: 4 to create"))

        # A burst of saves is debounced into one cycle: one "Changed:" line, one plan.
        # (Written aside, then renamed in: three syscalls, well inside the 50 ms of quiet.)
        staging = tmp_path / "staging"
        staging.mkdir()
        for n in (1, 2, 3):
            (staging / f"newcomer{n}.yaml").write_text(f"name: Newcomer {n}\nmodel: gpt-4o-mini\n")
        for n in (1, 2, 3):
            os.rename(staging / f"newcomer{n}.yaml", directory / f"newcomer{n}.yaml")
        changed = watcher.wait_for("err", lambda line: line.startswith("Changed:"))
        assert changed == "Changed: newcomer1.yaml, newcomer2.yaml, newcomer3.yaml"
        watcher.wait_for("out", lambda line: line.startswith('+ create "Newcomer 3"'))
        watcher.wait_for("out", lambda line: line.startswith("Plan: 7 to create"))

        (directory / "broken.yaml").write_text("name: Broken\nmodel: gpt-4o\ntemperature: hot\n")
        watcher.wait_for(
            "err",
            lambda line: line.startswith(f"Error: {directory / 'broken.yaml'}:3: temperature:"),
        )

        (directory / "broken.yaml").write_text("name: Broken\nmodel: gpt-4o\ntemperature: 0.5\n")
        watcher.wait_for("out", lambda line: line.startswith("Plan: 8 to create"))
        assert gitops_server.stats()["writes"] == 0  # watch without --apply only plans
        # Every cycle printed one plan: the burst did not plan three times.
        plans = [line for name, line in watcher.seen if line.startswith("Plan: ")]
        assert [p.split(" to create")[0] for p in plans] == ["Plan: 4", "Plan: 7", "Plan: 8"]
    finally:
        code = watcher.stop()
    assert code == 0


def test_watch_apply_creates_what_a_new_file_describes(gitops_server, tmp_path):
    directory = tmp_path / "assistants"
    directory.mkdir()
    (directory / "first.yaml").write_text("name: First\nmodel: gpt-4o-mini\n")
    watcher = Watcher(gitops_server, directory, "--apply")
    try:
        watcher.wait_for(
            "out",
            lambda line: line.startswith("No changes: the account matches the configs (1 managed"),
        )
        (directory / "second.yaml").write_text("name: Second\nmodel: gpt-4o-mini\n")
        watcher.wait_for(
            "out",
            lambda line: line.startswith("No changes: the account matches the configs (2 managed"),
        )
    finally:
        watcher.stop()
    assert sorted(gitops_server.managed()) == ["First", "Second"]
