"""Group commit for a SQLite file written from an event loop.

Writes are queued (no I/O on the event loop); ``await flush()`` commits everything queued
so far in one transaction, in a worker thread, and returns when it is on disk. Callers that
flush at the same time share one commit — one fsync for all of them — which is what keeps
a journal with ``synchronous=FULL`` fast under load. Commits run one at a time, in the
order the writes were queued.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

Op = tuple[str, Sequence[Sequence[Any]]]  # one statement, and the rows to run it with


class GroupCommit:
    """Queue statements; commit them together (see the module docstring).

    Args:
        db: The connection (``check_same_thread=False``): used from the worker thread.
        on_error: Turns a ``sqlite3.Error`` into the error callers should see.
    """

    def __init__(self, db: sqlite3.Connection,
                 on_error: Callable[[sqlite3.Error], Exception]) -> None:
        self.db = db
        self._on_error = on_error
        self.lock = threading.RLock()  # the connection is shared with the reading thread
        self._ops: list[Op] = []
        self._queued = 0  # ops queued so far, ever
        self._committed = 0  # ops on disk so far, ever
        self._after: list[Callable[[], object]] = []
        self._running: asyncio.Future[None] | None = None
        # Told the seconds of each commit (the journal-lag histogram); set by the owner.
        self.on_timed: Callable[[float], object] | None = None

    def queue(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        """Queue one statement, run once per row."""
        with self.lock:
            self._ops.append((sql, rows))
            self._queued += 1

    def on_commit(self, fn: Callable[[], object]) -> None:
        """Run ``fn`` once what is queued now is committed."""
        with self.lock:
            self._after.append(fn)

    @property
    def pending(self) -> bool:
        return self._queued > self._committed

    @property
    def backlog(self) -> int:
        """Statements queued and not yet committed."""
        return self._queued - self._committed

    def commit(self) -> None:
        """Commit everything queued, now, in this thread.

        Raises:
            Exception: What ``on_error`` makes of a SQLite failure (nothing is committed
                then; the statements stay queued for the next try).
        """
        with self.lock:
            if not self._ops:
                return
            ops, target, after = self._ops, self._queued, self._after
            started = time.perf_counter()
            try:
                with self.db:
                    for sql, rows in ops:
                        self.db.executemany(sql, rows)
            except sqlite3.Error as exc:
                raise self._on_error(exc) from None
            self._ops, self._after = [], []
            self._committed = target
        if self.on_timed is not None:
            self.on_timed(time.perf_counter() - started)
        for fn in after:
            fn()

    async def flush(self) -> None:
        """Return once everything queued before this call is committed."""
        target = self._queued
        while self._committed < target:
            running = self._running
            if running is None or running.done():
                # One commit at a time: it takes every statement queued when it starts.
                running = self._running = asyncio.ensure_future(asyncio.to_thread(self.commit))
                running.add_done_callback(_retrieve)
            await asyncio.shield(running)


def _retrieve(fut: asyncio.Future[None]) -> None:
    if not fut.cancelled():
        fut.exception()  # looked at here; the flushers awaiting it raise it themselves
