"""The tracked-threads registry's input: thread ids from arguments and files, validated.

Threads cannot be listed through the API (a normal key gets ``missing_scope``), so the mirror
syncs the threads it is told about. A threads file has one id per line; blank lines and
``#`` comments are ignored; a bad id is reported with its line number.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

from syncer.errors import UsageError

THREAD_ID = re.compile(r"^thread_[A-Za-z0-9_-]{1,128}$")


def check_thread_ids(ids: Iterable[str]) -> list[str]:
    """The ids, unchanged and without repeats; a ``UsageError`` names the first bad one."""
    result: dict[str, None] = {}  # ordered, and a repeat costs one lookup (not a list scan)
    for thread_id in ids:
        if not THREAD_ID.match(thread_id):
            raise UsageError(f"{thread_id!r} is not a thread id (expected thread_…)")
        result[thread_id] = None
    return list(result)


def read_threads_file(path: str | Path) -> list[str]:
    """Thread ids from a file; every bad line is reported as ``file:line: …`` in one error.

    Read line by line (a file of a million ids is never held whole, nor its lines)."""
    ids: dict[str, None] = {}  # ordered, without repeats, linear in the file's length
    first_problem, problems = "", 0
    try:
        with Path(path).open(encoding="utf-8") as lines:
            for number, line in enumerate(lines, 1):
                value = line.split("#", 1)[0].strip()
                if not value:
                    continue
                if THREAD_ID.match(value):
                    ids[value] = None
                else:
                    problems += 1
                    first_problem = first_problem or (
                        f"{path}:{number}: {value!r} is not a thread id (expected thread_…)")
    except (OSError, UnicodeDecodeError) as error:
        raise UsageError(f"{path}: cannot read threads file ({error})") from None
    if problems:
        more = f" (and {problems - 1} more bad line(s))" if problems > 1 else ""
        raise UsageError(first_problem + more)
    return list(ids)
