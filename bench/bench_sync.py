"""Benchmark of `syncer sync` (the mirror). Not a test: it prints figures beside their bounds.

    python bench/bench_sync.py            # the full run (~5-10 minutes on 2 cores)
    python bench/bench_sync.py --quick    # a 1/10 account, for a smoke check

What it measures (the emulator always runs in its own process, as does every sync):

1. Full sync of a generated account (200 assistants, 1,000 threads, 50,000 messages, 10,000 runs
   with their steps) from an emulator with ``--latency-ms 100``, ``--concurrency 16``:
   requests sent versus the minimum (every list ``max(1, ceil(n/100))``, plus one GET per
   thread), and wall time versus the bound ``minimum x latency / concurrency``.
2. The same work done naively: the official ``openai`` SDK's auto-pagination, sequential, into
   SQLite (one upsert per object). Timed on a subset of threads and extrapolated to the whole
   account (the output says so), since the whole would take over half an hour.
3. A second sync with nothing changed: requests versus the bound
   ``ceil(assistants/100) + 2 x threads`` list requests plus one per active run (plus the one
   GET per thread).
4. Client CPU seconds per 1,000 mirrored objects (``--latency-ms 0``), and peak RSS of the sync
   process for the account at 1x and 4x (from ``os.wait4``'s resource usage of that process).
5. Search latency p50/p95 over the mirrored messages (200 queries of words from the account).

Prints a table and writes the figures as JSON to ``bench/results/bench_sync-<UTC time>.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import warnings
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from syncer.emulator import emulator_process
from syncer.emulator.generate import generate_account
from syncer.mirror import query
from syncer.mirror.store import open_mirror
from syncer.mirror.sync import minimum_requests

RESULTS = Path(__file__).parent / "results"
KEY = "sk-bench-not-secret"


def emulator(account: Path, latency_ms: float) -> contextlib.AbstractContextManager[str]:
    """``syncer emulator`` in its own process with the account loaded; yields its base URL."""
    return emulator_process("--load", str(account), "--latency-ms", str(latency_ms),
                            "--run-ms", "600000")


def server_stats(base_url: str, reset: bool = False) -> dict[str, Any]:
    root = base_url.removesuffix("/v1")
    if reset:
        urllib.request.urlopen(urllib.request.Request(
            f"{root}/_emulator/stats/reset", method="POST"), timeout=30).read()
        return {}
    with urllib.request.urlopen(f"{root}/_emulator/stats", timeout=30) as answer:
        return json.load(answer)


# A small process that starts the sync and reports that process's resource usage. The sync is
# not forked from this (large) benchmark process, because on Linux a child's ru_maxrss includes
# the resident size of the process it was forked from, which would swamp the figure.
LAUNCHER = """
import json, os, subprocess, sys
proc = subprocess.Popen(sys.argv[2:])
_, status, usage = os.wait4(proc.pid, 0)
with open(sys.argv[1], "w") as out:
    json.dump({"code": os.waitstatus_to_exitcode(status), "cpu_s": usage.ru_utime + usage.ru_stime,
               "peak_rss_mb": usage.ru_maxrss / 1024}, out)
"""


def run_sync_measured(db: Path, base_url: str, threads_file: Path,
                      concurrency: int) -> dict[str, Any]:
    """One `syncer sync` process: its JSON report, wall time, and the CPU seconds and peak RSS
    of that process alone (``os.wait4`` in a small launcher process)."""
    env = {**os.environ, "OPENAI_API_KEY": KEY}
    usage_file = db.with_suffix(".usage.json")
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", LAUNCHER, str(usage_file),
         sys.executable, "-m", "syncer", "sync", "--db", str(db), "--base-url", base_url,
         "--threads-file", str(threads_file), "--concurrency", str(concurrency), "--json"],
        capture_output=True, env=env)
    wall = time.perf_counter() - started
    usage = json.loads(usage_file.read_text())
    if usage["code"] != 0:
        raise SystemExit(f"sync failed ({usage['code']}): {proc.stderr.decode()[-2000:]}")
    return {"report": json.loads(proc.stdout), "wall_s": wall, "cpu_s": usage["cpu_s"],
            "peak_rss_mb": usage["peak_rss_mb"]}


def account_lists(account: dict[str, list]) -> tuple[list[int], int]:
    """Sizes of every list a full sync reads, and the active runs."""
    messages: dict[str, int] = {}
    runs: dict[str, int] = {}
    steps: dict[str, int] = {run["id"]: 0 for run in account["runs"]}
    for message in account["messages"]:
        messages[message["thread_id"]] = messages.get(message["thread_id"], 0) + 1
    for run in account["runs"]:
        runs[run["thread_id"]] = runs.get(run["thread_id"], 0) + 1
    for step in account["run_steps"]:
        steps[step["run_id"]] += 1
    threads = [thread["id"] for thread in account["threads"]]
    lists = [messages.get(t, 0) for t in threads] + [runs.get(t, 0) for t in threads]
    lists += list(steps.values())
    active = sum(run["status"] in ("queued", "in_progress", "requires_action", "cancelling")
                 for run in account["runs"])
    return lists, active


def write_account(path: Path, scale: float, seed: int = 0) -> dict[str, list]:
    account = generate_account(seed=seed, assistants=max(200, int(200 * scale)),
                               threads=int(1000 * scale), messages_per_thread=50,
                               runs_per_thread=10)
    path.write_text(json.dumps(account))
    path.with_suffix(".threads").write_text("\n".join(t["id"] for t in account["threads"]))
    return account


# --- the naive mirror: the official SDK's auto-pagination, sequential, one upsert per object


def naive_mirror(base_url: str, thread_ids: list[str], db_path: Path) -> dict[str, Any]:
    import openai
    import sqlite_utils

    warnings.simplefilter("ignore", DeprecationWarning)  # client.beta is deprecated upstream
    client = openai.OpenAI(base_url=base_url, api_key=KEY, max_retries=5)
    db = sqlite_utils.Database(db_path)

    def save(table: str, obj: Any) -> None:
        row = {k: (json.dumps(v) if isinstance(v, dict | list) else v)
               for k, v in obj.model_dump().items()}
        db[table].upsert(row, pk="id", alter=True)

    started = time.perf_counter()
    for assistant in client.beta.assistants.list(limit=100):
        save("assistants", assistant)
    assistants_s = time.perf_counter() - started
    started = time.perf_counter()
    for thread_id in thread_ids:
        save("threads", client.beta.threads.retrieve(thread_id))
        for message in client.beta.threads.messages.list(thread_id, limit=100):
            save("messages", message)
        for run in client.beta.threads.runs.list(thread_id, limit=100):
            save("runs", run)
            for step in client.beta.threads.runs.steps.list(run.id, thread_id=thread_id,
                                                             limit=100):
                save("run_steps", step)
    threads_s = time.perf_counter() - started
    return {"assistants_s": assistants_s, "threads_s": threads_s,
            "threads": len(thread_ids)}


# --- search latency --------------------------------------------------------------------------


def search_latency(db: Path, account: dict[str, list], queries: int = 200) -> dict[str, float]:
    rng = random.Random(1)
    words = [w for m in account["messages"][:2000] for part in m["content"]
             if part["type"] == "text" for w in re.findall(r"[A-Za-z]{5,}", part["text"]["value"])]
    times = []
    with open_mirror(db, "read") as store:
        for _ in range(queries):
            terms = " ".join(rng.sample(words, rng.choice((1, 1, 2))))
            started = time.perf_counter()
            query.search(store, terms, limit=20)
            times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return {"p50_ms": statistics.median(times), "p95_ms": times[int(len(times) * 0.95) - 1],
            "queries": queries}


# --- the run ----------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="A 1/10 account (smoke check).")
    parser.add_argument("--naive-threads", type=int, default=20,
                        help="Threads the naive SDK mirror is timed on (then extrapolated).")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--latency-ms", type=float, default=100)
    parser.add_argument("--skip-4x", action="store_true", help="Skip the 4x RSS measurement.")
    args = parser.parse_args()
    scale = 0.1 if args.quick else 1.0
    latency = args.latency_ms / 1000
    results: dict[str, Any] = {"started": datetime.now(UTC).isoformat(), "scale": scale,
                               "concurrency": args.concurrency, "latency_ms": args.latency_ms,
                               "cpus": os.cpu_count(), "load_avg_start": os.getloadavg()}
    rows: list[tuple[str, str, str, str]] = []
    with tempfile.TemporaryDirectory(prefix="bench-sync-") as tmp_name:
        tmp = Path(tmp_name)
        account_path = tmp / "account.json"
        print("generating the account …", file=sys.stderr)
        account = write_account(account_path, scale)
        threads_file = account_path.with_suffix(".threads")
        counts = {table: len(objects) for table, objects in account.items()}
        results["account"] = counts
        lists, active = account_lists(account)
        minimum = minimum_requests(counts["assistants"], lists, counts["threads"])
        bound_s = minimum * latency / args.concurrency

        # 1 + 3: full sync and no-change re-sync at 100 ms latency
        db = tmp / "mirror.db"
        with emulator(account_path, args.latency_ms) as base_url:
            print("full sync at latency …", file=sys.stderr)
            full = run_sync_measured(db, base_url, threads_file, args.concurrency)
            served = server_stats(base_url)["requests"]
            server_stats(base_url, reset=True)
            print("no-change re-sync …", file=sys.stderr)
            again = run_sync_measured(db, base_url, threads_file, args.concurrency)
            again_served = server_stats(base_url)["requests"]
            # 2: the naive mirror, on a subset of threads
            print(f"naive SDK mirror on {args.naive_threads} threads …", file=sys.stderr)
            subset = [t["id"] for t in account["threads"][:args.naive_threads]]
            naive = naive_mirror(base_url, subset, tmp / "naive.db")
        naive_total = naive["assistants_s"] + naive["threads_s"] * counts["threads"] / len(subset)
        resync_bound = (math.ceil(counts["assistants"] / 100) + 2 * counts["threads"] + active)
        results["full_sync"] = {
            "requests": full["report"]["requests"], "server_requests": served,
            "minimum_requests": minimum, "wall_s": full["wall_s"],
            "sync_s": full["report"]["seconds"], "bound_s": bound_s,
            "x_bound": full["wall_s"] / bound_s, "cpu_s": full["cpu_s"],
            "peak_rss_mb": full["peak_rss_mb"], "objects": full["report"]["objects_seen"]}
        results["naive_sdk"] = {**naive, "extrapolated_total_s": naive_total,
                                "speedup": naive_total / full["wall_s"]}
        results["resync"] = {"requests": again["report"]["requests"],
                             "server_requests": again_served,
                             "list_request_bound": resync_bound,
                             "thread_gets": counts["threads"],
                             "bound_with_gets": resync_bound + counts["threads"],
                             "changed": again["report"]["changed"], "new": again["report"]["new"],
                             "wall_s": again["wall_s"]}
        rows += [
            ("full sync: requests", f"{full['report']['requests']:,}", f"= {minimum:,} (minimum)",
             "ok" if full["report"]["requests"] == minimum else "MISS"),
            ("full sync: wall time", f"{full['wall_s']:.1f} s",
             f"≤ 1.5 x {bound_s:.1f} s", f"{full['wall_s'] / bound_s:.2f}x "
             + ("ok" if full["wall_s"] <= 1.5 * bound_s else "MISS")),
            ("naive SDK mirror (extrapolated)", f"{naive_total:.0f} s",
             f"≥ 10 x {full['wall_s']:.1f} s",
             f"{naive_total / full['wall_s']:.1f}x slower "
             + ("ok" if naive_total >= 10 * full["wall_s"] else "MISS")
             + f" ({len(subset)} threads timed)"),
            ("no-change re-sync: requests", f"{again['report']['requests']:,}",
             f"≤ {resync_bound:,} lists + {counts['threads']:,} GETs",
             ("ok" if again_served <= resync_bound + counts["threads"] else "MISS")
             + f" (changed {again['report']['changed']}, new {again['report']['new']})"),
        ]

        # 4: CPU per 1,000 objects at latency 0; RSS at 1x and 4x
        with emulator(account_path, 0) as base_url:
            print("full sync at latency 0 (CPU, RSS 1x) …", file=sys.stderr)
            fast = run_sync_measured(tmp / "fast.db", base_url, threads_file, args.concurrency)
        cpu_per_k = fast["cpu_s"] / (fast["report"]["objects_seen"] / 1000)
        results["cpu"] = {"cpu_s": fast["cpu_s"], "objects": fast["report"]["objects_seen"],
                          "cpu_s_per_1000": cpu_per_k, "wall_s": fast["wall_s"],
                          "peak_rss_mb": fast["peak_rss_mb"]}
        rows.append(("client CPU per 1,000 objects", f"{cpu_per_k:.3f} s",
                     "(latency 0)", f"{fast['report']['objects_seen']:,} objects"))
        rss = {"1x": fast["peak_rss_mb"]}
        if not args.skip_4x:
            big_path = tmp / "account4.json"
            print("generating the 4x account …", file=sys.stderr)
            big = write_account(big_path, scale * 4, seed=1)
            del big
            with emulator(big_path, 0) as base_url:
                print("full sync of the 4x account …", file=sys.stderr)
                four = run_sync_measured(tmp / "four.db", base_url,
                                         big_path.with_suffix(".threads"), args.concurrency)
            rss["4x"] = four["peak_rss_mb"]
            results["cpu"]["cpu_s_per_1000_4x"] = four["cpu_s"] / (
                four["report"]["objects_seen"] / 1000)
        results["peak_rss_mb"] = rss
        # "Flat": the 4x account may not cost more than a quarter more memory than the 1x one.
        flat = rss.get("4x", rss["1x"]) <= 1.25 * rss["1x"]
        rows.append(("peak RSS of the sync", " / ".join(f"{k}: {v:.0f} MB" for k, v in rss.items()),
                     "flat (4x ≤ 1.25 x 1x), < 200 MB",
                     "ok" if max(rss.values()) < 200 and flat else "MISS"))

        # 5: search
        latency_figures = search_latency(db, account)
        results["search"] = latency_figures
        rows.append(("search latency", f"p50 {latency_figures['p50_ms']:.1f} ms",
                     f"p95 {latency_figures['p95_ms']:.1f} ms",
                     f"{counts['messages']:,} messages"))

    results["load_avg_end"] = os.getloadavg()
    width = max(len(r[0]) for r in rows)
    print(f"\nsyncer sync benchmark — {counts}  (concurrency {args.concurrency}, "
          f"latency {args.latency_ms:.0f} ms, {os.cpu_count()} CPUs, "
          f"load avg {results['load_avg_start'][0]:.1f} → {results['load_avg_end'][0]:.1f})")
    for name, value, bound, note in rows:
        print(f"  {name:<{width}}  {value:>18}  {bound:<30}  {note}")
    RESULTS.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out = RESULTS / f"bench_sync-{stamp}{'-quick' if args.quick else ''}.json"
    out.write_text(json.dumps(results, indent=2))
    print(f"\nfigures written to {out}")


if __name__ == "__main__":
    main()
