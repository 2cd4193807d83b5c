"""Benchmark: 32 concurrent streamed runs on ``syncer emulator --backend`` (not a timed test).

    python bench/bench_backend.py [--runs 32] [--batches 3] [--first-token 0.05] [--pace 0.01]
                                  [--tokens 20] [--out bench/results/backend.json]

Three processes, as in real life: the fake Chat Completions server (tests/fakes/chat_server.py:
every answer streams its first token after 50 ms, then 20 tokens 10 ms apart), the emulator
(``syncer emulator --backend URL``) and this client, which drives ``--runs`` streamed runs at
once with the official ``openai`` SDK (``threads.create_and_run(stream=True)``), ``--batches``
times. Each run's user message tags it, so the client's times and the backend's own (it
records when each request arrived, sent its first token and ended) are matched run by run.

Printed beside their bounds:
- runs per second (all batches' runs over their wall time);
- the server's added time per run: the client's time from sending the request to the run's
  ``thread.run.completed`` minus the backend's time for that completion, as a share of the
  latter (bound: <= 5 % at p50);
- time to first delta minus the backend's first token: when the client got the first
  ``thread.message.delta`` minus when the backend sent the first token (bound: <= 20 ms p95);
- the emulator's CPU time per run (read from /proc, Linux only).
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
from pathlib import Path
from typing import Any

import httpx
import openai

from syncer.emulator import emulator_process

ROOT = Path(__file__).resolve().parent.parent
FAKE = ROOT / "tests" / "fakes" / "chat_server.py"
ADDED_BOUND = 0.05  # share of the backend's own time, p50
RELAY_BOUND = 0.020  # seconds, p95


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * (len(ordered) - 1))))]


def cpu_seconds_of(marker: str) -> tuple[int, float] | None:
    """(pid, user+system CPU seconds) of the process whose command line holds ``marker``."""
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
        return int(entry.name), (int(fields[11]) + int(fields[12])) / ticks
    return None


async def one_run(client: openai.AsyncOpenAI, assistant_id: str, tag: str) -> dict[str, float]:
    started = time.time()
    first_delta = done = None
    stream = await client.beta.threads.create_and_run(
        assistant_id=assistant_id, stream=True, thread={"messages": [{"role": "user", "content": tag}]})
    async for event in stream:
        if event.event == "thread.message.delta" and first_delta is None:
            first_delta = time.time()
        elif event.event in ("thread.run.completed", "thread.run.failed"):
            if event.event == "thread.run.failed":
                raise RuntimeError(f"run failed: {event.data.last_error}")
            done = time.time()
    if first_delta is None or done is None:
        raise RuntimeError("the stream ended without a delta or a completed run")
    return {"started": started, "first_delta": first_delta, "done": done}


async def batch(base_url: str, runs: int, number: int) -> tuple[float, dict[str, dict[str, float]]]:
    client = openai.AsyncOpenAI(base_url=base_url, api_key="sk-bench", max_retries=0,
                                http_client=None)
    assistant = await client.beta.assistants.create(model="gpt-4o", instructions="Answer.")
    tags = [f"batch {number} run {i}" for i in range(runs)]
    began = time.time()
    results = await asyncio.gather(*(one_run(client, assistant.id, tag) for tag in tags))
    wall = time.time() - began
    await client.close()
    return wall, dict(zip(tags, results, strict=True))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=32)
    parser.add_argument("--batches", type=int, default=3)
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
            found = cpu_seconds_of(backend_url)
            asyncio.run(batch(base_url, 4, -1))  # warm-up (imports, connections)
            cpu_before = cpu_seconds_of(backend_url)
            walls, runs = [], {}
            for number in range(args.batches):
                wall, results = asyncio.run(batch(base_url, args.runs, number))
                walls.append(wall)
                runs.update(results)
            cpu_after = cpu_seconds_of(backend_url)
            timings = {t["tag"]: t for t in httpx.get(backend_url.removesuffix("/v1") + "/_fake/requests").json()}
    finally:
        fake.stdin.close()
        fake.wait(10)

    added, shares, relay, before, after = [], [], [], [], []
    for tag, run in runs.items():
        own = timings[tag]
        backend_time = own["finished_at"] - own["received_at"]
        extra = (run["done"] - run["started"]) - backend_time
        added.append(extra)
        shares.append(extra / backend_time)
        relay.append(run["first_delta"] - own["first_token_at"])
        before.append(own["received_at"] - run["started"])
        after.append(run["done"] - own["finished_at"])
    total = len(runs)
    cpu = None
    if found and cpu_before and cpu_after:
        cpu = (cpu_after[1] - cpu_before[1]) / total
    nominal = args.first_token + (args.tokens - 1) * args.pace
    figures: dict[str, Any] = {
        "runs": total, "concurrent": args.runs, "batches": args.batches,
        "backend_nominal_s": nominal,
        "runs_per_s": total / sum(walls),
        "added_share_p50": percentile(shares, 0.5), "added_ms_p50": 1000 * percentile(added, 0.5),
        "added_share_p95": percentile(shares, 0.95),
        "relay_ms_p50": 1000 * percentile(relay, 0.5), "relay_ms_p95": 1000 * percentile(relay, 0.95),
        "cpu_ms_per_run": None if cpu is None else 1000 * cpu,
        "to_backend_ms_p50": 1000 * percentile(before, 0.5), "after_backend_ms_p50": 1000 * percentile(after, 0.5),
    }
    ok_added = figures["added_share_p50"] <= ADDED_BOUND
    ok_relay = figures["relay_ms_p95"] <= RELAY_BOUND * 1000
    print(f"{args.runs} concurrent streamed runs x {args.batches} batches on a backend streaming "
          f"{args.tokens} tokens ({args.first_token * 1000:.0f} ms to the first, then "
          f"{args.pace * 1000:.0f} ms apart; {nominal * 1000:.0f} ms nominal)")
    print(f"{'figure':<48} {'value':>10}  bound")
    print(f"{'runs per second':<48} {figures['runs_per_s']:>10.1f}  -")
    print(f"{'added time over the backend own, p50':<48} {100 * figures['added_share_p50']:>9.1f}%  "
          f"<= {100 * ADDED_BOUND:.0f} %  {'ok' if ok_added else 'MISSED'} "
          f"({figures['added_ms_p50']:.1f} ms; p95 {100 * figures['added_share_p95']:.1f} %)")
    print(f"{'first delta minus backend first token, p95':<48} {figures['relay_ms_p95']:>8.1f}ms  "
          f"<= {RELAY_BOUND * 1000:.0f} ms  {'ok' if ok_relay else 'MISSED'} "
          f"(p50 {figures['relay_ms_p50']:.1f} ms)")
    print(f"{'  of which: request to backend request, p50':<48} {figures['to_backend_ms_p50']:>8.1f}ms")
    print(f"{'  of which: backend end to run completed, p50':<48} {figures['after_backend_ms_p50']:>8.1f}ms")
    cpu_text = "n/a" if cpu is None else f"{figures['cpu_ms_per_run']:.1f}ms"
    print(f"{'emulator CPU per run':<48} {cpu_text:>10}  -")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(figures, indent=2) + "\n")
    return 0 if ok_added and ok_relay else 1


if __name__ == "__main__":
    sys.exit(main())
