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
from scenarios.workflow._flow import BUNDLED_DIR, Flow, flow_from_config
from scenarios.workflow._history import EventRecord, HistoryStore
from scenarios.workflow._smtp_sink import SmtpSink

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


def _check(flow: Flow, events: list[dict[str, Any]], records: dict[str, EventRecord],
           answers: list[int], again: int, forged: int, sink: SmtpSink,
           crm: CrmServer) -> ScenarioResult:
    start = flow.steps[flow.start]
    assert start.condition is not None
    truths = {e["id"]: start.condition(e) for e in events}
    mails = sink.by_message_id()
    mailed = {m.headers.get("X-Raygent-Event", "") for m in sink.received()}
    log = EventLog(flow.connections.event_log.resolved_url())
    try:
        logged: dict[str, int] = {}
        for row in log.rows(DEFAULT_TABLE):
            if row["flow"] == flow.name and row["event_id"] in truths:
                logged[row["event_id"]] = logged.get(row["event_id"], 0) + 1
    finally:
        log.close()
    applied = crm.stats()["applied_by_key"]
    crm_step = next((s for s in flow.steps.values() if s.kind == "crm"), None)
    problems: list[str] = []
    if answers.count(202) != len(events):
        problems.append(f"{len(events) - answers.count(202)} posts not answered 202")
    if again != 200 or forged != 401:
        problems.append(f"duplicate answered {again} (want 200), forged {forged} (want 401)")
    not_done = [eid for eid, r in records.items() if r.status != "done"]
    not_done += [e["id"] for e in events if e["id"] not in records]
    if not_done:
        problems.append(f"{len(not_done)} events not done (first: {not_done[0]})")
    want_mail = [eid for eid, t in truths.items() if t]
    if set(want_mail) != mailed or any(n != 1 for n in mails.values()):
        problems.append(f"emails: {len(mails)} Message-IDs for {len(want_mail)} true events, "
                        f"copies {sorted(set(mails.values()))}")
    want_log = sorted(eid for eid, t in truths.items() if not t)
    if sorted(logged) != want_log or any(n != 1 for n in logged.values()):
        problems.append(f"event log: {len(logged)} rows for {len(want_log)} false events")
    if crm_step is not None:
        keys = [flow.key(e["id"], crm_step.id) for e in events]
        if any(applied.get(k, 0) != 1 for k in keys):
            problems.append("CRM: not exactly one applied update per event")
    details = {"events": len(events), "emails": len(mails), "logged": len(logged),
               "crm_applied": sum(applied.values()), "duplicate_status": again,
               "forged_status": forged}
    if problems:
        return ScenarioResult(ok=False, summary="; ".join(problems), details=details)
    return ScenarioResult(
        ok=True, details=details,
        summary=(f"{len(events)} events: {len(mails)} emails, {len(logged)} event-log rows, "
                 f"{sum(applied.values())} CRM updates, each exactly once; duplicate -> "
                 f"{again}, forged -> {forged}"))


__all__ = ["drive", "load_samples", "wait_settled"]
