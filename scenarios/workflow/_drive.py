"""The driver of ``raygent run workflow``: local peers, sample events, a checked outcome.

The spec's agents are already running (the launcher spawned them with the bundled flow).
The driver starts the peers the flow's ``connections`` point at (an SMTP sink and the
local CRM, on 127.0.0.1), posts ``count`` signed sample events plus one duplicate and one
forged request, waits for every event to finish, prints each one's path, and checks that
each side effect happened exactly once: one email per true event (by Message-ID), one
event-log row per false event, one applied CRM update per event.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from rich.table import Table

from actors import ConfigError
from scenarios._result import ScenarioResult
from scenarios.workflow._client import encode, post
from scenarios.workflow._crm_server import CrmServer
from scenarios.workflow._deploy import webhook_address
from scenarios.workflow._eventlog import DEFAULT_TABLE, EventLog
from scenarios.workflow._flow import BUNDLED_DIR, Flow, Step, flow_from_config
from scenarios.workflow._history import EventRecord, HistoryStore
from scenarios.workflow._smtp_sink import SmtpSink
from scenarios.workflow._template import Text

if TYPE_CHECKING:
    from rich.console import Console

    from actors import Runtime
    from scenarios._spec import ScenarioSpec

SAMPLES = BUNDLED_DIR / "sample_events.jsonl"
WAIT_S = 120.0


def load_samples(path: str | Path = SAMPLES) -> list[dict[str, Any]]:
    """Sample event bodies (JSON lines, without ids)."""
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def _peers(flow: Flow) -> tuple[SmtpSink, CrmServer]:
    smtp = flow.connections.smtp
    crm = urlsplit(flow.connections.crm.base_url)
    sink = SmtpSink(host=smtp.host, port=smtp.port)
    server = CrmServer(host=crm.hostname or "127.0.0.1", port=crm.port or 80)
    try:
        sink.start()
    except (OSError, RuntimeError) as exc:
        raise ConfigError(f"cannot start the local SMTP sink on {smtp.server} ({exc}): free "
                          "the port", field="connections.smtp.port") from None
    try:
        server.start()
    except OSError as exc:
        sink.stop()
        raise ConfigError(f"cannot start the local CRM on {crm.netloc} ({exc}): free the "
                          "port", field="connections.crm.base_url") from None
    return sink, server


def wait_settled(history: HistoryStore, flow: str, ids: list[str], *,
                 timeout_s: float = WAIT_S) -> dict[str, EventRecord]:
    """Poll the history until every event is done or failed (or the time is up)."""
    deadline = time.monotonic() + timeout_s
    found: dict[str, EventRecord] = {}
    while True:
        for eid in ids:
            if eid in found and found[eid].status in ("done", "failed"):
                continue
            record = history.event(flow, eid)
            if record is not None:
                found[eid] = record
        if all(eid in found and found[eid].status in ("done", "failed") for eid in ids) \
                or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


def _row(record: EventRecord | None, eid: str) -> list[str]:
    short = "…" + eid[-6:]
    if record is None:
        return [short, "missing", "", ""]
    marks = {"done": "✓", "failed": "✗", "pending": "…"}
    path = " → ".join(f"{s.step}{marks.get(s.status, '?')}" for s in record.steps)
    took = ("" if record.finished_at is None else
            f"{(record.finished_at - record.received_at) * 1000:.0f} ms")
    return [short, record.status, path, took]


def drive(runtime: Runtime, spec: ScenarioSpec, *, console: Console,
          count: int) -> ScenarioResult:
    """Post ``count`` signed sample events through the bundled flow and check the effects.

    Args:
        runtime: A started runtime with the spec's agents.
        spec: The scenario spec (``input.flow`` names the flow file).
        console: Where progress and the table go.
        count: Events to post.
    """
    flow = flow_from_config(spec.input.get("flow", "workflow.flow.yaml"))
    samples = load_samples(spec.resolve_path(str(spec.input["events"]))
                           if "events" in spec.input else SAMPLES)
    sink, crm = _peers(flow)
    history = HistoryStore(flow.connections.history.resolved_url(), writer=False)
    try:
        url = webhook_address(runtime, flow)["url"]
        secret = flow.webhook.secrets[0].resolve()
        console.print(f"webhook {url}; SMTP sink {sink.host}:{sink.port}; CRM {crm.url}")
        tag = runtime.run_id
        events = [{**samples[i % len(samples)], "id": f"{tag}-{i + 1:04d}"}
                  for i in range(count)]
        answers = [post(url, encode(e), [secret]).status_code for e in events]
        again = post(url, encode(events[0]), [secret]).status_code
        forged = post(url, encode({**events[0], "id": f"{tag}-forged"}),
                      ["not-the-secret"]).status_code
        console.print(f"posted {count} signed events: {answers.count(202)} x 202; the first "
                      f"again: {again}; a forged one: {forged}")
        ids = [e["id"] for e in events]
        records = wait_settled(history, flow.name, ids)
        console.print(f"event ids: {tag}-NNNN (`raygent workflow show ID` for one's steps)",
                      markup=False)
        table = Table("event", "status", "path", "took")
        for eid in ids:
            table.add_row(*_row(records.get(eid), eid))
        console.print(table)
        return _check(flow, events, records, answers, again, forged, sink, crm)
    finally:
        history.close()
        sink.stop()
        crm.stop()


def expected_steps(flow: Flow, event: dict[str, Any]) -> list[str]:
    """The steps an event should run, found by walking the flow (conditions evaluated)."""
    seen: list[str] = []
    todo = [flow.start]
    while todo:
        sid = todo.pop(0)
        if sid in seen:
            continue
        seen.append(sid)
        step = flow.steps[sid]
        if step.condition is not None:
            todo.extend(step.then if step.condition(event) else step.otherwise)
        else:
            todo.extend(step.next)
    return seen


def _table(step: Step) -> str:
    table = step.params.get("table")
    return table.source if isinstance(table, Text) else DEFAULT_TABLE


def _counts(flow: Flow, ids: set[str], sink: SmtpSink, crm: CrmServer
            ) -> tuple[dict[tuple[str, str], int], dict[str, int]]:
    """Effects seen per (event, step): emails by Message-ID, rows, applied CRM keys."""
    from scenarios.workflow._email import message_id

    seen: dict[tuple[str, str], int] = {}
    by_id = sink.by_message_id()
    domain = flow.connections.smtp.message_id_domain or (
        flow.connections.smtp.sender.rpartition("@")[2].strip(" >") or "localhost")
    applied = crm.stats()["applied_by_key"]
    log = EventLog(flow.connections.event_log.resolved_url())
    try:
        tables = {_table(s) for s in flow.steps.values() if s.kind == "event_log"}
        rows = [r for t in tables for r in log.rows(t)]
    finally:
        log.close()
    for eid in ids:
        for step in flow.steps.values():
            if step.kind == "email":
                seen[(eid, step.id)] = by_id.get(message_id(flow.name, eid, step.id, domain), 0)
            elif step.kind == "crm":
                seen[(eid, step.id)] = applied.get(flow.key(eid, step.id), 0)
    for row in rows:
        if row["flow"] == flow.name and row["event_id"] in ids:
            key = (row["event_id"], row["step"])
            seen[key] = seen.get(key, 0) + 1
    kinds = {"email": len(by_id), "event_log": len(rows), "crm": sum(applied.values())}
    return seen, kinds


def _check(flow: Flow, events: list[dict[str, Any]], records: dict[str, EventRecord],
           answers: list[int], again: int, forged: int, sink: SmtpSink,
           crm: CrmServer) -> ScenarioResult:
    ids = {e["id"] for e in events}
    seen, kinds = _counts(flow, ids, sink, crm)
    problems: list[str] = []
    if answers.count(202) != len(events):
        problems.append(f"{len(events) - answers.count(202)} posts not answered 202")
    if again != 200 or forged != 401:
        problems.append(f"duplicate answered {again} (want 200), forged {forged} (want 401)")
    not_done = [eid for eid, r in records.items() if r.status != "done"]
    not_done += [eid for eid in ids if eid not in records]
    if not_done:
        problems.append(f"{len(not_done)} events not done (first: {not_done[0]})")
    wrong: list[str] = []
    for event in events:
        should = set(expected_steps(flow, event))
        for step in flow.steps.values():
            if step.kind == "if":
                continue
            want = 1 if step.id in should else 0
            got = seen.get((event["id"], step.id), 0)
            if got != want:
                wrong.append(f"{event['id']}/{step.id}: {got} effects, want {want}")
    if wrong:
        problems.append(f"{len(wrong)} effects not exactly once (first: {wrong[0]})")
    details = {"events": len(events), "emails": kinds["email"], "logged": kinds["event_log"],
               "crm_applied": kinds["crm"], "duplicate_status": again,
               "forged_status": forged}
    if problems:
        return ScenarioResult(ok=False, summary="; ".join(problems), details=details)
    return ScenarioResult(
        ok=True, details=details,
        summary=(f"{len(events)} events: {kinds['email']} emails, {kinds['event_log']} "
                 f"event-log rows, {kinds['crm']} CRM updates, each exactly once; "
                 f"duplicate -> {again}, forged -> {forged}"))


__all__ = ["drive", "expected_steps", "load_samples", "wait_settled"]
