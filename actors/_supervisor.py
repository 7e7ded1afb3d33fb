"""The supervisor's logic: registry, mailboxes, routing, retries, dead letters, restarts.

Plain asyncio, no Ray: it reaches agents through an :class:`AgentBackend` (Ray actors in a
real system, in-process hosts in tests). All state lives on one event loop, so there are no
locks; every ``await`` is a point where other calls may run.

Throughput comes from batching: each agent has one dispatcher task that drains up to
``RuntimeConfig.batch_size`` envelopes from its mailbox and delivers them in one backend
call, and only one batch per agent is in flight, which is what keeps per-recipient order.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import random
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Protocol

from opentelemetry.trace import Span, SpanKind, Tracer

from actors import _metrics as mx
from actors import _telemetry as tm
from actors._config import RuntimeConfig
from actors._envelope import Envelope
from actors._errors import (
    AgentExistsError,
    AgentFailedError,
    AgentNotFoundError,
    AgentUnavailableError,
    AskTimeoutError,
    ConfigError,
    HandlerError,
    MailboxFullError,
    PayloadTypeError,
    RaygentError,
    UnknownRecipientError,
)
from actors._ids import new_id as _new_id
from actors._journal import Journal, NullJournal
from actors._metrics import Metrics, NullMetrics
from actors._spec import AgentSpec, BatchResult, Snapshot
from actors._status import AgentStatus, DeadLetter, SystemStatus
from actors.messages import EVENTS_TOPIC, AgentEvent

log = logging.getLogger("raygent.supervisor")

STARTING, RUNNING, RESTARTING, FAILED, STOPPING, STOPPED = (
    "starting", "running", "restarting", "failed", "stopping", "stopped")


class AgentBackend(Protocol):
    """How the supervisor creates and reaches agents."""

    async def create(
        self, spec: AgentSpec, snapshot: Snapshot | None
    ) -> tuple[Any, dict[str, Any]]:
        """Start an agent (restored from ``snapshot``); return its handle and facts."""
        ...

    async def deliver(self, ref: Any, batch: list[Envelope]) -> BatchResult:
        """Run a batch. Raises AgentUnavailableError if the agent's process is gone."""
        ...

    async def health(self, ref: Any) -> None: ...
    async def stop(self, ref: Any) -> Snapshot | None: ...
    async def kill(self, ref: Any, name: str) -> None: ...
    async def rss_mb(self, ref: Any) -> float | None: ...
    async def flush(self, ref: Any) -> None: ...


@dataclass(slots=True)
class _Pending:
    env: Envelope
    future: asyncio.Future[Any] | None = None


@dataclass
class _Agent:
    spec: AgentSpec
    order: int
    ref: Any = None
    info: dict[str, Any] = field(default_factory=dict)
    state: str = STARTING
    mailbox: deque[_Pending] = field(default_factory=deque)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    room: asyncio.Condition = field(default_factory=asyncio.Condition)
    inflight: list[_Pending] = field(default_factory=list)
    idle: asyncio.Event = field(default_factory=asyncio.Event)
    routed: int = 0
    reported: tuple[int, int, int, int, int, int] = (0, 0, 0, 0, 0, 0)
    handled: int = 0
    failed: int = 0
    retried: int = 0
    dead: int = 0
    restarts: int = 0
    restart_times: deque[float] = field(default_factory=deque)
    last_error: str | None = None
    snapshot: Snapshot | None = None
    backoff_until: float = 0.0
    isolate: int = 0
    task: asyncio.Task[None] | None = None


class SupervisorCore:
    """One system's supervisor. Every agent-to-agent message passes through it."""

    def __init__(self, config: RuntimeConfig, backend: AgentBackend,
                 journal: Journal | None = None, tracer: Tracer | None = None,
                 metrics: Metrics | None = None) -> None:
        self.config = config
        self.metrics: Metrics = metrics or NullMetrics()
        self._tracer = tracer or tm.tracer()
        self._traced = tracer is not None and config.tracing.exporter != "none"
        self.backend = backend
        self.journal: Journal = journal or NullJournal()
        self._agents: dict[str, _Agent] = {}
        self._topics: dict[str, list[str]] = {}
        self._dlq: deque[DeadLetter] = deque(maxlen=config.dlq_capacity)
        self._events: deque[AgentEvent] = deque(maxlen=config.event_capacity)
        self._order = 0
        self._routed = 0
        self._started_at = time.time()
        self._health_task: asyncio.Task[None] | None = None
        self._closing = False
        self._rand = random.Random()
        self._tasks: set[asyncio.Task[None]] = set()

    # -- lifecycle --------------------------------------------------------------------

    async def start(self) -> None:
        """Start the periodic health checks."""
        if self._health_task is None:
            self._health_task = asyncio.get_running_loop().create_task(self._health_loop())

    async def spawn(self, spec: AgentSpec) -> AgentStatus:
        """Create an agent and start routing to it.

        Raises:
            AgentExistsError: If the name is taken.
        """
        if not spec.name or not isinstance(spec.name, str):
            raise ConfigError("agent name must be a non-empty string", field="name")
        if spec.name in self._agents and self._agents[spec.name].state != STOPPED:
            raise AgentExistsError(spec.name)
        self._order += 1
        rec = _Agent(spec=spec, order=self._order)
        rec.idle.set()
        self._agents[spec.name] = rec
        try:
            rec.ref, rec.info = await self.backend.create(spec, None)
        except BaseException:
            del self._agents[spec.name]
            raise
        rec.state = RUNNING
        for topic in spec.topics:
            self.subscribe(spec.name, topic)
        rec.task = asyncio.get_running_loop().create_task(self._dispatch(rec))
        return self._status_of(rec)

    async def stop_agent(self, name: str, timeout_s: float = 10.0) -> None:
        """Stop one agent gracefully: let its mailbox drain, run ``on_stop``, remove it."""
        rec = self._get(name)
        await self._drain(rec, timeout_s)
        rec.state = STOPPING
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.backend.stop(rec.ref), timeout_s)
        await self.backend.kill(rec.ref, name)
        self._retire(rec, "agent stopped")
        del self._agents[name]
        for subs in self._topics.values():
            if name in subs:
                subs.remove(name)
        self._event("stopped", name, "stopped on request")

    async def shutdown(self, timeout_s: float = 10.0) -> None:
        """Stop every agent, newest first, gracefully within ``timeout_s`` each."""
        self._closing = True
        if self._health_task is not None:
            self._health_task.cancel()
        deadline = time.monotonic() + timeout_s
        names = sorted(self._agents, key=lambda n: -self._agents[n].order)
        for name in names:
            left = max(0.5, deadline - time.monotonic())
            with contextlib.suppress(Exception):
                await self.stop_agent(name, left)

    async def _drain(self, rec: _Agent, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while (rec.mailbox or rec.inflight) and rec.state == RUNNING:
            if time.monotonic() > deadline:
                break
            rec.idle.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(rec.idle.wait(), max(0.01, deadline - time.monotonic()))

    def _retire(self, rec: _Agent, reason: str) -> None:
        """Mark stopped and end the dispatcher; everything still queued goes to dead letters."""
        rec.state = STOPPED
        if rec.task is not None:
            rec.task.cancel()
        while rec.mailbox:
            self._dead_letter(rec, rec.mailbox.popleft(), reason, None)

    # -- routing -------------------------------------------------------------------------

    def _get(self, name: str) -> _Agent:
        rec = self._agents.get(name)
        if rec is None:
            raise AgentNotFoundError(name)
        return rec

    def _target(self, env: Envelope) -> _Agent:
        name = env.recipient or ""
        rec = self._agents.get(name)
        if rec is None or rec.state == STOPPED:
            raise UnknownRecipientError(name, tuple(sorted(self._agents)))
        if env.kind not in rec.spec.accepted:
            raise PayloadTypeError(name, env.kind, rec.spec.accepted)
        if rec.state == FAILED:
            raise AgentFailedError(name, rec.last_error or "failed")
        if self._closing:
            raise AgentUnavailableError(name, "the system is shutting down")
        return rec

    def _route(self, accepted: list[tuple[_Agent, Envelope]]) -> tuple[list[Envelope], list[Span]]:
        """Open one ``route`` span per recipient and sender context, continuing its trace.

        A batch of envelopes from one sender span (``ask_many``, a publish) shares one
        route span, so tracing costs per call, not per message; a single send gets its own.
        """
        if not self._traced:
            return [env for _, env in accepted], []
        groups: dict[tuple[str, str], tuple[Span, dict[str, str]]] = {}
        counts: dict[tuple[str, str], int] = {}
        out: list[Envelope] = []
        for rec, env in accepted:
            key = (rec.spec.name, env.trace.get("traceparent", ""))
            group = groups.get(key)
            if group is None:
                span = self._tracer.start_span(
                    tm.span_route(rec.spec.name), context=tm.extract(env.trace),
                    kind=SpanKind.INTERNAL, attributes={
                        tm.MSG_SYSTEM: tm.SYSTEM, tm.MSG_OPERATION: "receive",
                        tm.MSG_DESTINATION: rec.spec.name, tm.MSG_ID: env.id,
                        tm.KIND: env.kind, tm.SENDER: env.sender,
                        tm.MAILBOX_DEPTH: len(rec.mailbox)})
                group = groups[key] = (span, tm.inject(span))
            counts[key] = counts.get(key, 0) + 1
            out.append(env.evolve(trace=group[1]))
        for key, (span, _) in groups.items():
            if counts[key] > 1:
                span.set_attribute(tm.MSG_BATCH_COUNT, counts[key])
        return out, [span for span, _ in groups.values()]

    def _trace_event(self, event: str, rec: _Agent, env: Envelope, *, error: str | None,
                     is_error: bool, **attrs: Any) -> None:
        """A short span for a rare event of one message (``tm.EV_RETRY`` and kin)."""
        if not self._traced:
            return
        span = self._tracer.start_span(
            tm.span_settle(event, rec.spec.name), context=tm.extract(env.trace), attributes={
                tm.MSG_SYSTEM: tm.SYSTEM, tm.MSG_DESTINATION: rec.spec.name,
                tm.MSG_ID: env.id, tm.KIND: env.kind, tm.ATTEMPT: env.attempt, **attrs})
        span.add_event(event, {"error": error or ""})
        if is_error:
            tm.mark_error(span, None, error or event)
        span.end()

    async def _enqueue(self, rec: _Agent, item: _Pending, timeout_s: float | None) -> None:
        box = rec.spec.mailbox
        if len(rec.mailbox) >= box.capacity:
            if box.policy == "reject" or not timeout_s:
                raise MailboxFullError(rec.spec.name, box.capacity)
            deadline = time.monotonic() + timeout_s
            async with rec.room:
                while len(rec.mailbox) >= box.capacity:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        raise MailboxFullError(rec.spec.name, box.capacity)
                    with contextlib.suppress(asyncio.TimeoutError):
                        await asyncio.wait_for(rec.room.wait(), left)
                if rec.state in (FAILED, STOPPED):
                    raise AgentFailedError(rec.spec.name, rec.last_error or rec.state)
        rec.mailbox.append(item)
        self.journal.accepted(item.env)
        self._routed += 1
        rec.routed += 1
        rec.wake.set()

    async def submit(self, envs: list[Envelope], timeout_s: float | None = None
                     ) -> list[str | RaygentError]:
        """Queue envelopes for their recipients; return each one's id or its error.

        ``timeout_s`` is how long to wait for room under the ``block`` mailbox policy.
        """
        results: list[str | RaygentError] = []
        accepted: list[tuple[_Agent, Envelope]] = []
        slots: list[int] = []
        for env in envs:
            try:
                accepted.append((self._target(env), env))
                slots.append(len(results))
                results.append(env.id)
            except RaygentError as exc:
                results.append(exc)
        routed, spans = self._route(accepted)
        for slot, (rec, _), env in zip(slots, accepted, routed, strict=True):
            try:
                await self._enqueue(rec, _Pending(env), timeout_s)
            except RaygentError as exc:
                results[slot] = exc
                for span in spans:
                    span.add_event("raygent.rejected", {tm.MSG_ID: env.id, "error": str(exc)})
        for span in spans:
            span.end()
        return results

    async def ask(self, env: Envelope, timeout_s: float | None = None) -> Any:
        """Queue a request and wait for its reply; errors come back as values."""
        (result,) = await self.ask_many([env], timeout_s)
        return result

    async def ask_many(self, envs: list[Envelope], timeout_s: float | None = None
                       ) -> list[Any]:
        """Queue many requests; return each reply, or the error for that request."""
        timeout = self.config.ask_timeout_s if timeout_s is None else timeout_s
        loop = asyncio.get_running_loop()
        futures: list[asyncio.Future[Any] | RaygentError] = []
        accepted: list[tuple[_Agent, Envelope]] = []
        slots: list[int] = []
        for env in envs:
            if not env.expects_reply:
                env = env.evolve(expects_reply=True)
            try:
                accepted.append((self._target(env), env))
                slots.append(len(futures))
                futures.append(loop.create_future())
            except RaygentError as exc:
                futures.append(exc)
        routed, spans = self._route(accepted)
        for slot, (rec, _), env in zip(slots, accepted, routed, strict=True):
            fut = futures[slot]
            assert isinstance(fut, asyncio.Future)
            try:
                await self._enqueue(rec, _Pending(env, fut), timeout)
            except RaygentError as exc:
                futures[slot] = exc
                for span in spans:
                    span.add_event("raygent.rejected", {tm.MSG_ID: env.id, "error": str(exc)})
        for span in spans:
            span.end()
        pending = [f for f in futures if isinstance(f, asyncio.Future)]
        if pending:
            await asyncio.wait(pending, timeout=timeout)
        out: list[Any] = []
        for env, f in zip(envs, futures, strict=True):
            if not isinstance(f, asyncio.Future):
                out.append(f)
            elif f.done():
                out.append(f.exception() or f.result())
            else:
                f.cancel()
                out.append(AskTimeoutError(env.recipient or "", env.kind, timeout))
        return out

    async def publish(self, env: Envelope) -> int:
        """Queue one copy per subscriber of ``env.topic``; return how many were queued.

        Raises:
            PayloadTypeError: If a subscriber has no handler for the kind (nothing queued).
        """
        subs = list(self._topics.get(env.topic or "", ()))
        for name in subs:
            rec = self._agents[name]
            if env.kind not in rec.spec.accepted:
                raise PayloadTypeError(name, env.kind, rec.spec.accepted)
        queued = 0
        copies = [(self._agents[name], env.evolve(
            id=_new_id(), recipient=name, correlation_id=env.correlation_id or env.id))
            for name in subs]
        routed, spans = self._route(copies)
        for (rec, _), copy in zip(copies, routed, strict=True):
            try:
                if rec.state in (FAILED, STOPPED):
                    raise AgentFailedError(rec.spec.name, rec.last_error or rec.state)
                await self._enqueue(rec, _Pending(copy), None)
                queued += 1
            except RaygentError as exc:
                # A full or failed subscriber must not lose the message silently.
                self._dead_letter(rec, _Pending(copy), "publish: " + type(exc).__name__,
                                  str(exc))
        for span in spans:
            span.end()
        return queued

    def subscribe(self, name: str, topic: str) -> None:
        """Subscribe an agent to a topic."""
        self._get(name)
        subs = self._topics.setdefault(topic, [])
        if name not in subs:
            subs.append(name)

    def unsubscribe(self, name: str, topic: str) -> None:
        subs = self._topics.get(topic, [])
        if name in subs:
            subs.remove(name)

    # -- delivery ------------------------------------------------------------------------

    async def _dispatch(self, rec: _Agent) -> None:
        bs = self.config.batch_size
        while True:
            await rec.wake.wait()
            if rec.state != RUNNING or not rec.mailbox:
                rec.wake.clear()
                if not rec.mailbox and not rec.inflight:
                    rec.idle.set()
                continue
            wait = rec.backoff_until - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
                continue
            now = time.time()
            batch: list[_Pending] = []
            # After a crash, the envelopes that were in flight go one at a time, so a
            # message that kills its agent is found and only its attempts count up.
            limit = 1 if rec.isolate > 0 else bs
            while rec.mailbox and len(batch) < limit:
                item = rec.mailbox.popleft()
                if item.env.expired(now):
                    self._dead_letter(rec, item, "deadline expired", None)
                    continue
                if item.future is not None and item.future.done():
                    continue  # the asker gave up (timed out); do not run it late
                batch.append(item)
            if rec.spec.mailbox.policy == "block":
                async with rec.room:
                    rec.room.notify_all()
            if not batch:
                continue
            rec.inflight = batch
            ref = rec.ref
            started = time.perf_counter()
            try:
                result = await self.backend.deliver(ref, [p.env for p in batch])
            except Exception as exc:
                rec.inflight = []
                again: list[_Pending] = []
                for p in batch:
                    attempt = p.env.attempt + 1
                    if attempt > self.config.retry.max_attempts:
                        rec.failed += 1
                        self._dead_letter(rec, p, f"agent crashed on it {p.env.attempt} times",
                                          str(exc))
                    else:
                        self._trace_event(tm.EV_REDELIVER, rec, p.env, is_error=False,
                                          error=f"{type(exc).__name__}: {exc}")
                        again.append(_Pending(p.env.evolve(attempt=attempt), p.future))
                self._requeue_front(rec, again)
                rec.isolate = len(again)
                if rec.state in (FAILED, STOPPED):
                    # Failed (or stopped) while this batch was out: its mailbox was already
                    # emptied into dead letters, and these must follow, not wait forever.
                    while rec.mailbox:
                        self._dead_letter(rec, rec.mailbox.popleft(), "agent failed",
                                          rec.last_error)
                    continue
                if rec.state == RUNNING and rec.ref is ref:
                    reason = str(exc) if isinstance(exc, AgentUnavailableError) else (
                        f"delivery failed: {type(exc).__name__}: {exc}")
                    await self._on_failure(rec, reason)
                continue
            rec.inflight = []
            self.metrics.observe(mx.BATCH_LATENCY, time.perf_counter() - started,
                                 rec.spec.name)
            if rec.isolate > 0:
                rec.isolate -= len(batch)
            self._apply(rec, batch, result)
            self._report(rec)
            if not rec.mailbox:
                rec.idle.set()

    def _report(self, rec: _Agent) -> None:
        """Push counter deltas and gauges for one agent (once per batch)."""
        now = (rec.routed, rec.handled, rec.failed, rec.retried, rec.restarts, rec.dead)
        name = rec.spec.name
        for metric, new, old in zip(
                (mx.ROUTED, mx.HANDLED, mx.FAILED, mx.RETRIES, mx.RESTARTS, mx.DEAD_LETTERS),
                now, rec.reported, strict=True):
            if new != old:
                self.metrics.count(metric, new - old, name)
        rec.reported = now
        self.metrics.gauge(mx.MAILBOX_DEPTH, len(rec.mailbox), name)
        self.metrics.gauge(mx.DLQ_SIZE, len(self._dlq), "*")

    def _requeue_front(self, rec: _Agent, items: list[_Pending]) -> None:
        rec.mailbox.extendleft(reversed(items))
        if items:
            rec.wake.set()

    def _apply(self, rec: _Agent, batch: list[_Pending], result: BatchResult) -> None:
        """Settle each envelope of a delivered batch by its outcome.

        A sequential agent stops at its first failure, so what follows it is ``skipped``
        and goes back to the front of the mailbox behind the retry, keeping send order.
        A concurrent agent reports every envelope; failures retry or dead-letter alone.
        """
        front: list[_Pending] = []
        backoff = 0.0
        retry = self.config.retry
        for item, out in zip(batch, result.outcomes, strict=True):
            if out.status == "ok":
                if not out.duplicate:
                    rec.handled += 1
                if item.future is not None and not item.future.done():
                    item.future.set_result(out.value)
                self.journal.finished(item.env)
                continue
            if out.status == "skipped":
                front.append(item)
                continue
            rec.failed += 1
            err = out.error or RaygentError("unknown handler failure")
            rec.last_error = str(err)
            if item.env.attempt < retry.max_attempts and getattr(err, "retryable", True):
                rec.retried += 1
                self._trace_event(tm.EV_RETRY, rec, item.env, is_error=False, error=str(err),
                                  **{tm.RETRY_NEXT_ATTEMPT: item.env.attempt + 1})
                front.append(_Pending(item.env.evolve(attempt=item.env.attempt + 1),
                                      item.future))
                backoff = max(backoff, retry.delay(item.env.attempt + 1, self._rand.random()))
            else:
                # The asker gets the handler's own error, not the dead-letter notice.
                if item.future is not None and not item.future.done():
                    item.future.set_result(err if isinstance(err, RaygentError) else
                                           HandlerError(rec.spec.name, item.env.kind,
                                                        type(err).__name__, str(err)))
                self._dead_letter(rec, item, f"failed {item.env.attempt} attempts", str(err))
        if backoff:
            rec.backoff_until = time.monotonic() + backoff
        self._requeue_front(rec, front)
        if result.has_snapshot:
            rec.snapshot = result.snapshot

    def _dead_letter(self, rec: _Agent, item: _Pending, reason: str, error: str | None) -> None:
        rec.dead += 1
        self._dlq.append(DeadLetter(envelope=item.env, reason=reason, error=error,
                                    at=time.time()))
        self._trace_event(tm.EV_DEAD_LETTER, rec, item.env, is_error=True,
                          error=f"{reason}: {error}" if error else reason)
        self.journal.finished(item.env)
        if item.future is not None and not item.future.done():
            item.future.set_result(AgentFailedError(rec.spec.name, reason)
                                   if rec.state == FAILED else
                                   HandlerError(rec.spec.name, item.env.kind, "DeadLetter",
                                                f"{reason}: {error}" if error else reason))
        self._event("dead_letter", rec.spec.name, reason, message_id=item.env.id)

    # -- dead letters --------------------------------------------------------------------

    def dead_letters(self, limit: int | None = None, *, payloads: bool = True
                     ) -> list[DeadLetter]:
        """The newest ``limit`` dead letters (all when None).

        With ``payloads=False`` each payload is replaced by its text (truncated), so a
        reader that cannot import the payload's class (the CLI) can still list them.
        """
        items = list(self._dlq)
        items = items if limit is None else items[-limit:]
        if payloads:
            return items
        return [dataclasses.replace(d, envelope=d.envelope.evolve(
            payload=tm.payload_text(d.envelope.payload, 200))) for d in items]

    async def replay(self, ids: list[str] | None = None) -> int:
        """Queue dead letters again (all, or those with the given ids) as first attempts.

        A letter whose recipient is gone, failed or full stays in the queue.
        """
        wanted = None if ids is None else set(ids)
        keep: list[DeadLetter] = []
        replayed = 0
        letters = list(self._dlq)
        self._dlq.clear()
        for letter in letters:
            if wanted is not None and letter.id not in wanted:
                keep.append(letter)
                continue
            env = letter.envelope.evolve(attempt=1, deadline=None)
            try:
                rec = self._target(env)
                await self._enqueue(rec, _Pending(env), None)
                replayed += 1
            except RaygentError as exc:
                keep.append(DeadLetter(envelope=letter.envelope, reason=letter.reason,
                                       error=f"replay refused: {exc}", at=letter.at))
        self._dlq.extend(keep)
        return replayed

    def purge_dead_letters(self) -> int:
        n = len(self._dlq)
        self._dlq.clear()
        return n

    # -- supervision ---------------------------------------------------------------------

    def _event(self, event: str, agent: str, detail: str, **data: str) -> None:
        ev = AgentEvent(event=event, agent=agent, detail=detail, at=time.time(), data=data)
        self._events.append(ev)
        if event in ("dead_letter",):
            return
        log.warning("agent %s %s: %s", agent, event, detail)
        for name in list(self._topics.get(EVENTS_TOPIC, ())):
            rec = self._agents.get(name)
            if rec is None or rec.state != RUNNING or name == agent:
                continue
            if "AgentEvent" not in rec.spec.accepted:
                continue
            if len(rec.mailbox) < rec.spec.mailbox.capacity:
                rec.mailbox.append(_Pending(Envelope(kind="AgentEvent", sender="supervisor",
                                                     recipient=name, topic=EVENTS_TOPIC,
                                                     payload=ev)))
                rec.wake.set()

    def events(self, since: float = 0.0) -> list[AgentEvent]:
        return [e for e in self._events if e.at >= since]

    async def _health_loop(self) -> None:
        while not self._closing:
            await asyncio.sleep(self.config.health_interval_s)
            await self._check_round()

    async def _check_round(self) -> None:
        running = [r for r in self._agents.values() if r.state == RUNNING]
        await asyncio.gather(*(self._check(r) for r in running), return_exceptions=True)

    async def check_health(self) -> None:
        """Run one round of health checks now, and wait for any restart it causes."""
        await self._check_round()
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def _check(self, rec: _Agent) -> None:
        ref = rec.ref
        try:
            await asyncio.wait_for(self.backend.health(ref), self.config.health_timeout_s)
            limit = rec.spec.restart.memory_limit_mb
            if limit is not None:
                rss = await self.backend.rss_mb(ref)
                if rss is not None and rss > limit:
                    raise RaygentError(f"memory {rss:.0f} MB over its limit of {limit:.0f} MB")
        except Exception as exc:
            if rec.state == RUNNING and rec.ref is ref:
                detail = str(exc) or type(exc).__name__
                if isinstance(exc, asyncio.TimeoutError):
                    detail = f"no answer within {self.config.health_timeout_s:g}s"
                # A restart may wait long for placement (a lost node, an autoscaler): run it
                # on its own so the other agents' checks go on meanwhile.
                task = asyncio.get_running_loop().create_task(
                    self._on_failure(rec, f"health check failed: {detail}"))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

    async def _on_failure(self, rec: _Agent, reason: str) -> None:
        if rec.state != RUNNING:
            return  # someone is already restarting or has stopped it
        rec.state = RESTARTING
        rec.last_error = reason
        self._event("crashed", rec.spec.name, reason)
        policy = rec.spec.restart
        if policy.mode == "temporary":
            await self._mark_failed(rec, f"temporary agent not restarted: {reason}")
            return
        now = time.monotonic()
        while rec.restart_times and now - rec.restart_times[0] > policy.within_s:
            rec.restart_times.popleft()
        if len(rec.restart_times) >= policy.max_restarts:
            await self._mark_failed(
                rec, f"restart intensity exceeded ({policy.max_restarts} restarts in "
                f"{policy.within_s:g}s); last failure: {reason}")
            return
        rec.restart_times.append(now)
        targets = self._restart_targets(rec)
        for other in targets:
            if other is not rec and other.state == RUNNING:
                other.state = RESTARTING
        for other in targets:
            if other is rec:
                await self._restart_one(rec, reason, graceful=False)
            else:
                await self._restart_one(other, f"{self.config.strategy}: {rec.spec.name} "
                                        "failed", graceful=True)

    def _restart_targets(self, rec: _Agent) -> list[_Agent]:
        live = [r for r in self._agents.values() if r.state in (RUNNING, RESTARTING)]
        live.sort(key=lambda r: r.order)
        if self.config.strategy == "one_for_all":
            return live
        if self.config.strategy == "rest_for_one":
            return [r for r in live if r.order >= rec.order]
        return [rec]

    async def _restart_one(self, rec: _Agent, reason: str, *, graceful: bool) -> None:
        if not self._traced:
            await self._restart_inner(rec, reason, graceful=graceful)
            return
        with self._tracer.start_as_current_span(
            tm.span_restart(rec.spec.name), attributes={
                tm.AGENT: rec.spec.name, tm.RESTART_REASON: reason,
                tm.RESTART_GRACEFUL: graceful}) as span:
            span.set_attribute(tm.RESTART_MAILBOX_DEPTH, len(rec.mailbox))
            await self._restart_inner(rec, reason, graceful=graceful)
            if rec.state == FAILED:
                tm.mark_error(span, None, rec.last_error or "restart failed")

    async def _restart_inner(self, rec: _Agent, reason: str, *, graceful: bool) -> None:
        rec.state = RESTARTING
        old = rec.ref
        if graceful:
            # A healthy sibling finishes its batch and hands over a final snapshot.
            deadline = time.monotonic() + self.config.health_timeout_s
            while rec.inflight and time.monotonic() < deadline:
                rec.idle.clear()
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(rec.idle.wait(), 0.05)
            with contextlib.suppress(Exception):
                snap = await asyncio.wait_for(self.backend.stop(old),
                                              self.config.health_timeout_s)
                if snap is not None:
                    rec.snapshot = snap
        with contextlib.suppress(Exception):
            await self.backend.kill(old, rec.spec.name)
        try:
            rec.ref, rec.info = await self.backend.create(rec.spec, rec.snapshot)
        except Exception as exc:
            await self._mark_failed(rec, f"restart failed: {type(exc).__name__}: {exc}")
            return
        rec.restarts += 1
        rec.state = RUNNING
        rec.wake.set()
        self._report(rec)
        self._event("restarted", rec.spec.name, reason, restarts=str(rec.restarts))

    async def _mark_failed(self, rec: _Agent, reason: str) -> None:
        rec.state = FAILED
        rec.last_error = reason
        with contextlib.suppress(Exception):
            await self.backend.kill(rec.ref, rec.spec.name)
        while rec.mailbox:
            self._dead_letter(rec, rec.mailbox.popleft(), "agent failed", reason)
        self._event("failed", rec.spec.name, reason)
        self._report(rec)

    async def restart(self, name: str) -> AgentStatus:
        """Restart an agent now (also one marked failed); its intensity window resets."""
        rec = self._get(name)
        rec.restart_times.clear()
        prior = rec.state
        rec.state = RESTARTING
        await self._restart_one(rec, "manual restart", graceful=prior == RUNNING)
        return self._status_of(rec)

    # -- status --------------------------------------------------------------------------

    def _status_of(self, rec: _Agent) -> AgentStatus:
        return AgentStatus(
            name=rec.spec.name, cls=rec.spec.class_name, state=rec.state,
            mailbox_depth=len(rec.mailbox), mailbox_capacity=rec.spec.mailbox.capacity,
            inflight=len(rec.inflight), handled=rec.handled, failed=rec.failed,
            retried=rec.retried, dead_lettered=rec.dead, restarts=rec.restarts,
            last_error=rec.last_error,
            topics=tuple(t for t, subs in self._topics.items() if rec.spec.name in subs),
            node_id=rec.info.get("node_id"), pid=rec.info.get("pid"),
            actor_id=rec.info.get("actor_id"),
        )

    def status(self) -> SystemStatus:
        return SystemStatus(
            namespace=self.config.namespace, supervisor=self.config.supervisor_name,
            strategy=self.config.strategy, started_at=self._started_at,
            agents=[self._status_of(r) for r in
                    sorted(self._agents.values(), key=lambda r: r.order)],
            dead_letters=len(self._dlq), routed=self._routed,
            topics={t: tuple(s) for t, s in self._topics.items()},
        )

    async def flush_traces(self) -> None:
        """Ask every agent to export its finished spans now."""
        await asyncio.gather(*(self.backend.flush(r.ref) for r in self._agents.values()
                               if r.state == RUNNING), return_exceptions=True)

    def agent_names(self) -> list[str]:
        return [n for n, r in self._agents.items() if r.state != STOPPED]

