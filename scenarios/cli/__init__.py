"""The ``raygent`` command: one module per command group, registered here.

Every command that reaches a cluster takes ``--address``; expected failures (any
:class:`RaygentError`) end as one red ``error:`` line and exit code 1, usage mistakes as
exit code 2 (``scenarios/cli/_edge.py``).
"""

from __future__ import annotations

import os

import typer

from scenarios.cli import approvals, ask, run, system, up
from scenarios.cli.memory import memory_app
from scenarios.cli.runs import runs_app
from scenarios.cli.trace import trace_cmd
from scenarios.cli.workflow import webhook_app, workflow_app

app = typer.Typer(
    name="raygent",
    help="raygent: an event-driven multi-agent runtime on Ray.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)
dlq_app = typer.Typer(
    help="Inspect, replay or purge the dead-letter queue of a running system.",
    no_args_is_help=True,
)

app.command("run")(run.run)
app.command("list")(run.list_scenarios)
app.command("ask")(ask.ask)
app.command("chat")(ask.chat)
app.command("status")(system.status)
app.command("up")(up.up)
app.command("down")(up.down)
app.command("pending")(approvals.pending)
app.command("approve")(approvals.approve)
app.command("reject")(approvals.reject)
dlq_app.command("list")(system.dlq_list)
dlq_app.command("replay")(system.dlq_replay)
dlq_app.command("purge")(system.dlq_purge)
app.add_typer(dlq_app, name="dlq")
app.add_typer(memory_app, name="memory")
app.command("trace")(trace_cmd)
app.add_typer(runs_app, name="runs")
app.add_typer(workflow_app, name="workflow")
app.add_typer(webhook_app, name="webhook")


def main() -> None:
    """Entry point of the ``raygent`` console script."""
    # Nothing here downloads models; a missing cache must fail fast, not hang on the network.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    app()


__all__ = ["app", "main"]
