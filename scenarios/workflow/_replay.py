"""Replaying an event's failed steps (``raygent workflow replay ID``), never a done one.

The history says which steps of the event failed. Each failed step's message is found in
the supervisor's dead-letter queue by its idempotency key (``wf:<flow>:<event>:<step>``)
and queued again. A failed step that is not there (still being retried, or its dead
letter purged) is sent afresh only when asked (``resend``): the fresh message carries a
new key, while the step's effect keeps its own, so a step whose effect did happen returns
the recorded result instead of acting twice. Steps recorded as done are never sent.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from actors import RaygentError
from scenarios.workflow._errors import WorkflowError
from scenarios.workflow._flow import KINDS, step_key
from scenarios.workflow._history import EventRecord, HistoryStore
from scenarios.workflow.messages import StepRequest

if TYPE_CHECKING:
    from actors import Runtime


@dataclass(frozen=True, kw_only=True)
class ReplayReport:
    """What a replay did.

    Attributes:
        replayed: Failed steps queued again from the dead-letter queue.
        resent: Failed steps sent afresh (``resend``), not found among dead letters.
        missing: Failed steps neither replayed nor resent (not in the queue).
        done: Steps left alone because they are done.
    """

    event_id: str
    flow: str
    replayed: tuple[str, ...] = ()
    resent: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()
    done: tuple[str, ...] = field(default_factory=tuple)

    @property
    def queued(self) -> int:
        return len(self.replayed) + len(self.resent)


class NoSuchEventError(WorkflowError):
    def __init__(self, event_id: str, where: str) -> None:
        super().__init__(f"no event {event_id!r} in the history at {where}: check the id "
                         "(`raygent workflow events`) and --flow/--db")
        self.event_id = event_id
        self.where = where

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (self.event_id, self.where))


def replay_event(runtime: Runtime, record: EventRecord, *, resend: bool = False
                 ) -> ReplayReport:
    """Queue the failed steps of one event again.

    Args:
        runtime: An attached runtime of the system running the flow.
        record: The event, as the history has it.
        resend: Send failed steps that have no dead letter afresh.
    """
    failed = [s for s in record.steps if s.status == "failed"]
    done = tuple(s.step for s in record.steps if s.status == "done")
    if not failed:
        return ReplayReport(event_id=record.event_id, flow=record.flow, done=done)
    wanted = {step_key(record.flow, record.event_id, s.step): s.step for s in failed}
    letters = runtime.dead_letters(None, payloads=False)
    ids: list[str] = []
    found: list[str] = []
    for letter in letters:
        step = wanted.get(letter.envelope.idempotency_key or "")
        if step is not None and step not in found:
            ids.append(letter.id)
            found.append(step)
    replayed = runtime.replay_dead_letters(ids) if ids else 0
    if replayed < len(ids):
        raise RaygentError(
            f"only {replayed} of {len(ids)} dead letters of event {record.event_id!r} were "
            "queued: their agents are gone, failed or full (see `raygent dlq list` and "
            "`raygent status`)")
    resent: list[str] = []
    missing = [s for s in failed if s.step not in found]
    if resend:
        for s in missing:
            runtime.send(
                f"{record.flow}.{KINDS[s.kind]}",
                StepRequest(flow=record.flow, event_id=record.event_id, step=s.step,
                            event=record.payload, received_at=record.received_at,
                            trace_id=record.trace_id, replay=s.attempts),
                idempotency_key=(f"{step_key(record.flow, record.event_id, s.step)}"
                                 f"#replay-{s.attempts}"))
            resent.append(s.step)
    return ReplayReport(event_id=record.event_id, flow=record.flow, replayed=tuple(found),
                        resent=tuple(resent), done=done,
                        missing=tuple(s.step for s in missing if s.step not in resent))


def wait_for_event(history: HistoryStore, flow: str, event_id: str, *, since: float,
                   timeout_s: float) -> EventRecord | None:
    """Poll until the event's record changed after ``since`` and settled (or time is up)."""
    deadline = time.monotonic() + timeout_s
    record = history.event(flow, event_id)
    while time.monotonic() < deadline:
        record = history.event(flow, event_id)
        if record is not None and record.status in ("done", "failed") and any(
                (s.finished_at or 0) >= since for s in record.steps):
            return record
        time.sleep(0.1)
    return record


__all__ = ["NoSuchEventError", "ReplayReport", "replay_event", "wait_for_event"]
