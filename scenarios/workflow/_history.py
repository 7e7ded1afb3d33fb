"""Each event's path through its flow, in a SQL database (SQLAlchemy).

Four tables: ``wf_events`` (one row per event: status, times, trace id, the event's
JSON), ``wf_steps`` (one row per step of an event: status, attempts, times, outcome or
error), ``wf_notes`` (things worth knowing, such as a ``possible_duplicate`` email) and
``wf_outbox`` (the Message-IDs the email agent sent). Every agent of a flow writes its own
rows; ``raygent workflow events|show`` read them.

An event is ``accepting`` (claimed by the webhook), ``received`` (durably accepted),
``running``, ``done`` (every scheduled step done) or ``failed`` (a step failed; replay
it). A step is ``pending`` (scheduled), ``done`` or ``failed``. SQLite runs with
``synchronous=NORMAL`` here: the history is a record, the journal is what guarantees the
effects; a process crash loses nothing, a power cut may lose the last rows.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import (
    Column,
    Engine,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    and_,
    case,
    delete,
    exists,
    func,
    select,
    update,
)

from scenarios.workflow._sql import create_tables, insert_ignore, make_engine

metadata = MetaData()
events_t = Table(
    "wf_events", metadata,
    Column("flow", String(40), primary_key=True),
    Column("event_id", String(200), primary_key=True),
    Column("status", String(16), nullable=False),
    Column("received_at", Float, nullable=False),
    Column("finished_at", Float),
    Column("trace_id", String(32)),
    Column("payload", Text, nullable=False),
    Column("updated_at", Float, nullable=False),
    Index("wf_events_by_time", "received_at"),
)
steps_t = Table(
    "wf_steps", metadata,
    Column("flow", String(40), primary_key=True),
    Column("event_id", String(200), primary_key=True),
    Column("step", String(64), primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("started_at", Float),
    Column("finished_at", Float),
    Column("detail", Text),
    Column("result", Text),
    Column("error", Text),
    Column("trace_id", String(32)),
)
notes_t = Table(
    "wf_notes", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("flow", String(40), nullable=False),
    Column("event_id", String(200), nullable=False),
    Column("step", String(64), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("detail", Text, nullable=False),
    Column("at", Float, nullable=False),
    Index("wf_notes_by_event", "flow", "event_id"),
)
outbox_t = Table(
    "wf_outbox", metadata,
    Column("message_id", String(255), primary_key=True),
    Column("flow", String(40), nullable=False),
    Column("event_id", String(200), nullable=False),
    Column("step", String(64), nullable=False),
    Column("state", String(16), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("at", Float, nullable=False),
)


@dataclass(frozen=True, kw_only=True)
class StepRecord:
    step: str
    kind: str
    status: str
    attempts: int
    started_at: float | None
    finished_at: float | None
    detail: str | None
    result: Any
    error: str | None
    trace_id: str | None

    @property
    def duration_ms(self) -> float | None:
        if self.started_at is None or self.finished_at is None:
            return None
        return (self.finished_at - self.started_at) * 1000.0


@dataclass(frozen=True, kw_only=True)
class Note:
    step: str
    kind: str
    detail: str
    at: float


@dataclass(frozen=True, kw_only=True)
class EventRecord:
    flow: str
    event_id: str
    status: str
    received_at: float
    finished_at: float | None
    trace_id: str | None
    payload: Any
    steps: tuple[StepRecord, ...] = ()
    notes: tuple[Note, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def step(self, name: str) -> StepRecord | None:
        return next((s for s in self.steps if s.step == name), None)


def _dump(value: Any) -> str | None:
    return None if value is None else json.dumps(value, sort_keys=True, default=str)


def _load(text: str | None) -> Any:
    return None if text is None else json.loads(text)


class HistoryStore:
    """Reads and writes the history tables (created on first use)."""

    def __init__(self, url: str, *, writer: bool = True) -> None:
        self.url = url
        self.engine: Engine = make_engine(url, synchronous="NORMAL", immediate=writer)
        create_tables(self.engine, events_t, steps_t, notes_t, outbox_t)

    def close(self) -> None:
        self.engine.dispose()

    # -- the webhook -------------------------------------------------------------------
    # Each write is a function of an open connection (``_claim``...) wrapped in its own
    # transaction here; ``HistoryWriter`` runs many of them in one transaction instead.

    def claim(self, flow: str, event_id: str, payload: Any, *, trace_id: str | None,
              now: float | None = None) -> EventRecord | None:
        """Claim an event id; return None when it is new, else its existing record."""
        with self.engine.begin() as conn:
            return self._claim(conn, flow, event_id, payload, trace_id,
                               time.time() if now is None else now)

    def _claim(self, conn: Any, flow: str, event_id: str, payload: Any,
               trace_id: str | None, at: float) -> EventRecord | None:
        if insert_ignore(conn, events_t, {
                "flow": flow, "event_id": event_id, "status": "accepting",
                "received_at": at, "trace_id": trace_id, "payload": _dump(payload),
                "updated_at": at}):
            return None
        return self._event(conn, flow, event_id)

    def mark_received(self, flow: str, event_id: str) -> None:
        """The event is durably accepted (the supervisor journaled its first step)."""
        with self.engine.begin() as conn:
            self._mark_received(conn, flow, event_id)

    @staticmethod
    def _mark_received(conn: Any, flow: str, event_id: str) -> None:
        conn.execute(update(events_t).where(
            events_t.c.flow == flow, events_t.c.event_id == event_id,
            events_t.c.status == "accepting").values(status="received",
                                                     updated_at=time.time()))

    @staticmethod
    def _release(conn: Any, flow: str, event_id: str) -> None:
        """Drop a claim whose event was refused for good (never accepted)."""
        conn.execute(delete(events_t).where(
            events_t.c.flow == flow, events_t.c.event_id == event_id,
            events_t.c.status == "accepting"))

    # -- the steps ---------------------------------------------------------------------

    def record_step(self, flow: str, event_id: str, step: str, kind: str, *, ok: bool,
                    started_at: float, detail: str | None = None, result: Any = None,
                    error: str | None = None, trace_id: str | None = None,
                    then: Sequence[tuple[str, str]] = ()) -> bool:
        """Record a step's outcome and schedule the steps after it, in one transaction.

        Args:
            then: ``(step, kind)`` of the steps this one sends on to (marked pending).

        Returns:
            False when the step was already recorded done (a redelivered message): the
            record is left as it was.
        """
        with self.engine.begin() as conn:
            return self._record_step(conn, flow, event_id, step, kind, ok=ok,
                                     started_at=started_at, detail=detail, result=result,
                                     error=error, trace_id=trace_id, then=then)

    def _record_step(self, conn: Any, flow: str, event_id: str, step: str, kind: str, *,
                     ok: bool, started_at: float, detail: str | None, result: Any,
                     error: str | None, trace_id: str | None,
                     then: Sequence[tuple[str, str]]) -> bool:
        now = time.time()
        key = and_(steps_t.c.flow == flow, steps_t.c.event_id == event_id,
                   steps_t.c.step == step)
        row = conn.execute(select(steps_t.c.status).where(key)).first()
        if row is not None and row.status == "done":
            return False
        values = {"kind": kind, "status": "done" if ok else "failed",
                  "started_at": started_at, "finished_at": now, "detail": detail,
                  "result": _dump(result), "error": error, "trace_id": trace_id}
        if row is None:
            conn.execute(steps_t.insert().values(flow=flow, event_id=event_id, step=step,
                                                 attempts=1, **values))
        else:
            conn.execute(update(steps_t).where(key).values(
                attempts=steps_t.c.attempts + 1, **values))
        for nxt, nkind in then if ok else ():
            insert_ignore(conn, steps_t, {"flow": flow, "event_id": event_id, "step": nxt,
                                          "kind": nkind, "status": "pending", "attempts": 0})
        self._settle(conn, flow, event_id, now)
        return True

    @staticmethod
    def _settle(conn: Any, flow: str, event_id: str, now: float) -> None:
        """Derive the event's status from its steps' (one statement, in the caller's
        transaction): failed if one failed, running while one is pending, else done."""
        mine = and_(steps_t.c.flow == flow, steps_t.c.event_id == event_id)
        failed = exists().where(mine, steps_t.c.status == "failed")
        pending = exists().where(mine, steps_t.c.status == "pending")
        status = case((failed, "failed"), (pending, "running"), else_="done")
        finished = case((failed, None), (pending, None), else_=now)
        conn.execute(update(events_t).where(
            events_t.c.flow == flow, events_t.c.event_id == event_id).values(
            status=status, finished_at=finished, updated_at=now))

    def add_note(self, flow: str, event_id: str, step: str, kind: str, detail: str) -> None:
        with self.engine.begin() as conn:
            self._add_note(conn, flow, event_id, step, kind, detail)

    @staticmethod
    def _add_note(conn: Any, flow: str, event_id: str, step: str, kind: str,
                  detail: str) -> None:
        conn.execute(notes_t.insert().values(flow=flow, event_id=event_id, step=step,
                                             kind=kind, detail=detail, at=time.time()))

    # -- the email outbox --------------------------------------------------------------

    def outbox_begin(self, message_id: str, flow: str, event_id: str, step: str
                     ) -> str | None:
        """Note that a message is about to be sent; return its earlier state, if any.

        ``"sent"``: it went out before (do not send again). ``"sending"``: an earlier try
        may or may not have reached the server (the window SMTP leaves). None: new, or
        every earlier try was refused for certain.
        """
        with self.engine.begin() as conn:
            return self._outbox_begin(conn, message_id, flow, event_id, step)

    @staticmethod
    def _outbox_begin(conn: Any, message_id: str, flow: str, event_id: str, step: str
                      ) -> str | None:
        if insert_ignore(conn, outbox_t, {
                "message_id": message_id, "flow": flow, "event_id": event_id,
                "step": step, "state": "sending", "attempts": 1, "at": time.time()}):
            return None
        state = conn.execute(select(outbox_t.c.state).where(
            outbox_t.c.message_id == message_id)).scalar_one()
        if state != "sent":
            conn.execute(update(outbox_t).where(outbox_t.c.message_id == message_id)
                         .values(state="sending", attempts=outbox_t.c.attempts + 1,
                                 at=time.time()))
        return None if state == "refused" else str(state)

    def outbox_sent(self, message_id: str) -> None:
        with self.engine.begin() as conn:
            self._outbox_sent(conn, message_id)

    @staticmethod
    def _outbox_sent(conn: Any, message_id: str) -> None:
        conn.execute(update(outbox_t).where(outbox_t.c.message_id == message_id)
                     .values(state="sent", at=time.time()))

    def outbox_refused(self, message_id: str) -> None:
        """The server refused ``DATA`` for certain: nothing went out on that try."""
        with self.engine.begin() as conn:
            self._outbox_refused(conn, message_id)

    @staticmethod
    def _outbox_refused(conn: Any, message_id: str) -> None:
        conn.execute(update(outbox_t).where(outbox_t.c.message_id == message_id,
                                            outbox_t.c.state == "sending")
                     .values(state="refused", at=time.time()))

    def outbox(self, flow: str | None = None) -> list[dict[str, Any]]:
        stmt = select(outbox_t)
        if flow is not None:
            stmt = stmt.where(outbox_t.c.flow == flow)
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(stmt)]

    # -- reading -----------------------------------------------------------------------

    def event(self, flow: str, event_id: str) -> EventRecord | None:
        """One event with its steps and notes, or None."""
        with self.engine.connect() as conn:
            return self._event(conn, flow, event_id)

    def _event(self, conn: Any, flow: str, event_id: str) -> EventRecord | None:
        row = conn.execute(select(events_t).where(
            events_t.c.flow == flow, events_t.c.event_id == event_id)).first()
        if row is None:
            return None
        steps = conn.execute(select(steps_t).where(
            steps_t.c.flow == flow, steps_t.c.event_id == event_id).order_by(
            steps_t.c.started_at.is_(None), steps_t.c.started_at)).all()
        notes = conn.execute(select(notes_t).where(
            notes_t.c.flow == flow, notes_t.c.event_id == event_id).order_by(
            notes_t.c.id)).all()
        return self._record(row, steps, notes)

    def find(self, event_id: str) -> list[EventRecord]:
        """The event with this id in every flow (ids are unique per flow only)."""
        with self.engine.connect() as conn:
            flows = [r.flow for r in conn.execute(select(events_t.c.flow).where(
                events_t.c.event_id == event_id))]
        return [r for f in flows if (r := self.event(f, event_id)) is not None]

    def events(self, *, flow: str | None = None, status: str | None = None,
               limit: int = 50) -> list[EventRecord]:
        """The newest events (with their steps), newest first."""
        stmt = select(events_t).order_by(events_t.c.received_at.desc()).limit(limit)
        if flow is not None:
            stmt = stmt.where(events_t.c.flow == flow)
        if status is not None:
            stmt = stmt.where(events_t.c.status == status)
        with self.engine.connect() as conn:
            rows = conn.execute(stmt).all()
            out = []
            for row in rows:
                steps = conn.execute(select(steps_t).where(
                    steps_t.c.flow == row.flow, steps_t.c.event_id == row.event_id
                ).order_by(steps_t.c.started_at.is_(None), steps_t.c.started_at)).all()
                out.append(self._record(row, steps, ()))
        return out

    def counts(self, flow: str) -> dict[str, int]:
        """Events per status for one flow."""
        with self.engine.connect() as conn:
            return {str(s): int(n) for s, n in conn.execute(
                select(events_t.c.status, func.count()).where(events_t.c.flow == flow)
                .group_by(events_t.c.status)).all()}

    @staticmethod
    def _record(row: Any, steps: Sequence[Any], notes: Sequence[Any]) -> EventRecord:
        return EventRecord(
            flow=row.flow, event_id=row.event_id, status=row.status,
            received_at=row.received_at, finished_at=row.finished_at, trace_id=row.trace_id,
            payload=_load(row.payload),
            steps=tuple(StepRecord(
                step=s.step, kind=s.kind, status=s.status, attempts=s.attempts,
                started_at=s.started_at, finished_at=s.finished_at, detail=s.detail,
                result=_load(s.result), error=s.error, trace_id=s.trace_id) for s in steps),
            notes=tuple(Note(step=n.step, kind=n.kind, detail=n.detail, at=n.at)
                        for n in notes))


__all__ = ["EventRecord", "HistoryStore", "Note", "StepRecord", "metadata"]
