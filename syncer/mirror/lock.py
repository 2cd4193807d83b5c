"""One writing operation at a time on a mirror: an operating-system lock per mirror and operation.

``sync``, ``restore`` and ``migrate`` each take ``<mirror>-<operation>.lock`` (beside the mirror,
like SQLite's ``-wal``) with ``flock`` before they read anything they plan from: the kernel owns
the lock, so it goes away with its process, whatever killed it (``kill -9`` never leaves a
stale lock behind; the file may stay, unlocked, and the next holder takes it over). Readers
(``search``, ``show``, ``status``, ``backup``, ``export``) never take it and are never blocked.

A second holder is refused at once, or after waiting up to ``timeout`` seconds, with one line
naming the first: its pid, its command line (secrets left out) and since when, read from the
lock file, which the holder rewrites when it takes the lock (the way terraform's state lock
names its holder).

What a lock cannot cover: it serialises processes that open the same mirror file on one
machine (and over a network file system that supports ``flock``). Two machines that each
restore their own copy of an archive into one server are not serialised: each copy has its
own ``restore_map``, and the server cannot be locked through the API. Restore from one
machine (or one copy) per target server.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import sys
import time
from collections.abc import Callable, Sequence

from syncer.errors import MirrorError

OPERATIONS = ("sync", "restore", "migrate")
# Options whose value is a secret: left out of the command line a lock records.
_SECRET_WORDS = ("key", "token", "secret", "password")


def lock_path(mirror: str, operation: str) -> str:
    """The lock file of ``operation`` on the mirror at ``mirror``."""
    return f"{mirror}-{operation}.lock"


def command_line(argv: Sequence[str] | None = None) -> str:
    """The command line (``sys.argv``) with the values of secret options replaced by ``***``."""
    args = list(sys.argv if argv is None else argv)
    if args:
        args[0] = os.path.basename(args[0])
    shown: list[str] = []
    hide_next = False
    for arg in args:
        if hide_next:
            shown.append("***")
            hide_next = False
            continue
        name, eq, _value = arg.partition("=")
        secret = arg.startswith("-") and any(word in name.lower() for word in _SECRET_WORDS)
        if secret and eq:
            shown.append(f"{name}=***")
        else:
            shown.append(arg)
            hide_next = secret
    return " ".join(shown)


class MirrorLock:
    """A held lock; ``release()`` (or the process ending) lets the next holder in."""

    def __init__(self, path: str, fd: int):
        self.path = path
        self._fd: int | None = fd

    @property
    def held(self) -> bool:
        return self._fd is not None

    def release(self) -> None:
        if self._fd is None:
            return
        # Unlinked while still held, so nobody can lock this file after us; a waiter that
        # opened it meanwhile notices (``_same_file``) and opens the path again.
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)
        os.close(self._fd)
        self._fd = None

    def __enter__(self) -> MirrorLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def acquire(mirror: str, operation: str, *, timeout: float = 0.0, command: str | None = None,
            sleep: Callable[[float], None] = time.sleep,
            clock: Callable[[], float] = time.monotonic) -> MirrorLock:
    """Take ``operation``'s lock on ``mirror``; ``MirrorError`` naming the holder if it is taken.

    ``timeout``: seconds to wait for the holder to finish (0: refuse at once).
    """
    if operation not in OPERATIONS:
        raise ValueError(f"unknown operation {operation!r}")
    path = lock_path(mirror, operation)
    deadline = clock() + max(0.0, timeout)
    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as error:
            raise MirrorError(f"{path}: cannot create the {operation} lock "
                              f"({error.strerror or error})") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(fd)
            os.close(fd)
            remaining = deadline - clock()
            if remaining <= 0:
                waited = f" (waited {timeout:g}s)" if timeout > 0 else ""
                raise MirrorError(
                    f"{mirror}: another {operation} holds this mirror{waited}: {holder}; "
                    f"wait for it to finish (or use --lock-timeout SECONDS)") from None
            sleep(min(0.1, remaining))
            continue
        if not _same_file(fd, path):
            os.close(fd)  # released and unlinked under us: lock the file now at the path
            continue
        _write_holder(fd, operation, command)
        return MirrorLock(path, fd)


def _same_file(fd: int, path: str) -> bool:
    try:
        on_disk = os.stat(path)
    except FileNotFoundError:
        return False
    held = os.fstat(fd)
    return (held.st_dev, held.st_ino) == (on_disk.st_dev, on_disk.st_ino)


def _write_holder(fd: int, operation: str, command: str | None) -> None:
    holder = {"pid": os.getpid(), "host": socket.gethostname(), "operation": operation,
              "command": command if command is not None else command_line(),
              "since": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    data = json.dumps(holder).encode()
    os.ftruncate(fd, 0)
    os.pwrite(fd, data, 0)


def _read_holder(fd: int) -> str:
    """The holder as one phrase, from what it wrote into the lock file."""
    try:
        holder = json.loads(os.pread(fd, 4096, 0) or b"{}")
    except (OSError, ValueError):
        holder = {}
    if not isinstance(holder, dict) or "pid" not in holder:
        return "a process that is just starting"
    return (f"pid {holder.get('pid')} on {holder.get('host', '?')} "
            f"({holder.get('command', '?')}) since {holder.get('since', '?')}")
