"""The wall-time floor of a full sync: every request a sync sends, none of its other work.

    python bench/walk_floor.py BASE_URL THREADS_FILE CONCURRENCY

aiohttp and orjson on one event loop, the same walk as `syncer sync` (the assistants list;
then per thread its GET, its messages and runs lists at once, then each run's steps; 2 x
CONCURRENCY workers taking the threads in turn, beside the assistants) with at most
CONCURRENCY requests in flight, and nothing written. Against an emulator with
``--latency-ms``, its wall time over the latency bound (``requests x latency / concurrency``)
is what the emulator, the machine and the least client cost; ``bench_sync.py`` prints it
beside the full sync's (both as the wall time of their process, start-up included). Prints
``{"requests": N, "wall_s": S}``.
"""

from __future__ import annotations

import asyncio
import sys
import time
from typing import Any

import aiohttp
import orjson

HEADERS = {"Authorization": "Bearer sk-bench-not-secret", "OpenAI-Beta": "assistants=v2"}


async def main(base_url: str, thread_ids: list[str], concurrency: int) -> None:
    slots = asyncio.Semaphore(concurrency)
    sent = 0
    connector = aiohttp.TCPConnector(limit=4 * concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def get(path: str) -> Any:
            nonlocal sent
            async with slots, session.get(base_url + path, headers=HEADERS) as response:
                body = await response.read()
            sent += 1
            return orjson.loads(body)

        async def walk(path: str) -> list[dict[str, Any]]:
            after, seen = None, []
            while True:
                page = await get(path + "?order=asc&limit=100" + (f"&after={after}" if after else ""))
                seen += page["data"]
                if not page["has_more"] or not page["data"]:
                    return seen
                after = page["last_id"]

        async def runs_and_steps(thread_id: str) -> None:
            runs = await walk(f"/threads/{thread_id}/runs")
            await asyncio.gather(*(walk(f"/threads/{thread_id}/runs/{run['id']}/steps")
                                   for run in runs))

        queue = iter(thread_ids)

        async def worker() -> None:
            for thread_id in queue:
                await get(f"/threads/{thread_id}")
                await asyncio.gather(walk(f"/threads/{thread_id}/messages"),
                                     runs_and_steps(thread_id))

        started = time.perf_counter()
        await asyncio.gather(walk("/assistants"), *(worker() for _ in range(2 * concurrency)))
        wall = time.perf_counter() - started
    print(orjson.dumps({"requests": sent, "wall_s": wall}).decode())


if __name__ == "__main__":
    url, threads_file, in_flight = sys.argv[1], sys.argv[2], int(sys.argv[3])
    with open(threads_file) as lines:
        ids = [line.strip() for line in lines if line.strip()]
    asyncio.run(main(url, ids, in_flight))
