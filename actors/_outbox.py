"""Coalescing on the sending side: many callers' messages, few supervisor calls.

Every ``send`` and ``ask`` a process makes — driver threads, coroutines, an agent's
concurrent handlers — goes through one :class:`Outbox` on one event loop. When no call to
the supervisor is in flight, what is queued leaves at the next turn of the loop, so a lone
caller pays nothing; while calls are in flight (up to ``max_inflight``), new messages wait
for the next one to return and then leave together, up to ``max_batch`` per call. It is
Nagle's algorithm, bounded by the round trip rather than a timer, so throughput grows with
the number of callers instead of falling with it.

Each flush is one ``exchange`` (``actors/_exchange.py``): its asks that finish soon come
back with it, the others are parked at the supervisor and collected by a later exchange,
so a fast ask never waits for a slow one. Results are values (a reply's bytes, an id, or
the ``RaygentError`` that refused it); callers raise them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from actors._envelope import Envelope
from actors._errors import AskTimeoutError, RaygentError

Call = Callable[..., Awaitable[Any]]


@dataclass(slots=True)
class _Batch:
    sends: list[tuple[Envelope, asyncio.Future[Any]]] = field(default_factory=list)
    wait_s: float | None = None
    asks: list[tuple[Envelope, asyncio.Future[Any]]] = field(default_factory=list)
    collect: list[str] = field(default_factory=list)


class Outbox:
    """One process's coalescing sender (see the module docstring).

    Args:
        call: ``await call("exchange", *args)`` reaches the supervisor (retrying while it
            restarts).
        sender: Who the messages are from (``driver`` or the agent's name).
        token: Proves ``sender`` to the supervisor (None for the driver).
        max_batch: Messages per exchange at most.
        max_inflight: Exchanges in flight at once; beyond it, messages wait and coalesce.
        linger_s: How long the supervisor waits, after an exchange's first reply, for more.
        poll_s: How long a collecting exchange waits for a reply before returning empty.
        grace_s: Extra time a caller waits past its ask's own timeout before giving up on
            a supervisor that does not answer at all.
    """

    def __init__(self, call: Call, *, sender: str, token: str | None,
                 max_batch: int = 512, max_inflight: int = 4, linger_s: float = 0.0005,
                 poll_s: float = 5.0, grace_s: float = 60.0) -> None:
        self._call = call
        self.sender = sender
        self._token = token
        self._max_batch = max_batch
        self._max_inflight = max_inflight
        self._linger_s = linger_s
        self._poll_s = poll_s
        self._grace_s = grace_s
        self._sends: dict[float | None, list[tuple[Envelope, asyncio.Future[Any]]]] = {}
        self._asks: list[tuple[Envelope, asyncio.Future[Any]]] = []
        self._parked: dict[str, tuple[Envelope, asyncio.Future[Any]]] = {}
        self._collecting: set[str] = set()
        self._inflight = 0
        self._scheduled = False
        self._tasks: set[asyncio.Task[None]] = set()
        self.exchanges = 0  # calls made (for tests and benchmarks)

    def send(self, env: Envelope, wait_s: float | None = None) -> asyncio.Future[Any]:
        """Queue ``env``; the future holds its id (or the error refusing it) once accepted.

        Must be called on the outbox's loop; the future may be awaited there, or waited
        for from another thread through ``LoopThread.run``/``bridge``.
        """
        fut = asyncio.get_running_loop().create_future()
        self._sends.setdefault(wait_s, []).append((env, fut))
        self._kick()
        return fut

    def ask(self, env: Envelope, timeout_s: float) -> asyncio.Future[Any]:
        """Queue the request ``env``; the future holds its reply's bytes or its error.

        A timer, not a task per ask, gives up on a supervisor that never answers: past the
        ask's own timeout plus the grace, the future holds :class:`AskTimeoutError`.
        """
        loop = asyncio.get_running_loop()
        fut = loop.create_future()
        self._asks.append((env, fut))
        self._kick()
        timer = loop.call_later(timeout_s + self._grace_s, _give_up, fut, env, timeout_s)
        fut.add_done_callback(lambda _: timer.cancel())
        return fut

    # -- flushing ------------------------------------------------------------------------

    def _kick(self) -> None:
        if not self._scheduled and self._inflight < self._max_inflight:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self._pump)

    def _has_work(self) -> bool:
        return bool(self._sends or self._asks or
                    (self._parked.keys() - self._collecting))

    def _take(self) -> _Batch:
        batch = _Batch()
        room = self._max_batch
        if self._sends:
            wait_s = next(iter(self._sends))
            queue = self._sends[wait_s]
            batch.sends, batch.wait_s = queue[:room], wait_s
            del queue[:room]
            if not queue:
                del self._sends[wait_s]
            room -= len(batch.sends)
        batch.asks = self._asks[:room]
        del self._asks[:room]
        batch.collect = [mid for mid in self._parked if mid not in self._collecting]
        self._collecting.update(batch.collect)
        return batch

    def _pump(self) -> None:
        self._scheduled = False
        loop = asyncio.get_running_loop()
        while self._inflight < self._max_inflight and self._has_work():
            batch = self._take()
            self._inflight += 1
            self.exchanges += 1
            task = loop.create_task(self._exchange(batch))
            self._tasks.add(task)  # referenced until done, so it is never collected early
            task.add_done_callback(self._tasks.discard)

    async def _exchange(self, batch: _Batch) -> None:
        try:
            result = await self._call(
                "exchange", self.sender, [e for e, _ in batch.sends], batch.wait_s,
                [e for e, _ in batch.asks], batch.collect, self._token, self._linger_s,
                self._poll_s)
        except Exception as exc:
            err = exc if isinstance(exc, RaygentError) else RaygentError(
                f"the supervisor call failed: {type(exc).__name__}: {exc}")
            self._fail(batch, err)
        else:
            self._settle(batch, result)
        finally:
            self._inflight -= 1
            self._collecting.difference_update(batch.collect)
            self._kick()

    def _settle(self, batch: _Batch, result: Any) -> None:
        for (_, fut), sent in zip(batch.sends, result.sent, strict=True):
            _resolve(fut, sent)
        for env, fut in batch.asks:
            self._parked[env.id] = (env, fut)
        for mid, reply in result.replies.items():
            entry = self._parked.pop(mid, None)
            if entry is not None:
                _resolve(entry[1], reply)
        for mid in result.lost:
            entry = self._parked.pop(mid, None)
            if entry is not None:  # the supervisor restarted: ask again (same envelope)
                self._asks.append(entry)

    def _fail(self, batch: _Batch, err: RaygentError) -> None:
        for _, fut in batch.sends:
            _resolve(fut, err)
        for _, fut in batch.asks:
            _resolve(fut, err)
        for mid in batch.collect:
            entry = self._parked.pop(mid, None)
            if entry is not None:
                _resolve(entry[1], err)


def _give_up(fut: asyncio.Future[Any], env: Envelope, timeout_s: float) -> None:
    _resolve(fut, AskTimeoutError(env.recipient or "", env.kind, timeout_s))


def _resolve(fut: asyncio.Future[Any], value: Any) -> None:
    if not fut.done():
        fut.set_result(value)
