"""The HTTP stacks under httpx, side by side: client CPU per request. Not a test.

    python bench/bench_transports.py [--requests 3000] [--concurrency 16]

Each stack sends the same GETs (a page of 100 messages, about 60 kB) to one emulator
(``--latency-ms 0``, its own process), each in its own process; the figure is that process's
user + system CPU for the requests alone (imports and start-up excluded), per request, and
its wall time. The stacks:

- ``httpx``: ``httpx.AsyncClient`` as it comes (httpcore, anyio, h11);
- ``httpx + httpx-aiohttp``: the ``httpx_aiohttp.AiohttpTransport`` package (if installed);
- ``httpx + syncer AiohttpTransport``: what syncer uses (``syncer.api.transport``);
- ``aiohttp``: ``aiohttp.ClientSession`` alone (what the transport costs on top of it);
- ``httpx2``: the official SDK's own HTTP library (if installed);
- ``http.client``: the standard library, one keep-alive connection, sequential (the floor).

Prints a table and writes ``bench/results/transports-<UTC time>.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from syncer.emulator import emulator_process
from syncer.emulator.generate import generate_account

RESULTS = Path(__file__).parent / "results"
KEY = "sk-bench-not-secret"

# One client process: argv = stack, base_url, path, requests, concurrency. Prints JSON.
CLIENT = r"""
import asyncio, json, resource, sys, time
stack, base_url, path, total, concurrency = sys.argv[1:6]
total, concurrency = int(total), int(concurrency)
headers = {"Authorization": "Bearer sk-bench-not-secret", "OpenAI-Beta": "assistants=v2"}
url = base_url + path

def cpu():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime

async def drive(get):
    queue = iter(range(total))
    async def worker():
        for _ in queue:
            body = await get()
            assert len(body) > 1000
    await asyncio.gather(*(worker() for _ in range(concurrency)))

async def run_httpx(transport=None, module="httpx"):
    http = __import__(module)
    options = {"transport": transport} if transport is not None else {}
    async with http.AsyncClient(headers=headers, timeout=60, **options) as client:
        async def get():
            response = await client.get(url)
            response.raise_for_status()
            return response.content
        await get()  # connect first
        start = (cpu(), time.perf_counter())
        await drive(get)
        return start

async def run_aiohttp():
    import aiohttp
    async with aiohttp.ClientSession(headers=headers) as session:
        async def get():
            async with session.get(url) as response:
                response.raise_for_status()
                return await response.read()
        await get()
        start = (cpu(), time.perf_counter())
        await drive(get)
        return start

def run_http_client():
    import http.client, urllib.parse
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port)
    def get():
        conn.request("GET", parts.path + ("?" + parts.query if parts.query else ""), headers=headers)
        response = conn.getresponse()
        body = response.read()
        assert response.status == 200 and len(body) > 1000
    get()
    start = (cpu(), time.perf_counter())
    for _ in range(total):
        get()
    return start

async def run_syncer():
    from syncer.api.http import HTTPClient
    from syncer.api.settings import ClientSettings
    settings = ClientSettings(base_url=base_url, api_key="sk-bench-not-secret")
    async with HTTPClient(settings) as client:
        async def get():
            return (await client.send("GET", path)).content
        await get()
        start = (cpu(), time.perf_counter())
        await drive(get)
        return start

async def run_transport_direct():
    import httpx
    from syncer.api.transport import AiohttpTransport
    transport = AiohttpTransport(tls=False)
    timeout = {"connect": 60, "read": 60, "write": 60, "pool": 60}
    async def get():
        request = httpx.Request("GET", url, headers=headers, extensions={"timeout": timeout})
        response = await transport.handle_async_request(request)
        body = await response.aread()
        assert response.status_code == 200
        return body
    await get()
    start = (cpu(), time.perf_counter())
    await drive(get)
    await transport.aclose()
    return start

if stack == "http.client":
    start = run_http_client()
elif stack == "aiohttp":
    start = asyncio.run(run_aiohttp())
elif stack == "httpx":
    start = asyncio.run(run_httpx())
elif stack == "httpx2":
    start = asyncio.run(run_httpx(module="httpx2"))
elif stack == "httpx + httpx-aiohttp":
    import httpx_aiohttp
    start = asyncio.run(run_httpx(httpx_aiohttp.AiohttpTransport()))
elif stack == "httpx + syncer AiohttpTransport":
    from syncer.api.transport import AiohttpTransport
    start = asyncio.run(run_httpx(AiohttpTransport(tls=False)))
elif stack == "syncer HTTPClient.send":
    start = asyncio.run(run_syncer())
elif stack == "httpx.Request + syncer transport":
    start = asyncio.run(run_transport_direct())
cpu_s, wall_s = cpu() - start[0], time.perf_counter() - start[1]
print(json.dumps({"cpu_s": cpu_s, "wall_s": wall_s}))
"""

STACKS = ("httpx", "httpx + httpx-aiohttp", "httpx + syncer AiohttpTransport",
          "syncer HTTPClient.send", "httpx.Request + syncer transport", "aiohttp", "httpx2",
          "http.client")


def available(stack: str) -> bool:
    module = {"httpx + httpx-aiohttp": "httpx_aiohttp", "httpx2": "httpx2",
              "aiohttp": "aiohttp", "httpx + syncer AiohttpTransport": "aiohttp"}.get(stack)
    if module is None:
        return True
    probe = subprocess.run([sys.executable, "-c", f"import {module}"], capture_output=True)
    return probe.returncode == 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-transports-") as tmp:
        account = generate_account(seed=0, assistants=1, threads=1, messages_per_thread=100,
                                   runs_per_thread=0)
        path = Path(tmp) / "account.json"
        path.write_text(json.dumps(account))
        thread = account["threads"][0]["id"]
        with emulator_process("--load", str(path), "--latency-ms", "0") as base_url:
            for stack in STACKS:
                if not available(stack):
                    rows.append({"stack": stack, "skipped": "not installed"})
                    continue
                out = subprocess.run(
                    [sys.executable, "-c", CLIENT, stack, base_url,
                     f"/threads/{thread}/messages?limit=100&order=asc", str(args.requests),
                     str(1 if stack == "http.client" else args.concurrency)],
                    capture_output=True, text=True, env={**os.environ, "OPENAI_API_KEY": KEY})
                if out.returncode:
                    rows.append({"stack": stack, "skipped": out.stderr.strip()[-300:]})
                    continue
                figures = json.loads(out.stdout)
                rows.append({"stack": stack, **figures,
                             "cpu_ms_per_request": figures["cpu_s"] / args.requests * 1000})
    print(f"\n{args.requests} GETs of a 100-message page, concurrency {args.concurrency} "
          f"(http.client: 1), load avg {os.getloadavg()[0]:.1f}")
    for row in rows:
        if "skipped" in row:
            print(f"  {row['stack']:<34} skipped: {row['skipped']}")
        else:
            print(f"  {row['stack']:<34} {row['cpu_ms_per_request']:6.3f} ms CPU/request   "
                  f"wall {row['wall_s']:.2f} s")
    RESULTS.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out_path = RESULTS / f"transports-{stamp}.json"
    out_path.write_text(json.dumps({"requests": args.requests,
                                    "concurrency": args.concurrency, "rows": rows,
                                    "load_avg": os.getloadavg()}, indent=2))
    print(f"figures written to {out_path}")


if __name__ == "__main__":
    main()
