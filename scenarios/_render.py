"""The live status view that scenario drivers and the CLI print (a rich renderable)."""

from __future__ import annotations

from rich import box
from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

from actors import AgentStatus, SystemStatus

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
    caption = [_journal_line(status)]
    if not status.agents:
        caption.insert(0, "no agents running")
    table.caption = "\n".join(c for c in caption if c)
    table.caption_justify = "left"
    return table


def _journal_line(status: SystemStatus) -> str:
    """Where the supervisor journals, how big and busy the journal is, how often it died."""
    j = status.journal
    restarts = f"supervisor restarts {status.supervisor_restarts}"
    if status.recovered_s is not None and status.supervisor_restarts:
        restarts += f" (last recovery {status.recovered_s:.2f}s)"
    if j is None:
        return restarts
    where = j.path or "in memory (not durable)"
    evicted = f", {j.evicted_dead_letters} dead letters pruned" if j.evicted_dead_letters else ""
    return (f"journal {where}\n{j.size_bytes / 1e6:.1f} MB, {j.pending} pending, {j.done} "
            f"finished kept for dedupe{evicted}, synchronous {j.synchronous}\n{restarts}")


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
    parts.append(Text(_journal_line(status), style="dim"))
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
