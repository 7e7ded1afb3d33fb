"""A private event loop in a background thread: how a blocking API and an async one share
one implementation.

``Runtime`` writes every operation once, to run on this loop: the blocking form waits for
it (:meth:`LoopThread.run`), the ``*_async`` form awaits it from the caller's own loop
(:meth:`LoopThread.bridge`). All of a process's messages meet on this one loop, which is
also where they are coalesced into few supervisor calls.

Crossing threads costs a wake-up (a write to the other loop's self-pipe and a switch of
the GIL), which for many small calls costs more than the calls. So work is handed over in
batches both ways: calls posted while the loop has not yet woken share one wake-up, and
the results going back to one caller loop share one wake-up too.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading
import weakref
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

from actors._errors import RaygentError

T = TypeVar("T")
Work = Coroutine[Any, Any, T] | Callable[[], Awaitable[T]]
Done = Callable[["asyncio.Future[Any]"], None]


class _Call:
    """One piece of work handed to the loop, and a way to cancel it from the caller."""

    __slots__ = ("cancelled", "done", "inner", "work")

    def __init__(self, work: Work[Any], done: Done) -> None:
        self.work = work
        self.done = done
        self.inner: asyncio.Future[Any] | None = None
        self.cancelled = False


class _Batches:
    """A list other threads append to, drained on ``loop`` once per wake-up."""

    def __init__(self, loop: asyncio.AbstractEventLoop, drain: Callable[[list[Any]], None]
                 ) -> None:
        self._loop = loop
        self._drain_items = drain
        self._items: list[Any] = []
        self._lock = threading.Lock()
        self._armed = False

    def put(self, item: Any) -> None:
        with self._lock:
            self._items.append(item)
            if self._armed:
                return  # a wake-up is already on its way and will take this too
            self._armed = True
        try:
            here = asyncio.get_running_loop()
        except RuntimeError:
            here = None
        if here is None:
            self._wake()
        else:
            # Put from a loop: wake the other side once this turn of the loop is over, so
            # what this turn's other callbacks put leaves together (waking at once would
            # release the GIL mid-turn and let the other side take a batch of one).
            here.call_soon(self._wake)

    def _wake(self) -> None:
        # A closed loop raises RuntimeError: nobody waits there any more.
        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(self._drain)

    def _drain(self) -> None:
        with self._lock:
            items, self._items, self._armed = self._items, [], False
        self._drain_items(items)


def _copy(target: asyncio.Future[Any] | concurrent.futures.Future[Any],
          source: asyncio.Future[Any]) -> None:
    if target.done():
        return  # the caller stopped waiting
    if source.cancelled():
        target.cancel()
    elif (exc := source.exception()) is not None:
        target.set_exception(exc)
    else:
        target.set_result(source.result())


def _settle_all(items: list[tuple[asyncio.Future[Any], asyncio.Future[Any]]]) -> None:
    for target, source in items:
        _copy(target, source)


class LoopThread:
    """An event loop running in a daemon thread until :meth:`close`."""

    def __init__(self, name: str = "raygent-io") -> None:
        self.loop = asyncio.new_event_loop()
        self._inbox = _Batches(self.loop, self._start_all)
        self._lock = threading.Lock()
        self._returns: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Batches] = (
            weakref.WeakKeyDictionary())
        self._thread = threading.Thread(target=self._main, name=name, daemon=True)
        self._thread.start()

    def _main(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    # -- handing work over -------------------------------------------------------------

    def _post(self, work: Work[Any], done: Done) -> _Call:
        if not self._thread.is_alive():
            _close(work)
            raise RaygentError("this runtime is closed: start or attach a new Runtime")
        if threading.current_thread() is self._thread:
            _close(work)
            raise RaygentError("a blocking Runtime call cannot run on the runtime's own "
                               "event loop: use the *_async form there")
        call = _Call(work, done)
        self._inbox.put(call)
        return call

    def _start_all(self, calls: list[_Call]) -> None:
        for call in calls:
            if call.cancelled:  # read without the lock: checked again once started
                _close(call.work)
                continue
            inner: asyncio.Future[Any]
            try:
                inner = asyncio.ensure_future(_begin(call.work))
            except Exception as exc:  # the work failed before it could be awaited
                inner = self.loop.create_future()
                inner.set_exception(exc)
            with self._lock:
                call.inner = inner
                cancelled = call.cancelled
            if cancelled:
                inner.cancel()
            inner.add_done_callback(call.done)

    def _cancel(self, call: _Call) -> None:
        with self._lock:
            call.cancelled = True
            inner = call.inner
        if inner is not None:
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                self.loop.call_soon_threadsafe(inner.cancel)

    def _returns_to(self, loop: asyncio.AbstractEventLoop) -> _Batches:
        with self._lock:
            batches = self._returns.get(loop)
            if batches is None:
                batches = self._returns[loop] = _Batches(loop, _settle_all)
            return batches

    # -- the two ways to wait ------------------------------------------------------------

    def run(self, work: Work[T], timeout_s: float | None = None) -> T:
        """Run ``work`` (a coroutine, or a function returning an awaitable) on the loop and
        wait for its result (blocking)."""
        future: concurrent.futures.Future[T] = concurrent.futures.Future()
        call = self._post(work, lambda inner: _copy(future, inner))
        try:
            return future.result(timeout_s)
        except concurrent.futures.TimeoutError:
            self._cancel(call)
            raise RaygentError(f"no answer within {timeout_s:g}s: check `ray status` and "
                               "the supervisor's log") from None

    async def bridge(self, work: Work[T]) -> T:
        """Await ``work`` run on the loop, from any other event loop (or this one)."""
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self.loop:
            return await _begin(work)
        assert running is not None  # an async function always runs on a loop
        target: asyncio.Future[T] = running.create_future()
        back = self._returns_to(running)
        call = self._post(work, lambda inner: back.put((target, inner)))
        try:
            return await target
        except asyncio.CancelledError:
            self._cancel(call)
            raise

    def close(self) -> None:
        """Stop the loop (pending work is cancelled) and end the thread."""
        if not self._thread.is_alive():
            return

        async def drain() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        if threading.current_thread() is not self._thread:
            with contextlib.suppress(concurrent.futures.TimeoutError, RuntimeError):
                asyncio.run_coroutine_threadsafe(drain(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        if not self._thread.is_alive():
            self.loop.close()


def _begin(work: Work[T]) -> Awaitable[T]:
    """The awaitable of ``work``: the coroutine itself, or what the function returns."""
    return work if asyncio.iscoroutine(work) else work()


def _close(work: Work[Any]) -> None:
    if asyncio.iscoroutine(work):
        work.close()
