"""One stream of partial results, as the supervisor keeps it between producer and reader.

A :class:`StreamBuffer` holds the chunks a handler emitted and the reader has not pulled
yet. It is bounded: when the reader is ``window`` chunks behind, the producer's
:meth:`StreamBuffer.emit` waits (credit-based backpressure), so a slow reader never makes
the supervisor hold an unbounded backlog. Chunks carry sequence numbers from 0 and are
pulled in that order. A pull takes every chunk available, up to ``max_items``, and waits
(up to ``wait_s``) only when there is none: it is woken by the next emit, not by polling,
so the first chunk reaches the reader without an added sleep.

States: ``open`` → ``ended`` (the final reply), ``failed`` (the handler raised),
``cancelled`` (the reader left: the next emit raises :class:`StreamCancelledError`) or
``lost`` (the producer died: the reader gets :class:`StreamLostError` after the chunks it
already had). A closed stream never reopens.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from typing import Any

from actors._errors import ConfigError
from actors._stream_errors import StreamCancelledError, StreamLostError

OPEN, ENDED, FAILED, CANCELLED, LOST = "open", "ended", "failed", "cancelled", "lost"


@dataclass(frozen=True)
class Pulled:
    """What one pull returns: chunks in order, and how the stream stands after them."""

    first_seq: int
    chunks: tuple[Any, ...]
    state: str
    reply: Any = None
    error: BaseException | None = None

    @property
    def done(self) -> bool:
        """True once nothing more will come (the chunks here are the last ones)."""
        return self.state != OPEN


@dataclass
class StreamBuffer:
    """A bounded, ordered buffer between one producer and one reader (one event loop)."""

    stream_id: str
    window: int = 16
    state: str = OPEN
    _chunks: list[Any] = field(default_factory=list)
    _next_seq: int = 0
    _read_seq: int = 0
    _reply: Any = None
    _error: BaseException | None = None
    _changed: asyncio.Event = field(default_factory=asyncio.Event)
    _credit: asyncio.Event = field(default_factory=asyncio.Event)

    def __post_init__(self) -> None:
        if not (isinstance(self.window, int) and self.window >= 1):
            raise ConfigError(f"a stream window must be a positive number of chunks, "
                              f"not {self.window!r}")
        self._credit.set()

    @property
    def backlog(self) -> int:
        """Chunks emitted and not pulled yet (never more than ``window``)."""
        return len(self._chunks)

    @property
    def emitted(self) -> int:
        return self._next_seq

    def _check_open(self) -> None:
        if self.state == CANCELLED:
            raise StreamCancelledError(self.stream_id)
        if self.state != OPEN:
            raise StreamLostError(self.stream_id, f"it is already {self.state}")

    def try_emit(self, chunk: Any) -> int | None:
        """Append a chunk if the window allows; its sequence number, or None when full."""
        self._check_open()
        if len(self._chunks) >= self.window:
            return None
        self._chunks.append(chunk)
        seq = self._next_seq
        self._next_seq += 1
        if len(self._chunks) >= self.window:
            self._credit.clear()
        self._changed.set()
        return seq

    async def emit(self, chunk: Any) -> int:
        """Append a chunk, waiting while the reader is ``window`` chunks behind."""
        while True:
            seq = self.try_emit(chunk)
            if seq is not None:
                return seq
            await self._credit.wait()

    def _close(self, state: str, reply: Any = None, error: BaseException | None = None) -> bool:
        if self.state != OPEN:
            return False
        self.state, self._reply, self._error = state, reply, error
        # Wake both sides: a waiting reader sees the end, a waiting producer the cancel.
        self._changed.set()
        self._credit.set()
        return True

    def end(self, reply: Any = None) -> bool:
        """The producer finished; ``reply`` is the handler's final value (if any)."""
        return self._close(ENDED, reply=reply)

    def fail(self, error: BaseException) -> bool:
        """The producer raised: the reader gets ``error`` after the pending chunks."""
        return self._close(FAILED, error=error)

    def cancel(self, reason: str = "the consumer closed the stream") -> bool:
        """The reader left: pending chunks are dropped, the next emit raises."""
        done = self._close(CANCELLED, error=StreamCancelledError(self.stream_id, reason))
        self._chunks.clear()
        return done

    def lose(self, reason: str) -> bool:
        """The producer is gone without an end: the reader gets StreamLostError."""
        return self._close(LOST, error=StreamLostError(self.stream_id, reason))

    def take(self, max_items: int) -> Pulled:
        """Pull without waiting: up to ``max_items`` chunks, oldest first."""
        n = max(1, max_items)
        out, self._chunks = self._chunks[:n], self._chunks[n:]
        first = self._read_seq
        self._read_seq += len(out)
        if len(self._chunks) < self.window:
            self._credit.set()
        if not self._chunks and self.state == OPEN:
            self._changed.clear()
        # The end is only reported with the last chunks, so no chunk is skipped.
        state = self.state if not self._chunks else OPEN
        return Pulled(first, tuple(out), state,
                      self._reply if state == ENDED else None,
                      self._error if state in (FAILED, LOST, CANCELLED) else None)

    async def pull(self, max_items: int = 64, wait_s: float | None = 1.0) -> Pulled:
        """Every chunk available (up to ``max_items``); waits up to ``wait_s`` for one."""
        if not self._chunks and self.state == OPEN:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), wait_s)
        return self.take(max_items)


class StreamTable:
    """The supervisor's open streams by id, and which agent produces each."""

    def __init__(self, window: int = 16) -> None:
        self.window = window
        self._streams: dict[str, StreamBuffer] = {}
        self._producer: dict[str, str] = {}

    def open(self, stream_id: str, producer: str) -> StreamBuffer:
        buf = StreamBuffer(stream_id, self.window)
        self._streams[stream_id] = buf
        self._producer[stream_id] = producer
        return buf

    def get(self, stream_id: str) -> StreamBuffer:
        buf = self._streams.get(stream_id)
        if buf is None:
            raise StreamLostError(stream_id, "the supervisor has no such stream (it "
                                  "finished, or the supervisor restarted)")
        return buf

    def drop(self, stream_id: str) -> None:
        self._streams.pop(stream_id, None)
        self._producer.pop(stream_id, None)

    def lose_producer(self, producer: str, reason: str) -> int:
        """Mark every open stream of a dead agent lost; how many there were."""
        ids = [sid for sid, name in self._producer.items() if name == producer]
        return sum(self._streams[sid].lose(reason) for sid in ids)

    def __len__(self) -> int:
        return len(self._streams)
