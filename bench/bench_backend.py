"""Benchmark: 32 concurrent streamed runs on ``syncer emulator --backend`` (not a timed test).

    python bench/bench_backend.py [--runs 32] [--rounds 8] [--batches 3] [--first-token 0.05]
                                  [--pace 0.01] [--tokens 20] [--out bench/results/backend.json]

Three processes, as in real life: the fake Chat Completions server (tests/fakes/chat_server.py:
every answer streams its first token after 50 ms, then 20 tokens 10 ms apart), the emulator
(``syncer emulator --backend URL``) and this client, which drives streamed runs with one
long-lived official ``openai`` SDK client (``threads.create_and_run(stream=True)``), as an app
keeps one. Each run's user message tags it, so the client's times and the backend's own (it
records when each request arrived, sent its first token and ended) are matched run by run.

Two loads, each with ``--runs`` (32) runs in flight:
- **steady**: 32 workers, their starts spread over one answer's time, each starting its next
  run as soon as the last one completed (``--rounds`` runs each): 32 runs at once, all the time;
- **burst**: ``--batches`` times, 32 runs started at the same instant (every request queues
  behind the other 31 at each hop: the client, the emulator and the backend).

Both loads are judged against the bounds; the floor says how much of a figure is the client's
and the backend's own.

Each load is also run straight against the backend (the SDK's ``chat.completions.create``
with the same messages, no emulator between): the **floor**, what the client and the backend
cost on their own on this machine. Printed beside their bounds, emulator and floor side by side:
- runs per second;
- the server's added time per run: the client's time from sending the request to the run's
  ``thread.run.completed`` minus the backend's time for that completion, as a share of the
  latter (bound: <= 5 % at p50);
- time to first delta minus the backend's first token: when the client got the first
  ``thread.message.delta`` minus when the backend sent the first token (bound: <= 20 ms p95);
- the emulator's CPU time per run (read from /proc, Linux only).

Last, the CPU time other processes used meanwhile (/proc/stat minus this benchmark's three
processes): on a shared machine another program's work slows all three, and a run taken
while it does is not comparable with one taken on a quiet machine (it says so).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
import warnings
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import openai

from syncer.emulator import emulator_process

ROOT = Path(__file__).resolve().parent.parent
FAKE = ROOT / "tests" / "fakes" / "chat_server.py"
ADDED_BOUND = 0.05  # share of the backend's own time, p50
RELAY_BOUND = 0.020  # seconds, p95
#: CPU seconds other processes may use during the measured loads before the run is called busy
#: (on a quiet machine the kernel's own share is well under one second).
BUSY_MACHINE = 1.0

Timing = dict[str, float]
RunOne = Callable[[str], Awaitable[Timing]]


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * (len(ordered) - 1))))]


def cpu_seconds_of(marker: str) -> float | None:
    """User+system CPU seconds of the emulator process whose command line holds ``marker``."""
    ticks = os.sysconf("SC_CLK_TCK")
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            if marker not in command or "emulator" not in command:
                continue
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        return (int(fields[11]) + int(fields[12])) / ticks
    return None


def process_cpu_seconds(pid: int) -> float:
    """User+system CPU seconds of process ``pid`` so far (0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_busy_seconds() -> float | None:
    """CPU seconds every process on the machine has used since boot (None: not Linux)."""
    try:
        values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except OSError:
        return None
    user, nice, system, _idle, _iowait, irq, softirq, steal = values[:8]
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def via_emulator(client: openai.AsyncOpenAI, assistant_id: str) -> RunOne:
    async def one_run(tag: str) -> Timing:
        started = time.time()
        first_delta = done = None
        stream = await client.beta.threads.create_and_run(
            assistant_id=assistant_id, stream=True, thread={"messages": [{"role": "user", "content": tag}]})
        async for event in stream:
            if event.event == "thread.message.delta" and first_delta is None:
                first_delta = time.time()
            elif event.event == "thread.run.failed":
                raise RuntimeError(f"run failed: {event.data.last_error}")
            elif event.event == "thread.run.completed":
                done = time.time()
        if first_delta is None or done is None:
            raise RuntimeError("the stream ended without a delta or a completed run")
        return {"started": started, "first_delta": first_delta, "done": done}
    return one_run


def direct(client: openai.AsyncOpenAI) -> RunOne:
    """The floor: the same conversation sent to the backend itself, no emulator between."""
    async def one_run(tag: str) -> Timing:
        started = time.time()
        first_delta = None
        stream = await client.chat.completions.create(
            model="gpt-4o", stream=True, stream_options={"include_usage": True},
            messages=[{"role": "system", "content": "Answer."}, {"role": "user", "content": tag}])
        async for chunk in stream:
            if first_delta is None and chunk.choices and chunk.choices[0].delta.content:
                first_delta = time.time()
        if first_delta is None:
            raise RuntimeError("the backend's stream had no text")
        return {"started": started, "first_delta": first_delta, "done": time.time()}
    return one_run


async def burst(one_run: RunOne, name: str, runs: int, batches: int) -> tuple[float, dict[str, Timing]]:
    """``batches`` times, ``runs`` runs started at once; (wall seconds, timings by tag)."""
    results: dict[str, Timing] = {}
    wall = 0.0
    for number in range(batches):
        tags = [f"{name} {number} run {i}" for i in range(runs)]
        began = time.time()
        done = await asyncio.gather(*(one_run(tag) for tag in tags))
        wall += time.time() - began
        results.update(zip(tags, done, strict=True))
    return wall, results


async def steady(one_run: RunOne, name: str, runs: int, rounds: int, spread: float,
                 ) -> tuple[float, dict[str, Timing]]:
    """``runs`` workers, started ``spread / runs`` apart, each doing ``rounds`` runs in a row."""
    results: dict[str, Timing] = {}

    async def worker(number: int) -> None:
        await asyncio.sleep(number * spread / runs)
        for round_ in range(rounds):
            tag = f"{name} worker {number} round {round_}"
            results[tag] = await one_run(tag)

    began = time.time()
    await asyncio.gather(*(worker(i) for i in range(runs)))
    return time.time() - began, results


async def drive(base_url: str, backend_url: str, args: argparse.Namespace) -> dict[str, Any]:
    """Every load through the emulator, then straight to the backend, each on one SDK client."""
    spread = args.first_token + args.tokens * args.pace
    client = openai.AsyncOpenAI(base_url=base_url, api_key="sk-bench", max_retries=0)
    assistant = await client.beta.assistants.create(model="gpt-4o", instructions="Answer.")
    emulated = via_emulator(client, assistant.id)
    await burst(emulated, "warm-up", args.runs, 1)  # imports, and 32 connections at every hop
    cpu_before = cpu_seconds_of(backend_url)
    loads = {
        "steady": await steady(emulated, "steady", args.runs, args.rounds, spread),
        "burst": await burst(emulated, "burst", args.runs, args.batches),
    }
    cpu_after = cpu_seconds_of(backend_url)
    await client.close()
    backend = openai.AsyncOpenAI(base_url=backend_url, api_key="sk-bench-backend-key", max_retries=0)
    straight = direct(backend)
    await burst(straight, "floor warm-up", args.runs, 1)
    floors = {
        "steady": await steady(straight, "floor steady", args.runs, args.rounds, spread),
        "burst": await burst(straight, "floor burst", args.runs, args.batches),
    }
    await backend.close()
    runs = sum(len(results) for _, results in loads.values())
    cpu = None if cpu_before is None or cpu_after is None else (cpu_after - cpu_before) / runs
    return {"loads": loads, "floors": floors, "cpu_per_run": cpu}


def figures_of(wall: float, results: dict[str, Timing], timings: dict[str, dict[str, float]]) -> dict[str, float]:
    shares, added, relay, before, after = [], [], [], [], []
    for tag, run in results.items():
        own = timings[tag]
        backend_time = own["finished_at"] - own["received_at"]
        extra = (run["done"] - run["started"]) - backend_time
        added.append(extra)
        shares.append(extra / backend_time)
        relay.append(run["first_delta"] - own["first_token_at"])
        before.append(own["received_at"] - run["started"])
        after.append(run["done"] - own["finished_at"])
    return {
        "runs": len(results), "runs_per_s": len(results) / wall,
        "added_share_p50": percentile(shares, 0.5), "added_share_p95": percentile(shares, 0.95),
        "added_ms_p50": 1000 * percentile(added, 0.5),
        "relay_ms_p50": 1000 * percentile(relay, 0.5), "relay_ms_p95": 1000 * percentile(relay, 0.95),
        "to_backend_ms_p50": 1000 * percentile(before, 0.5),
        "after_backend_ms_p50": 1000 * percentile(after, 0.5),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=32, help="runs in flight")
    parser.add_argument("--rounds", type=int, default=8, help="runs per worker, steady load")
    parser.add_argument("--batches", type=int, default=3, help="bursts of --runs runs")
    parser.add_argument("--first-token", type=float, default=0.05)
    parser.add_argument("--pace", type=float, default=0.01)
    parser.add_argument("--tokens", type=int, default=20)
    parser.add_argument("--out", default="bench/results/backend.json")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore", category=DeprecationWarning)

    fake = subprocess.Popen(
        [sys.executable, str(FAKE), "--first-token", str(args.first_token), "--pace", str(args.pace),
         "--tokens", str(args.tokens)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert fake.stdout is not None and fake.stdin is not None
    backend_url = fake.stdout.readline().strip()

    def ours() -> float:
        """CPU seconds of this benchmark's three processes (this one, the emulator, the fake)."""
        own = time.process_time() + process_cpu_seconds(fake.pid)
        return own + (cpu_seconds_of(backend_url) or 0.0)

    os.environ["SYNCER_BACKEND_API_KEY"] = "sk-bench-backend-key"
    try:
        with emulator_process("--backend", backend_url) as base_url:
            busy_before, ours_before = machine_busy_seconds(), ours()
            measured = asyncio.run(drive(base_url, backend_url, args))
            busy_after, ours_after = machine_busy_seconds(), ours()
        timings = {t["tag"]: t for t in httpx.get(backend_url.removesuffix("/v1") + "/_fake/requests").json()}
    finally:
        fake.stdin.close()
        fake.wait(10)

    nominal = args.first_token + (args.tokens - 1) * args.pace
    cpu = measured["cpu_per_run"]
    other = None if busy_before is None or busy_after is None else \
        (busy_after - busy_before) - (ours_after - ours_before)
    report: dict[str, Any] = {
        "concurrent": args.runs, "backend_nominal_s": nominal,
        "cpu_ms_per_run": None if cpu is None else 1000 * cpu,
        "other_processes_cpu_s": other,
    }
    for load in ("steady", "burst"):
        report[load] = figures_of(*measured["loads"][load], timings)
        report[f"{load}_floor"] = figures_of(*measured["floors"][load], timings)

    print(f"{args.runs} streamed runs in flight on a backend streaming {args.tokens} tokens "
          f"({args.first_token * 1000:.0f} ms to the first, then {args.pace * 1000:.0f} ms apart; "
          f"{nominal * 1000:.0f} ms nominal). floor: the same load sent straight to the backend")
    print(f"{'figure':<46} {'emulator':>9} {'floor':>9}  bound")
    ok = True
    for load, title in (("steady", "steady: 32 at once, all the time"),
                        ("burst", "burst: 32 started at the same instant")):
        mine, floor = report[load], report[f"{load}_floor"]
        added_ok = mine["added_share_p50"] <= ADDED_BOUND
        relay_ok = mine["relay_ms_p95"] <= RELAY_BOUND * 1000
        ok = ok and added_ok and relay_ok
        print(title)
        print(f"{'  runs per second':<46} {mine['runs_per_s']:>9.1f} {floor['runs_per_s']:>9.1f}  -")
        print(f"{'  added time over the backend own, p50':<46} {100 * mine['added_share_p50']:>8.1f}% "
              f"{100 * floor['added_share_p50']:>8.1f}%  <= {100 * ADDED_BOUND:.0f} %  "
              f"{'ok' if added_ok else 'MISSED'} ({mine['added_ms_p50']:.1f} ms; "
              f"p95 {100 * mine['added_share_p95']:.1f} %)")
        print(f"{'  first delta minus backend first token, p95':<46} {mine['relay_ms_p95']:>7.1f}ms "
              f"{floor['relay_ms_p95']:>7.1f}ms  <= {RELAY_BOUND * 1000:.0f} ms  "
              f"{'ok' if relay_ok else 'MISSED'} (p50 {mine['relay_ms_p50']:.1f} ms)")
        print(f"{'    request to backend request, p50':<46} {mine['to_backend_ms_p50']:>7.1f}ms "
              f"{floor['to_backend_ms_p50']:>7.1f}ms")
        print(f"{'    backend end to run completed, p50':<46} {mine['after_backend_ms_p50']:>7.1f}ms "
              f"{floor['after_backend_ms_p50']:>7.1f}ms")
    cpu_text = "n/a" if cpu is None else f"{report['cpu_ms_per_run']:.1f}ms"
    print(f"{'emulator CPU per run':<46} {cpu_text:>9} {'':>9}  -")
    if other is not None:
        print(f"other processes' CPU meanwhile: {other:.1f} s"
              + (f" (over {BUSY_MACHINE:g} s: the machine was busy, these figures are not comparable)"
                 if other > BUSY_MACHINE else ""))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
