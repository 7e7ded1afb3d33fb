"""Plain records the supervisor reports: agent status, dead letters, the system view."""

from __future__ import annotations

from dataclasses import dataclass, field

from actors._envelope import Envelope
from actors._journal import JournalStats


@dataclass(frozen=True, kw_only=True)
class AgentStatus:
    name: str
    cls: str
    state: str  # starting, running, restarting, failed, stopping, stopped
    mailbox_depth: int
    mailbox_capacity: int
    inflight: int
    handled: int
    failed: int
    retried: int
    dead_lettered: int
    restarts: int
    last_error: str | None
    topics: tuple[str, ...] = ()
    node_id: str | None = None
    pid: int | None = None
    actor_id: str | None = None
    events_dropped: int = 0  # supervision events not queued because its mailbox was full
    dispatcher_restarts: int = 0


@dataclass(frozen=True, kw_only=True)
class DeadLetter:
    """An envelope that could not be delivered, and why."""

    envelope: Envelope
    reason: str
    error: str | None
    at: float
    text: str | None = None  # the payload as text, when listed without payloads

    @property
    def id(self) -> str:
        return self.envelope.id


@dataclass(frozen=True, kw_only=True)
class SystemStatus:
    namespace: str
    supervisor: str
    strategy: str
    started_at: float
    agents: list[AgentStatus] = field(default_factory=list)
    dead_letters: int = 0
    routed: int = 0
    topics: dict[str, tuple[str, ...]] = field(default_factory=dict)
    supervisor_node_id: str | None = None
    supervisor_pid: int | None = None
    dashboard_url: str | None = None
    journal: JournalStats | None = None
    supervisor_restarts: int = 0
    recovered_s: float | None = None  # how long the last recovery from the journal took

    def agent(self, name: str) -> AgentStatus:
        """Return one agent's status.

        Raises:
            KeyError: If there is no such agent.
        """
        for a in self.agents:
            if a.name == name:
                return a
        raise KeyError(name)
