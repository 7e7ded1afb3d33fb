"""``raygent pending``, ``raygent approve`` and ``raygent reject``: answer the handlers that
wait for a person (``ctx.approval``, docs/approvals.md) in a running system."""

from __future__ import annotations

import json
import time
from typing import Annotated, Any

import typer
from rich.table import Table

from actors import PendingApproval
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

IdArg = Annotated[str, typer.Argument(help="The approval's id (see `raygent pending`).",
                                      show_default=False)]
ByOpt = Annotated[str | None, typer.Option(
    "--by", show_default="your user name", help="Who answers (recorded with the answer).")]


def approval_json(row: PendingApproval) -> dict[str, Any]:
    """One approval as plain JSON (what ``--json`` prints)."""
    answer = row.answer
    return {
        "id": row.id, "agent": row.agent, "message_id": row.message_id, "kind": row.kind,
        "request": row.text, "status": row.status, "created_at": row.created_at,
        "expires_at": row.expires_at, "on_timeout": row.on_timeout,
        "answer": None if answer is None else {
            "approved": answer.approved, "data": answer.data, "reason": answer.reason,
            "by": answer.by, "at": answer.at, "expired": answer.expired},
    }


def _ago(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f}m"
    return f"{seconds / 3600:.1f}h"


def approval_table(rows: list[PendingApproval]) -> Table:
    now = time.time()
    table = Table(title=f"{len(rows)} approval(s)", title_justify="left")
    table.add_column("id", no_wrap=True)  # copied into `raygent approve`: keep it whole
    for column in ("agent", "message", "waiting", "expires in", "on timeout", "status",
                   "request"):
        table.add_column(column, overflow="fold")
    for row in rows:
        expires = "never" if row.expires_at is None else _ago(row.expires_at - now)
        table.add_row(row.id, row.agent, row.kind, _ago(now - row.created_at), expires,
                      row.on_timeout, row.status, row.text[:300])
    return table


@edge
def pending(
    address: AddressOpt = "auto", namespace: NamespaceOpt = None,
    every: Annotated[bool, typer.Option("--all", help="Answered and expired ones too.")
                     ] = False,
    as_json: JsonOpt = False,
) -> None:
    """List the handlers waiting for a person's approval, oldest first."""
    runtime = open_runtime(address, namespace)
    try:
        # Requests as text: this process need not import every agent's classes.
        rows = runtime.pending(payloads=False, every=every)
    finally:
        runtime.disconnect()
    if as_json:
        print_json({"approvals": [approval_json(r) for r in rows]})
    elif not rows:
        console.print("nothing waits for an approval")
    else:
        console.print(approval_table(rows))
        console.print("answer with `raygent approve ID [--data JSON]` or "
                      "`raygent reject ID [--reason TEXT]`", markup=False)


@edge
def approve(
    approval_id: IdArg,
    data: Annotated[str | None, typer.Option(
        "--data", help="A JSON value the handler gets with the answer.")] = None,
    by: ByOpt = None, address: AddressOpt = "auto", namespace: NamespaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Approve a waiting handler: its message runs again and gets the answer."""
    value: Any = None
    if data is not None:
        try:
            value = json.loads(data)
        except ValueError as exc:
            fail(f"--data is not valid JSON: {exc}", code=2,
                 hint='quote it for the shell, e.g. --data \'{"salary": 100}\'')
    runtime = open_runtime(address, namespace)
    try:
        row = runtime.approve(approval_id, value, by=by)
    finally:
        runtime.disconnect()
    _answered(row, as_json)


@edge
def reject(
    approval_id: IdArg,
    reason: Annotated[str | None, typer.Option("--reason", help="Why (the handler gets it).")
                      ] = None,
    by: ByOpt = None, address: AddressOpt = "auto", namespace: NamespaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Reject a waiting handler: its message runs again and gets approved=False."""
    runtime = open_runtime(address, namespace)
    try:
        row = runtime.reject(approval_id, reason, by=by)
    finally:
        runtime.disconnect()
    _answered(row, as_json)


def _answered(row: PendingApproval, as_json: bool) -> None:
    if as_json:
        print_json(approval_json(row))
        return
    who = row.answer.by if row.answer is not None and row.answer.by else "you"
    console.print(f"{row.id} {row.status} by {who}: agent {row.agent} handles message "
                  f"{row.message_id} again with the answer", markup=False)


__all__ = ["approval_json", "approval_table", "approve", "pending", "reject"]
