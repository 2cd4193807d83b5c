"""A large mirror for the search benchmark: N messages of varied text, and queries over it.

The text is drawn from a vocabulary of 30,000 made-up words plus 150 common English ones with
Zipf-like frequencies (a few words in a third of all messages, most in a handful), 8-60 words a
message, 50 messages a thread, so that queries range from rare to very common terms as they do
in real conversations. Rows go in through the mirror's own schema and FTS triggers (the file is
made by ``open_mirror(..., "create")``), in large transactions.
"""

from __future__ import annotations

import itertools
import random
import sqlite3
from pathlib import Path

from syncer.mirror.store import open_mirror

COMMON = (  # noqa: SIM905  (one string reads better than 150 quoted words)
    "the be to of and a in that have it for not on with he as you do at this but his by from "
    "they we say her she or an will my one all would there their what so up out if about who "
    "get which go me when make can like time no just him know take people into year your good "
    "some could them see other than then now look only come its over think also back after use "
    "two how our work first well way even new want because any these give day most us order "
    "refund invoice account password error payment shipping delivery customer support price "
    "please thanks help issue problem update cancel subscription email address phone report "
    "data file upload download server database query request response api key token model "
    "tool function result output input message thread run step assistant user"
).split()
SYLLABLES = ("ka", "lo", "mi", "ren", "tas", "vo", "qui", "zen", "dor", "pha", "lux", "nim",
             "sar", "tek", "bru", "cal", "fen", "gor", "hil", "jun")


def vocabulary(rng: random.Random, size: int = 30_000) -> list[str]:
    words = set()
    while len(words) < size:
        words.add("".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4))))
    return list(COMMON) + sorted(words)


def build(path: Path, messages: int, seed: int = 7) -> list[str]:
    """Write a mirror of ``messages`` messages at ``path`` (kept if it already holds as many)
    and return the vocabulary, most frequent word first."""
    rng = random.Random(seed)
    words = vocabulary(rng)
    if path.exists():
        conn = sqlite3.connect(path)
        try:
            if conn.execute("SELECT count(*) FROM messages").fetchone()[0] == messages:
                return words
        finally:
            conn.close()
        path.unlink()
    weights = list(itertools.accumulate(1 / (rank + 1) ** 1.05 for rank in range(len(words))))
    with open_mirror(path, "create") as store:
        conn = store.conn
        conn.execute("PRAGMA synchronous=OFF")
        per_thread = 50
        created = 1_700_000_000
        for start in range(0, messages, 50_000):
            count = min(50_000, messages - start)
            conn.execute("BEGIN")
            threads = {f"thread_{(start + i) // per_thread:07d}" for i in range(count)}
            conn.executemany(
                "INSERT OR IGNORE INTO threads (id, object, created_at, metadata) VALUES"
                " (?, 'thread', ?, '{}')", [(t, created) for t in sorted(threads)])
            rows = []
            for i in range(start, start + count):
                text = " ".join(rng.choices(words, cum_weights=weights, k=rng.randint(8, 60)))
                rows.append((f"msg_{i:08d}", created + i // 10, f"thread_{i // per_thread:07d}",
                             "user" if i % 2 == 0 else "assistant", text))
            conn.executemany(
                "INSERT INTO messages (id, object, created_at, thread_id, status, role, content,"
                " attachments, metadata, text, first_seen_at, last_seen_at) VALUES"
                " (?, 'thread.message', ?, ?, 'completed', ?, '[]', '[]', '{}', ?, '', '')", rows)
            conn.execute("COMMIT")
        conn.execute("PRAGMA optimize")
    return words


def queries(words: list[str], count: int, seed: int = 1) -> list[str]:
    """Queries of one or two words, a third each from the 150 most common words, the next
    2,000, and the rest (rare)."""
    rng = random.Random(seed)
    pools = (words[:150], words[150:2150], words[2150:])
    out = []
    for number in range(count):
        pool = pools[number % 3]
        out.append(" ".join(rng.sample(pool, rng.choice((1, 1, 2)))))
    return out
