"""The agent's side of the effect API (``await ctx.effect(name, fn)``).

An effect's result is recorded by the supervisor (in its journal, so it survives agent and
supervisor restarts, within the dedupe window); the agent asks for a recorded result
before running an effect and records the result after. Both are calls to the supervisor,
which is fine for what effects are: e-mails, database rows and API calls that cost far
more than two messages.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar, runtime_checkable

from actors._approval import Approval, MessageFacts, wait_for_approval
from actors._envelope import dumps, loads
from actors._errors import NotSerializableError

T = TypeVar("T")


@runtime_checkable
class EffectStore(Protocol):
    """Where effect results are kept (the supervisor, through the agent's transport)."""

    async def effect_get(self, agent: str, key: str) -> bytes | None: ...
    async def effect_put(self, agent: str, key: str, result: bytes) -> None: ...


class EffectRecorder:
    """Runs each effect at most once per key for one agent.

    Concurrent calls with the same key (a concurrent agent handling a message twice at
    once) share one run.
    """

    def __init__(self, agent: str, store: EffectStore) -> None:
        self.agent = agent
        self._store = store
        self._running: dict[str, asyncio.Future[Any]] = {}
        self.ran = 0
        self.replayed = 0

    async def run(self, key: str, fn: Callable[[], Awaitable[T] | T]) -> T:
        running = self._running.get(key)
        if running is not None:
            shared: T = await asyncio.shield(running)
            return shared
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._running[key] = future
        try:
            value = await self._run(key, fn)
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: a failure with no second waiter is not "lost"
            raise
        else:
            future.set_result(value)
            return value
        finally:
            del self._running[key]

    async def _run(self, key: str, fn: Callable[[], Awaitable[T] | T]) -> T:
        found = await self._store.effect_get(self.agent, key)
        if found is not None:
            self.replayed += 1
            recorded: T = loads(found)
            return recorded
        value = fn()
        if inspect.isawaitable(value):
            value = await value
        try:
            data = dumps(value)
        except Exception as exc:
            raise NotSerializableError(f"effect {key!r}", f"{type(exc).__name__}: {exc}"
                                       ) from None
        await self._store.effect_put(self.agent, key, data)
        self.ran += 1
        result: T = value
        return result

    async def approval(self, ctx: MessageFacts, key: str, request: Any, *,
                       timeout_s: float | None, on_timeout: str | Approval) -> Approval:
        """Wait for a person's answer, through the same store (``ctx.approval``)."""
        return await wait_for_approval(self._store, self.agent, key, ctx, request,
                                       timeout_s=timeout_s, on_timeout=on_timeout)
