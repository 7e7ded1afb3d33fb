"""Turns runtime records into rich tables for people and plain dicts for ``--json``."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterable
from typing import Any

from rich import box
from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

from actors import AgentStatus, DeadLetter, SystemStatus
from scenarios._scenario import Scenario

_STATE_STYLE = {"running": "green", "starting": "yellow", "restarting": "yellow",
                "stopping": "yellow", "failed": "bold red", "stopped": "dim"}


def _short_class(path: str) -> str:
    # The full dotted path is in --json; the table only has room for the class name.
    return path.rsplit(".", 1)[-1]


def _short_node(node_id: str | None) -> str:
    # Ray node ids are 56 hex digits; 8 tell the nodes of a cluster apart.
    return node_id[:8] if node_id else "-"


def _count(value: int, style: str) -> Text:
    return Text(str(value), style=style if value else "")


def status_table(status: SystemStatus, *, errors: bool = True) -> Table:
    """One row per agent: state, placement, mailbox, counters and last error.

    Args:
        status: What ``Runtime.status()`` returned.
        errors: Fill the last-error column (False leaves it empty: used to measure the
            width the other columns need).

    Returns:
        A table titled with the system's namespace and dead-letter count.
    """
    # kubectl-like: no vertical rules, one space between columns, so it fits more often.
    table = Table(title=_status_title(status), title_justify="left", box=box.SIMPLE_HEAD,
                  collapse_padding=True, pad_edge=False)
    table.add_column("agent", style="bold", no_wrap=True)
    table.add_column("class", no_wrap=True)
    table.add_column("state", no_wrap=True)
    table.add_column("node", no_wrap=True)
    table.add_column("pid", justify="right", no_wrap=True)
    table.add_column("mailbox", justify="right", no_wrap=True)
    for header in ("handled", "failed", "retried", "dead", "restarts"):
        table.add_column(header, justify="right", no_wrap=True)
    table.add_column("last error", overflow="fold", min_width=12)
    for a in status.agents:
        table.add_row(
            a.name, _short_class(a.cls), _state(a), _short_node(a.node_id), _pid(a),
            f"{a.mailbox_depth}/{a.mailbox_capacity}", str(a.handled),
            _count(a.failed, "red"), _count(a.retried, "yellow"),
            _count(a.dead_lettered, "red"), _count(a.restarts, "yellow"),
            Text(a.last_error or "-", style="red" if a.last_error else "dim") if errors
            else "-",
        )
    if not status.agents:
        table.caption = "no agents running"
    return table


def _status_title(status: SystemStatus) -> str:
    dashboard = f"; dashboard {status.dashboard_url}" if status.dashboard_url else ""
    return (f"raygent system [bold]{status.namespace}[/] - {len(status.agents)} agents, "
            f"{status.dead_letters} dead letters{dashboard}")


def _state(a: AgentStatus) -> Text:
    return Text(a.state, style=_STATE_STYLE.get(a.state, ""))


def _pid(a: AgentStatus) -> str:
    return str(a.pid) if a.pid is not None else "-"


def _status_blocks(status: SystemStatus) -> Group:
    """The same facts as :func:`status_table`, three short lines per agent."""
    parts: list[RenderableType] = [Text.from_markup(_status_title(status))]
    for a in status.agents:
        head = Text.assemble((a.name, "bold"), "  ", _state(a),
                             f"  {_short_class(a.cls)} on node {_short_node(a.node_id)}"
                             f" pid {_pid(a)}")
        counts = Text.assemble(
            f"  mailbox {a.mailbox_depth}/{a.mailbox_capacity}  handled {a.handled}  ",
            "failed ", _count(a.failed, "red"), "  retried ", _count(a.retried, "yellow"),
            "  dead ", _count(a.dead_lettered, "red"),
            "  restarts ", _count(a.restarts, "yellow"))
        error = Text.assemble("  last error: ", Text(a.last_error or "-",
                                                      style="red" if a.last_error else "dim"))
        parts.extend([head, counts, error])
    if not status.agents:
        parts.append(Text("no agents running", style="dim"))
    return Group(*parts)


class StatusView:
    """The status table when the terminal is wide enough for it, else a stacked list.

    A twelve-column table squeezed into 80 columns turns into one letter per line, so the
    choice is made at render time from the width actually available.

    Args:
        status: What ``Runtime.status()`` returned.
    """

    def __init__(self, status: SystemStatus) -> None:
        self.status = status

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        # Every column but the last error must fit unwrapped; the error folds into the rest.
        probe = status_table(self.status, errors=False)
        needed = Measurement.get(console, options.update(width=10_000), probe).maximum
        if needed <= options.max_width:
            yield status_table(self.status)
        else:
            yield _status_blocks(self.status)


def _plain(value: Any) -> Any:
    """A JSON-friendly copy of a dataclass, container or scalar (other values as repr)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return repr(value)


def agent_json(agent: AgentStatus) -> dict[str, Any]:
    """An agent's status as a JSON-ready dict (every field, full class path)."""
    plain: dict[str, Any] = _plain(agent)
    return plain


def status_json(status: SystemStatus) -> dict[str, Any]:
    """The whole system view as a JSON-ready dict.

    Args:
        status: What ``Runtime.status()`` returned.

    Returns:
        Namespace, supervisor, strategy, counts, topics and one dict per agent.
    """
    return {
        "namespace": status.namespace,
        "supervisor": status.supervisor,
        "supervisor_node_id": status.supervisor_node_id,
        "supervisor_pid": status.supervisor_pid,
        "dashboard_url": status.dashboard_url,
        "strategy": status.strategy,
        "started_at": status.started_at,
        "routed": status.routed,
        "dead_letters": status.dead_letters,
        "topics": _plain(status.topics),
        "agents": [agent_json(a) for a in status.agents],
    }


def dead_letter_json(letter: DeadLetter) -> dict[str, Any]:
    """A dead letter as a JSON-ready dict: why it failed and the message it carried."""
    env = letter.envelope
    return {
        "id": letter.id,
        "reason": letter.reason,
        "error": letter.error,
        "at": letter.at,
        "kind": env.kind,
        "sender": env.sender,
        "recipient": env.recipient,
        "topic": env.topic,
        "attempt": env.attempt,
        "created_at": env.created_at,
        "correlation_id": env.correlation_id,
        "payload": _plain(env.payload),
    }


def _age(at: float, now: float) -> str:
    seconds = max(0.0, now - at)
    if seconds < 120:
        return f"{seconds:.0f}s ago"
    if seconds < 7200:
        return f"{seconds / 60:.0f}m ago"
    return f"{seconds / 3600:.1f}h ago"


def dead_letter_table(letters: Iterable[DeadLetter], *, total: int) -> Table:
    """One row per dead letter: id, age, route, kind, attempts, reason and error.

    Args:
        letters: The dead letters to show (newest last, as the supervisor returns them).
        total: How many the queue holds, for the title.

    Returns:
        The table.
    """
    rows = list(letters)
    table = Table(title=f"dead letters - showing {len(rows)} of {total}", title_justify="left")
    table.add_column("id", style="bold", no_wrap=True)
    table.add_column("when")
    table.add_column("from -> to", overflow="fold")
    table.add_column("kind", overflow="fold")
    table.add_column("try", justify="right")
    table.add_column("reason", overflow="fold")
    table.add_column("error", overflow="fold", max_width=40)
    now = time.time()
    for d in rows:
        env = d.envelope
        target = env.recipient or (f"#{env.topic}" if env.topic else "?")
        table.add_row(d.id, _age(d.at, now), f"{env.sender} -> {target}", env.kind,
                      str(env.attempt), d.reason, Text(d.error or "-", style="red"))
    if not rows:
        table.caption = "the dead-letter queue is empty"
    return table


def scenarios_table(scenarios: Iterable[Scenario]) -> Table:
    """Built-in scenarios with their one-line descriptions and default counts."""
    table = Table(title="built-in scenarios", title_justify="left")
    table.add_column("scenario", style="bold cyan", no_wrap=True)
    table.add_column("description")
    table.add_column("default -n", justify="right")
    for s in scenarios:
        table.add_row(s.name, s.description, str(s.default_count))
    return table
