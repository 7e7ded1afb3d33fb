"""What the supervisor knows about an agent before it exists: its spec."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from actors._config import MailboxConfig, Resources, RestartPolicy


@dataclass(frozen=True, kw_only=True)
class AgentSpec:
    """Everything needed to (re)create an agent.

    ``accepted`` is computed from the class in the spawning process, so the supervisor can
    reject a wrong payload at send without importing the agent's code.
    """

    name: str
    cls: type
    config: dict[str, Any] = field(default_factory=dict)
    resources: Resources = field(default_factory=Resources)
    restart: RestartPolicy = field(default_factory=RestartPolicy)
    mailbox: MailboxConfig = field(default_factory=MailboxConfig)
    topics: tuple[str, ...] = ()
    accepted: tuple[str, ...] = ()
    has_snapshot: bool = False

    @property
    def class_name(self) -> str:
        return f"{self.cls.__module__}.{self.cls.__qualname__}"


@dataclass(frozen=True, kw_only=True)
class Outcome:
    """The result of one envelope in a delivered batch.

    ``status`` is ``ok`` (``value`` is the handler's return), ``error`` (``error`` says
    why; the envelopes after it in the batch were not run), ``skipped``, or ``parked``
    (the handler waits for a person; ``value`` is the approval's id).
    """

    status: str
    value: Any = None
    error: Exception | None = None
    duplicate: bool = False


@dataclass(frozen=True, kw_only=True)
class BatchResult:
    """What an agent hands back for a delivered batch.

    ``snapshot`` is the agent's pickled :class:`Snapshot` after the batch (stateful agents
    only): the supervisor journals the bytes and hands them back at a restart without
    unpickling them. ``exit`` is set when a handler asked the agent to stop
    (``Agent.exit``), with its reason; ``fault`` when the agent must be restarted now (its
    process passed its memory limit, or a handler that cannot be cancelled is stuck).
    """

    outcomes: list[Outcome]
    snapshot: bytes | None = None
    exit: str | None = None
    fault: str | None = None
    handler_times: list[tuple[str, float]] = field(default_factory=list)  # (kind, seconds)


@dataclass(frozen=True, kw_only=True)
class Snapshot:
    """An agent's state plus the ids it has already handled (to drop redeliveries)."""

    state: Any
    seen: dict[str, Any]
