"""Benchmark: replaying 20 threads at --concurrency 8 versus 1 (bound: at least 5x faster).

    python bench/bench_replay.py [--threads 20] [--latency-ms 100] [--run-ms 50] [--repeat 3]
                                 [--peer-threads 5] [--out bench/results/replay.json]
                                 [--in-process]

A generated account (replies made by the emulator's deterministic model, so every turn
must pass) is loaded into an emulator (its own process) that adds ``--latency-ms`` to every
response, like the real service's 100-400 ms. The same threads, written into a fresh mirror
with the store's writer, are replayed on their own assistants at each concurrency through
the library that `syncer replay` uses, ``--repeat`` times, alternating the concurrencies so
a busy machine weighs on both alike. The bound is checked on the median of the repeats;
the best run is printed beside it (the figure least disturbed by other processes).

Beside them, the peer: the same replay written by hand with the official ``openai`` SDK
(one thread after another, ``create_and_poll`` every 100 ms, recorded tool outputs looked
up by name and arguments), timed on ``--peer-threads`` threads and scaled to all of them
(the output says so). Also printed: the ceiling the concurrency allows (20 threads in 8
slots need 3 rounds, so at most about 6.7x).

Prints a table and writes the figures as JSON. This is a benchmark, never a timed test.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from syncer.api.settings import ClientSettings
from syncer.emulator import EmulatorConfig, emulator_process, running_server
from syncer.emulator.generate import generate_account
from syncer.mirror.schema import TABLE_ORDER
from syncer.mirror.store import open_mirror
from syncer.replay.runner import ReplayOptions
from syncer.replay.session import Selection, replay_from_mirror

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
    with emulator_process("--load", str(account_file), "--latency-ms", str(args.latency_ms),
                          "--run-ms", str(args.run_ms)) as base_url:
        yield base_url


def build_mirror(account: dict[str, list[dict[str, Any]]], db_path: Path, base_url: str) -> None:
    """The generated objects, written into a mirror as a sync would (oldest first)."""
    with open_mirror(db_path, "create") as store:
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


def sdk_peer(base_url: str, db_path: Path, count: int) -> dict[str, Any]:
    """The same replay by hand with the official SDK, sequential; returns wall time and turns."""
    import openai

    from syncer.replay.compare import canonical_json
    from syncer.replay.session import load_plans

    plans = load_plans(db_path, Selection(all_threads=True))[:count]
    # The SDK marks every Assistants call deprecated; the peer is timed, not warned about.
    warnings.filterwarnings("ignore", category=DeprecationWarning, module=__name__)
    sdk = openai.OpenAI(api_key="sk-bench", base_url=base_url, max_retries=0)
    threads = sdk.beta.threads
    turns = passed = 0
    started = time.perf_counter()
    for plan in plans:
        recorded = {
            (c.name, c.arguments): c.output
            for t in plan.turns if t.baseline for c in t.baseline.tool_calls
        }
        thread = threads.create()
        for turn in plan.turns:
            assert turn.baseline is not None and turn.baseline.assistant_id
            run = threads.runs.create_and_poll(
                thread_id=thread.id, assistant_id=turn.baseline.assistant_id,
                additional_messages=[{"role": m.role, "content": m.text}  # type: ignore[misc]
                                     for m in turn.messages],
                poll_interval_ms=100)
            while run.status == "requires_action":
                calls = run.required_action.submit_tool_outputs.tool_calls  # type: ignore[union-attr]
                outputs = [{"tool_call_id": c.id, "output": recorded.get(
                    (c.function.name, canonical_json(c.function.arguments)), "{}")} for c in calls]
                run = threads.runs.submit_tool_outputs_and_poll(
                    thread_id=thread.id, run_id=run.id, tool_outputs=outputs,  # type: ignore[arg-type]
                    poll_interval_ms=100)
            reply = "\n\n".join(
                part.text.value
                for message in threads.messages.list(thread.id, run_id=run.id, order="asc")
                for part in message.content if part.type == "text")
            turns += 1
            passed += reply == turn.baseline.reply
    wall = time.perf_counter() - started
    return {"threads": len(plans), "turns": turns, "passed": passed, "wall_s": round(wall, 3)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=20)
    parser.add_argument("--latency-ms", type=float, default=100)
    parser.add_argument("--run-ms", type=float, default=50)
    parser.add_argument("--low", type=int, default=1, help="the baseline concurrency")
    parser.add_argument("--high", type=int, default=8, help="the concurrency compared with it")
    parser.add_argument("--repeat", type=int, default=3, help="runs at each concurrency")
    parser.add_argument("--peer-threads", type=int, default=5,
                        help="threads the SDK peer replays (0: skip it)")
    parser.add_argument("--out", default="bench/results/replay.json")
    parser.add_argument("--in-process", action="store_true",
                        help="run the emulator in a thread of this process")
    args = parser.parse_args(argv)

    account = generate_account(seed=11, assistants=4, threads=args.threads,
                               messages_per_thread=6, runs_per_thread=2, tool_call_ratio=0.4)
    runs: dict[int, list[dict[str, Any]]] = {args.low: [], args.high: []}
    peer: dict[str, Any] | None = None
    with tempfile.TemporaryDirectory(prefix="bench-replay-") as tmp:
        account_file = Path(tmp) / "account.json"
        account_file.write_text(json.dumps(account))
        with emulator(account_file, args) as base_url:
            mirrors = {}
            for concurrency in runs:
                mirrors[concurrency] = Path(tmp) / f"mirror-{concurrency}.db"
                build_mirror(account, mirrors[concurrency], base_url)
            for _ in range(args.repeat):
                for concurrency in runs:  # alternating, so load changes weigh on both
                    runs[concurrency].append(
                        asyncio.run(replay_at(base_url, mirrors[concurrency], concurrency)))
            if args.peer_threads:
                peer = sdk_peer(base_url, mirrors[args.low], args.peer_threads)

    def figures_at(concurrency: int) -> dict[str, Any]:
        walls = [r["wall_s"] for r in runs[concurrency]]
        return {"concurrency": concurrency, "median_s": round(statistics.median(walls), 3),
                "best_s": min(walls), "walls_s": walls, "runs": runs[concurrency]}

    low, high = figures_at(args.low), figures_at(args.high)
    speedup = low["median_s"] / high["median_s"]
    best_speedup = low["best_s"] / high["best_s"]
    # Threads are the unit of concurrency (a thread's turns are sequential): with equal
    # threads, ceil(threads / high) rounds against ceil(threads / low).
    ceiling = math.ceil(args.threads / args.low) / math.ceil(args.threads / args.high)
    all_pass = all(r["passed"] == r["turns"] and r["errors"] == 0
                   for r in runs[args.low] + runs[args.high])
    peer_scaled = None
    if peer and peer["threads"]:
        peer_scaled = round(peer["wall_s"] * args.threads / peer["threads"], 2)
    figures = {
        "benchmark": "replay", "latency_ms": args.latency_ms, "run_ms": args.run_ms,
        "threads": args.threads, "repeat": args.repeat,
        "emulator": "thread" if args.in_process else "process",
        "low": low, "high": high,
        "speedup_median": round(speedup, 2), "speedup_best": round(best_speedup, 2),
        "ceiling": round(ceiling, 2), "bound": BOUND,
        "peer": {"what": "official openai SDK, sequential, create_and_poll every 100 ms",
                 **(peer or {}), "scaled_to_all_threads_s": peer_scaled},
        "ok": speedup >= BOUND and all_pass,
    }
    turns = low["runs"][0]["turns"]
    print(f"replay of {args.threads} threads ({turns} turns), emulator latency "
          f"{args.latency_ms:g} ms, run {args.run_ms:g} ms, {args.repeat} runs each")
    print(f"{'':<34} {'median s':>9} {'best s':>7}  runs")
    for row in (low, high):
        print(f"{'syncer replay --concurrency ' + str(row['concurrency']):<34} "
              f"{row['median_s']:>9.2f} {row['best_s']:>7.2f}  "
              + " ".join(f"{w:.2f}" for w in row["walls_s"]))
    if peer is not None:
        print(f"{'peer: openai SDK by hand, sequential':<34} {peer_scaled:>9.2f} {'':>7}  "
              f"{peer['wall_s']:.2f} s for {peer['threads']} threads, scaled to "
              f"{args.threads}; {peer['passed']}/{peer['turns']} replies equal")
    print(f"speedup {args.high} vs {args.low}: {speedup:.2f}x median, {best_speedup:.2f}x best"
          f"   (bound: >= {BOUND:g}x on the median; ceiling {ceiling:.2f}x)   "
          f"{'OK' if figures['ok'] else 'BELOW BOUND' if all_pass else 'NOT ALL PASSED'}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(figures, indent=2) + "\n")
    print(f"figures written to {out}")
    return 0 if figures["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
