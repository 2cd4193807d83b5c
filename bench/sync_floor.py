"""The floor for `syncer sync`: only the work no mirror can avoid, on the same account.

    python bench/sync_floor.py BASE_URL MIRROR_DB THREADS_FILE

One keep-alive HTTP connection (the standard library's ``http.client``), sequential; every
list read forward 100 at a time, exactly the requests a full sync must send; each page parsed
(orjson) and inserted into a mirror that ``open_mirror(..., "create")`` already shaped (same
tables, indexes and FTS triggers), one transaction per page. No retries, no checks, no
concurrency, no progress. ``bench_sync.py`` runs it in its own process and divides its CPU
seconds (start-up included) by the objects it wrote, as it does for `syncer sync`. Prints
``{"objects": N, "requests": M}``.
"""

from __future__ import annotations

import http.client
import sqlite3
import sys
import urllib.parse

import orjson

NESTED = (dict, list)


def main() -> None:
    base_url, db_path, threads_file = sys.argv[1:4]
    parts = urllib.parse.urlsplit(base_url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port)
    headers = {"Authorization": "Bearer sk-bench-not-secret", "OpenAI-Beta": "assistants=v2"}
    db = sqlite3.connect(db_path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    columns = {table: [row[1] for row in db.execute(f"PRAGMA table_info([{table}])")]
               for table in ("assistants", "threads", "messages", "runs", "run_steps")}
    counts = {"objects": 0, "requests": 0}

    def get(path: str) -> dict:
        conn.request("GET", parts.path + path, headers=headers)
        response = conn.getresponse()
        body = response.read()
        counts["requests"] += 1
        return orjson.loads(body)

    def insert(table: str, objects: list[dict]) -> None:
        names = columns[table]
        rows = []
        for obj in objects:
            row = {k: (orjson.dumps(v).decode() if isinstance(v, NESTED) else v)
                   for k, v in obj.items()}
            if table == "messages":
                row["text"] = "\n".join(part["text"]["value"] for part in obj["content"]
                                        if part.get("type") == "text")
            rows.append([row.get(name) for name in names])
        marks = ", ".join("?" * len(names))
        db.execute("BEGIN")
        db.executemany(f"INSERT OR REPLACE INTO [{table}] VALUES ({marks})", rows)
        db.execute("COMMIT")
        counts["objects"] += len(objects)

    def walk(path: str, table: str) -> list[dict]:
        after, seen = None, []
        while True:
            query = "?order=asc&limit=100" + (f"&after={after}" if after else "")
            page = get(path + query)
            insert(table, page["data"])
            seen += page["data"]
            if not page["has_more"] or not page["data"]:
                return seen
            after = page["last_id"]

    walk("/assistants", "assistants")
    with open(threads_file) as lines:
        for thread_id in (line.strip() for line in lines):
            if not thread_id:
                continue
            insert("threads", [get(f"/threads/{thread_id}")])
            walk(f"/threads/{thread_id}/messages", "messages")
            for run in walk(f"/threads/{thread_id}/runs", "runs"):
                walk(f"/threads/{thread_id}/runs/{run['id']}/steps", "run_steps")
    print(orjson.dumps(counts).decode())


if __name__ == "__main__":
    main()
