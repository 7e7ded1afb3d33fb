"""The workflow under a burst, against the same flow as plain sequential Python, one run.

    python benchmarks/workflow.py [--quick] [--events N] [--concurrency C] [--quiet | --json]

A burst of signed events is posted over HTTP to the bundled flow's webhook (deployed on
a local Ray, journal on with its default ``synchronous=FULL``), and goes through the real
peers: an aiosmtpd server, a SQLite event log (SQLAlchemy) and the HTTP CRM, all on
127.0.0.1. Then the same events (new ids) go through the same flow written as plain
sequential Python in this process: verify the signature, parse, evaluate the condition,
send the email (smtplib, one reused connection) or insert the row (SQLAlchemy), PATCH the
CRM (httpx, keep-alive), one event after another, with no journal, history or retries.

Prints the figures, then one JSON object as the last line: ``events_per_s``, ``p50_ms``
and ``p99_ms`` (post sent -> event done in the history), ``lost`` (events not done, or
missing an effect), ``duplicates`` (effects beyond one per event), ``sequential_per_s``
and ``workflow_ratio`` (workflow / sequential events per second).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
import tempfile
import time
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import httpx
import ray
import yaml
from rich.progress import Progress

from benchmarks._progress import add_flags, silenced
from benchmarks._stats import pct

SECRET = "whsec_bench_" + "b" * 32


def _flow_data(home: str, smtp_port: int, crm_url: str, flow: str) -> dict[str, Any]:
    from scenarios.workflow._flow import BUNDLED_DIR

    with open(BUNDLED_DIR / "workflow.flow.yaml", encoding="utf-8") as fh:
        data: dict[str, Any] = yaml.safe_load(fh)
    secret = os.path.join(home, "webhook.secret")
    with open(secret, "w", encoding="utf-8") as fh:
        fh.write(SECRET)
    data["flow"] = flow
    data["trigger"]["webhook"].update(port=0, secrets=[{"file": secret}])
    data["connections"] = {
        "smtp": {"host": "127.0.0.1", "port": smtp_port, "from": "bench <bench@example.com>"},
        "crm": {"base_url": crm_url},
        "event_log": {"url": f"sqlite:///{home}/events.sqlite3"},
        "history": {"url": f"sqlite:///{home}/history.sqlite3"},
    }
    return data


def _events(n: int, tag: str) -> list[dict[str, Any]]:
    from scenarios.workflow import load_samples

    samples = load_samples()
    return [{**samples[i % len(samples)], "id": f"{tag}-{i:05d}"} for i in range(n)]


async def _burst(url: str, events: list[dict[str, Any]], concurrency: int,
                 progress: Progress | None) -> dict[str, float]:
    """Post every event (retrying until a 2xx, as a webhook source does); return when
    each post was first sent."""
    from scenarios.workflow import encode, post_async

    sent: dict[str, float] = {}
    retried: dict[str, int] = {}
    gate = asyncio.Semaphore(concurrency)
    task = progress.add_task("posting", total=len(events)) if progress else None
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(timeout=60, limits=limits) as client:

        async def one(event: dict[str, Any]) -> None:
            body = encode(event)
            async with gate:
                sent[event["id"]] = time.time()
                for _ in range(50):
                    try:
                        r = await post_async(url, body, [SECRET], client=client)
                        if r.status_code in (200, 202):
                            break
                        why = str(r.status_code)
                    except httpx.TransportError as exc:
                        why = type(exc).__name__
                    retried[why] = retried.get(why, 0) + 1
                    await asyncio.sleep(0.2)
                else:
                    raise SystemExit(f"event {event['id']} was never accepted")
            if progress is not None and task is not None:
                progress.advance(task)

        await asyncio.gather(*(one(e) for e in events))
    if retried:
        print(f"posts retried: {retried}")
    return sent


def _wait_done(history: Any, flow: str, n: int, progress: Progress | None,
               timeout_s: float) -> float:
    task = progress.add_task("done", total=n) if progress else None
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        done = history.counts(flow).get("done", 0)
        if progress is not None and task is not None:
            progress.update(task, completed=done)
        if done >= n:
            break
        time.sleep(0.1)
    return time.time()


def _effects(flow: Any, events: list[dict[str, Any]], sink: Any, crm: Any,
             log_url: str) -> tuple[int, int]:
    """(missing effects, extra effects) over the events."""
    from scenarios.workflow import EventLog

    condition = flow.steps[flow.start].condition
    mails: dict[str, int] = {}
    for m in sink.received():
        eid = m.headers.get("X-Raygent-Event", "")
        mails[eid] = mails.get(eid, 0) + 1
    log = EventLog(log_url)
    rows: dict[str, int] = {}
    for row in log.rows():
        if row["flow"] == flow.name:
            rows[row["event_id"]] = rows.get(row["event_id"], 0) + 1
    log.close()
    applied = crm.stats()["applied_by_key"]
    missing = extra = 0
    for e in events:
        eid = e["id"]
        want = mails.get(eid, 0) if condition(e) else rows.get(eid, 0)
        crm_n = applied.get(flow.key(eid, "update_crm"), 0)
        missing += (want == 0) + (crm_n == 0)
        extra += max(0, want - 1) + max(0, crm_n - 1)
    return missing, extra


def sequential(flow: Any, events: list[dict[str, Any]], sink: Any, crm: Any,
               log_url: str) -> tuple[float, list[float]]:
    """The same flow as plain Python calls, one event after another."""
    from scenarios.workflow import EventLog, encode, sign
    from scenarios.workflow._email import build_message, message_id
    from scenarios.workflow._gate import check
    from scenarios.workflow._smtp import Mailer
    from scenarios.workflow._template import render, render_text

    mailer = Mailer(flow.connections.smtp)
    log = EventLog(log_url)
    condition = flow.steps[flow.start].condition
    email_step, log_step, crm_step = (flow.steps[s] for s in
                                      ("notify_sales", "log_event", "update_crm"))
    took: list[float] = []
    bodies = [encode(e) for e in events]
    headers = [{"raygent-signature": sign([SECRET], b)} for b in bodies]
    with httpx.Client(base_url=crm.url, timeout=30) as client:
        t0 = time.perf_counter()
        for body, head in zip(bodies, headers, strict=True):
            start = time.perf_counter()
            checked = check(head, body, secrets=[SECRET], tolerance_s=300,
                            event_id_path=flow.event_id)
            event, eid = checked.event, checked.event_id
            if condition(event):
                params = render(email_step.params, event)
                mailer.send(build_message(params, sender=flow.connections.smtp.sender,
                                          msg_id=message_id(flow.name, eid, email_step.id,
                                                            "example.com"), event_id=eid),
                            before_data=lambda: True)
            else:
                params = render(log_step.params, event)
                log.insert(params["table"], flow=flow.name, event_id=eid, step=log_step.id,
                           event=event, received_at=time.time(), fields=params["fields"])
            path = render_text(crm_step.params["path"], event)
            r = client.patch(path, json=render(crm_step.params["json"], event),
                             headers={"Idempotency-Key": flow.key(eid, crm_step.id)})
            r.raise_for_status()
            took.append((time.perf_counter() - start) * 1000)
        elapsed = time.perf_counter() - t0
    mailer.close()
    log.close()
    return len(events) / elapsed, took


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="a small burst, under a minute")
    ap.add_argument("--events", type=int, default=None, help="events in the burst "
                    "(default 1000, 200 with --quick)")
    ap.add_argument("--concurrency", type=int, default=64, help="posts in flight")
    add_flags(ap)
    ap.add_argument("--journal-sync", default="FULL", choices=["FULL", "NORMAL"],
                    help="the supervisor journal's synchronous setting (default FULL)")
    args = ap.parse_args()
    n = args.events or (200 if args.quick else 1000)
    home = tempfile.mkdtemp(prefix="raygent-bench-workflow-")
    os.environ["RAYGENT_HOME"] = home  # the journal, the history and the logs go here

    from actors import Runtime, RuntimeConfig
    from actors._config import JournalConfig, TracingConfig
    from scenarios.workflow import (
        CrmServer,
        HistoryStore,
        SmtpSink,
        deploy_flow,
        parse_flow,
        webhook_address,
    )

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    sink, crm = SmtpSink().start(), CrmServer().start()
    flow = parse_flow(_flow_data(home, sink.port, crm.url, "bench"))
    ray.init(num_cpus=2, include_dashboard=False, logging_level=logging.WARNING,
             log_to_driver=False, runtime_env={"env_vars": {
                 "PYTHONPATH": root, "RAYGENT_HOME": home}})
    rt = Runtime(config=RuntimeConfig(
        namespace="raygent-bench-workflow", tracing=TracingConfig(exporter="none"),
        journal=JournalConfig(synchronous=args.journal_sync))).start()
    progress = None if silenced(args) else Progress(transient=True)
    try:
        t_deploy = time.perf_counter()
        deploy_flow(rt, flow)
        url = webhook_address(rt, flow)["url"]
        history = HistoryStore(flow.connections.history.resolved_url(), writer=False)
        print(f"deployed {flow.name} in {time.perf_counter() - t_deploy:.1f}s; webhook {url}")
        warm = _events(20, "warm")
        asyncio.run(_burst(url, warm, 8, None))
        _wait_done(history, flow.name, len(warm), None, 60)

        events = _events(n, "burst")
        if progress is not None:
            progress.start()
        t0 = time.time()
        sent = asyncio.run(_burst(url, events, args.concurrency, progress))
        posted = time.time()
        finished = _wait_done(history, flow.name, n + len(warm), progress, 600)
        if progress is not None:
            progress.stop()
        records = {r.event_id: r for r in history.events(flow=flow.name, limit=n + 100)}
        done = [records[e["id"]] for e in events if e["id"] in records
                and records[e["id"]].status == "done"]
        last = max((r.finished_at or 0) for r in done) if done else finished
        lat = [((r.finished_at or 0) - sent[r.event_id]) * 1000 for r in done]
        events_per_s = len(done) / (last - t0)
        missing, extra = _effects(flow, events, sink, crm, flow.connections.event_log
                                  .resolved_url())
        lost = (n - len(done)) + missing
        print(f"workflow    {n} events in {last - t0:.2f}s (posting took {posted - t0:.2f}s, "
              f"{args.concurrency} in flight): {events_per_s:.1f} events/s, "
              f"p50 {pct(lat, 0.5):.0f} ms, p99 {pct(lat, 0.99):.0f} ms, lost {lost}, "
              f"duplicates {extra}")

        seq_events = _events(n, "seq")
        seq_per_s, seq_took = sequential(flow, seq_events, sink, crm,
                                         f"sqlite:///{home}/events-seq.sqlite3")
        print(f"sequential  {n} events: {seq_per_s:.1f} events/s, p50 "
              f"{pct(seq_took, 0.5):.1f} ms, p99 {pct(seq_took, 0.99):.1f} ms "
              "(one process, no journal, history or retries)")
        ratio = events_per_s / seq_per_s
        print(f"workflow_ratio {ratio:.2f} (workflow / sequential events per second)")
        result = {
            "events_per_s": round(events_per_s, 1), "p50_ms": round(pct(lat, 0.5), 1),
            "p99_ms": round(pct(lat, 0.99), 1), "lost": lost, "duplicates": extra,
            "sequential_per_s": round(seq_per_s, 1), "workflow_ratio": round(ratio, 3),
            "sequential_p50_ms": round(pct(seq_took, 0.5), 2), "events": n,
            "concurrency": args.concurrency, "journal_sync": args.journal_sync,
            "quick": args.quick,
        }
        history.close()
    finally:
        rt.stop()
        sink.stop()
        crm.stop()
        ray.shutdown()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
