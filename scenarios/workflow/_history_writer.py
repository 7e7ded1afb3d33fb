"""Group commit for the history: the writes of many concurrent handlers, one transaction.

A step agent handles dozens of events at once; giving each of their history writes its
own transaction would make every one wait for the database lock in turn (and, across the
flow's processes, for SQLite's busy handler). Writes are queued instead, and whatever is
queued when the previous transaction ends goes into the next one, run in a worker thread.
Each caller still waits for *its* write to be committed before it goes on (a step is
recorded before the event is handed on). If a batch fails, its writes are retried one by
one, so one bad write fails alone.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

from scenarios.workflow._history import EventRecord, HistoryStore

Op = Callable[[Any], Any]


class HistoryWriter:
    """The async, batching front of a :class:`HistoryStore` (one per agent)."""

    def __init__(self, store: HistoryStore) -> None:
        self.store = store
        # Its own thread, not the loop's default pool: callers in pool threads (the email
        # agent's SMTP send) wait on the writer, and must not be able to starve it.
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="history")
        self._queue: list[tuple[Op, asyncio.Future[Any]]] = []
        self._task: asyncio.Task[None] | None = None
        self.transactions = 0
        self.writes = 0

    async def claim(self, flow: str, event_id: str, payload: Any, *, trace_id: str | None,
                    now: float | None = None) -> EventRecord | None:
        result: EventRecord | None = await self._submit(partial(
            self.store._claim, flow=flow, event_id=event_id, payload=payload,
            trace_id=trace_id, at=time.time() if now is None else now))
        return result

    async def mark_received(self, flow: str, event_id: str) -> None:
        await self._submit(partial(self.store._mark_received, flow=flow, event_id=event_id))

    async def release(self, flow: str, event_id: str) -> None:
        await self._submit(partial(self.store._release, flow=flow, event_id=event_id))

    async def record_step(self, flow: str, event_id: str, step: str, kind: str, *, ok: bool,
                          started_at: float, detail: str | None = None, result: Any = None,
                          error: str | None = None, trace_id: str | None = None,
                          then: Sequence[tuple[str, str]] = ()) -> bool:
        done: bool = await self._submit(partial(
            self.store._record_step, flow=flow, event_id=event_id, step=step, kind=kind,
            ok=ok, started_at=started_at, detail=detail, result=result, error=error,
            trace_id=trace_id, then=tuple(then)))
        return done

    async def add_note(self, flow: str, event_id: str, step: str, kind: str,
                       detail: str) -> None:
        await self._submit(partial(self.store._add_note, flow=flow, event_id=event_id,
                                   step=step, kind=kind, detail=detail))

    async def outbox_begin(self, message_id: str, flow: str, event_id: str, step: str
                           ) -> str | None:
        state: str | None = await self._submit(partial(
            self.store._outbox_begin, message_id=message_id, flow=flow, event_id=event_id,
            step=step))
        return state

    async def outbox_sent(self, message_id: str) -> None:
        await self._submit(partial(self.store._outbox_sent, message_id=message_id))

    async def outbox_refused(self, message_id: str) -> None:
        await self._submit(partial(self.store._outbox_refused, message_id=message_id))

    async def _submit(self, op: Op) -> Any:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._queue.append((op, future))
        if self._task is None or self._task.done():
            self._task = loop.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        while self._queue:
            batch, self._queue = self._queue, []
            outcomes = await asyncio.get_running_loop().run_in_executor(
                self._executor, self._apply, [op for op, _ in batch])
            for (_, future), (ok, value) in zip(batch, outcomes, strict=True):
                if future.done():  # its caller was cancelled
                    continue
                if ok:
                    future.set_result(value)
                else:
                    future.set_exception(value)

    def close(self) -> None:
        """Stop the writer's thread (after the agent's last write)."""
        self._executor.shutdown(wait=True)

    def _apply(self, ops: list[Op]) -> list[tuple[bool, Any]]:
        engine = self.store.engine
        try:
            with engine.begin() as conn:
                out = [(True, op(conn)) for op in ops]
            self.transactions += 1
            self.writes += len(ops)
            return out
        except Exception:  # the batch rolled back: each write again, alone
            return [self._one(op) for op in ops]

    def _one(self, op: Op) -> tuple[bool, Any]:
        try:
            with self.store.engine.begin() as conn:
                value = op(conn)
            self.transactions += 1
            self.writes += 1
            return True, value
        except Exception as exc:
            return False, exc


__all__ = ["HistoryWriter"]
