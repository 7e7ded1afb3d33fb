"""Runs one agent: routes envelopes to handlers, keeps order, drops duplicates.

The host is what the Ray actor wraps (``actors/_ray.py``) and what tests drive directly.
Replies leave the host pickled (``Outcome.value`` is bytes for an ask), and so does the
agent's snapshot, so the supervisor journals and forwards them without unpickling.

After a supervisor restart the same batch can arrive again while the first copy is still
running: a sequential agent takes one batch at a time (a lock), a concurrent one joins a
message already in progress, and the handled-ids window answers the rest.
"""

from __future__ import annotations

import asyncio
import inspect
import pickle
import time
from collections import OrderedDict
from collections.abc import Iterator
from typing import Any, cast

import psutil
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, Tracer
from ray import cloudpickle

from actors import _telemetry as tm
from actors._agent import Agent
from actors._approval import Parked
from actors._config import TracingConfig
from actors._effects import EffectRecorder, EffectStore
from actors._envelope import CURRENT_SCOPE, Envelope, HandlerScope, MessageContext
from actors._errors import (
    HandlerError,
    HandlerTimeoutError,
    NotSerializableError,
    RaygentError,
)
from actors._secrets import redact
from actors._spec import AgentSpec, BatchResult, Outcome, Snapshot
from actors._transport import Transport

_SNAPSHOT_SEEN = 1000  # ids carried in a snapshot: enough to cover a redelivered batch


def _pack_reply(env: Envelope, value: Any) -> bytes | None:
    if not env.expects_reply:
        return None
    try:
        return pickle.dumps(value, protocol=5)
    except Exception:
        try:  # a local class or a lambda in the reply: cloudpickle copes
            blob: bytes = cloudpickle.dumps(value)
            return blob
        except Exception as exc:
            raise NotSerializableError(f"reply to {env.kind}", f"{type(exc).__name__}: "
                                       f"{exc}") from None


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
        self._times: list[tuple[str, float]] = []  # (kind, seconds) per handler run
        self._is_async: dict[str, bool] = {}
        self._timeouts: dict[str, float] = dict(getattr(spec.cls, "_raygent_timeouts", {}))
        self.fault: str | None = None  # set when the agent must be restarted now
        self._concurrency = max(1, int(getattr(spec.cls, "concurrency", 1)))
        self._batch_lock = asyncio.Lock()
        self._running: dict[str, asyncio.Future[Outcome]] = {}
        store: EffectStore | None = transport if isinstance(transport, EffectStore) else None
        self._effects = None if store is None else EffectRecorder(spec.name, store)

    async def start(self, snapshot: bytes | Snapshot | None = None) -> None:
        """Build the agent, restore its last snapshot (as the supervisor holds it: bytes),
        and run ``on_start``."""
        if isinstance(snapshot, bytes):
            snapshot = cast(Snapshot, pickle.loads(snapshot))
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
        async with self._batch_lock:
            return self._result(await self._deliver_in_order(agent, batch))

    async def _deliver_in_order(self, agent: Agent, batch: list[Envelope]) -> list[Outcome]:
        outcomes: list[Outcome] = []
        i = 0
        while i < len(batch):
            j = self._segment_end(batch, i)
            outs = await self._run_segment(agent, batch[i:j])
            outcomes.extend(outs)
            if outs and outs[-1].status == "error":
                break
            if agent._exit_reason is not None:
                break
            i = j
        outcomes.extend(Outcome(status="skipped") for _ in range(len(batch) - len(outcomes)))
        return outcomes

    async def _run_segment(self, agent: Agent, segment: list[Envelope]) -> list[Outcome]:
        """Run envelopes of one kind of handler under one ``process`` span."""
        span = self._open_span(segment)
        token = None if span is None else otel_context.attach(trace.set_span_in_context(span))
        try:
            if self._is_async.get(segment[0].kind, True):
                return await self._run_async(agent, segment, span)
            limit = self._timeouts.get(segment[0].kind)
            work = asyncio.to_thread(self._run_sync, agent, segment, span)
            if limit is None:
                return await work
            try:
                return await asyncio.wait_for(work, limit)
            except TimeoutError:
                # The thread cannot be stopped: only a new process ends it.
                env = segment[0]
                self.fault = (f"a plain def handler for {env.kind!r} ran past its {limit:g}s "
                              "limit and cannot be cancelled")
                err = HandlerTimeoutError(self.spec.name, env.kind, limit, cancelled=False)
                return [self._fail(env, err, span)]
        finally:
            if token is not None:
                otel_context.detach(token)
            if span is not None:
                span.end()

    def _result(self, outcomes: list[Outcome]) -> BatchResult:
        agent = self._need_agent()
        snapshot = None
        if self.spec.has_snapshot:
            snapshot = cloudpickle.dumps(self.take_snapshot())
        limit = self.spec.restart.memory_limit_mb
        if limit is not None and self.fault is None:
            # Checked after every batch, not only at health checks: a leak can take
            # gigabytes between two of those.
            rss = psutil.Process().memory_info().rss / (1 << 20)
            if rss > limit:
                self.fault = f"memory {rss:.0f} MB over its limit of {limit:.0f} MB"
        times, self._times = self._times, []
        return BatchResult(outcomes=outcomes, snapshot=snapshot, exit=agent._exit_reason,
                           fault=self.fault, handler_times=times)

    async def _deliver_concurrently(self, agent: Agent, batch: list[Envelope]
                                    ) -> list[Outcome]:
        """Run up to ``concurrency`` handlers at once; each envelope settles on its own."""
        gate = asyncio.Semaphore(self._concurrency)

        async def one(env: Envelope) -> Outcome:
            running = self._running.get(env.dedupe_key)
            if running is not None:  # the same message redelivered while it runs
                first = await asyncio.shield(running)
                return Outcome(status=first.status, value=first.value, error=first.error,
                               duplicate=True)
            future: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
            self._running[env.dedupe_key] = future
            try:
                outcome = await guarded(env)
            except BaseException as exc:
                future.set_exception(exc)
                future.exception()
                raise
            else:
                future.set_result(outcome)
                return outcome
            finally:
                del self._running[env.dedupe_key]

        async def guarded(env: Envelope) -> Outcome:
            async with gate:
                return (await self._run_segment(agent, [env]))[0]

        return list(await asyncio.gather(*(one(env) for env in batch)))

    def _segment_end(self, batch: list[Envelope], i: int) -> int:
        first = batch[i]
        is_async = self._is_async.get(first.kind, True)
        parent = first.trace.get("traceparent") if self._traced else None
        j = i + 1
        if not is_async and first.kind in self._timeouts:
            return j  # a time-limited plain handler runs alone, so its limit is its own
        while j < len(batch):
            env = batch[j]
            if self._is_async.get(env.kind, True) != is_async:
                break
            if not is_async and env.kind in self._timeouts:
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
        outs: list[Outcome] = []
        for env in self._fresh(segment, outs):
            outs.append(await self._one_async(agent, env, span))
            if outs[-1].status == "error":
                break  # the rest of the batch waits: order is kept
        return outs

    def _run_sync(self, agent: Agent, segment: list[Envelope],
                  span: Span | None) -> list[Outcome]:
        outs: list[Outcome] = []
        for env in self._fresh(segment, outs):
            out = self._one_sync(agent, env, span)
            outs.append(out)
            if out.status == "error":
                break
        return outs

    def _fresh(self, segment: list[Envelope], outs: list[Outcome]) -> Iterator[Envelope]:
        """The envelopes to run; a duplicate's recorded outcome goes to ``outs`` instead."""
        for env in segment:
            dup = self._duplicate(env)
            if dup is None:
                yield env
            else:
                outs.append(dup)

    async def _one_async(self, agent: Agent, env: Envelope, span: Span | None) -> Outcome:
        attr = type(agent)._raygent_handlers.get(env.kind)
        token = CURRENT_SCOPE.set(HandlerScope(env))
        started = time.perf_counter()
        try:
            ctx = MessageContext.of(env, self._effects)
            if attr is None:
                call = agent.on_unhandled(env.payload, ctx)
            else:
                call = getattr(agent, attr)(env.payload, ctx)
            limit = self._timeouts.get(env.kind)
            if limit is None:
                value = await call
            else:
                clock = asyncio.timeout(limit)
                try:
                    async with clock:
                        value = await call
                except TimeoutError:
                    if not clock.expired():
                        raise  # the handler's own timeout, not its limit
                    raise HandlerTimeoutError(self.spec.name, env.kind, limit,
                                              cancelled=True) from None
            reply = _pack_reply(env, value)
        except Parked as parked:  # it waits for a person (actors/_approvals.py)
            return Outcome(status="parked", value=parked.approval_id)
        except Exception as exc:
            return self._fail(env, exc, span)
        finally:
            CURRENT_SCOPE.reset(token)
            self._times.append((env.kind, time.perf_counter() - started))
        return self._remember(env, reply)

    def _one_sync(self, agent: Agent, env: Envelope, span: Span | None) -> Outcome:
        token = CURRENT_SCOPE.set(HandlerScope(env))
        started = time.perf_counter()
        try:
            handler = getattr(agent, type(agent)._raygent_handlers[env.kind])
            reply = _pack_reply(env, handler(env.payload, MessageContext.of(env, self._effects)))
        except Exception as exc:
            return self._fail(env, exc, span)
        finally:
            CURRENT_SCOPE.reset(token)
            self._times.append((env.kind, time.perf_counter() - started))
        return self._remember(env, reply)

    def _duplicate(self, env: Envelope) -> Outcome | None:
        key = env.dedupe_key
        if key in self._seen:
            return Outcome(status="ok", value=self._seen[key], duplicate=True)
        return None

    def _remember(self, env: Envelope, reply: bytes | None) -> Outcome:
        self._seen[env.dedupe_key] = reply
        if len(self._seen) > self._window:
            self._seen.popitem(last=False)
        self.handled += 1
        return Outcome(status="ok", value=reply)

    def _fail(self, env: Envelope, exc: BaseException, span: Span | None = None) -> Outcome:
        if span is not None:
            span.set_attribute(tm.MSG_ID, env.id)
            span.set_attribute(tm.ATTEMPT, env.attempt)
            tm.mark_error(span, exc, f"{type(exc).__name__}: {exc}",
                          capture=self._tracing.record_payloads)
        if isinstance(exc, RaygentError):
            err: Exception = exc
        else:
            # Scrubbed here, where the secrets it may quote are known: the text goes on to
            # the asker, the dead-letter queue, the journal and `raygent status`.
            err = HandlerError(self.spec.name, env.kind, type(exc).__name__,
                               redact(str(exc)))
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
        result: Any = agent.health()
        if inspect.isawaitable(result):
            result = await result
        if result is False:
            raise RaygentError(f"agent {self.spec.name!r} reported itself unhealthy")

    async def stop(self) -> bytes | None:
        """Run ``on_stop`` and return a final snapshot, pickled (if the agent has state)."""
        agent = self._need_agent()
        await agent.on_stop()
        if not self.spec.has_snapshot:
            return None
        blob: bytes = cloudpickle.dumps(self.take_snapshot())
        return blob
