"""The stream core without Ray: order, the backpressure bound, cancel, end, loss."""

from __future__ import annotations

import asyncio
import functools
import pickle
from collections.abc import Callable, Coroutine
from typing import Any

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from actors._errors import ConfigError, RaygentError
from actors._stream_client import blocking_iter, local_reader
from actors._stream_errors import StreamCancelledError, StreamLostError
from actors._streams import CANCELLED, ENDED, FAILED, LOST, OPEN, StreamBuffer, StreamTable


def in_loop(fn: Callable[[], Coroutine[Any, Any, None]]) -> Callable[[], None]:
    """Run an async test body in a fresh event loop (the suite has no asyncio plugin)."""
    @functools.wraps(fn)
    def run() -> None:
        asyncio.run(fn())
    return run


class StreamModel(RuleBasedStateMachine):
    """Random emits, pulls and closes against a plain list model of the stream."""

    def __init__(self) -> None:
        super().__init__()
        self.window = 3
        self.buf = StreamBuffer("s", window=self.window)
        self.sent: list[int] = []
        self.read: list[int] = []
        self.closed = False

    @rule(value=st.integers())
    def emit(self, value: int) -> None:
        if self.closed:
            with pytest.raises((StreamCancelledError, StreamLostError)):
                self.buf.try_emit(value)
            return
        seq = self.buf.try_emit(value)
        if len(self.sent) - len(self.read) >= self.window:
            assert seq is None  # the producer must wait: the reader is a window behind
        else:
            assert seq == len(self.sent)
            self.sent.append(value)

    @rule(n=st.integers(min_value=1, max_value=5))
    def pull(self, n: int) -> None:
        got = self.buf.take(n)
        if self.buf.state == CANCELLED:
            assert got.chunks == ()
            return
        assert got.first_seq == len(self.read)
        self.read.extend(got.chunks)
        assert self.read == self.sent[:len(self.read)]
        # The end is reported only once every chunk is out.
        assert got.done == (self.closed and len(self.read) == len(self.sent))

    @precondition(lambda self: not self.closed)
    @rule(how=st.sampled_from([ENDED, FAILED, CANCELLED, LOST]))
    def close(self, how: str) -> None:
        {ENDED: lambda: self.buf.end("reply"), FAILED: lambda: self.buf.fail(ValueError("x")),
         CANCELLED: lambda: self.buf.cancel(), LOST: lambda: self.buf.lose("died")}[how]()
        self.closed = True
        assert self.buf.state == how
        assert not self.buf.end("again")  # a closed stream never reopens

    @invariant()
    def bounded(self) -> None:
        assert 0 <= self.buf.backlog <= self.window
        assert self.buf.state != OPEN or not self.closed


TestStreamModel = StreamModel.TestCase
TestStreamModel.settings = settings(max_examples=150, stateful_step_count=30, deadline=None)


@in_loop
async def test_reader_gets_chunks_in_order_and_the_reply() -> None:
    buf = StreamBuffer("a", window=4)

    async def produce() -> None:
        for i in range(50):
            await buf.emit(i)
        buf.end({"answer": 42})

    task = asyncio.create_task(produce())
    reader = local_reader(buf, timeout_s=30)
    assert [c async for c in reader] == list(range(50))
    assert reader.reply == {"answer": 42}
    await task


@in_loop
async def test_slow_reader_keeps_the_producer_at_most_a_window_ahead() -> None:
    buf = StreamBuffer("b", window=5)
    ahead: list[int] = []

    async def produce() -> None:
        for i in range(40):
            await buf.emit(i)
            ahead.append(buf.emitted - len(read))
        buf.end()

    read: list[int] = []
    task = asyncio.create_task(produce())
    async for chunk in local_reader(buf, timeout_s=30, batch=2):
        read.append(chunk)
        await asyncio.sleep(0)  # let the producer run as far as it may
    await task
    assert read == list(range(40))
    assert max(ahead) <= 5 + 2  # a window, plus the batch the reader holds


@in_loop
async def test_breaking_out_cancels_and_the_producer_sees_it() -> None:
    buf = StreamBuffer("c", window=2)
    seen: list[BaseException] = []

    async def produce() -> None:
        try:
            for i in range(1000):
                await buf.emit(i)
        except StreamCancelledError as exc:
            seen.append(exc)

    task = asyncio.create_task(produce())
    async for chunk in local_reader(buf, timeout_s=30):
        if chunk == 3:
            break
    await asyncio.wait_for(task, 10)
    assert buf.state == CANCELLED
    assert len(seen) == 1 and seen[0].stream_id == "c"  # type: ignore[attr-defined]
    assert buf.emitted < 1000


@in_loop
async def test_a_failed_producer_raises_its_error_after_the_chunks() -> None:
    buf = StreamBuffer("d")
    await buf.emit("x")
    buf.fail(ValueError("model broke"))
    got: list[Any] = []
    with pytest.raises(ValueError, match="model broke"):
        async for chunk in local_reader(buf, timeout_s=5):
            got.append(chunk)
    assert got == ["x"]


@in_loop
async def test_a_lost_producer_is_an_error_not_a_hang() -> None:
    table = StreamTable(window=4)
    buf = table.open("e", producer="llm")
    await buf.emit("partial")
    assert table.lose_producer("llm", "actor died") == 1
    got: list[Any] = []
    with pytest.raises(StreamLostError, match="actor died"):
        async for chunk in local_reader(buf, timeout_s=5):
            got.append(chunk)
    assert got == ["partial"]
    with pytest.raises(StreamLostError):
        table.get("nope")


@in_loop
async def test_a_reader_timeout_is_a_lost_stream() -> None:
    buf = StreamBuffer("f")
    with pytest.raises(StreamLostError, match="timeout_s"):
        async for _ in local_reader(buf, timeout_s=0.05):
            pass
    assert buf.state == CANCELLED  # the producer is told to stop


def test_blocking_iteration_through_a_loop_runner() -> None:
    loop = asyncio.new_event_loop()
    try:
        buf = loop.run_until_complete(_filled(["a", "b", "c"]))
        assert list(blocking_iter(local_reader(buf, timeout_s=5),
                                  loop.run_until_complete)) == ["a", "b", "c"]
    finally:
        loop.close()


async def _filled(items: list[str]) -> StreamBuffer:
    buf = StreamBuffer("g")
    for item in items:
        await buf.emit(item)
    buf.end()
    return buf


def test_bad_window_and_errors_pickle() -> None:
    with pytest.raises(ConfigError, match="window"):
        StreamBuffer("h", window=0)
    for err in (StreamCancelledError("s1", "gone"), StreamLostError("s2", "died")):
        back = pickle.loads(pickle.dumps(err))
        assert isinstance(back, RaygentError) and str(back) == str(err)
        assert back.stream_id == err.stream_id
