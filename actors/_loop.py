"""A private event loop in a background thread: how a blocking API and an async one share
one implementation.

``Runtime`` writes every operation once, as a coroutine, and runs it here: the blocking
form waits for it (:meth:`LoopThread.run`), the ``*_async`` form awaits it from the
caller's own loop (:meth:`LoopThread.bridge`). All of a process's messages meet on this
one loop, which is also where they are coalesced into few supervisor calls.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

from actors._errors import RaygentError

T = TypeVar("T")


class LoopThread:
    """An event loop running in a daemon thread until :meth:`close`."""

    def __init__(self, name: str = "raygent-io") -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._main, name=name, daemon=True)
        self._thread.start()

    def _main(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def _submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        if not self._thread.is_alive():
            coro.close()
            raise RaygentError("this runtime is closed: start or attach a new Runtime")
        if threading.current_thread() is self._thread:
            coro.close()
            raise RaygentError("a blocking Runtime call cannot run on the runtime's own "
                               "event loop: use the *_async form there")
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def run(self, coro: Coroutine[Any, Any, T], timeout_s: float | None = None) -> T:
        """Run ``coro`` on the loop and wait for its result (blocking)."""
        future = self._submit(coro)
        try:
            return future.result(timeout_s)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise RaygentError(f"no answer within {timeout_s:g}s: check `ray status` and "
                               "the supervisor's log") from None

    async def bridge(self, coro: Coroutine[Any, Any, T]) -> T:
        """Await ``coro`` run on the loop, from any other event loop (or this one)."""
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self.loop:
            return await coro
        return await asyncio.wrap_future(self._submit(coro))

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
