"""What every step agent shares: load the flow, run a step, record it, hand on the event.

A step agent (condition, email, event log, CRM) is a long-lived actor that handles
:class:`StepRequest` messages. For each one it runs the step (side effects go through
``ctx.effect`` under the key ``wf:<flow>:<event>:<step>``, so a redelivered or replayed
message never repeats one), records the outcome in the history together with the steps
it schedules, then sends the event on to the agents of those steps. Messages to the next
steps carry the same kind of key, so a redelivered input sends each of them once, and a
step reached along two paths runs once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any, ClassVar

from actors import Agent, MessageContext, handles
from scenarios.workflow._errors import WorkflowError
from scenarios.workflow._flow import Flow, Step, flow_from_config
from scenarios.workflow._history import HistoryStore
from scenarios.workflow._history_writer import HistoryWriter
from scenarios.workflow.messages import StepRequest

log = logging.getLogger("raygent.workflow")


@dataclass(frozen=True, kw_only=True)
class StepOutcome:
    """What a step did: a JSON-able result, a line for humans, and the steps after it."""

    result: Any = None
    detail: str = ""
    next: tuple[str, ...] = ()


class UnknownStepError(WorkflowError):
    """A message names a step this agent's flow does not have (a stale or foreign one)."""

    retryable = False


def trace_id_of(ctx: MessageContext) -> str | None:
    """The trace id (hex) in a message's W3C ``traceparent``, if it carries one."""
    parts = (ctx.trace or {}).get("traceparent", "").split("-")
    if len(parts) == 4 and parts[1].strip("0"):
        return parts[1]
    return None


class StepAgent(Agent):
    """Base of the condition and action agents.

    Config:
        flow: The flow (a mapping) or the path of its file (relative: a bundled flow).
        fault_file: Tests only: a file naming a crash point (see :meth:`crash_point`).

    Subclasses set ``role`` and implement :meth:`run_step` (and optionally
    :meth:`setup` / :meth:`teardown` for their connections).
    """

    role: ClassVar[str] = ""
    # Events are independent: many are in flight at once (the CRM's retries wait without
    # holding up other events), each settling on its own.
    concurrency = 64

    async def on_start(self) -> None:
        self.flow: Flow = flow_from_config(self.config.get("flow"))
        self.history = await asyncio.to_thread(
            HistoryStore, self.flow.connections.history.resolved_url())
        self.writer = HistoryWriter(self.history)
        self._fault_file = self.config.get("fault_file")
        await self.setup()

    async def on_stop(self) -> None:
        try:
            await self.teardown()
        finally:
            self.writer.close()
            self.history.close()

    async def health(self) -> bool:
        return True

    async def setup(self) -> None:
        """Open this agent's connections (called from ``on_start``)."""

    async def teardown(self) -> None:
        """Close them (called from ``on_stop``)."""

    async def run_step(self, step: Step, msg: StepRequest, ctx: MessageContext
                       ) -> StepOutcome:
        raise NotImplementedError

    def crash_point(self, point: str) -> None:
        """Tests only: end this process abruptly when ``fault_file`` names ``point``.

        It shows what a crash at the worst moment does (the email agent's
        ``email.after_data``: the server took the message, the record is not written).
        The file is removed first, so the restarted agent runs normally.
        """
        import os

        path = self._fault_file
        if not path:
            return
        try:
            with open(path, encoding="utf-8") as fh:
                wanted = fh.read().strip()
        except OSError:
            return
        if wanted == point:
            os.unlink(path)
            log.warning("fault injection: %s ends at %s", self.name, point)
            os._exit(17)

    @handles
    async def on_step(self, msg: StepRequest, ctx: MessageContext) -> None:
        step = self.flow.steps.get(msg.step)
        if msg.flow != self.flow.name or step is None or step.role != self.role:
            raise UnknownStepError(
                f"{self.name}: flow {self.flow.name!r} has no {self.role} step "
                f"{msg.step!r} (message for flow {msg.flow!r}): deploy the flow file the "
                "event was accepted under, then replay it")
        started = time.time()
        trace_id = msg.trace_id or trace_id_of(ctx)
        try:
            outcome = await self.run_step(step, msg, ctx)
        except Exception as exc:
            await self.writer.record_step(
                msg.flow, msg.event_id, step.id, step.kind, ok=False, started_at=started,
                error=f"{type(exc).__name__}: {exc}", trace_id=trace_id)
            raise
        after = [(n, self.flow.steps[n].kind) for n in outcome.next]
        await self.writer.record_step(
            msg.flow, msg.event_id, step.id, step.kind, ok=True, started_at=started,
            detail=outcome.detail, result=outcome.result, trace_id=trace_id, then=after)
        for nxt in outcome.next:
            await self.send_async(
                self.flow.agent(self.flow.steps[nxt].role),
                StepRequest(flow=msg.flow, event_id=msg.event_id, step=nxt, event=msg.event,
                            received_at=msg.received_at, trace_id=trace_id),
                idempotency_key=self.flow.key(msg.event_id, nxt))

    async def effect(self, ctx: MessageContext, step: Step, msg: StepRequest,
                     fn: Any) -> Any:
        """Run ``fn`` once per (event, step), whatever message carries it."""
        return await ctx.effect(step.id, fn, key=self.flow.key(msg.event_id, step.id))


__all__ = ["StepAgent", "StepOutcome", "UnknownStepError", "trace_id_of"]
