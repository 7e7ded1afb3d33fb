"""Routing through the supervisor with real Ray actors."""

from __future__ import annotations

import asyncio
import threading

import pytest

from actors import (
    AskTimeoutError,
    MailboxConfig,
    MailboxFullError,
    MessageTooLargeError,
    NotSerializableError,
    PayloadTypeError,
    UnknownKindError,
    UnknownRecipientError,
)
from actors.messages import Echo, EchoReply, Ping, Pong
from tests.agents import (
    Blob,
    EchoAgent,
    GetLog,
    LogAgent,
    Record,
    Relay,
    RelayAgent,
    Slow,
    Unhandled,
)
from tests.conftest import wait_for


def test_ask_and_send_reach_the_agent(runtime):
    runtime.spawn(EchoAgent, name="echo")
    runtime.spawn(LogAgent, name="log")
    assert runtime.ask("echo", Echo(text="hi")) == EchoReply(text="hi", by="echo")
    assert runtime.ask("echo", Ping(n=7)) == Pong(n=7, by="echo")  # a sync handler
    mid = runtime.send("log", Record(n=1))
    assert isinstance(mid, str) and len(mid) == 26
    assert wait_for(lambda: runtime.ask("log", GetLog()).items == [1])
    assert runtime.status().agent("log").handled >= 1


def test_coroutines_of_another_loop_share_supervisor_calls(runtime):
    """32 coroutines of the caller's own loop, one ask per call: their asks leave together
    (each round is about one supervisor call, not one per caller)."""
    runtime.spawn(EchoAgent, name="echo")
    runtime.ask("echo", Echo(text="warm"))
    box = runtime._outbox
    before = box.exchanges

    async def caller(c: int) -> None:
        for i in range(5):
            reply = await runtime.ask_async("echo", Echo(text=f"{c}-{i}"))
            assert reply == EchoReply(text=f"{c}-{i}", by="echo")

    async def everyone() -> None:
        await asyncio.gather(*(caller(c) for c in range(32)))

    asyncio.run(everyone())
    assert box.exchanges - before <= 12, box.exchanges - before  # 160 asks


def test_agent_to_agent_request_reply(runtime):
    runtime.spawn(EchoAgent, name="echo")
    runtime.spawn(RelayAgent, name="relay")
    reply = runtime.ask("relay", Relay(to="echo", text="x"))
    assert reply.text == "via relay: x"
    # A plain def handler uses the blocking ask from its worker thread.
    assert runtime.ask("relay", Ping(n=1)) == Pong(n=2, by="relay")
    # The inner request went through the supervisor too: echo counted it.
    assert runtime.status().agent("echo").handled == 2


def test_publish_reaches_every_subscriber(runtime):
    runtime.spawn(LogAgent, name="a")  # subscribes to "news" by its class
    runtime.spawn(LogAgent, name="b")
    runtime.spawn(EchoAgent, name="c")
    assert runtime.publish("news", Record(n=5)) == 2
    assert runtime.publish("nobody-listens", Record(n=6)) == 0
    for name in ("a", "b"):
        wait_for(lambda name=name: runtime.ask(name, GetLog()).items == [5])
    runtime.subscribe("c", "chat")
    with pytest.raises(PayloadTypeError):
        runtime.publish("chat", Record(n=1))  # c has no Record handler: nothing queued
    assert runtime.ask("a", GetLog()).items == [5]


def test_order_per_recipient_is_send_order(runtime):
    runtime.spawn(LogAgent, name="log")
    n = 600
    results = runtime.send_many([("log", Record(n=i)) for i in range(n)])
    assert all(isinstance(r, str) for r in results)
    for i in range(n, n + 50):
        runtime.send("log", Record(n=i))
    got = wait_for(lambda: (r := runtime.ask("log", GetLog())).items and
                   len(r.items) == n + 50 and r)
    assert got.items == list(range(n + 50))


def test_concurrent_senders_keep_their_own_order(runtime):
    runtime.spawn(LogAgent, name="log")
    errors: list[BaseException] = []

    def sender(base: int) -> None:
        try:
            for i in range(100):
                runtime.send("log", Record(n=base + i))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=sender, args=(k * 1000,)) for k in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    items = wait_for(lambda: len(r := runtime.ask("log", GetLog()).items) == 300 and r)
    for k in range(3):
        mine = [x for x in items if k * 1000 <= x < k * 1000 + 100]
        assert mine == sorted(mine) and len(mine) == 100


def test_ask_times_out_with_a_typed_error(runtime):
    runtime.spawn(LogAgent, name="log")
    with pytest.raises(AskTimeoutError) as info:
        runtime.ask("log", Slow(seconds=3.0), timeout_s=0.3)
    assert info.value.recipient == "log"
    # The agent is fine afterwards.
    assert runtime.ask("log", Record(n=1), timeout_s=10) == 1


def test_mailbox_full_under_a_slow_consumer(runtime):
    runtime.spawn(LogAgent, name="slow", mailbox=MailboxConfig(capacity=3, policy="reject"))
    runtime.send("slow", Slow(seconds=2.0))  # taken into flight at once
    wait_for(lambda: runtime.status().agent("slow").inflight == 1)
    for i in range(3):
        runtime.send("slow", Record(n=i))
    with pytest.raises(MailboxFullError) as info:
        runtime.send("slow", Record(n=99))
    assert info.value.capacity == 3
    # Nothing accepted is lost: the three queued messages are handled in order.
    wait_for(lambda: runtime.status().agent("slow").mailbox_depth == 0, timeout_s=20)
    assert runtime.ask("slow", GetLog()).items == [0, 1, 2]


def test_block_policy_waits_for_room_then_times_out(runtime):
    runtime.spawn(LogAgent, name="slow", mailbox=MailboxConfig(capacity=1, policy="block"))
    runtime.send("slow", Slow(seconds=1.0))
    wait_for(lambda: runtime.status().agent("slow").inflight == 1)
    runtime.send("slow", Record(n=1))
    # Waits until the slow message finishes and room appears.
    runtime.send("slow", Record(n=2), timeout_s=10)
    runtime.send("slow", Slow(seconds=3.0), timeout_s=10)
    wait_for(lambda: runtime.status().agent("slow").inflight == 1 and
             runtime.status().agent("slow").mailbox_depth == 0)
    runtime.send("slow", Record(n=3))
    with pytest.raises(MailboxFullError):
        runtime.send("slow", Record(n=4), timeout_s=0.2)
    wait_for(lambda: runtime.ask("slow", GetLog(), timeout_s=10).items == [1, 2, 3],
             timeout_s=20)


class _NotRegistered:
    pass


def test_bad_messages_are_rejected_at_send_and_the_system_keeps_working(runtime):
    from dataclasses import dataclass

    runtime.spawn(EchoAgent, name="echo")

    @dataclass(frozen=True)
    class Stray:
        x: int = 0

    with pytest.raises(UnknownKindError):
        runtime.send("echo", Stray())
    with pytest.raises(PayloadTypeError) as info:
        runtime.send("echo", Unhandled())
    assert "EchoReply" not in info.value.accepted and "Echo" in info.value.accepted
    with pytest.raises(MessageTooLargeError):
        runtime.send("echo", Blob(data=b"x" * (2 << 20)))
    with pytest.raises(UnknownRecipientError) as unknown:
        runtime.send("nobody", Echo(text="x"))
    assert "echo" in unknown.value.known
    with pytest.raises(NotSerializableError):
        runtime.send("echo", Blob(data=threading.Lock()))
    with pytest.raises(UnknownRecipientError):
        runtime.ask("nobody", Echo(text="x"))
    assert runtime.status().agent("echo").handled == 0  # nothing bad reached it
    assert runtime.ask("echo", Echo(text="still here")).text == "still here"
    assert runtime.ask("echo", Blob(data=b"x" * 1000)) == 1000


def test_send_many_reports_each_outcome(runtime):
    runtime.spawn(EchoAgent, name="echo")
    out = runtime.send_many([("echo", Echo(text="a")), ("ghost", Echo(text="b")),
                             ("echo", Echo(text="c"))])
    assert isinstance(out[0], str) and isinstance(out[2], str)
    assert isinstance(out[1], UnknownRecipientError)
    wait_for(lambda: runtime.status().agent("echo").handled == 2)
