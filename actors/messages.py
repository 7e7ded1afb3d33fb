"""The runtime's own message types.

Every payload is a frozen, keyword-only dataclass registered with :func:`message`. User
domains declare theirs the same way, one module per domain.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from actors._registry import message


@message
@dataclass(frozen=True, kw_only=True)
class Ping:
    """Ask an agent to answer with a :class:`Pong`; ``n`` is echoed back."""

    n: int = 0


@message
@dataclass(frozen=True, kw_only=True)
class Pong:
    n: int = 0
    by: str = ""


@message
@dataclass(frozen=True, kw_only=True)
class Echo:
    """Ask an agent to return the text unchanged."""

    text: str


@message
@dataclass(frozen=True, kw_only=True)
class EchoReply:
    text: str
    by: str = ""


@message
@dataclass(frozen=True, kw_only=True)
class AgentEvent:
    """A supervision event: restarts, failures, escalations.

    Published on the ``raygent.events`` topic and kept in the supervisor's event log.
    """

    event: str  # "restarted", "failed", "unhealthy", "dead_letter", "stopped"
    agent: str
    detail: str = ""
    at: float = 0.0
    data: dict[str, str] = field(default_factory=dict)


EVENTS_TOPIC = "raygent.events"
