"""Streams through real Ray: order, backpressure, cancellation, a dead producer, bad input."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import ray

from actors import HandlerError, MessageError, RaygentError, StreamLostError
from actors._ray import agent_handle
from actors._streams import StreamBuffer
from tests.conftest import wait_for
from tests.stream_agents import Count, Counter, EmitSome, Relay, Relayer, StreamLog, Whole

WINDOW = StreamBuffer("w").window


def test_chunks_arrive_in_order_and_the_stream_ends(make_runtime: Any) -> None:
    rt = make_runtime()
    rt.spawn(Counter, name="c")
    assert list(rt.stream("c", Count(n=200), timeout_s=60)) == list(range(200))
    assert rt.ask("c", StreamLog()) == {"emitted": 200, "closed": 1, "finished": 1}


def test_async_form_and_a_plain_handler_streams_nothing(make_runtime: Any) -> None:
    rt = make_runtime()
    rt.spawn(Counter, name="c")

    async def read() -> tuple[list[int], list[Any]]:
        got = [c async for c in rt.stream_async("c", Count(n=30), timeout_s=60)]
        plain = [c async for c in rt.stream_async("c", Whole(text="x"), timeout_s=60)]
        return got, plain

    got, plain = asyncio.run(read())
    assert got == list(range(30))
    assert plain == []


def test_a_slow_reader_holds_the_producer_a_window_ahead(make_runtime: Any) -> None:
    rt = make_runtime()
    rt.spawn(Counter, name="c")
    chunks = rt.stream("c", Count(n=1000), timeout_s=60)
    assert next(chunks) == 0
    # The producer fills the window, then waits for the reader.
    wait_for(lambda: rt.ask("c", StreamLog())["emitted"] >= WINDOW)
    for _ in range(3):
        emitted = rt.ask("c", StreamLog())["emitted"]
        assert emitted <= 2 * WINDOW + 2, emitted  # one window buffered, one pulled
    assert [next(chunks) for _ in range(10)] == list(range(1, 11))
    chunks.close()


def test_breaking_out_stops_the_handler(make_runtime: Any) -> None:
    rt = make_runtime()
    rt.spawn(Counter, name="c")
    for chunk in rt.stream("c", Count(n=100_000, pause_s=0.001), timeout_s=60):
        if chunk == 5:
            break
    log = wait_for(lambda: (lambda s: s if s["closed"] == 1 else None)(
        rt.ask("c", StreamLog())))
    assert log["finished"] == 0 and log["emitted"] < 100_000


def test_a_handler_error_comes_after_its_chunks(make_runtime: Any) -> None:
    rt = make_runtime()
    rt.spawn(Counter, name="c")
    got: list[int] = []
    with pytest.raises(HandlerError, match="broke at 3"):
        for chunk in rt.stream("c", Count(n=10, fail_at=3), timeout_s=60):
            got.append(chunk)
    assert got == [0, 1, 2]


def test_a_killed_agent_is_a_lost_stream_not_a_hang(make_runtime: Any) -> None:
    rt = make_runtime()
    rt.spawn(Counter, name="c")
    chunks = rt.stream("c", Count(n=100_000, pause_s=0.01), timeout_s=60)
    assert next(chunks) == 0
    ray.kill(agent_handle("c", rt.config.namespace), no_restart=True)
    with pytest.raises(StreamLostError, match="mid-stream"):
        for _ in chunks:
            pass


def test_bad_input_is_refused_at_open(make_runtime: Any) -> None:
    rt = make_runtime()
    rt.spawn(Counter, name="c")
    with pytest.raises(MessageError):
        rt.stream("nobody", Count(n=1))
    with pytest.raises(MessageError):
        rt.stream("c", object())


def test_an_agent_streams_from_another_and_cancel_reaches_the_source(
        make_runtime: Any) -> None:
    rt = make_runtime()
    rt.spawn(Counter, name="c")
    rt.spawn(Relayer, name="r")
    assert list(rt.stream("r", Relay(source="c", n=25), timeout_s=60)) == \
        [i * 10 for i in range(25)]
    for chunk in rt.stream("r", Relay(source="c", n=100_000, pause_s=0.001), timeout_s=60):
        if chunk == 50:
            break
    # Closing the outer stream closes the relay's generator, whose reader cancels the inner.
    wait_for(lambda: rt.ask("c", StreamLog())["closed"] == 2)
    assert rt.ask("c", StreamLog())["finished"] == 1


def test_ctx_emit_streams_and_needs_a_streamed_request(make_runtime: Any) -> None:
    rt = make_runtime()
    rt.spawn(Counter, name="c")
    assert list(rt.stream("c", EmitSome(n=5), timeout_s=60)) == [f"e{i}" for i in range(5)]
    with pytest.raises(RaygentError, match=r"ctx\.emit needs a streamed request"):
        rt.ask("c", EmitSome(n=1), timeout_s=30)
