"""The envelope a payload travels in, and the context a handler sees.

Handlers never see the envelope: they get the payload and a :class:`MessageContext`, so the
runtime can change how messages travel without touching agent code.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from typing import Any

from actors._ids import new_id


@dataclass(frozen=True, kw_only=True, slots=True)
class Envelope:
    """One message in flight.

    Attributes:
        id: Unique, time-sortable message id; receivers de-duplicate on it.
        kind: Registered kind of the payload.
        sender: Name of the sending agent, or ``"driver"`` for code outside agents.
        recipient: Name of the receiving agent (``None`` for a topic message before fan-out).
        topic: Topic the message was published on, if any.
        payload: The typed, frozen message.
        correlation_id: Id shared by a request and everything caused by it.
        reply_to: Id of the message this one answers, if it is a reply.
        created_at: Wall-clock seconds when the sender made it.
        deadline: Wall-clock seconds after which it is not delivered (goes to dead letters).
        attempt: Delivery attempt, 1 for the first.
        idempotency_key: Key that makes retried or duplicated sends have one effect.
        trace: W3C trace-context carrier (``traceparent``/``tracestate``).
        expects_reply: Whether a caller waits on the handler's return value.
    """

    id: str = field(default_factory=new_id)
    kind: str
    sender: str = "driver"
    recipient: str | None = None
    topic: str | None = None
    payload: Any
    correlation_id: str | None = None
    reply_to: str | None = None
    created_at: float = field(default_factory=time.time)
    deadline: float | None = None
    attempt: int = 1
    idempotency_key: str | None = None
    trace: dict[str, str] = field(default_factory=dict)
    expects_reply: bool = False

    @property
    def dedupe_key(self) -> str:
        """Key the receiver de-duplicates on: the idempotency key if set, else the id."""
        return self.idempotency_key or self.id

    def expired(self, now: float | None = None) -> bool:
        """Return whether the deadline has passed."""
        return self.deadline is not None and (now or time.time()) > self.deadline

    def evolve(self, **changes: Any) -> Envelope:
        """Return a copy with some fields changed."""
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True, kw_only=True, slots=True)
class MessageContext:
    """What a handler knows about the message it is handling."""

    message_id: str
    kind: str
    sender: str
    recipient: str
    topic: str | None
    correlation_id: str | None
    attempt: int
    deadline: float | None
    trace: dict[str, str]

    @classmethod
    def of(cls, env: Envelope) -> MessageContext:
        return cls(
            message_id=env.id,
            kind=env.kind,
            sender=env.sender,
            recipient=env.recipient or "",
            topic=env.topic,
            correlation_id=env.correlation_id or env.id,
            attempt=env.attempt,
            deadline=env.deadline,
            trace=env.trace,
        )
