"""The LLM agent: a supervised agent that answers :class:`Complete` with a :class:`Completion`.

Spawn it with the backend's settings under ``llm``::

    runtime.spawn(LLMAgent, name="llm", config={
        "llm": {"kind": "openai", "base_url": "http://127.0.0.1:8000/v1", "model": "qwen"},
        "timeout_s": 30, "concurrency": 8,
    })

Model calls are I/O bound, so the agent handles up to ``concurrency`` requests at once
(they then finish in any order). The supervisor's health checks call the backend's own
check (see ``LLMBackend.health``), so an unreachable server makes the agent unhealthy and
the supervisor restarts it by its restart policy.

A failed call raises a typed :class:`~actors.llm.LLMError`; note that the supervisor
retries failed messages by the runtime's ``RetryPolicy`` whatever the error, on top of the
HTTP backend's own retries.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from actors._agent import Agent, handles
from actors._envelope import MessageContext
from actors._errors import ConfigError, RaygentError
from actors.llm._backend import LLMBackend, check_number, config_from_mapping
from actors.llm._errors import (
    LLMTimeoutError,
)
from actors.llm._factory import KINDS, backend_from_config
from actors.llm._types import (
    Completion,
)
from actors.llm.messages import Complete, StreamComplete

#: The most requests one agent runs at once; ``concurrency`` in the config may only lower it.
MAX_CONCURRENCY = 64


@dataclass(frozen=True, kw_only=True)
class LLMAgentConfig:
    """The agent's config mapping, checked.

    Attributes:
        llm: Backend settings: ``kind`` (``openai`` or ``extractive``) and its fields.
        timeout_s: Budget of one request, waiting for a free slot included.
        concurrency: Requests handled at once (1 to 64).
        warm_up: Load local models in ``on_start`` (spawn then waits for them), so the
            first request is not slow.
    """

    llm: Mapping[str, Any] = field(default_factory=lambda: {"kind": "extractive"})
    timeout_s: float = 60.0
    concurrency: int = 4
    warm_up: bool = True

    def __post_init__(self) -> None:
        if not isinstance(self.llm, Mapping):
            raise ConfigError(f"must be a mapping with a kind ({', '.join(KINDS)})",
                              field="llm")
        check_number(self.timeout_s, "timeout_s")
        check_number(self.concurrency, "concurrency", integer=True, minimum=1, strict=False,
                     maximum=MAX_CONCURRENCY)
        if not isinstance(self.warm_up, bool):
            raise ConfigError(f"must be true or false, got {self.warm_up!r}", field="warm_up")

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> LLMAgentConfig:
        """Build from the agent's config; unknown keys are errors (typos fail at spawn)."""
        return config_from_mapping(cls, values, section="config", ignore=())


class LLMAgent(Agent):
    """Answers :class:`Complete` requests with its backend.

    Config keys: see :class:`LLMAgentConfig`. The default backend is ``extractive``.

    Attributes:
        settings: The checked config.
        backend: The backend, built in :meth:`on_start`.
    """

    # The host reads concurrency from the class; the configured value is enforced below.
    concurrency: ClassVar[int] = MAX_CONCURRENCY

    def __init__(self, name: str, config: Mapping[str, Any] | None = None) -> None:
        super().__init__(name, config)
        self.settings = LLMAgentConfig.from_mapping(self.config)
        self.backend: LLMBackend | None = None
        self._gate: asyncio.Semaphore | None = None

    def _need_backend(self) -> LLMBackend:
        if self.backend is None:
            raise RaygentError(f"LLM agent {self.name!r} is not started")
        return self.backend

    async def on_start(self) -> None:
        self.backend = backend_from_config(self.settings.llm)
        self._gate = asyncio.Semaphore(self.settings.concurrency)
        if self.settings.warm_up:
            await self.backend.warm_up()

    async def on_stop(self) -> None:
        if self.backend is not None:
            await self.backend.aclose()

    async def health(self) -> bool:
        """The backend's own check: a real embedding, or the server's model list.

        Raises:
            LLMError: What is wrong with the backend.
        """
        await self._need_backend().health()
        return True

    def _budget(self, timeout_s: float | None, ctx: MessageContext) -> float:
        """The request's time budget: its own or the agent's, capped by the ask's deadline.

        Raises:
            LLMTimeoutError: If nothing of it is left.
        """
        budget = timeout_s if timeout_s is not None else self.settings.timeout_s
        if ctx.deadline is not None:
            budget = min(budget, ctx.deadline - time.time())
        if budget <= 0:
            raise LLMTimeoutError(f"LLM agent {self.name!r}", 0.0)
        return budget

    @handles
    async def on_complete(self, msg: Complete, ctx: MessageContext) -> Completion:
        """Run one completion within the request's budget.

        Raises:
            LLMTimeoutError: If the budget (``Complete.timeout_s``, else the agent's
                ``timeout_s``, capped by the ask's deadline) runs out.
            LLMError: Whatever else the backend raises.
        """
        backend = self._need_backend()
        assert self._gate is not None
        budget = self._budget(msg.timeout_s, ctx)
        target = f"LLM agent {self.name!r} ({backend.name} {backend.model})"
        loop = asyncio.get_running_loop()
        deadline = loop.time() + budget
        try:
            async with asyncio.timeout_at(deadline), self._gate:
                remaining = max(deadline - loop.time(), 1e-3)
                return await backend.complete(msg.messages, context=msg.context,
                                              timeout_s=remaining, **msg.params)
        except TimeoutError:
            raise LLMTimeoutError(target, round(budget, 3)) from None

    @handles
    async def on_stream(self, msg: StreamComplete, ctx: MessageContext) -> AsyncIterator[str]:
        """Stream one completion's text deltas (``Runtime.stream(agent, StreamComplete)``).

        The first delta is passed on as soon as the backend has it; a reader that stops
        reading closes the backend's stream (the model call ends with it).

        Raises:
            LLMTimeoutError: If the budget runs out before the stream ends.
            LLMError: Whatever else the backend raises.
        """
        backend = self._need_backend()
        assert self._gate is not None
        budget = self._budget(msg.timeout_s, ctx)
        async with self._gate:
            deltas = backend.stream(msg.messages, context=msg.context, timeout_s=budget,
                                    **msg.params)
            try:
                async for delta in deltas:
                    if delta:
                        yield delta
            finally:
                await deltas.aclose()  # type: ignore[attr-defined]


__all__ = ["LLMAgent", "LLMAgentConfig"]
