"""Agents and plain actors shared by the benchmarks (importable by Ray workers)."""

from __future__ import annotations

import asyncio
import hashlib
import time
from dataclasses import dataclass
from typing import Any

from actors import Agent, MessageContext, handles, message
from actors.messages import Echo, EchoReply


def work(text: str) -> str:
    """The same small unit of work for the routed agent and the direct actor."""
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()


class WorkAgent(Agent):
    @handles
    async def on_echo(self, msg: Echo, ctx: MessageContext) -> EchoReply:
        return EchoReply(text=work(msg.text), by=self.name)


class DirectActor:
    """A plain Ray actor doing the same work, called directly from the driver.

    A plain (threaded) actor: the faster of Ray's two kinds for this call pattern here.
    """

    def handle(self, msg: Echo) -> EchoReply:
        return EchoReply(text=work(msg.text), by="direct")


@message
@dataclass(frozen=True, kw_only=True)
class Burst:
    """Ask ``to`` ``n`` times with everything in flight; reply with the seconds it took."""

    to: str
    n: int


@message
@dataclass(frozen=True, kw_only=True)
class Probe:
    """Ask ``to`` ``n`` times, one after another; reply with each round trip in ms."""

    to: str
    n: int


class ClientAgent(Agent):
    """Asks another agent from inside its handlers (agent -> agent through the supervisor)."""

    @handles
    async def on_burst(self, msg: Burst, ctx: MessageContext) -> float:
        t0 = time.perf_counter()
        await asyncio.gather(*(self.ask_async(msg.to, Echo(text=str(i)))
                               for i in range(msg.n)))
        return time.perf_counter() - t0

    @handles
    async def on_probe(self, msg: Probe, ctx: MessageContext) -> list[float]:
        out = []
        for i in range(msg.n):
            t0 = time.perf_counter()
            await self.ask_async(msg.to, Echo(text=str(i)))
            out.append((time.perf_counter() - t0) * 1000)
        return out


class DirectClient:
    """A plain async Ray actor calling another plain actor: the same patterns, no runtime."""

    def __init__(self, target: Any) -> None:
        self.target = target

    async def burst(self, n: int) -> float:
        t0 = time.perf_counter()
        await asyncio.gather(*(self.target.handle.remote(Echo(text=str(i))) for i in range(n)))
        return time.perf_counter() - t0

    async def probe(self, n: int) -> list[float]:
        out = []
        for i in range(n):
            t0 = time.perf_counter()
            await self.target.handle.remote(Echo(text=str(i)))
            out.append((time.perf_counter() - t0) * 1000)
        return out
