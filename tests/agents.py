"""Agents and messages the tests spawn (a module, so Ray workers can import them)."""

from __future__ import annotations

import asyncio
import os
import threading
from dataclasses import dataclass, field
from typing import Any

from actors import Agent, MessageContext, handles, message
from actors.messages import AgentEvent, Echo, EchoReply, Ping, Pong


@message
@dataclass(frozen=True, kw_only=True)
class Record:
    """Append ``n`` to the agent's log."""

    n: int
    sleep_s: float = 0.0


@message
@dataclass(frozen=True, kw_only=True)
class GetLog:
    pass


@message
@dataclass(frozen=True, kw_only=True)
class Flaky:
    """Fail until the message's attempt reaches ``succeed_on`` (0: always fail)."""

    key: str
    succeed_on: int = 0


@message
@dataclass(frozen=True, kw_only=True)
class Fix:
    """From now on, Flaky messages succeed."""


@message
@dataclass(frozen=True, kw_only=True)
class SetHealthy:
    healthy: bool


@message
@dataclass(frozen=True, kw_only=True)
class Slow:
    seconds: float


@message
@dataclass(frozen=True, kw_only=True)
class Die:
    """Make the agent's process exit abruptly."""


@message
@dataclass(frozen=True, kw_only=True)
class CrashOnce:
    """Kill the agent's process on the first attempt; succeed on the next."""

    key: str = ""


@message
@dataclass(frozen=True, kw_only=True)
class BadRequest:
    """The handler rejects it with a non-retryable error."""


@message
@dataclass(frozen=True, kw_only=True)
class Unhandled:
    """Registered, but no test agent handles it."""


@message
@dataclass(frozen=True, kw_only=True)
class Blob:
    data: Any = None


@message
@dataclass(frozen=True, kw_only=True)
class Relay:
    to: str
    text: str


@message
@dataclass(frozen=True, kw_only=True)
class LogReply:
    items: list[int] = field(default_factory=list)
    incarnation: str = ""


class EchoAgent(Agent):
    @handles
    async def on_echo(self, msg: Echo, ctx: MessageContext) -> EchoReply:
        return EchoReply(text=msg.text, by=self.name)

    @handles
    def on_ping(self, msg: Ping, ctx: MessageContext) -> Pong:
        return Pong(n=msg.n, by=self.name)

    @handles
    async def on_blob(self, msg: Blob, ctx: MessageContext) -> int:
        return len(msg.data) if msg.data is not None else 0


class RelayAgent(Agent):
    """Asks another agent from an async handler, and from a sync one."""

    @handles
    async def on_relay(self, msg: Relay, ctx: MessageContext) -> EchoReply:
        reply = await self.ask_async(msg.to, Echo(text=msg.text))
        return EchoReply(text=f"via {self.name}: {reply.text}", by=self.name)

    @handles
    def on_ping(self, msg: Ping, ctx: MessageContext) -> Pong:
        reply = self.ask("echo", Ping(n=msg.n + 1))
        return Pong(n=reply.n, by=self.name)


class LogAgent(Agent):
    """Keeps a log of what it received; its state is snapshotted and restored."""

    subscriptions = ("news",)

    def __init__(self, name: str, config: Any = None) -> None:
        super().__init__(name, config)
        self.log: list[int] = []
        self.healthy = True
        self.fixed = False
        self.incarnation = f"{os.getpid()}-{threading.get_ident()}"

    @handles
    async def on_record(self, msg: Record, ctx: MessageContext) -> int:
        if msg.sleep_s:
            await asyncio.sleep(msg.sleep_s)
        self.log.append(msg.n)
        return msg.n

    @handles
    async def on_get_log(self, msg: GetLog, ctx: MessageContext) -> LogReply:
        return LogReply(items=list(self.log), incarnation=self.incarnation)

    @handles
    async def on_set_healthy(self, msg: SetHealthy, ctx: MessageContext) -> None:
        self.healthy = msg.healthy

    @handles
    async def on_slow(self, msg: Slow, ctx: MessageContext) -> str:
        await asyncio.sleep(msg.seconds)
        return "done"

    @handles
    def on_die(self, msg: Die, ctx: MessageContext) -> None:
        os._exit(1)

    @handles
    async def on_flaky(self, msg: Flaky, ctx: MessageContext) -> str:
        if not self.fixed and (msg.succeed_on == 0 or ctx.attempt < msg.succeed_on):
            raise ValueError(f"flaky {msg.key} failed on attempt {ctx.attempt}")
        return f"{msg.key} ok on attempt {ctx.attempt}"

    @handles
    def on_crash_once(self, msg: CrashOnce, ctx: MessageContext) -> str:
        if ctx.attempt == 1:
            os._exit(1)
        return f"{msg.key} survived on attempt {ctx.attempt}"

    @handles
    async def on_bad_request(self, msg: BadRequest, ctx: MessageContext) -> None:
        from actors._errors import InvalidQueryError

        raise InvalidQueryError("this request can never succeed")

    @handles
    async def on_fix(self, msg: Fix, ctx: MessageContext) -> None:
        self.fixed = True

    @handles
    async def on_event(self, msg: AgentEvent, ctx: MessageContext) -> None:
        return None

    async def health(self) -> bool:
        return self.healthy

    def snapshot(self) -> Any:
        return {"log": list(self.log)}

    def restore(self, state: Any) -> None:
        self.log = list(state["log"])
