"""Runs one agent: routes envelopes to handlers, keeps order, drops duplicates.

The host is what the Ray actor wraps (``actors/_ray.py``) and what tests drive directly.
"""

from __future__ import annotations

import asyncio
import inspect
from collections import OrderedDict
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, Tracer

from actors import _telemetry as tm
from actors._agent import Agent
from actors._config import TracingConfig
from actors._envelope import Envelope, MessageContext
from actors._errors import HandlerError, RaygentError
from actors._spec import AgentSpec, BatchResult, Outcome, Snapshot
from actors._transport import Transport

_SNAPSHOT_SEEN = 1000  # ids carried in a snapshot: enough to cover a redelivered batch




class AgentHost:
    """Hosts one agent instance for its whole incarnation."""

    def __init__(self, spec: AgentSpec, transport: Transport | None, *,
                 dedupe_window: int = 10_000, tracer: Tracer | None = None,
                 tracing: TracingConfig | None = None, task_id: str | None = None,
                 memory: Any = None) -> None:
        self.spec = spec
        self._memory = memory
        self._tracer = tracer or tm.tracer()
        self._tracing = tracing or TracingConfig(exporter="none")
        self._traced = tracer is not None and self._tracing.exporter != "none"
        self.task_id = task_id
        self._transport = transport
        self._window = dedupe_window
        self._seen: OrderedDict[str, Any] = OrderedDict()
        self.agent: Agent | None = None
        self.handled = 0
        self._is_async: dict[str, bool] = {}
        self._concurrency = max(1, int(getattr(spec.cls, "concurrency", 1)))

    async def start(self, snapshot: Snapshot | None = None) -> None:
        """Build the agent, restore its last snapshot, and run ``on_start``."""
        agent = self.spec.cls(self.spec.name, self.spec.config)
        if not isinstance(agent, Agent):
            raise RaygentError(f"{self.spec.class_name} is not an Agent subclass")
        if self._transport is not None:
            agent._bind(self._transport, asyncio.get_running_loop())
        agent._memory = self._memory
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

        The batch is cut into segments of envelopes that follow one another with the same
        trace context and the same kind of handler. Plain handlers of a segment run
        together in one worker thread (one thread hop, not one per message), and a segment
        is one ``process`` span, so tracing costs per segment, not per message.
        """
        agent = self._need_agent()
        if self._concurrency > 1:
            return self._result(await self._deliver_concurrently(agent, batch))
        outcomes: list[Outcome] = []
        i = 0
        while i < len(batch):
            j = self._segment_end(batch, i)
            segment = batch[i:j]
            span = self._open_span(segment)
            token = None if span is None else otel_context.attach(trace.set_span_in_context(span))
            try:
                if self._is_async.get(segment[0].kind, True):
                    outs = await self._run_async(agent, segment, span)
                else:
                    outs = await asyncio.to_thread(self._run_sync, agent, segment, span)
            finally:
                if token is not None:
                    otel_context.detach(token)
                if span is not None:
                    span.end()
            outcomes.extend(outs)
            if outs and outs[-1].status == "error":
                break
            i = j
        outcomes.extend(Outcome(status="skipped") for _ in range(len(batch) - len(outcomes)))
        return self._result(outcomes)

    def _result(self, outcomes: list[Outcome]) -> BatchResult:
        if self.spec.has_snapshot:
            return BatchResult(outcomes=outcomes, snapshot=self.take_snapshot(),
                               has_snapshot=True)
        return BatchResult(outcomes=outcomes)

    async def _deliver_concurrently(self, agent: Agent, batch: list[Envelope]
                                    ) -> list[Outcome]:
        """Run up to ``concurrency`` handlers at once; each envelope settles on its own."""
        gate = asyncio.Semaphore(self._concurrency)

        async def one(env: Envelope) -> Outcome:
            async with gate:
                span = self._open_span([env])
                token = (None if span is None else
                         otel_context.attach(trace.set_span_in_context(span)))
                try:
                    if self._is_async.get(env.kind, True):
                        outs = await self._run_async(agent, [env], span)
                    else:
                        outs = await asyncio.to_thread(self._run_sync, agent, [env], span)
                finally:
                    if token is not None:
                        otel_context.detach(token)
                    if span is not None:
                        span.end()
                return outs[0]

        return list(await asyncio.gather(*(one(env) for env in batch)))

    def _segment_end(self, batch: list[Envelope], i: int) -> int:
        first = batch[i]
        is_async = self._is_async.get(first.kind, True)
        parent = first.trace.get("traceparent") if self._traced else None
        j = i + 1
        while j < len(batch):
            env = batch[j]
            if self._is_async.get(env.kind, True) != is_async:
                break
            if self._traced and env.trace.get("traceparent") != parent:
                break
            j += 1
        return j

    def _open_span(self, segment: list[Envelope]) -> Span | None:
        """The ``process`` span of a segment (a child of the context its envelopes carry)."""
        if not self._traced:
            return None
        env = segment[0]
        attrs: dict[str, Any] = {
            tm.MSG_SYSTEM: tm.SYSTEM, tm.MSG_OPERATION: "process",
            tm.MSG_DESTINATION: self.spec.name, tm.MSG_ID: env.id, tm.KIND: env.kind,
            tm.ATTEMPT: env.attempt, tm.SENDER: env.sender, tm.AGENT: self.spec.name,
        }
        if len(segment) > 1:
            attrs[tm.MSG_BATCH_COUNT] = len(segment)
        if env.correlation_id:
            attrs[tm.MSG_CONVERSATION] = env.correlation_id
        if self.task_id:
            attrs[tm.RAY_TASK_ID] = self.task_id
        if self._tracing.record_payloads:
            attrs[tm.PAYLOAD] = tm.payload_text(env.payload, self._tracing.payload_max_chars)
        return self._tracer.start_span(
            tm.span_process(self.spec.name), context=tm.extract(env.trace),
            kind=SpanKind.CONSUMER, attributes=attrs)

    async def _run_async(self, agent: Agent, segment: list[Envelope],
                         span: Span | None) -> list[Outcome]:
        handlers = type(agent)._raygent_handlers
        outs: list[Outcome] = []
        for env in segment:
            dup = self._duplicate(env)
            if dup is not None:
                outs.append(dup)
                continue
            attr = handlers.get(env.kind)
            try:
                if attr is None:
                    value = await agent.on_unhandled(env.payload, MessageContext.of(env))
                else:
                    value = await getattr(agent, attr)(env.payload, MessageContext.of(env))
            except Exception as exc:
                outs.append(self._fail(env, exc, span))
                break
            self._remember(env, value)
            outs.append(Outcome(status="ok", value=value))
        return outs

    def _run_sync(self, agent: Agent, segment: list[Envelope],
                  span: Span | None) -> list[Outcome]:
        handlers = type(agent)._raygent_handlers
        outs: list[Outcome] = []
        for env in segment:
            dup = self._duplicate(env)
            if dup is not None:
                outs.append(dup)
                continue
            try:
                value = getattr(agent, handlers[env.kind])(env.payload, MessageContext.of(env))
            except Exception as exc:
                outs.append(self._fail(env, exc, span))
                break
            self._remember(env, value)
            outs.append(Outcome(status="ok", value=value))
        return outs

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

    def _fail(self, env: Envelope, exc: BaseException, span: Span | None = None) -> Outcome:
        if span is not None:
            span.set_attribute(tm.MSG_ID, env.id)
            span.set_attribute(tm.ATTEMPT, env.attempt)
            tm.mark_error(span, exc, f"{type(exc).__name__}: {exc}")
        if isinstance(exc, RaygentError):
            err: Exception = exc
        else:
            err = HandlerError(self.spec.name, env.kind, type(exc).__name__, str(exc))
        return Outcome(status="error", error=err)

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
