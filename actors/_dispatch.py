"""Delivery: one dispatcher task per agent drains its mailbox in batches.

Only one batch per agent is in flight, which keeps per-recipient order; up to
``RuntimeConfig.batch_size`` envelopes go in one backend call. Outcomes are journaled once
per batch (one commit), then the waiting asks are answered. A dispatcher that dies is
logged, counted (``dispatcher_restarts``), announced and started again.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from opentelemetry.trace import SpanKind

from actors import _metrics as mx
from actors import _telemetry as tm
from actors._envelope import Envelope
from actors._errors import AgentUnavailableError, HandlerError, RaygentError
from actors._faults import crash_point
from actors._mailbox import FAILED, RUNNING, STOPPED, AgentRecord, Pending
from actors._secrets import redact
from actors._spec import BatchResult
from actors._supervisor_base import CoreState, log


class DispatchPart(CoreState):
    def _start_dispatcher(self, rec: AgentRecord) -> None:
        task = asyncio.get_running_loop().create_task(self._dispatch(rec))
        rec.task = task

        def done(t: asyncio.Task[None]) -> None:
            if t.cancelled() or rec.task is not t:
                return
            exc = t.exception()
            rec.dispatcher_restarts += 1
            log.error("dispatcher of %s died; starting it again", rec.name, exc_info=exc)
            self._event("dispatcher_restarted", rec.name, f"{type(exc).__name__}: {exc}",
                        restarts=str(rec.dispatcher_restarts))
            if rec.state != STOPPED and not self._closing:
                self._start_dispatcher(rec)

        task.add_done_callback(done)

    def _trace_event(self, event: str, rec: AgentRecord, env: Envelope, *,
                     error: str | None, is_error: bool, **attrs: Any) -> None:
        """A short span for a rare event of one message (``tm.EV_RETRY`` and kin)."""
        if not self._traced:
            return
        span = self._tracer.start_span(
            tm.span_settle(event, rec.name), context=tm.extract(env.trace),
            kind=SpanKind.INTERNAL, attributes={
                tm.MSG_SYSTEM: tm.SYSTEM, tm.MSG_DESTINATION: rec.name,
                tm.MSG_ID: env.id, tm.KIND: env.kind, tm.ATTEMPT: env.attempt, **attrs})
        capture = self.config.tracing.record_payloads
        span.add_event(event, {"error": redact(error or "") if capture else ""})
        if is_error:
            tm.mark_error(span, None, error or event, capture=capture)
        span.end()

    def _take_batch(self, rec: AgentRecord) -> list[Pending]:
        now = asyncio.get_running_loop().time()
        # After a crash, the envelopes that were in flight go one at a time, so a message
        # that kills its agent is found and only its attempts count up.
        limit = 1 if rec.isolate > 0 else self.config.batch_size
        batch: list[Pending] = []
        forget: list[Envelope] = []
        while rec.mailbox and len(batch) < limit:
            item = rec.mailbox.popleft()
            if item.deadline is not None and now > item.deadline:
                self._dead_letter(rec, item, "deadline expired", None)
                continue
            if item.abandoned():
                # Every asker gave up (its AskTimeoutError is the record); a retried ask
                # may run it again, so it is forgotten rather than finished.
                self._keys.pop(item.key, None)
                forget.append(item.env)
                continue
            batch.append(item)
        if forget:
            self.journal.forget(forget)
            self._persist()
        return batch

    def _outgoing(self, item: Pending, now: float) -> Envelope:
        if item.deadline is None:
            return item.env
        return item.env.evolve(ttl_s=max(0.0, item.deadline - now))

    async def _dispatch(self, rec: AgentRecord) -> None:
        loop = asyncio.get_running_loop()
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
            batch = self._take_batch(rec)
            if rec.spec.mailbox.policy == "block":
                async with rec.room:
                    rec.room.notify_all()
            if not batch:
                continue
            rec.inflight = batch
            ref = rec.ref
            started = time.perf_counter()
            now = loop.time()
            crash_point(self.config.fault_file, "delivering")
            try:
                result = await self.backend.deliver(ref, [self._outgoing(p, now)
                                                          for p in batch])
            except Exception as exc:
                rec.inflight = []
                await self._delivery_failed(rec, ref, batch, exc)
                continue
            crash_point(self.config.fault_file, "delivered")
            rec.inflight = []
            self.metrics.observe(mx.BATCH_LATENCY, time.perf_counter() - started, rec.name)
            for kind, seconds in result.handler_times:
                self.metrics.observe(mx.HANDLER_LATENCY, seconds, rec.name, kind)
            if rec.isolate > 0:
                rec.isolate -= len(batch)
            answered = self._apply(rec, batch, result)
            self._report(rec)
            await self._settle(answered)
            if result.fault is not None:
                self._spawn_task(self._on_failure(rec, result.fault))
            elif result.exit is not None:
                self._spawn_task(self._on_exit(rec, result.exit))
            if not rec.mailbox:
                rec.idle.set()

    async def _delivery_failed(self, rec: AgentRecord, ref: Any, batch: list[Pending],
                               exc: Exception) -> None:
        again: list[Pending] = []
        for p in batch:
            attempt = p.env.attempt + 1
            if attempt > self.config.retry.max_attempts:
                rec.failed += 1
                self._dead_letter(rec, p, f"agent crashed on it {p.env.attempt} times",
                                  str(exc))
            else:
                self._trace_event(tm.EV_REDELIVER, rec, p.env, is_error=False,
                                  error=f"{type(exc).__name__}: {exc}")
                p.env = p.env.evolve(attempt=attempt)
                again.append(p)
        self._requeue_front(rec, again)
        rec.isolate = len(again)
        if rec.state in (FAILED, STOPPED):
            # Failed (or stopped) while this batch was out: its mailbox was already emptied
            # into dead letters, and these must follow, not wait forever.
            while rec.mailbox:
                self._dead_letter(rec, rec.mailbox.popleft(), "agent failed", rec.last_error)
            return
        if rec.state == RUNNING and rec.ref is ref:
            reason = str(exc) if isinstance(exc, AgentUnavailableError) else (
                f"delivery failed: {type(exc).__name__}: {exc}")
            await self._on_failure(rec, reason)

    def _report(self, rec: AgentRecord) -> None:
        """Push counter deltas and gauges for one agent (once per batch)."""
        now = (rec.routed, rec.handled, rec.failed, rec.retried, rec.restarts, rec.dead)
        for metric, new, old in zip(
                (mx.ROUTED, mx.HANDLED, mx.FAILED, mx.RETRIES, mx.RESTARTS, mx.DEAD_LETTERS),
                now, rec.reported, strict=True):
            if new != old:
                self.metrics.count(metric, new - old, rec.name)
        rec.reported = now
        self.metrics.gauge(mx.MAILBOX_DEPTH, len(rec.mailbox), rec.name)

    def _requeue_front(self, rec: AgentRecord, items: list[Pending]) -> None:
        rec.mailbox.extendleft(reversed(items))
        if items:
            rec.wake.set()

    def _apply(self, rec: AgentRecord, batch: list[Pending], result: BatchResult
               ) -> list[tuple[Pending, Any]]:
        """Settle each envelope of a delivered batch by its outcome.

        A sequential agent stops at its first failure, so what follows it is ``skipped``
        and goes back to the front of the mailbox behind the retry, keeping send order.
        A concurrent agent reports every envelope; failures retry or dead-letter alone.
        The batch's finished envelopes (and the agent's snapshot) are journaled in one
        commit before any asker hears back.
        """
        front: list[Pending] = []
        done: list[tuple[Envelope, bytes | None]] = []
        answered: list[tuple[Pending, Any]] = []
        backoff = 0.0
        retry = self.config.retry
        for item, out in zip(batch, result.outcomes, strict=True):
            if out.status == "ok":
                if not out.duplicate:
                    rec.handled += 1
                done.append((item.env, out.value if item.env.expects_reply else None))
                answered.append((item, out.value))
                continue
            if out.status == "skipped":
                front.append(item)
                continue
            if out.status == "parked":  # its handler waits for a person: actors/_approvals.py
                self._park(rec, item, out.value)
                continue
            rec.failed += 1
            err = out.error or RaygentError("unknown handler failure")
            rec.last_error = str(err)
            if item.env.attempt < retry.max_attempts and getattr(err, "retryable", True):
                rec.retried += 1
                self._trace_event(tm.EV_RETRY, rec, item.env, is_error=False, error=str(err),
                                  **{tm.RETRY_NEXT_ATTEMPT: item.env.attempt + 1})
                item.env = item.env.evolve(attempt=item.env.attempt + 1)
                front.append(item)
                backoff = max(backoff, retry.delay(item.env.attempt, self._rand.random()))
            else:
                # The asker gets the handler's own error, not the dead-letter notice.
                item.settle(err if isinstance(err, RaygentError) else HandlerError(
                    rec.name, item.env.kind, type(err).__name__, str(err)))
                self._dead_letter(rec, item, f"failed {item.env.attempt} attempts", str(err))
        snapshot = None
        if result.snapshot is not None:
            rec.snapshot = result.snapshot
            snapshot = (rec.name, result.snapshot)
        if done or snapshot is not None:
            self.journal.finish(done, snapshot)
        if backoff:
            rec.backoff_until = time.monotonic() + backoff
        self._requeue_front(rec, front)
        return answered

    async def _settle(self, answered: list[tuple[Pending, Any]]) -> None:
        """Answer the asks of a batch once its outcomes are on disk."""
        await self.journal.flush()
        crash_point(self.config.fault_file, "finished")
        for item, value in answered:
            self._keys.pop(item.key, None)
            item.settle(value)
