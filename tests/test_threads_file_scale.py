"""`syncer threads add --file` is linear in the file's length (it was quadratic: 100k ids took
69 s and 1M never finished). Measured in CPU time, which a busy machine does not inflate."""

from __future__ import annotations

import sqlite3
import time

from click.testing import CliRunner

from syncer.cli import cli
from syncer.mirror.store import open_mirror


def test_two_hundred_thousand_ids_with_repeats_in_a_few_cpu_seconds(tmp_path):
    ids = [f"thread_{n:024x}" for n in range(200_000)]
    threads = tmp_path / "threads.txt"
    # Every id twice (the second half repeats the first): repeats are dropped, order kept.
    threads.write_text("# exported ids\n" + "\n".join(ids + ids[:100_000]) + "\n")
    db = tmp_path / "m.db"
    started = time.process_time()
    result = CliRunner().invoke(cli, ["threads", "add", "--file", str(threads), "--db", str(db)])
    again = CliRunner().invoke(cli, ["threads", "add", "--file", str(threads), "--db", str(db)])
    cpu = time.process_time() - started
    assert result.exit_code == 0 and "Tracking 200000 new thread(s) (0 already tracked)" in result.output
    assert again.exit_code == 0 and "Tracking 0 new thread(s) (200000 already tracked)" in again.output
    # Quadratic took minutes here; linear takes about two CPU seconds. A generous bound.
    assert cpu < 20, f"{cpu:.1f} CPU seconds"
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT count(*), count(DISTINCT id) FROM tracked_threads").fetchone() == (
        200_000, 200_000)
    conn.close()


def test_a_sync_reads_the_tracked_ids_from_the_mirror_in_batches_as_it_walks(tmp_path):
    ids = [f"thread_{n:024x}" for n in range(2_500)]
    with open_mirror(tmp_path / "m.db", "create") as store:
        store.track_threads(ids[:1_500], source="first")
        store.track_threads(ids[1_500:], source="second")
        tracked = store.tracked_ids()
        store.track_threads(["thread_added_later_0000000000"], source="late")
        reads = []
        store.db.conn.set_trace_callback(
            lambda sql: reads.append(sql) if "FROM tracked_threads WHERE (added_at, id) >" in sql else None)
        walked = list(tracked)
        assert len(tracked) == 2_500 and ids[7] in tracked
        assert "thread_added_later_0000000000" not in tracked
    assert walked == sorted(ids[:1_500]) + sorted(ids[1_500:])  # as added; each add in id order
    assert len(reads) == 4  # three batches of at most 1,000, then the empty read that ends it
