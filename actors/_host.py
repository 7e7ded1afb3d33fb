"""Runs one agent: routes envelopes to handlers, keeps order, drops duplicates.

The host is what the Ray actor wraps (``actors/_ray.py``) and what tests drive directly.
"""

from __future__ import annotations

import asyncio
import inspect
from collections import OrderedDict
from typing import Any

from actors._agent import Agent
from actors._envelope import Envelope, MessageContext
from actors._errors import HandlerError, RaygentError
from actors._spec import AgentSpec, BatchResult, Outcome, Snapshot
from actors._transport import Transport

_SNAPSHOT_SEEN = 1000  # ids carried in a snapshot: enough to cover a redelivered batch


class AgentHost:
    """Hosts one agent instance for its whole incarnation."""

    def __init__(self, spec: AgentSpec, transport: Transport | None, *,
                 dedupe_window: int = 10_000) -> None:
        self.spec = spec
        self._transport = transport
        self._window = dedupe_window
        self._seen: OrderedDict[str, Any] = OrderedDict()
        self.agent: Agent | None = None
        self.handled = 0
        self._is_async: dict[str, bool] = {}

    async def start(self, snapshot: Snapshot | None = None) -> None:
        """Build the agent, restore its last snapshot, and run ``on_start``."""
        agent = self.spec.cls(self.spec.name, self.spec.config)
        if not isinstance(agent, Agent):
            raise RaygentError(f"{self.spec.class_name} is not an Agent subclass")
        if self._transport is not None:
            agent._bind(self._transport, asyncio.get_running_loop())
        if snapshot is not None:
            self._seen = OrderedDict(snapshot.seen)
            if snapshot.state is not None:
                agent.restore(snapshot.state)
        for kind, attr in type(agent)._raygent_handlers.items():
            self._is_async[kind] = inspect.iscoroutinefunction(getattr(agent, attr))
        self.agent = agent
        await agent.on_start()

    def _need_agent(self) -> Agent:
        if self.agent is None:
            raise RaygentError(f"agent {self.spec.name!r} is not started")
        return self.agent

    async def deliver(self, batch: list[Envelope]) -> BatchResult:
        """Run a batch in order; stop at the first failure.

        Plain handlers that follow one another run together in one worker thread, so a
        batch costs one thread hop, not one per message.
        """
        agent = self._need_agent()
        outcomes: list[Outcome] = []
        i = 0
        failed = False
        while i < len(batch) and not failed:
            env = batch[i]
            if self._is_async.get(env.kind, True):
                out = await self._run_async(agent, env)
                outcomes.append(out)
                failed = out.status == "error"
                i += 1
                continue
            j = i
            while j < len(batch) and not self._is_async.get(batch[j].kind, True):
                j += 1
            chunk = await asyncio.to_thread(self._run_sync_chunk, agent, batch[i:j])
            outcomes.extend(chunk)
            failed = chunk[-1].status == "error"
            i += len(chunk)
        outcomes.extend(Outcome(status="skipped") for _ in range(len(batch) - len(outcomes)))
        if self.spec.has_snapshot:
            return BatchResult(outcomes=outcomes, snapshot=self.take_snapshot(),
                               has_snapshot=True)
        return BatchResult(outcomes=outcomes)

    def _duplicate(self, env: Envelope) -> Outcome | None:
        key = env.dedupe_key
        if key in self._seen:
            return Outcome(status="ok", value=self._seen[key], duplicate=True)
        return None

    def _remember(self, env: Envelope, value: Any) -> None:
        self._seen[env.dedupe_key] = value if env.expects_reply else None
        if len(self._seen) > self._window:
            self._seen.popitem(last=False)
        self.handled += 1

    def _fail(self, env: Envelope, exc: BaseException) -> Outcome:
        if isinstance(exc, RaygentError):
            err: Exception = exc
        else:
            err = HandlerError(self.spec.name, env.kind, type(exc).__name__, str(exc))
        return Outcome(status="error", error=err)

    async def _run_async(self, agent: Agent, env: Envelope) -> Outcome:
        dup = self._duplicate(env)
        if dup is not None:
            return dup
        attr = type(agent)._raygent_handlers.get(env.kind)
        try:
            if attr is None:
                value = await agent.on_unhandled(env.payload, MessageContext.of(env))
            else:
                value = await getattr(agent, attr)(env.payload, MessageContext.of(env))
        except Exception as exc:
            return self._fail(env, exc)
        self._remember(env, value)
        return Outcome(status="ok", value=value)

    def _run_sync_chunk(self, agent: Agent, chunk: list[Envelope]) -> list[Outcome]:
        handlers = type(agent)._raygent_handlers
        outs: list[Outcome] = []
        for env in chunk:
            dup = self._duplicate(env)
            if dup is not None:
                outs.append(dup)
                continue
            try:
                value = getattr(agent, handlers[env.kind])(env.payload, MessageContext.of(env))
            except Exception as exc:
                outs.append(self._fail(env, exc))
                break
            self._remember(env, value)
            outs.append(Outcome(status="ok", value=value))
        return outs

    def take_snapshot(self) -> Snapshot:
        """Capture state and the most recent handled ids."""
        state = self._need_agent().snapshot()
        seen = list(self._seen.items())[-_SNAPSHOT_SEEN:]
        return Snapshot(state=state, seen=dict(seen))

    async def health(self) -> None:
        """Run the agent's own check.

        Raises:
            RaygentError: If the agent reports itself unhealthy.
        """
        agent = self._need_agent()
        result = agent.health()
        if inspect.isawaitable(result):
            result = await result
        if result is False:
            raise RaygentError(f"agent {self.spec.name!r} reported itself unhealthy")

    async def stop(self) -> Snapshot | None:
        """Run ``on_stop`` and return a final snapshot (if the agent has state)."""
        agent = self._need_agent()
        await agent.on_stop()
        return self.take_snapshot() if self.spec.has_snapshot else None
