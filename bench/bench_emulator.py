"""Benchmark: the emulator's memory and list throughput on the benchmark account (not a timed test).

    python bench/bench_emulator.py [--scales 1,4] [--clients 32] [--seconds 20] [--quick]
                                   [--out bench/results/bench_emulator.json]

For each scale (1 = bench_sync's account: 200 assistants, 1,000 threads, 50,000 messages,
10,000 runs and their steps) a child process writes the account into a ``--state`` file, then
``syncer emulator --state FILE`` serves it in its own process and ``--clients`` clients (aiohttp
when installed: the client must not be the bottleneck) walk 100-item pages of every list —
assistants, then each thread's messages, runs and each run's steps, round-robin — for
``--seconds``. Then the emulator is stopped and started again on the same file (a restart) and
walked again. Without ``--state`` (scale 1 only) the same walk runs on ``--load FILE``.

Printed beside their bounds and the previous figures (issue 14, goal 5):
- peak RSS of the emulator process (VmHWM) with --state, at 1x and 4x: <= 120 MB, and flat
  (previously 263 MB, and 365 MB after a restart, at 1x);
- list requests per second and p50 / p95 latency (previously about 1,200-1,500 requests/s);
- the emulator's CPU per request (user + system, from /proc: it holds on a busy machine).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from syncer.emulator import emulator_process

try:  # the bench's client: aiohttp costs a tenth of httpx's CPU per request, so it is not the bound
    import aiohttp
except ImportError:  # pragma: no cover
    aiohttp = None

ROOT = Path(__file__).resolve().parent.parent
RSS_BOUND_MB = 120
PREVIOUS = {"rss_mb": "263 MB (365 MB after restart)", "rps": "1,200-1,500 req/s"}
HEADERS = {"Authorization": "Bearer sk-bench", "OpenAI-Beta": "assistants=v2"}

BUILD = """
import json, sys
from syncer.emulator.generate import generate_account
from syncer.emulator.loading import load_account
from syncer.emulator.storage import ObjectStore
scale, out, account_file = float(sys.argv[1]), sys.argv[2], sys.argv[3]
account = generate_account(seed=7, assistants=max(200, int(200 * scale)), threads=int(1000 * scale),
                           messages_per_thread=50, runs_per_thread=10)
if account_file != "-":
    with open(account_file, "w") as f:
        json.dump(account, f)
store = ObjectStore(out)
load_account(store, account)
store.close()
print(json.dumps({k: len(v) for k, v in account.items()}))
"""


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * (len(ordered) - 1))))] if ordered else 0.0


def emulator_pid(marker: str) -> int:
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if "syncer emulator" in command and marker in command:
                return int(entry.name)
    raise RuntimeError(f"no emulator process for {marker}")


def proc_figures(pid: int) -> tuple[float, float]:
    """(peak RSS in MB, user + system CPU seconds) of a process."""
    status = Path(f"/proc/{pid}/status").read_text()
    peak = int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1)) / 1024  # type: ignore[union-attr]
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return peak, (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Walker:
    """Clients paging every list, round-robin over the account's lists, counting and timing."""

    def __init__(self, base_url: str, clients: int, seconds: float):
        self.base_url = base_url
        self.clients = clients
        self.seconds = seconds
        self.latencies: list[float] = []

    async def run(self, paths: list[str]) -> float:
        queue: asyncio.Queue[str] = asyncio.Queue()
        for path in paths:
            queue.put_nowait(path)
        deadline = time.perf_counter() + self.seconds
        began = time.perf_counter()
        if aiohttp is not None:
            async with aiohttp.ClientSession(headers=HEADERS, connector=aiohttp.TCPConnector(
                    limit=self.clients)) as session:
                async def get(url: str, params: dict[str, str]) -> dict[str, Any]:
                    async with session.get(url, params=params) as response:
                        return await response.json()  # type: ignore[no-any-return]
                await asyncio.gather(*(self._client(get, queue, deadline) for _ in range(self.clients)))
        else:  # pragma: no cover
            async with httpx.AsyncClient(headers=HEADERS) as client:
                async def get(url: str, params: dict[str, str]) -> dict[str, Any]:
                    return (await client.get(url, params=params)).json()  # type: ignore[no-any-return]
                await asyncio.gather(*(self._client(get, queue, deadline) for _ in range(self.clients)))
        return time.perf_counter() - began

    async def _client(self, get: Any, queue: asyncio.Queue[str], deadline: float) -> None:
        while time.perf_counter() < deadline:
            path = queue.get_nowait()
            queue.put_nowait(path)  # round-robin for ever
            after = None
            while time.perf_counter() < deadline:
                params = {"limit": "100", "order": "asc", **({"after": after} if after else {})}
                sent = time.perf_counter()
                page = await get(self.base_url + path, params)
                self.latencies.append(time.perf_counter() - sent)
                if not page.get("has_more"):
                    break
                after = page["last_id"]


def list_paths(state: Path) -> list[str]:
    """Every list of the account (read from the state file, as a client would know its ids)."""
    conn = sqlite3.connect(state)
    paths = ["/assistants"]
    runs: dict[str, list[str]] = {}
    for run_id, thread_id in conn.execute("SELECT id, parent FROM objects WHERE kind = 'run' ORDER BY seq"):
        runs.setdefault(thread_id, []).append(run_id)
    for (thread_id,) in conn.execute("SELECT id FROM objects WHERE kind = 'thread' ORDER BY seq"):
        paths += [f"/threads/{thread_id}/messages", f"/threads/{thread_id}/runs"]
        paths += [f"/threads/{thread_id}/runs/{run_id}/steps" for run_id in runs.get(thread_id, [])]
    conn.close()
    return paths


def measure(args: argparse.Namespace, emulator_args: list[str], marker: str,
            paths: list[str]) -> dict[str, Any]:
    with emulator_process(*emulator_args) as base_url:
        pid = emulator_pid(marker)
        walker = Walker(base_url, args.clients, args.seconds)
        _, cpu_before = proc_figures(pid)
        wall = asyncio.run(walker.run(paths))
        peak, cpu_after = proc_figures(pid)
    count = len(walker.latencies)
    return {
        "requests": count,
        "requests_per_s": count / wall,
        "p50_ms": 1000 * percentile(walker.latencies, 0.5),
        "p95_ms": 1000 * percentile(walker.latencies, 0.95),
        "cpu_ms_per_request": 1000 * (cpu_after - cpu_before) / max(1, count),
        "peak_rss_mb": peak,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scales", default="1,4")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--quick", action="store_true", help="1/10 of the account, 5 s walks")
    parser.add_argument("--out", default="bench/results/bench_emulator.json")
    args = parser.parse_args(argv)
    scales = [float(s) for s in args.scales.split(",")]
    if args.quick:
        scales, args.seconds = [s / 10 for s in scales], 5.0
    load = os.getloadavg()
    results: dict[str, Any] = {"clients": args.clients, "seconds": args.seconds, "load_before": load}
    rows: list[tuple[str, str, str, str]] = []
    with tempfile.TemporaryDirectory(prefix="bench-emulator-") as tmp:
        for index, scale in enumerate(scales):
            state = Path(tmp) / f"state-{scale}.db"
            account = Path(tmp) / f"account-{scale}.json" if index == 0 else None
            built = time.perf_counter()
            out = subprocess.run([sys.executable, "-c", BUILD, str(scale), str(state), str(account or "-")],
                                 check=True, capture_output=True, text=True).stdout
            counts = json.loads(out)
            print(f"scale {scale:g}: {counts} written in {time.perf_counter() - built:.0f} s", flush=True)
            paths = list_paths(state)
            figures = measure(args, ["--state", str(state)], str(state), paths)
            again = measure(args, ["--state", str(state)], str(state), paths)  # a restart
            results[f"state_{scale:g}x"] = figures
            results[f"state_{scale:g}x_restarted"] = again
            peak = max(figures["peak_rss_mb"], again["peak_rss_mb"])
            rows.append((f"peak RSS, --state, {scale:g}x (first / restarted)",
                         f"{figures['peak_rss_mb']:.0f} / {again['peak_rss_mb']:.0f} MB",
                         f"<= {RSS_BOUND_MB} MB {'ok' if peak <= RSS_BOUND_MB else 'MISS'}",
                         PREVIOUS["rss_mb"] if scale == 1 else "-"))
            rows.append((f"list pages/s, --state, {scale:g}x", f"{figures['requests_per_s']:.0f}",
                         "keep ~1,200-1,500", PREVIOUS["rps"]))
            rows.append((f"  p50 / p95 latency, {scale:g}x",
                         f"{figures['p50_ms']:.1f} / {figures['p95_ms']:.1f} ms", "-", "-"))
            rows.append((f"  emulator CPU per request, {scale:g}x", f"{figures['cpu_ms_per_request']:.2f} ms",
                         "-", "-"))
            if account is not None:
                memory = measure(args, ["--load", str(account)], str(account), paths)
                results[f"memory_{scale:g}x"] = memory
                rows.append((f"no --state (--load), {scale:g}x: pages/s, p95, CPU/req, RSS",
                             (f"{memory['requests_per_s']:.0f}, {memory['p95_ms']:.1f} ms, "
                             f"{memory['cpu_ms_per_request']:.2f} ms, {memory['peak_rss_mb']:.0f} MB"),
                             "-", "-"))
    results["load_after"] = os.getloadavg()
    print(f"{args.clients} clients, 100-item pages, {args.seconds:g} s per walk; load average "
          f"{load[0]:.1f} before, {results['load_after'][0]:.1f} after (2 cores)")
    print(f"{'figure':<56} {'value':>24}  {'bound':<18} previous")
    for name, value, bound, previous in rows:
        print(f"{name:<56} {value:>24}  {bound:<18} {previous}")
    out_path = Path(args.out)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
