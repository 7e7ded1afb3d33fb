"""Agents and plain actors shared by the benchmarks (importable by Ray workers)."""

from __future__ import annotations

import hashlib

from actors import Agent, MessageContext, handles
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
