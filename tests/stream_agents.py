"""Agents for the streaming tests (importable by Ray workers)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from actors import Agent, handles, message


@message(kind="StreamCount")
@dataclass(frozen=True, kw_only=True)
class Count:
    """Yield 0..n-1, pausing ``pause_s`` between chunks."""

    n: int
    pause_s: float = 0.0
    fail_at: int = -1


@message
@dataclass(frozen=True, kw_only=True)
class StreamLog:
    pass


@message
@dataclass(frozen=True, kw_only=True)
class Whole:
    text: str


@message
@dataclass(frozen=True, kw_only=True)
class EmitSome:
    n: int


class Counter(Agent):
    """Streams numbers and remembers how far it got and whether it was stopped."""

    def __init__(self, name: str, config: Any = None) -> None:
        super().__init__(name, config)
        self.emitted = 0
        self.closed = 0
        self.finished = 0

    @handles
    async def count(self, msg: Count, ctx: Any) -> AsyncIterator[int]:
        try:
            for i in range(msg.n):
                if i == msg.fail_at:
                    raise ValueError(f"broke at {i}")
                yield i
                self.emitted += 1
                if msg.pause_s:
                    await asyncio.sleep(msg.pause_s)
            self.finished += 1
        finally:
            self.closed += 1

    @handles
    async def log(self, msg: StreamLog, ctx: Any) -> dict[str, int]:
        return {"emitted": self.emitted, "closed": self.closed, "finished": self.finished}

    @handles
    async def emit_some(self, msg: EmitSome, ctx: Any) -> str:
        for i in range(msg.n):
            await ctx.emit(f"e{i}")
        return "done"

    @handles
    async def whole(self, msg: Whole, ctx: Any) -> str:
        return msg.text.upper()


@message(kind="StreamRelay")
@dataclass(frozen=True, kw_only=True)
class Relay:
    """Stream Count(n) from agent ``source``, each chunk times ten."""

    source: str
    n: int
    pause_s: float = 0.0


class Relayer(Agent):
    @handles
    async def relay(self, msg: Relay, ctx: Any) -> AsyncIterator[int]:
        async for chunk in self.stream_async(msg.source, Count(n=msg.n, pause_s=msg.pause_s),
                                             timeout_s=60):
            yield chunk * 10
