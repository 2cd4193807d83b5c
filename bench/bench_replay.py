"""Benchmark: replaying 20 threads at --concurrency 8 versus 1 (bound: at least 5x faster).

    python bench/bench_replay.py [--threads 20] [--latency-ms 100] [--run-ms 50]
                                 [--out bench/results/replay.json] [--in-process]

A generated account (replies made by the emulator's deterministic model, so every turn
must pass) is loaded into an emulator (its own process) that adds ``--latency-ms`` to every
response, like the real service's 100-400 ms. The same threads, written into a fresh mirror
with the store's writer, are replayed on their own assistants at each concurrency through
the library that `syncer replay` uses. Prints a table and writes the figures as JSON.
This is a benchmark, never a timed test.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from syncer.emulator import EmulatorConfig, running_server
from syncer.emulator.generate import generate_account
from syncer.mirror.store import TABLE_ORDER, Store
from syncer.replay.runner import ReplayOptions
from syncer.replay.session import Selection, replay_from_mirror
from syncer.settings import ClientSettings

BOUND = 5.0


@contextlib.contextmanager
def emulator(account_file: Path, args: argparse.Namespace) -> Iterator[str]:
    """The emulator with the account loaded; yields its base URL.

    By default in its own process, as a real server would be, so its CPU time does not
    compete with the replaying client for one interpreter; ``--in-process`` uses a thread.
    """
    if args.in_process:
        config = EmulatorConfig(load=account_file, latency_ms=args.latency_ms, run_ms=args.run_ms)
        with running_server(config) as server:
            yield server.base_url
        return
    proc = subprocess.Popen(
        [sys.executable, "-m", "syncer", "emulator", "--port", "0", "--load", str(account_file),
         "--latency-ms", str(args.latency_ms), "--run-ms", str(args.run_ms)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stderr is not None
        for line in proc.stderr:
            match = re.search(r"(http://127\.0\.0\.1:\d+/v1)", line)
            if match:
                yield match.group(1)
                return
        raise SystemExit(f"the emulator did not start (exit {proc.wait()})")
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def build_mirror(account: dict[str, list[dict[str, Any]]], db_path: Path, base_url: str) -> None:
    """The generated objects, written into a mirror as a sync would (oldest first)."""
    with Store.open(db_path) as store:
        store.claim_server(base_url, None, None)
        for table in TABLE_ORDER:
            store.write_page(table, account[table])


async def replay_at(base_url: str, db_path: Path, concurrency: int) -> dict[str, Any]:
    settings = ClientSettings.from_env(base_url=base_url, api_key="sk-bench")
    options = ReplayOptions(concurrency=concurrency, run_timeout=120)
    started = time.perf_counter()
    replay = await replay_from_mirror(settings, db_path, Selection(all_threads=True), options)
    wall = time.perf_counter() - started
    s = replay.summary
    return {
        "concurrency": concurrency, "wall_s": round(wall, 3), "threads": s.threads,
        "turns": s.turns, "runs": s.runs, "passed": s.passed, "regressions": s.regressions,
        "errors": s.errors, "no_baseline": s.no_baseline, "not_replayable": s.not_replayable,
        "replay_id": replay.id,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=20)
    parser.add_argument("--latency-ms", type=float, default=100)
    parser.add_argument("--run-ms", type=float, default=50)
    parser.add_argument("--low", type=int, default=1, help="the baseline concurrency")
    parser.add_argument("--high", type=int, default=8, help="the concurrency compared with it")
    parser.add_argument("--out", default="bench/results/replay.json")
    parser.add_argument("--in-process", action="store_true",
                        help="run the emulator in a thread of this process")
    args = parser.parse_args(argv)

    account = generate_account(seed=11, assistants=4, threads=args.threads,
                               messages_per_thread=6, runs_per_thread=2, tool_call_ratio=0.4)
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-replay-") as tmp:
        account_file = Path(tmp) / "account.json"
        account_file.write_text(json.dumps(account))
        with emulator(account_file, args) as base_url:
            for concurrency in (args.low, args.high):
                db_path = Path(tmp) / f"mirror-{concurrency}.db"
                build_mirror(account, db_path, base_url)
                results.append(asyncio.run(replay_at(base_url, db_path, concurrency)))
    low, high = results
    speedup = low["wall_s"] / high["wall_s"] if high["wall_s"] else float("inf")
    figures = {
        "benchmark": "replay", "latency_ms": args.latency_ms, "run_ms": args.run_ms,
        "threads": args.threads, "emulator": "thread" if args.in_process else "process",
        "results": results, "speedup": round(speedup, 2),
        "bound": BOUND, "ok": speedup >= BOUND and all(
            r["regressions"] == 0 and r["errors"] == 0 for r in results),
    }
    print(f"replay of {args.threads} threads, emulator latency {args.latency_ms:g} ms, "
          f"run {args.run_ms:g} ms")
    print(f"{'concurrency':>11} {'wall s':>8} {'turns':>6} {'runs':>5} {'pass':>5} "
          f"{'regress':>7} {'errors':>6}")
    for r in results:
        print(f"{r['concurrency']:>11} {r['wall_s']:>8.2f} {r['turns']:>6} {r['runs']:>5} "
              f"{r['passed']:>5} {r['regressions']:>7} {r['errors']:>6}")
    print(f"speedup {args.high} vs {args.low}: {speedup:.2f}x   (bound: >= {BOUND:g}x)  "
          f"{'OK' if figures['ok'] else 'BELOW BOUND / NOT ALL PASSED'}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(figures, indent=2) + "\n")
    print(f"figures written to {out}")
    return 0 if figures["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
