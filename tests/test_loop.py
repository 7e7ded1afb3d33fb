"""The runtime's loop thread, without Ray: work handed over in batches both ways, results
and errors back to the right caller, cancellation carried across, misuse refused."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from actors._errors import RaygentError
from actors._loop import LoopThread
from tests.conftest import until


@pytest.fixture
def io() -> Iterator[LoopThread]:
    thread = LoopThread("test-io")
    yield thread
    thread.close()


def _count_wakes(loop: asyncio.AbstractEventLoop) -> list[int]:
    """Count the cross-thread wake-ups ``loop`` receives from now on."""
    wakes = [0]
    real = loop.call_soon_threadsafe

    def counting(*args: Any, **kw: Any) -> Any:
        wakes[0] += 1
        return real(*args, **kw)

    loop.call_soon_threadsafe = counting  # type: ignore[method-assign]
    return wakes


def test_run_returns_results_and_raises_errors(io):
    async def double(x: int) -> int:
        await asyncio.sleep(0)
        return 2 * x

    async def boom() -> None:
        raise ValueError("bad input")

    def ready() -> asyncio.Future[str]:
        fut = asyncio.get_running_loop().create_future()
        fut.set_result("done")
        return fut

    def broken() -> asyncio.Future[str]:
        raise KeyError("raised before anything was awaited")

    assert io.run(double(21)) == 42
    assert io.run(ready) == "done"
    with pytest.raises(ValueError, match="bad input"):
        io.run(boom())
    with pytest.raises(KeyError):
        io.run(broken)


def test_calls_from_one_loop_turn_cross_in_one_wake_up_each_way(io):
    """200 coroutines of another loop awaiting at once: one wake-up of the runtime's loop
    carries all 200, and one wake-up of the caller's loop carries all 200 results."""
    into_io = _count_wakes(io.loop)
    release: asyncio.Future[None] | None = None
    started: list[int] = []

    def work(i: int) -> Any:
        nonlocal release
        loop = asyncio.get_running_loop()
        if release is None:
            release = loop.create_future()
        started.append(i)
        gate = release

        async def wait() -> int:
            await gate
            return i
        return loop.create_task(wait())

    async def callers() -> list[int]:
        tasks = [asyncio.ensure_future(io.bridge(lambda i=i: work(i))) for i in range(200)]
        await until(lambda: len(started) == 200, message="all 200 calls started")
        back = _count_wakes(asyncio.get_running_loop())
        assert release is not None
        io.loop.call_soon_threadsafe(release.set_result, None)
        results = await asyncio.gather(*tasks)
        assert back[0] == 1, back[0]  # all 200 results came back in one wake-up
        return results

    assert asyncio.run(callers()) == list(range(200))
    assert into_io[0] - 1 <= 2, into_io[0]  # 200 calls, one or two wake-ups (+ release)


def test_the_runtime_loop_is_woken_after_the_callers_turn_not_during_it(io):
    """Waking at the first call would let the runtime's loop take a batch of one while
    the caller's loop is still making the others."""
    into_io = _count_wakes(io.loop)
    seen: list[int] = []

    async def callers() -> None:
        async def nothing() -> None:
            return None

        tasks = [asyncio.ensure_future(io.bridge(nothing())) for _ in range(50)]
        # Runs in the same turn as the 50 first steps, after them.
        asyncio.get_running_loop().call_soon(lambda: seen.append(into_io[0]))
        await asyncio.gather(*tasks)

    asyncio.run(callers())
    assert seen == [0]
    assert into_io[0] == 1


def test_cancelling_the_caller_cancels_the_work(io):
    stopped = threading.Event()
    entered = threading.Event()

    async def forever() -> None:
        entered.set()
        try:
            await asyncio.get_running_loop().create_future()  # never done: cancelled
        finally:
            stopped.set()

    async def caller() -> None:
        task = asyncio.ensure_future(io.bridge(forever()))
        await asyncio.get_running_loop().run_in_executor(None, entered.wait, 10)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(caller())
    assert stopped.wait(10), "the work on the runtime's loop was not cancelled"


def test_a_blocking_wait_that_times_out_cancels_its_work(io):
    stopped = threading.Event()

    async def forever() -> None:
        try:
            await asyncio.get_running_loop().create_future()  # never done: cancelled
        finally:
            stopped.set()

    with pytest.raises(RaygentError, match="no answer within"):
        io.run(forever(), timeout_s=0.2)
    assert stopped.wait(10)


def test_misuse_is_refused_with_a_clear_error(io):
    async def blocking_inside() -> None:
        async def nothing() -> None:
            return None
        io.run(nothing())

    with pytest.raises(RaygentError, match="use the \\*_async form"):
        io.run(blocking_inside())

    async def bridged_inside() -> int:
        async def seven() -> int:
            return 7
        return await io.bridge(seven())

    assert io.run(bridged_inside()) == 7  # the async form works on the loop itself
    io.close()

    async def later() -> None:
        return None

    with pytest.raises(RaygentError, match="runtime is closed"):
        io.run(later())


@settings(max_examples=25, deadline=None)
@given(plan=st.lists(st.tuples(st.integers(0, 2), st.booleans(), st.integers(0, 3)),
                     min_size=1, max_size=60))
def test_every_caller_gets_its_own_outcome(plan):
    """Callers on several threads (blocking) and loops (async), work that succeeds or
    fails after a few loop turns: each caller gets exactly its own result or error."""
    io = LoopThread("test-io-prop")
    try:
        outcomes: dict[int, Any] = {}
        lock = threading.Lock()

        def make(i: int, fails: bool, turns: int) -> Any:
            async def work() -> int:
                for _ in range(turns):
                    await asyncio.sleep(0)
                if fails:
                    raise LookupError(i)
                return i * 10
            return work

        def record(i: int, fn: Any) -> None:
            try:
                value: Any = fn()
            except LookupError as exc:
                value = ("error", exc.args[0])
            with lock:
                outcomes[i] = value

        def blocking_caller(items: list[tuple[int, bool, int]]) -> None:
            for i, fails, turns in items:
                work = make(i, fails, turns)
                record(i, lambda work=work: io.run(work))

        def async_caller(items: list[tuple[int, bool, int]]) -> None:
            async def one(i: int, fails: bool, turns: int) -> None:
                try:
                    value: Any = await io.bridge(make(i, fails, turns))
                except LookupError as exc:
                    value = ("error", exc.args[0])
                with lock:
                    outcomes[i] = value

            async def all_at_once() -> None:
                await asyncio.gather(*(one(*item) for item in items))
            asyncio.run(all_at_once())

        groups: dict[int, list[tuple[int, bool, int]]] = {0: [], 1: [], 2: []}
        for i, (who, fails, turns) in enumerate(plan):
            groups[who].append((i, fails, turns))
        threads = [threading.Thread(target=blocking_caller, args=(groups[0],)),
                   threading.Thread(target=async_caller, args=(groups[1],)),
                   threading.Thread(target=async_caller, args=(groups[2],))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        expected = {i: ("error", i) if fails else i * 10
                    for i, (_, fails, _) in enumerate(plan)}
        assert outcomes == expected
    finally:
        io.close()
