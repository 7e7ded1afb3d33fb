"""What CLI commands print: plain dicts for ``--json``, dead-letter and scenario tables."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterable
from typing import Any

from rich.table import Table
from rich.text import Text

from actors import AgentStatus, DeadLetter, SystemStatus
from scenarios._scenario import Scenario


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
        "journal": _plain(status.journal),
        "supervisor_restarts": status.supervisor_restarts,
        "recovered_s": status.recovered_s,
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
        "payload": letter.text if letter.text is not None else _plain(env.payload),
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
