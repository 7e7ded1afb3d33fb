"""Supervision: health checks, restart policies and strategies, retiring agents.

Policies follow Erlang/OTP: ``permanent`` agents are restarted whatever ended them,
``transient`` ones only after a crash (a normal exit through ``Agent.exit`` retires them),
``temporary`` ones never. Restart intensity (``max_restarts`` within ``within_s``) turns a
crash loop into a ``failed`` agent whose mail is dead-lettered, not retried forever.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

from actors import _telemetry as tm
from actors._errors import AgentStoppedError, RaygentError
from actors._mailbox import (
    FAILED,
    RESTARTING,
    RUNNING,
    STOPPED,
    STOPPING,
    AgentRecord,
)
from actors._supervisor_base import CoreState


class SupervisionPart(CoreState):
    async def _health_loop(self) -> None:
        last_compact = time.monotonic()
        while not self._closing:
            await asyncio.sleep(self.config.health_interval_s)
            await self._check_round()
            self._sweep_parked()
            if time.monotonic() - last_compact > self.config.journal.compact_interval_s:
                last_compact = time.monotonic()
                self.journal.compact()

    async def _check_round(self) -> None:
        running = [r for r in self._agents.values() if r.state == RUNNING]
        await asyncio.gather(*(self._check(r) for r in running), return_exceptions=True)

    async def check_health(self) -> None:
        """Run one round of health checks now, and wait for any restart it causes."""
        await self._check_round()
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def _check(self, rec: AgentRecord) -> None:
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
                self._spawn_task(self._on_failure(rec, f"health check failed: {detail}"))

    async def _on_exit(self, rec: AgentRecord, reason: str) -> None:
        """A handler asked its agent to stop (``Agent.exit``): a normal exit."""
        if rec.state != RUNNING:
            return
        if rec.spec.restart.mode == "permanent":
            await self._on_failure(rec, f"exited ({reason}); permanent agents are always "
                                   "restarted")
            return
        await self._drain_and_stop(rec, self.config.health_timeout_s, f"exited: {reason}")

    async def _drain_and_stop(self, rec: AgentRecord, timeout_s: float, why: str) -> None:
        deadline = time.monotonic() + timeout_s
        while (rec.mailbox or rec.inflight) and rec.state == RUNNING:
            if time.monotonic() > deadline:
                break
            rec.idle.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(rec.idle.wait(), max(0.01, deadline - time.monotonic()))
        prior = rec.state
        rec.state = STOPPING
        if prior == RUNNING:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.backend.stop(rec.ref), timeout_s)
        await self.backend.kill(rec.ref, rec.name)
        self._retire(rec, why)
        self.journal.drop_agent(rec.name)
        await self.journal.flush()  # a stopped agent must not come back after a crash
        self._agents.pop(rec.name, None)
        for subs in self._topics.values():
            if rec.name in subs:
                subs.remove(rec.name)
        self._event("stopped", rec.name, why)

    def _retire(self, rec: AgentRecord, reason: str) -> None:
        """Mark stopped and end the dispatcher; queued mail goes to dead letters, and every
        ask still waiting (queued or in flight) gets :class:`AgentStoppedError`."""
        rec.state = STOPPED
        if rec.task is not None:
            rec.task.cancel()
        for item in rec.inflight:
            item.settle(AgentStoppedError(rec.name, reason))
        while rec.mailbox:
            item = rec.mailbox.popleft()
            item.settle(AgentStoppedError(rec.name, reason))
            self._dead_letter(rec, item, reason, None)

    async def _on_failure(self, rec: AgentRecord, reason: str) -> None:
        if rec.state != RUNNING:
            return  # someone is already restarting or has stopped it
        rec.state = RESTARTING
        rec.last_error = reason
        self._event("crashed", rec.name, reason)
        policy = rec.spec.restart
        if policy.mode == "temporary":
            await self._mark_failed(rec, f"temporary agent not restarted: {reason}")
            return
        if not self._may_restart(rec):
            await self._mark_failed(
                rec, f"restart intensity exceeded ({policy.max_restarts} restarts in "
                f"{policy.within_s:g}s); last failure: {reason}")
            return
        targets = self._restart_targets(rec)
        for other in targets:
            if other is not rec and other.state == RUNNING:
                other.state = RESTARTING
        for other in targets:
            if other is rec:
                await self._restart_one(rec, reason, graceful=False)
            else:
                await self._restart_one(other, f"{self.config.strategy}: {rec.name} "
                                        "failed", graceful=True)

    def _may_restart(self, rec: AgentRecord) -> bool:
        """Count one restart against the agent's intensity; False when it is used up."""
        policy = rec.spec.restart
        now = time.monotonic()
        while rec.restart_times and now - rec.restart_times[0] > policy.within_s:
            rec.restart_times.popleft()
        if len(rec.restart_times) >= policy.max_restarts:
            return False
        rec.restart_times.append(now)
        return True

    def _restart_targets(self, rec: AgentRecord) -> list[AgentRecord]:
        live = [r for r in self._agents.values() if r.state in (RUNNING, RESTARTING)]
        live.sort(key=lambda r: r.order)
        if self.config.strategy == "one_for_all":
            return live
        if self.config.strategy == "rest_for_one":
            return [r for r in live if r.order >= rec.order]
        return [rec]

    async def _restart_one(self, rec: AgentRecord, reason: str, *, graceful: bool) -> None:
        if not self._traced:
            await self._restart_inner(rec, reason, graceful=graceful)
            return
        with self._tracer.start_as_current_span(
            tm.span_restart(rec.name), attributes={
                tm.AGENT: rec.name, tm.RESTART_REASON: reason,
                tm.RESTART_GRACEFUL: graceful}) as span:
            span.set_attribute(tm.RESTART_MAILBOX_DEPTH, len(rec.mailbox))
            await self._restart_inner(rec, reason, graceful=graceful)
            if rec.state == FAILED:
                tm.mark_error(span, None, rec.last_error or "restart failed")

    async def _restart_inner(self, rec: AgentRecord, reason: str, *, graceful: bool) -> None:
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
            await self.backend.kill(old, rec.name)
        made = await self._create(rec)
        if made is None:
            return
        ref, info = made
        if rec.state in (STOPPING, STOPPED):
            # Stopped while the new incarnation was starting: it must not outlive the stop.
            await self.backend.kill(ref, rec.name)
            return
        rec.ref, rec.info = ref, info
        rec.restarts += 1
        self.journal.update_agent(rec.name, restarts=rec.restarts)
        self._persist()
        rec.state = RUNNING
        rec.wake.set()
        self._report(rec)
        self._event("restarted", rec.name, reason, restarts=str(rec.restarts))

    async def _create(self, rec: AgentRecord) -> tuple[Any, dict[str, Any]] | None:
        """A new incarnation from the last snapshot; None (and the agent failed) when even
        retries within the restart intensity cannot make one."""
        failures = 0
        while True:
            try:
                return await self.backend.create(rec.spec, rec.snapshot,
                                                 self._token(rec.name))
            except Exception as exc:
                # The new incarnation died too (killed while starting, a node lost): that
                # is one more failure, retried after a pause while the intensity allows.
                failures += 1
                rec.last_error = f"restart failed: {type(exc).__name__}: {exc}"
                # No placement within start_timeout_s (a pinned agent's node is gone) is
                # not a crash: waiting again would not help, so it fails at once.
                unplaceable = isinstance(exc, TimeoutError)
                if (unplaceable or self._closing or rec.state in (STOPPING, STOPPED)
                        or not self._may_restart(rec)):
                    await self._mark_failed(rec, rec.last_error)
                    return None
                self._event("restart_failed", rec.name, rec.last_error,
                            attempt=str(failures))
                await asyncio.sleep(self.config.retry.delay(failures + 1, self._rand.random()))

    async def _mark_failed(self, rec: AgentRecord, reason: str) -> None:
        rec.state = FAILED
        rec.last_error = reason
        with contextlib.suppress(Exception):
            await self.backend.kill(rec.ref, rec.name)
        while rec.mailbox:
            self._dead_letter(rec, rec.mailbox.popleft(), "agent failed", reason)
        self._event("failed", rec.name, reason)
        self._report(rec)
