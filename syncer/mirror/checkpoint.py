"""WAL checkpoints in a background thread, while a sync writes the mirror.

SQLite copies the write-ahead log back into the database file (a checkpoint) inside the COMMIT
that lets the log pass 1,000 pages. During a sync that COMMIT runs on the event loop: it
stopped every request in flight for up to 100 ms at a time, and each such pause adds to the
sync's wall time. ``Checkpointer`` does that copying on a connection of its own in a thread
(SQLite runs it without holding Python's lock) as a PASSIVE checkpoint, which never waits for
the writer nor makes it wait; the writer's own automatic checkpoints wait meanwhile until the log
is 4,000 pages long (``Store.group_commits``). The log starts again from its beginning only when
a write transaction begins with everything in it copied; the thread's checkpoint of a group
rarely ends before the writer's next group begins, so without the writer's own (which then
copies only what the thread has not yet) the log grew by everything a sync wrote. Crash safety
is SQLite's: a checkpoint only copies committed pages.
"""

from __future__ import annotations

import logging
import sqlite3
import threading

__all__ = ["Checkpointer"]

log = logging.getLogger("syncer.mirror")


class Checkpointer:
    """Checkpoints ``path``'s WAL after each ``nudge()`` until ``close()``."""

    def __init__(self, path: str):
        self._conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._conn.execute("PRAGMA busy_timeout=10000")
        self._wake = threading.Event()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="syncer-checkpoints", daemon=True)
        self._thread.start()

    def nudge(self) -> None:
        """Something was committed: copy it into the database file soon."""
        self._wake.set()

    def close(self) -> None:
        """One last checkpoint (of everything committed by now), then the thread ends."""
        self._stopping = True
        self._wake.set()
        self._thread.join()
        self._conn.close()

    def _run(self) -> None:
        while True:
            self._wake.wait()
            self._wake.clear()
            last = self._stopping  # read first: a close() during this checkpoint wakes us again
            try:
                self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
            except sqlite3.Error as error:  # the writer checkpoints at its close all the same
                log.debug("background checkpoint failed: %s", error)
            if last:
                return
