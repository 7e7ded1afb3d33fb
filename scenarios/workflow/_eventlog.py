"""The event-log agent: writes a flow's ``event_log`` steps to a SQL database.

Any SQLAlchemy URL (``connections.event_log.url``; a SQLite file under
``$RAYGENT_HOME/workflow`` by default, with ``synchronous=FULL``: a logged event is on
disk). Each table is created on first use with the key ``(flow, event_id, step)``, and
rows are inserted with "on conflict do nothing": a retried step finds its row and adds
none, whatever happened to the effect record.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from typing import Any

from sqlalchemy import Column, Engine, Float, MetaData, String, Table, Text, func, select
from sqlalchemy.exc import SQLAlchemyError

from actors import MessageContext
from scenarios.workflow._errors import EventLogError
from scenarios.workflow._flow import Step
from scenarios.workflow._runner import StepAgent, StepOutcome
from scenarios.workflow._sql import create_tables, insert_ignore, make_engine
from scenarios.workflow._template import render
from scenarios.workflow.messages import StepRequest

DEFAULT_TABLE = "workflow_events"


def event_table(name: str, metadata: MetaData) -> Table:
    """The schema of an event-log table."""
    return Table(
        name, metadata,
        Column("flow", String(40), primary_key=True),
        Column("event_id", String(200), primary_key=True),
        Column("step", String(64), primary_key=True),
        Column("event_type", String(200)),
        Column("received_at", Float, nullable=False),
        Column("logged_at", Float, nullable=False),
        Column("fields", Text, nullable=False),
        Column("payload", Text, nullable=False),
    )


class EventLog:
    """Inserts keyed event rows (thread-safe; call from worker threads)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine: Engine = make_engine(url, synchronous="FULL")
        self._metadata = MetaData()
        self._tables: dict[str, Table] = {}
        self._lock = threading.Lock()

    def table(self, name: str) -> Table:
        with self._lock:
            table = self._tables.get(name)
            if table is None:
                table = event_table(name, self._metadata)
                create_tables(self.engine, table)
                self._tables[name] = table
            return table

    def insert(self, table: str, *, flow: str, event_id: str, step: str, event: Any,
               received_at: float, fields: dict[str, Any]) -> bool:
        """Insert the row of one event; return False when it was there already.

        Raises:
            EventLogError: If the database refuses (unreachable, schema mismatch...).
        """
        etype = event.get("type") if isinstance(event, dict) else None
        try:
            t = self.table(table)
            with self.engine.begin() as conn:
                return insert_ignore(conn, t, {
                    "flow": flow, "event_id": event_id, "step": step,
                    "event_type": etype if isinstance(etype, str) else None,
                    "received_at": received_at, "logged_at": time.time(),
                    "fields": json.dumps(fields, sort_keys=True, default=str),
                    "payload": json.dumps(event, sort_keys=True, default=str)})
        except SQLAlchemyError as exc:
            raise EventLogError(self.engine.url.render_as_string(hide_password=True),
                                f"{type(exc).__name__}: {exc.args[0] if exc.args else exc}"
                                ) from None

    def rows(self, table: str = DEFAULT_TABLE) -> list[dict[str, Any]]:
        """Every row of a table (for checks and the scenario's report)."""
        t = self.table(table)
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(select(t))]

    def count(self, table: str = DEFAULT_TABLE) -> int:
        t = self.table(table)
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(t)).scalar_one())

    def close(self) -> None:
        self.engine.dispose()


class EventLogAgent(StepAgent):
    """Runs ``event_log`` steps (database: the flow's ``connections.event_log``)."""

    role = "event_log"

    async def setup(self) -> None:
        self.log = await asyncio.to_thread(
            EventLog, self.flow.connections.event_log.resolved_url())

    async def teardown(self) -> None:
        self.log.close()

    async def run_step(self, step: Step, msg: StepRequest, ctx: MessageContext
                       ) -> StepOutcome:
        params = render(step.params, msg.event)
        table = str(params.get("table") or DEFAULT_TABLE)
        fields = params.get("fields") or {}

        def write() -> bool:
            return self.log.insert(table, flow=msg.flow, event_id=msg.event_id,
                                   step=step.id, event=msg.event,
                                   received_at=msg.received_at, fields=fields)

        inserted: bool = await self.effect(ctx, step, msg, lambda: asyncio.to_thread(write))
        return StepOutcome(result={"table": table, "inserted": inserted}, next=step.next,
                           detail=f"{'inserted into' if inserted else 'already in'} {table}")


__all__ = ["DEFAULT_TABLE", "EventLog", "EventLogAgent", "event_table"]
