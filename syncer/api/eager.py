"""Eager task starts on Python 3.11, as Python 3.12 has them (``Task(..., eager_start=True)``).

An eager task runs its coroutine at once, inside ``create_task``, up to its first real wait;
only the rest goes through the event loop. aiohttp sends a request's body from a task of its
own. On Python 3.12+ it starts that task eagerly, so the request leaves in the same step that
built it. On 3.11 the body waits a whole pass of the loop, behind every other ready callback: in
a burst of new runs, every backend request waited for all the others' handlers.
`eager_body_writes` gives 3.11 what aiohttp does on 3.12+, for aiohttp's body writer only.

`start_eagerly` follows 3.12's semantics:
- during the first step ``asyncio.current_task()`` is the new task (so ``asyncio.timeout``
  works);
- the step runs in the task's own copy of the context;
- a task cancelled before its next step has the cancellation thrown where the coroutine waits,
  after cancelling what it waits on (a future, another task, a gather) and, if that took, once
  that is over; a coroutine that finished in its first step keeps its value or exception.

Differences: a task whose coroutine finished in its first step is done on the loop's next pass,
not at once (so ``cancel()`` on it returns True, though the value stands); a future the first
step waits on is cancelled on that pass, not inside ``cancel()``; a bare yield in the first step
(``asyncio.sleep(0)``) costs one more pass; KeyboardInterrupt and SystemExit in the first step are
raised by the task on its first pass, not by ``start_eagerly``.
"""

from __future__ import annotations

import asyncio
import contextvars
import sys
from collections.abc import Coroutine, Generator
from types import TracebackType
from typing import Any

import aiohttp.client_reqrep

__all__ = ["eager_body_writes", "start_eagerly"]

#: The coroutine code of aiohttp's request body writer (``ClientRequest.write_bytes``).
_BODY_WRITER = aiohttp.client_reqrep.ClientRequest.write_bytes.__code__


class _Rest(Coroutine[Any, Any, Any]):
    """A coroutine whose first step has run, for its task to drive: the task's first step gets
    what that step came to (the future it waits on, its value or its exception)."""

    def __init__(self, coro: Coroutine[Any, Any, Any]):
        self._coro = coro
        self._first: tuple[str, Any] | None = None  # ("wait" | "done" | "error", what)
        # The task's repr and its stack (get_stack, "never retrieved" logs) show the coroutine.
        self.__qualname__ = getattr(coro, "__qualname__", type(coro).__name__)

    @property
    def cr_frame(self) -> Any:
        return getattr(self._coro, "cr_frame", None)

    @property
    def cr_code(self) -> Any:
        return getattr(self._coro, "cr_code", None)

    def send(self, value: Any) -> Any:
        first, self._first = self._first, None
        if first is None:
            return self._coro.send(value)
        kind, what = first
        if kind == "done":
            raise StopIteration(what)
        if kind == "error":
            raise what
        return what

    def throw(self, typ: Any, val: Any = None, tb: TracebackType | None = None) -> Any:
        error = typ if val is None else val
        first, self._first = self._first, None
        if first is None or not isinstance(error, asyncio.CancelledError):
            if first is not None and first[0] != "wait":
                raise error  # the coroutine is over: nothing to throw it into
            return self._coro.throw(error)
        # A cancel asked for before the task's first pass. 3.12's task would have been done
        # already (the cancel a no-op) or waiting on ``what`` (the cancel cancels that).
        kind, what = first
        if kind == "done":
            raise StopIteration(what)  # the value stands
        if kind == "error":
            raise what  # the exception stands
        if asyncio.isfuture(what) and what.cancel(error.args[0] if error.args else None):
            return what  # the task waits for it, then throws its CancelledError in
        return self._coro.throw(error)

    def close(self) -> None:
        self._coro.close()

    def __await__(self) -> Generator[Any, None, Any]:
        raise TypeError("driven by its task, never awaited")


def start_eagerly(coro: Coroutine[Any, Any, Any], *, loop: asyncio.AbstractEventLoop | None = None,
                  name: str | None = None, context: contextvars.Context | None = None) -> asyncio.Task[Any]:
    """``coro`` as a task whose first step runs now (Python 3.12+: the standard library's own)."""
    loop = loop or asyncio.get_running_loop()
    context = contextvars.copy_context() if context is None else context
    if sys.version_info >= (3, 12):
        return asyncio.Task(coro, loop=loop, name=name, context=context, eager_start=True)
    rest = _Rest(coro)
    task = asyncio.Task(rest, loop=loop, name=name, context=context)  # its first step: next pass
    outer = asyncio.current_task(loop)
    if outer is not None:
        asyncio.tasks._leave_task(loop, outer)
    asyncio.tasks._enter_task(loop, task)
    try:
        rest._first = ("wait", context.run(coro.send, None))
    except StopIteration as done:
        rest._first = ("done", done.value)
    except BaseException as error:  # noqa: BLE001 - the task raises it, as a lazily started one would
        rest._first = ("error", error)
    finally:
        asyncio.tasks._leave_task(loop, task)
        if outer is not None:
            asyncio.tasks._enter_task(loop, outer)
    return task


def _body_writers_eagerly(loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, Any],
                          **options: Any) -> asyncio.Future[Any]:
    if getattr(coro, "cr_code", None) is _BODY_WRITER:
        return start_eagerly(coro, loop=loop, **options)
    return asyncio.Task(coro, loop=loop, **options)


def eager_body_writes(loop: asyncio.AbstractEventLoop) -> None:
    """On Python 3.11, start aiohttp's request body writers eagerly on ``loop`` (3.12+ does)."""
    if sys.version_info < (3, 12) and loop.get_task_factory() is None:
        # typeshed's factory takes no keywords; the loop passes ``context=`` when it has one.
        loop.set_task_factory(_body_writers_eagerly)  # type: ignore[arg-type]
