"""When to retry a request and how long to wait first — the official SDK's rules.

Mirrors ``openai._base_client`` (``_should_retry``, ``_parse_retry_after_header``,
``_calculate_retry_timeout``):

- Retried: connection errors, timeouts, and the statuses 408, 409, 429 and ≥ 500.
- ``x-should-retry: true|false`` from the server overrides the status rule.
- A server-directed wait (``retry-after-ms``, else ``retry-after`` in seconds or as an HTTP
  date) is honoured exactly when 0 < wait ≤ 120 s. A wait above 120 s means *do not retry*
  (the error is raised at once, as the SDK does; this wins even over ``x-should-retry: true``).
  A wait ≤ 0 (a date in the past) or an unparsable header falls back to backoff.
- Backoff: ``min(base · 2**n, max) · (1 - 0.25 · random())`` for the n-th retry (n from 0),
  with base 0.5 s and max 8 s by default.
"""

from __future__ import annotations

import email.utils
import math
import random
import time
from collections.abc import Callable, Mapping

from syncer.errors import APIConnectionError

MAX_RETRY_AFTER = 120.0
RETRYABLE_STATUSES = frozenset({408, 409, 429})


def parse_retry_after(headers: Mapping[str, str] | None, now: float | None = None) -> float | None:
    """Seconds the server asked us to wait, or None when it did not say (or said nonsense).

    ``retry-after-ms`` wins over ``retry-after``; ``retry-after`` may be seconds (floats
    allowed, as the SDK does) or an HTTP date.
    """
    if headers is None:
        return None
    for name, divisor in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is None:
            continue
        try:
            delay = float(value)
        except ValueError:
            continue
        if math.isnan(delay):
            continue
        if math.isinf(delay):
            # An absurd wait is still a wait: refuse to retry rather than retry sooner.
            return MAX_RETRY_AFTER + 1
        return delay / divisor
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        parsed = email.utils.parsedate_tz(value)
        if parsed is None:
            return None
        when = email.utils.mktime_tz(parsed)
    except (TypeError, ValueError, OverflowError, OSError):
        return None
    return float(when - (time.time() if now is None else now))


def should_retry_status(status_code: int, headers: Mapping[str, str]) -> bool:
    """Whether an HTTP error answer is worth another attempt."""
    wait = parse_retry_after(headers)
    if wait is not None and wait > MAX_RETRY_AFTER:
        return False
    override = headers.get("x-should-retry")
    if override == "true":
        return True
    if override == "false":
        return False
    return status_code in RETRYABLE_STATUSES or status_code >= 500


def retry_delay(
    retries_taken: int,
    headers: Mapping[str, str] | None,
    *,
    base: float = 0.5,
    maximum: float = 8.0,
    rand: Callable[[], float] = random.random,
) -> float:
    """Seconds to sleep before retry number ``retries_taken + 1``."""
    wait = parse_retry_after(headers)
    if wait is not None and 0 < wait <= MAX_RETRY_AFTER:
        return wait
    backoff = min(base * 2.0 ** min(retries_taken, 1000), maximum)
    return max(backoff * (1 - 0.25 * rand()), 0.0)


# --- a server that stopped answering -----------------------------------------------------------

STOP_AFTER_SILENT_FAILURES = 3
"""Units of work in a row (threads of a sync, objects of a restore) that got no answer at all,
each after its own retries, before a command concludes the server is gone and stops."""


class SilenceWatch:
    """Notices a server that stopped answering mid-command, so the command stops with one line
    instead of failing every remaining unit of work the same way, one retry cycle each.

    ``ok()`` after each unit that succeeded, ``failed(error)`` after each that did not; once
    ``gone``, start no more units and raise ``stop_error()``.
    """

    def __init__(self, limit: int = STOP_AFTER_SILENT_FAILURES):
        self.limit = limit
        self.in_a_row = 0
        self.last: BaseException | None = None

    def ok(self) -> None:
        self.in_a_row = 0

    def failed(self, error: BaseException) -> None:
        if isinstance(error, APIConnectionError):
            self.in_a_row += 1
            self.last = error
        else:
            self.in_a_row = 0  # the server answered (with an error): it is not gone

    @property
    def gone(self) -> bool:
        return self.in_a_row >= self.limit

    def stop_error(self, units: str, kept: str) -> APIConnectionError:
        return APIConnectionError(
            f"the server stopped answering ({self.in_a_row} {units} in a row got no answer; "
            f"last: {self.last}); stopped here, {kept}")
