"""``raygent workflow events|show|replay`` and ``raygent webhook send``.

The history is read straight from its database (``--db``, else the flow file's
``connections.history``, else ``$RAYGENT_HOME/workflow/history.sqlite3``), so ``events``
and ``show`` work after the system has stopped; ``replay`` needs the running system
(``--address``), whose dead-letter queue holds the failed steps.
"""

from __future__ import annotations

import json
import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from actors import ConfigError
from scenarios._connect import open_runtime
from scenarios.cli._edge import (
    AddressOpt,
    JsonOpt,
    NamespaceOpt,
    console,
    edge,
    fail,
    print_json,
)

workflow_app = typer.Typer(
    help="Inspect the workflow history (each event's path) and replay failed steps.",
    no_args_is_help=True,
)
webhook_app = typer.Typer(help="Sign and post events to a flow's webhook.",
                          no_args_is_help=True)

FlowOpt = Annotated[str | None, typer.Option(
    "--flow", help="A flow name or flow file (.yaml); its history database is used.")]
DbOpt = Annotated[str | None, typer.Option(
    "--db", help="SQLAlchemy URL of the history (default: the flow's, or "
                 "$RAYGENT_HOME/workflow/history.sqlite3).")]
_MARKS = {"done": "[green]done[/]", "failed": "[red]failed[/]", "pending": "[yellow]pending[/]",
          "running": "[yellow]running[/]", "received": "[cyan]received[/]",
          "accepting": "[cyan]accepting[/]"}


def _flow_of(spec: str) -> Any:
    """A flow from a name (bundled ``NAME.flow.yaml``) or a file path; None if neither."""
    from scenarios.workflow import flow_from_config
    from scenarios.workflow._flow import BUNDLED_DIR

    if spec.endswith((".yaml", ".yml")) or "/" in spec:
        return flow_from_config(str(Path(spec).expanduser().resolve()))
    if (BUNDLED_DIR / f"{spec}.flow.yaml").is_file():
        return flow_from_config(f"{spec}.flow.yaml")
    return None


def _history(flow: str | None, db: str | None) -> tuple[Any, str | None]:
    """The history store to read, and the flow name to filter on."""
    from scenarios.workflow import DatabaseConfig, HistoryStore

    name = None
    url = db
    if flow is not None:
        found = _flow_of(flow)
        name = found.name if found is not None else flow
        if url is None and found is not None:
            url = found.connections.history.resolved_url()
    if url is None:
        url = DatabaseConfig(default_file="history.sqlite3").resolved_url()
    return HistoryStore(url, writer=False), name


def _when(ts: float | None) -> str:
    return "" if ts is None else datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S")


def _took(start: float | None, end: float | None) -> str:
    return "" if start is None or end is None else f"{(end - start) * 1000:.0f} ms"


def _path(record: Any) -> str:
    marks = {"done": "✓", "failed": "✗", "pending": "…"}
    return " → ".join(f"{s.step}{marks.get(s.status, '?')}" for s in record.steps)


def _find(history: Any, event_id: str, flow: str | None) -> Any:
    from scenarios.workflow._replay import NoSuchEventError

    if flow is not None:
        record = history.event(flow, event_id)
        if record is None:
            raise NoSuchEventError(event_id, history.url)
        return record
    found = history.find(event_id)
    if not found:
        raise NoSuchEventError(event_id, history.url)
    if len(found) > 1:
        raise ConfigError(f"event {event_id!r} exists in flows "
                          f"{', '.join(r.flow for r in found)}: pick one", field="--flow")
    return found[0]


@edge
def events(
    flow: FlowOpt = None, db: DbOpt = None,
    status: Annotated[str | None, typer.Option(
        "--status", help="Only events in this state: received, running, done, failed.")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="Newest N events.")] = 20,
    as_json: JsonOpt = False,
) -> None:
    """List the newest events with their status and path through the flow."""
    history, name = _history(flow, db)
    try:
        records = history.events(flow=name, status=status, limit=limit)
    finally:
        history.close()
    if as_json:
        print_json([r.to_dict() for r in records])
        return
    table = Table("event", "flow", "status", "received", "took", "path", title="events")
    for r in records:
        table.add_row(r.event_id, r.flow, _MARKS.get(r.status, r.status), _when(r.received_at),
                      _took(r.received_at, r.finished_at), _path(r))
    console.print(table if records else "no events in the history yet")


@edge
def show(
    event_id: Annotated[str, typer.Argument(help="The event's id.")],
    flow: FlowOpt = None, db: DbOpt = None, as_json: JsonOpt = False,
) -> None:
    """Show one event: its steps (status, attempts, timings, outcome), notes and trace."""
    history, name = _history(flow, db)
    try:
        record = _find(history, event_id, name)
    finally:
        history.close()
    if as_json:
        print_json(record.to_dict())
        return
    console.print(Text.assemble(
        (f"event {record.event_id}", "bold"), f"  flow {record.flow}  ",
        Text.from_markup(_MARKS.get(record.status, record.status))))
    console.print(f"received {_when(record.received_at)}"
                  + (f"  finished {_when(record.finished_at)} "
                     f"({_took(record.received_at, record.finished_at)})"
                     if record.finished_at else "")
                  + (f"  trace {record.trace_id}" if record.trace_id else ""), markup=False)
    table = Table("step", "kind", "status", "attempts", "took", "outcome")
    for s in record.steps:
        outcome = s.error if s.status == "failed" else (s.detail or "")
        table.add_row(s.step, s.kind, _MARKS.get(s.status, s.status), str(s.attempts),
                      _took(s.started_at, s.finished_at), Text(outcome or ""))
    console.print(table)
    for note in record.notes:
        console.print(Text(f"note [{note.kind}] {note.step}: {note.detail}", style="yellow"))
    console.print_json(json.dumps(record.payload))


@edge
def replay(
    event_id: Annotated[str, typer.Argument(help="The event whose failed steps to re-run.")],
    flow: FlowOpt = None, db: DbOpt = None,
    address: AddressOpt = "auto", namespace: NamespaceOpt = None,
    resend: Annotated[bool, typer.Option(
        "--resend", help="Send failed steps that are not in the dead-letter queue afresh "
                         "(their effects still run at most once).")] = False,
    wait_s: Annotated[float, typer.Option(
        "--wait", min=0, help="Seconds to wait for the replayed steps (0: do not wait).")
    ] = 30.0,
) -> None:
    """Re-run the failed steps of an event (from the dead-letter queue); never a done one."""
    from scenarios.workflow._replay import replay_event, wait_for_event

    history, name = _history(flow, db)
    try:
        record = _find(history, event_id, name)
        if not any(s.status == "failed" for s in record.steps):
            console.print(f"event {event_id} has no failed step (it is {record.status}); "
                          "nothing to replay")
            return
        started = time.time()
        runtime = open_runtime(address, namespace)
        try:
            report = replay_event(runtime, record, resend=resend)
        finally:
            runtime.disconnect()
        if report.replayed:
            console.print(f"replayed from the dead-letter queue: {', '.join(report.replayed)}")
        if report.resent:
            console.print(f"sent afresh: {', '.join(report.resent)}")
        if report.done:
            console.print(f"left alone (done): {', '.join(report.done)}")
        if report.missing:
            fail(f"failed step(s) {', '.join(report.missing)} are not in the dead-letter "
                 "queue (still being retried, or purged)", code=1,
                 hint="wait for the retries to end, or pass --resend")
        if wait_s > 0:
            after = wait_for_event(history, record.flow, event_id, since=started,
                                   timeout_s=wait_s)
            state = after.status if after is not None else "unknown"
            console.print(f"event {event_id} is now {state}")
            if state != "done":
                raise typer.Exit(1)
    finally:
        history.close()


@edge
def send(
    flow: Annotated[str, typer.Argument(help="A flow name (bundled or running) or a flow "
                                             "file (.yaml).")],
    file: Annotated[Path, typer.Argument(help="The event: a JSON object.", exists=True,
                                         dir_okay=False)],
    url: Annotated[str | None, typer.Option(
        "--url", help="The webhook URL (default: where the flow's webhook said it listens, "
                      "or the flow file's host and port).")] = None,
    secret_env: Annotated[str | None, typer.Option(
        "--secret-env", help="Sign with the secret in this environment variable.")] = None,
    secret_file: Annotated[Path | None, typer.Option(
        "--secret-file", help="Sign with the secret in this file.")] = None,
    event_id: Annotated[str | None, typer.Option(
        "--id", help="Set the event id (default: the file's, else a new one).")] = None,
) -> None:
    """Sign FILE.json with the flow's secret and post it to the flow's webhook."""
    from scenarios.workflow import SecretRef, encode, post, webhook_url

    found = _flow_of(flow)
    name = found.name if found is not None else flow
    if secret_env and secret_file:
        fail("give --secret-env or --secret-file, not both", code=2)
    if secret_env or secret_file:
        ref = SecretRef(env=secret_env) if secret_env else SecretRef(
            file=str(Path(str(secret_file)).expanduser().resolve()))
    elif found is not None:
        ref = found.webhook.secrets[0]
    else:
        fail(f"{flow!r} is not a flow file or a bundled flow: pass --secret-env or "
             "--secret-file", code=2)
    raw = file.read_bytes()
    try:
        event = json.loads(raw)
    except ValueError as exc:
        fail(f"{file}: not valid JSON ({exc})", code=2)
    if not isinstance(event, dict):
        fail(f"{file}: the event must be a JSON object", code=2)
    id_field = found.webhook.event_id if found is not None else "id"
    if event_id is not None or (id_field == "id" and "id" not in event):
        event["id"] = event_id or f"evt_{uuid.uuid4().hex[:20]}"
        raw = encode(event)
    target = url or _default_url(found, name, webhook_url)
    response = post(target, raw, [ref.resolve()])
    console.print(f"{response.status_code} {response.text}", markup=False)
    if response.status_code >= 300:
        raise typer.Exit(1)


def _default_url(found: Any, name: str, from_file: Any) -> str:
    try:
        return str(from_file(name))
    except ConfigError:
        hook = found.webhook if found is not None else None
        if hook is None or hook.port == 0:
            raise
        return f"http://{hook.host}:{hook.port}/hooks/{name}"


workflow_app.command("events")(events)
workflow_app.command("show")(show)
workflow_app.command("replay")(replay)
webhook_app.command("send")(send)

__all__ = ["webhook_app", "workflow_app"]
