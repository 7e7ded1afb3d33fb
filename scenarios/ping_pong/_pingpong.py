"""The ``ping-pong`` scenario: two agents play N request/reply rounds through the supervisor.

The driver sends one :class:`Rally` to the ping agent; the ping agent asks the pong agent
N times, one ``Ping`` at a time, and replies with what came back. The check is that every
round trip arrived, from the pong agent, in the order it was sent.

Agents and payloads live at module level in an importable module because Ray workers and
the supervisor import them by module path.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rich.table import Table

from actors import Agent, MessageContext, RaygentError, handles, message
from actors.messages import Ping, Pong
from scenarios._render import StatusView
from scenarios._result import ScenarioResult

if TYPE_CHECKING:
    from rich.console import Console

    from actors import Runtime
    from scenarios._spec import ScenarioSpec

PING_NAME = "pingpong-ping"
PONG_NAME = "pingpong-pong"


@message(kind="scenarios.pingpong.Rally")
@dataclass(frozen=True, kw_only=True)
class Rally:
    """Ask the ping agent to play ``count`` rounds against ``peer``."""

    count: int
    peer: str


@message(kind="scenarios.pingpong.RallyReport")
@dataclass(frozen=True, kw_only=True)
class RallyReport:
    """What the ping agent saw: the ``n`` of each Pong, in arrival order, and timings.

    Attributes:
        sent: Pings sent.
        received: ``Pong.n`` of each reply, in the order the replies arrived.
        responders: Distinct ``Pong.by`` values.
        rtt_ms: Round-trip time of each ping, in milliseconds.
        errors: One line per ping that got an error instead of a Pong.
    """

    sent: int
    received: tuple[int, ...]
    responders: tuple[str, ...]
    rtt_ms: tuple[float, ...]
    errors: tuple[str, ...] = ()


class PongAgent(Agent):
    """Answers every Ping with a Pong carrying the same ``n``."""

    @handles
    async def on_ping(self, msg: Ping, ctx: MessageContext) -> Pong:
        return Pong(n=msg.n, by=self.name)


class PingAgent(Agent):
    """Plays a rally against a pong agent and reports what came back."""

    @handles
    async def on_rally(self, msg: Rally, ctx: MessageContext) -> RallyReport:
        received: list[int] = []
        responders: dict[str, None] = {}
        rtts: list[float] = []
        errors: list[str] = []
        for n in range(1, msg.count + 1):
            t0 = time.perf_counter()
            try:
                pong = await self.ask_async(msg.peer, Ping(n=n))
            except RaygentError as exc:
                # Report instead of raising: a raise would make the supervisor retry the
                # whole rally, and the check should say which round failed and why.
                errors.append(f"ping {n}: {exc}")
                continue
            rtts.append((time.perf_counter() - t0) * 1000)
            received.append(pong.n)
            responders[pong.by] = None
        return RallyReport(sent=msg.count, received=tuple(received),
                           responders=tuple(responders), rtt_ms=tuple(rtts),
                           errors=tuple(errors))


def check(report: RallyReport, count: int, pong_name: str) -> ScenarioResult:
    """Judge a rally report: all ``count`` round trips, in order, answered by ``pong_name``.

    Args:
        report: What the ping agent replied.
        count: Rounds asked for.
        pong_name: The only agent that may have answered.

    Returns:
        The scenario result, with latency figures in ``details``.
    """
    expected = tuple(range(1, count + 1))
    problems: list[str] = []
    if report.errors:
        problems.append(f"{len(report.errors)} pings failed (first: {report.errors[0]})")
    if len(report.received) != count:
        problems.append(f"{len(report.received)}/{count} replies arrived")
    if not set(report.received) <= set(expected):
        problems.append("some replies match no ping sent")
    elif list(report.received) != sorted(set(report.received)):
        problems.append("replies arrived out of order")
    if report.responders and report.responders != (pong_name,):
        problems.append(f"unexpected responders: {', '.join(report.responders)}")
    rtt = sorted(report.rtt_ms)
    details = {
        "count": count,
        "received": len(report.received),
        "in_order": report.received == expected,
        "errors": list(report.errors),
        "rtt_p50_ms": round(statistics.median(rtt), 3) if rtt else None,
        "rtt_max_ms": round(rtt[-1], 3) if rtt else None,
    }
    if problems:
        return ScenarioResult(ok=False, summary="; ".join(problems), details=details)
    return ScenarioResult(
        ok=True,
        summary=(f"{count}/{count} round trips in order "
                 f"(p50 {details['rtt_p50_ms']:.2f} ms, max {details['rtt_max_ms']:.2f} ms)"
                 if rtt else "0 round trips asked for"),
        details=details,
    )


def _report_table(report: RallyReport, result: ScenarioResult) -> Table:
    details = result.details
    table = Table(title="ping-pong rally", title_justify="left")
    table.add_column("pings sent", justify="right")
    table.add_column("pongs back", justify="right")
    table.add_column("in order")
    table.add_column("errors", justify="right")
    table.add_column("rtt p50", justify="right")
    table.add_column("rtt max", justify="right")
    p50, top = details["rtt_p50_ms"], details["rtt_max_ms"]
    table.add_row(
        str(report.sent), str(len(report.received)),
        "[green]yes[/]" if details["in_order"] else "[red]no[/]",
        str(len(report.errors)),
        "-" if p50 is None else f"{p50:.2f} ms",
        "-" if top is None else f"{top:.2f} ms",
    )
    return table


def drive(runtime: Runtime, spec: ScenarioSpec, *, console: Console,
          count: int) -> ScenarioResult:
    """Play ``count`` rounds between the spec's ping and pong agents, check, show them.

    ``input.ping`` and ``input.pong`` name the two agents (spawned by the launcher).

    Args:
        runtime: A started runtime with the spec's agents.
        spec: The scenario spec.
        console: Where progress and tables go.
        count: Round trips to play.

    Returns:
        Whether all round trips arrived in order.
    """
    ping = str(spec.input.get("ping", PING_NAME))
    pong = str(spec.input.get("pong", PONG_NAME))
    console.print(f"playing {count} round trips between [bold]{ping}[/] and [bold]{pong}[/]")
    # Every round trip has the agent's own ask timeout; the rally as a whole gets the sum
    # of a generous per-round budget on top of it.
    timeout_s = runtime.config.ask_timeout_s + 0.5 * count
    report: RallyReport = runtime.ask(ping, Rally(count=count, peer=pong),
                                      timeout_s=timeout_s)
    result = check(report, count, pong)
    console.print(_report_table(report, result))
    console.print(StatusView(runtime.status()))
    return result
