"""Eager task starts (syncer/api/eager.py): Python 3.12's semantics, on 3.11 too."""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import sys

import aiohttp
import pytest
from aiohttp import web

from syncer.api.eager import eager_body_writes, start_eagerly

seen: contextvars.ContextVar[str] = contextvars.ContextVar("seen", default="outside")


async def test_the_first_step_runs_at_once_and_the_rest_through_the_loop():
    steps: list[str] = []

    async def work() -> str:
        steps.append("first")
        await asyncio.sleep(0)
        steps.append("rest")
        return "value"

    task = start_eagerly(work())
    assert steps == ["first"]  # before create returned, as with eager_start=True
    assert "work()" in repr(task) and task.get_stack()  # the task shows its own coroutine
    assert await task == "value" and steps == ["first", "rest"]


async def test_inside_the_first_step_the_current_task_is_the_new_one_and_timeouts_cancel_it():
    outer = asyncio.current_task()
    found: list[asyncio.Task | None] = []

    async def work() -> str:
        found.append(asyncio.current_task())
        try:
            async with asyncio.timeout(0.01):  # entered in the first step: bound to this task
                await asyncio.sleep(10)
        except TimeoutError:
            return "timed out"
        return "not timed out"

    task = start_eagerly(work())
    assert found == [task] and asyncio.current_task() is outer  # the caller's task is back
    assert await task == "timed out"
    assert not outer.cancelling()  # the timeout cancelled the new task, not the caller


async def test_the_first_step_runs_in_the_tasks_own_context():
    async def work() -> str:
        seen.set("inside")
        await asyncio.sleep(0)
        return seen.get()

    task = start_eagerly(work())
    assert seen.get() == "outside"
    assert await task == "inside"


async def test_a_cancel_before_the_next_step_is_thrown_where_the_coroutine_waits():
    cleaned: list[str] = []

    async def work() -> None:
        try:
            await asyncio.sleep(10)
        finally:
            cleaned.append("finally")

    task = start_eagerly(work())
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert task.cancelled() and cleaned == ["finally"]


async def test_a_cancel_before_the_next_step_cancels_what_the_first_step_waits_on():
    cleaned: list[str] = []

    async def child() -> None:
        try:
            await asyncio.sleep(10)
        finally:
            cleaned.append("child")

    async def parent(waited_on: asyncio.Future) -> None:
        try:
            await waited_on
        finally:
            cleaned.append("parent")

    for gathered in (False, True):
        cleaned.clear()
        child_task = asyncio.ensure_future(child())
        await asyncio.sleep(0)  # the child waits in its sleep
        task = start_eagerly(parent(asyncio.gather(child_task) if gathered else child_task))
        assert task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        # As 3.12's: what the task waited on is cancelled, and the task ends after it.
        assert child_task.cancelled() and cleaned == ["child", "parent"]


async def test_a_cancel_before_the_next_step_leaves_a_finished_coroutines_value_or_error():
    async def done() -> int:
        return 7

    async def broken() -> None:
        raise ValueError("in the first step")

    task = start_eagerly(done())
    task.cancel()  # 3.12: a no-op, the task being done
    assert await task == 7 and not task.cancelled()
    task = start_eagerly(broken())
    task.cancel()
    with pytest.raises(ValueError, match="in the first step"):
        await task


async def test_a_coroutine_that_ends_or_fails_in_its_first_step_gives_its_value_or_error():
    async def done() -> int:
        return 7

    async def broken() -> None:
        raise ValueError("in the first step")

    assert await start_eagerly(done()) == 7
    failing = start_eagerly(broken())
    with pytest.raises(ValueError, match="in the first step"):
        await failing


async def test_only_aiohttp_body_writers_start_eagerly_and_requests_still_arrive_whole():
    loop = asyncio.get_running_loop()
    previous = loop.get_task_factory()
    loop.set_task_factory(None)
    try:
        eager_body_writes(loop)
        steps: list[str] = []

        async def other() -> None:
            steps.append("ran")

        task = loop.create_task(other())
        assert steps == []  # any other task starts as usual, on the next pass
        await task
        # aiohttp's body writer (here given nothing to write to: its first step fails at once).
        writer = aiohttp.client_reqrep.ClientRequest.write_bytes(object(), None, None)  # type: ignore[arg-type]
        task = loop.create_task(writer)
        started = inspect.getcoroutinestate(writer) != inspect.CORO_CREATED
        with pytest.raises(AttributeError):
            await task
        assert started or sys.version_info >= (3, 12)  # 3.12+: aiohttp starts it eagerly itself

        bodies: list[bytes] = []

        async def echo(request: web.Request) -> web.Response:
            bodies.append(await request.read())
            return web.Response(text="ok")

        app = web.Application()
        app.router.add_post("/", echo)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        try:
            async with aiohttp.ClientSession() as session:
                answers = await asyncio.gather(*(
                    session.post(f"http://127.0.0.1:{port}/", data=b"x" * size) for size in (10, 100_000, 5)))
                assert [answer.status for answer in answers] == [200, 200, 200]
                for answer in answers:
                    answer.release()
        finally:
            await runner.cleanup()
        assert sorted(len(body) for body in bodies) == [5, 10, 100_000]
    finally:
        loop.set_task_factory(previous)
