"""Benchmark: 32 concurrent streamed runs on ``syncer emulator --backend`` (not a timed test).

    python bench/bench_backend.py [--runs 32] [--blocks 4] [--rounds 8] [--batches 3]
                                  [--first-token 0.05] [--pace 0.01] [--tokens 20]
                                  [--out bench/results/backend.json]

Processes of their own, as in real life: the fake Chat Completions server
(tests/fakes/chat_server.py: every answer streams its first token after 50 ms, then 20 tokens
10 ms apart), the emulator (``syncer emulator --backend URL``) and ``--clients`` (2) client
processes, each driving its share of the streamed runs with one long-lived official ``openai``
SDK client (``threads.create_and_run(stream=True)``), as an app keeps one. This process only
keeps time. Each run's user message tags it, so the client's times and the backend's own (it
records when each request arrived, sent its first token and ended) are matched run by run.

**The load the issue asks for, judged** ("steady"): 32 runs in flight all the time. 32 workers,
their starts spread over one answer's time, each starting its next run as soon as its last one
completed (``--rounds`` runs each).

**A stress case beyond it, reported, not judged** ("burst"): ``--batches`` times, 32 runs started
at the same instant. The SDK sends all 32 requests' headers first and then their bodies, so
all 32 reach the server within a millisecond or two and the single-threaded server handles them
one after another: the median run waits for half of the others.

**The floor: the same events from a server that does nothing.** The client's own work is the
largest part of a run's time on this machine (the SDK parses every event into typed objects:
7-9 ms of CPU per run, against the emulator's 2-3 ms), and an Assistants run streams more events
than a Chat Completions answer has chunks. So the floor is one run's event stream, recorded from
the emulator and replayed by the fake backend itself (``PUT /_fake/run-stream``) to the same
SDK call, its deltas paced like the backend's tokens: the same client work and the same backend
pace, with no server between. Each block runs each load through the emulator and against the
floor one after the other (the emulator first in even blocks), so a slower stretch of a shared
machine weighs on both sides alike.

Printed beside their bounds, emulator and floor side by side:
- runs per second;
- a run's time over the backend's own: from the SDK call to the run's ``thread.run.completed``,
  minus the backend's time for that answer, as a share of the latter, at p50 (client, server and
  backend together);
- **the server's added time**: the emulator's figure minus the floor's (bound: <= 5 % at p50);
- time to first delta minus the backend's first token: when the client got the first
  ``thread.message.delta`` minus when the backend sent the first token (bound: <= 20 ms p95);
- where the time goes: SDK call to backend request, backend end to run completed, p50;
- CPU per run, the emulator's (read from /proc, Linux only) and the SDK client's.

Last, the CPU time other processes used meanwhile (/proc/stat minus this benchmark's own
processes): on a shared machine another program's work slows all three, and a run taken
while it does is not comparable with one taken on a quiet machine (it says so).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, NamedTuple

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


def sdk_client(base_url: str, api_key: str) -> openai.AsyncOpenAI:
    """One long-lived official SDK client, as an app keeps one (no retries: a failure shows)."""
    return openai.AsyncOpenAI(base_url=base_url, api_key=api_key, max_retries=0)


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


def record_run_stream(base_url: str, assistant_id: str, backend_url: str) -> None:
    """One streamed run through the emulator, its SSE frames handed to the fake backend to replay."""
    with httpx.Client(headers={"Authorization": "Bearer sk-bench", "OpenAI-Beta": "assistants=v2"},
                      timeout=30) as http:
        answer = http.post(f"{base_url}/threads/runs", json={
            "assistant_id": assistant_id, "stream": True,
            "thread": {"messages": [{"role": "user", "content": "recorded run"}]}})
        answer.raise_for_status()
        frames = [frame + "\r\n\r\n" for frame in answer.text.split("\r\n\r\n") if frame.strip()]
        deltas = sum(frame.startswith("event: thread.message.delta") for frame in frames)
        if deltas == 0 or not frames[-1].startswith("event: done"):
            raise RuntimeError(f"the recorded run stream is not a whole run ({len(frames)} frames)")
        http.put(backend_url.removesuffix("/v1") + "/_fake/run-stream", json=frames).raise_for_status()


async def burst(one_run: RunOne, name: str, runs: int, batches: int) -> dict[str, Timing]:
    """``batches`` times, ``runs`` runs started at once; timings by tag."""
    results: dict[str, Timing] = {}
    for number in range(batches):
        tags = [f"{name} {number} run {i}" for i in range(runs)]
        done = await asyncio.gather(*(one_run(tag) for tag in tags))
        results.update(zip(tags, done, strict=True))
    return results


async def steady(one_run: RunOne, name: str, offsets: list[float], rounds: int) -> dict[str, Timing]:
    """A worker per offset, started that many seconds in, each doing ``rounds`` runs in a row."""
    results: dict[str, Timing] = {}

    async def worker(number: int, offset: float) -> None:
        await asyncio.sleep(offset)
        for round_ in range(rounds):
            tag = f"{name} worker {number} round {round_}"
            results[tag] = await one_run(tag)

    await asyncio.gather(*(worker(i, offset) for i, offset in enumerate(offsets)))
    return results


def phases(blocks: int) -> list[tuple[str, str]]:
    """(side, load) in order: a warm-up of each side, then ``blocks`` blocks, sides in turns."""
    order = [("emulator", "warm-up"), ("floor", "warm-up")]
    for block in range(blocks):
        for load in ("steady", "burst"):
            order += [(side, load) for side in (("emulator", "floor") if block % 2 == 0 else ("floor", "emulator"))]
    return order


class Client(NamedTuple):
    """What one SDK client process needs to know."""

    number: int
    base_url: str
    backend_url: str
    assistant_id: str
    runs: list[int]  # the runs in flight it drives, by their number among all ``--runs``


def client_process(client: Client, args: argparse.Namespace, barrier: Any, out: Any) -> None:
    """A client process: every phase, once all processes (and the parent) reach the barrier."""
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    try:
        out.put(asyncio.run(client_phases(client, args, barrier)))
    except BaseException:
        barrier.abort()  # the parent and the other clients stop waiting (the traceback follows)
        raise


async def client_phases(client: Client, args: argparse.Namespace, barrier: Any) -> dict[str, Any]:
    emulator = sdk_client(client.base_url, "sk-bench")
    floor = sdk_client(client.backend_url, "sk-bench-backend-key")
    sides = {"emulator": via_emulator(emulator, client.assistant_id), "floor": via_emulator(floor, client.assistant_id)}
    spread = args.first_token + args.tokens * args.pace
    offsets = [number * spread / args.runs for number in client.runs]
    timings: dict[str, dict[str, Timing]] = {f"{side} {load}": {} for side in sides for load in ("steady", "burst")}
    cpu = dict.fromkeys(sides, 0.0)
    for number, (side, load) in enumerate(phases(args.blocks)):
        await asyncio.to_thread(barrier.wait)
        began = time.process_time()
        name = f"client {client.number} phase {number} {side} {load}"
        if load == "warm-up":  # imports, and the connections at every hop
            await burst(sides[side], name, len(client.runs), 1)
            continue
        if load == "steady":
            results = await steady(sides[side], name, offsets, args.rounds)
        else:
            results = await burst(sides[side], name, len(client.runs), args.batches)
        timings[f"{side} {load}"].update(results)
        cpu[side] += time.process_time() - began
    await asyncio.to_thread(barrier.wait)
    await emulator.close()
    await floor.close()
    return {"timings": timings, "cpu": cpu}


def drive(base_url: str, backend_url: str, fake_pid: int, args: argparse.Namespace) -> dict[str, Any]:
    """Every phase, driven by ``--clients`` SDK client processes, the parent keeping time."""
    with openai.OpenAI(base_url=base_url, api_key="sk-bench", max_retries=0) as sdk:
        assistant = sdk.beta.assistants.create(model="gpt-4o", instructions="Answer.")
    record_run_stream(base_url, assistant.id, backend_url)
    context = multiprocessing.get_context("spawn")
    barrier, out = context.Barrier(args.clients + 1), context.Queue()
    processes = [
        context.Process(target=client_process, daemon=True, args=(
            Client(number, base_url, backend_url, assistant.id, list(range(number, args.runs, args.clients))),
            args, barrier, out))
        for number in range(args.clients)
    ]
    for process in processes:
        process.start()
    order = phases(args.blocks)
    # At each barrier: wall clock, the emulator's CPU seconds, the machine's busy seconds, and the
    # CPU seconds of this process, the clients and the fake backend (all from /proc, in the same
    # clock ticks as the machine's figure).
    ours = [os.getpid(), fake_pid, *(process.pid for process in processes if process.pid is not None)]
    marks: list[tuple[float, float | None, float | None, float]] = []
    for _ in range(len(order) + 1):
        try:
            barrier.wait(timeout=600)
        except threading.BrokenBarrierError:
            raise SystemExit("bench_backend: a client process failed (its error is above)") from None
        marks.append((time.time(), cpu_seconds_of(backend_url), machine_busy_seconds(),
                      sum(process_cpu_seconds(pid) for pid in ours)))
    reports = [out.get(timeout=600) for _ in processes]
    for process in processes:
        process.join(30)
    walls: dict[str, float] = {}
    emulator_cpu = 0.0
    for number, (side, load) in enumerate(order):
        if load == "warm-up":
            continue
        (began, cpu_before, _, _), (ended, cpu_after, _, _) = marks[number], marks[number + 1]
        walls[f"{side} {load}"] = walls.get(f"{side} {load}", 0.0) + ended - began
        if side == "emulator" and cpu_before is not None and cpu_after is not None:
            emulator_cpu += cpu_after - cpu_before
    measured = {side: {load: (walls[f"{side} {load}"], {tag: timing for report in reports
                                                        for tag, timing in report["timings"][f"{side} {load}"].items()})
                       for load in ("steady", "burst")}
                for side in ("emulator", "floor")}
    runs = {side: sum(len(results) for _, results in measured[side].values()) for side in measured}
    start, end = marks[2], marks[-1]  # the measured phases: after the two warm-ups
    other = None
    if None not in (start[1], start[2], end[1], end[2]):
        other = (end[2] - start[2]) - (end[1] - start[1]) - (end[3] - start[3])  # type: ignore[operator]
    return {
        "loads": measured["emulator"], "floors": measured["floor"],
        "cpu_per_run": None if start[1] is None else emulator_cpu / runs["emulator"],
        "client_cpu_per_run": {side: sum(r["cpu"][side] for r in reports) / runs[side] for side in runs},
        "other_processes_cpu": other,
    }


def verdict(met: bool, load: str) -> str:
    if met:
        return "ok"
    return "MISSED" if load == "steady" else "over (not judged)"


def figures_of(wall: float, results: dict[str, Timing], timings: dict[str, dict[str, float]]) -> dict[str, float]:
    shares, added, relay, before, after, whole, backend = [], [], [], [], [], [], []
    for tag, run in results.items():
        own = timings[tag]
        backend_time = own["finished_at"] - own["received_at"]
        whole.append(run["done"] - run["started"])
        backend.append(backend_time)
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
        "run_ms_p50": 1000 * percentile(whole, 0.5), "backend_ms_p50": 1000 * percentile(backend, 0.5),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=32, help="runs in flight")
    parser.add_argument("--clients", type=int, default=2,
                        help="SDK client processes sharing the runs (one saturates a core on its own)")
    parser.add_argument("--blocks", type=int, default=4,
                        help="times each load runs through the emulator and straight to the backend, in turns")
    parser.add_argument("--rounds", type=int, default=8, help="runs per worker, steady load, per block")
    parser.add_argument("--batches", type=int, default=3, help="bursts of --runs runs per block")
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

    os.environ["SYNCER_BACKEND_API_KEY"] = "sk-bench-backend-key"
    try:
        with emulator_process("--backend", backend_url) as base_url:
            measured = drive(base_url, backend_url, fake.pid, args)
        timings = {t["tag"]: t for t in httpx.get(backend_url.removesuffix("/v1") + "/_fake/requests").json()}
    finally:
        fake.stdin.close()
        fake.wait(10)

    nominal = args.first_token + (args.tokens - 1) * args.pace
    cpu = measured["cpu_per_run"]
    other = measured["other_processes_cpu"]
    report: dict[str, Any] = {
        "concurrent": args.runs, "backend_nominal_s": nominal,
        "cpu_ms_per_run": None if cpu is None else 1000 * cpu,
        "other_processes_cpu_s": other,
    }
    for load in ("steady", "burst"):
        mine = report[load] = figures_of(*measured["loads"][load], timings)
        floor = report[f"{load}_floor"] = figures_of(*measured["floors"][load], timings)
        mine["server_added_share_p50"] = mine["added_share_p50"] - floor["added_share_p50"]
        mine["server_added_ms_p50"] = mine["added_ms_p50"] - floor["added_ms_p50"]
        # Stricter: whole run times compared, so the backend's own slowdown while it shares the
        # machine with the emulator counts as the server's too.
        mine["run_minus_floor_run_share_p50"] = (mine["run_ms_p50"] - floor["run_ms_p50"]) / floor["backend_ms_p50"]

    report["client_cpu_ms_per_run"] = {side: 1000 * value for side, value in measured["client_cpu_per_run"].items()}
    print(f"{args.runs} streamed runs in flight on a backend streaming {args.tokens} tokens "
          f"({args.first_token * 1000:.0f} ms to the first, then {args.pace * 1000:.0f} ms apart: "
          f"{nominal * 1000:.0f} ms). floor: the same run's events replayed by the backend itself, "
          f"no server between; {args.blocks} blocks, emulator and floor in turns")
    print(f"{'figure':<50} {'emulator':>9} {'floor':>9}  bound")
    ok = True
    for load, title in (("steady", "steady: 32 in flight all the time (judged)"),
                        ("burst", "burst: 32 started at the same instant (stress case, not judged)")):
        mine, floor = report[load], report[f"{load}_floor"]
        added_ok = mine["server_added_share_p50"] <= ADDED_BOUND
        relay_ok = mine["relay_ms_p95"] <= RELAY_BOUND * 1000
        if load == "steady":
            ok = ok and added_ok and relay_ok
        print(f"{title}, {mine['runs']} runs a side")
        print(f"{'  runs per second':<50} {mine['runs_per_s']:>9.1f} {floor['runs_per_s']:>9.1f}  -")
        print(f"{'  run time over the backend own, p50':<50} {100 * mine['added_share_p50']:>8.1f}% "
              f"{100 * floor['added_share_p50']:>8.1f}%  -  ({mine['added_ms_p50']:.1f} / "
              f"{floor['added_ms_p50']:.1f} ms; client, server, backend)")
        print(f"{'  server added time, p50 (emulator - floor)':<50} "
              f"{100 * mine['server_added_share_p50']:>8.1f}% {'':>9}  <= {100 * ADDED_BOUND:.0f} %  "
              f"{verdict(added_ok, load)} ({mine['server_added_ms_p50']:.1f} ms)")
        print(f"{'  stricter: run time minus the floor run time, p50':<50} "
              f"{100 * mine['run_minus_floor_run_share_p50']:>8.1f}% {'':>9}  -  (backend p50 "
              f"{mine['backend_ms_p50']:.1f} / {floor['backend_ms_p50']:.1f} ms)")
        print(f"{'  first delta minus backend first token, p95':<50} {mine['relay_ms_p95']:>7.1f}ms "
              f"{floor['relay_ms_p95']:>7.1f}ms  <= {RELAY_BOUND * 1000:.0f} ms  "
              f"{verdict(relay_ok, load)} (p50 {mine['relay_ms_p50']:.1f} ms)")
        print(f"{'    SDK call to backend request, p50':<50} {mine['to_backend_ms_p50']:>7.1f}ms "
              f"{floor['to_backend_ms_p50']:>7.1f}ms")
        print(f"{'    backend end to run completed, p50':<50} {mine['after_backend_ms_p50']:>7.1f}ms "
              f"{floor['after_backend_ms_p50']:>7.1f}ms")
    cpu_text = "n/a" if cpu is None else f"{report['cpu_ms_per_run']:.1f}ms"
    print(f"{'emulator CPU per run':<50} {cpu_text:>9} {'':>9}  -")
    client = report["client_cpu_ms_per_run"]
    print(f"{'SDK client CPU per run':<50} {client['emulator']:>7.1f}ms {client['floor']:>7.1f}ms  -")
    if other is not None:
        print(f"other processes' CPU meanwhile: {other:.1f} s"
              + (f" (over {BUSY_MACHINE:g} s: the machine was busy, these figures are not comparable)"
                 if other > BUSY_MACHINE else ""))
    print("missed: nothing" if ok else "missed: the steady load's bounds (see above)")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
