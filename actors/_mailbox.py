"""The supervisor's records: one per agent (its mailbox and counters), one per queued message.

Every module of the supervisor (routing, dispatch, supervision, dead letters, events,
recovery) works on these records; they hold no behaviour beyond small helpers, so the
rules live in one place each.
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from actors._envelope import Envelope
from actors._spec import AgentSpec

STARTING, RUNNING, RESTARTING, FAILED, STOPPING, STOPPED = (
    "starting", "running", "restarting", "failed", "stopping", "stopped")


@dataclass(slots=True)
class Pending:
    """A message queued or in flight, and the callers waiting on its reply.

    Attributes:
        deadline: ``loop.time()`` by which it must be delivered, from the envelope's
            ``ttl_s`` when the supervisor accepted it (its own monotonic clock).
        waiters: Futures of asks waiting on the reply (a retried ask joins them).
        settled: Whether it has its outcome (then ``outcome`` holds it).
    """

    env: Envelope
    deadline: float | None = None
    waiters: list[asyncio.Future[Any]] = field(default_factory=list)
    settled: bool = False
    outcome: Any = None

    @property
    def key(self) -> tuple[str, str]:
        return (self.env.recipient or "", self.env.dedupe_key)

    def abandoned(self) -> bool:
        """An ask whose every caller gave up: not worth running late."""
        return bool(self.waiters) and all(w.done() for w in self.waiters)

    def settle(self, value: Any) -> None:
        """Give every waiter the reply (bytes) or the error (a RaygentError value); the
        first outcome stands (a dead-letter notice after the handler's own error is not
        what the asker gets)."""
        if self.settled:
            return
        self.settled, self.outcome = True, value
        for w in self.waiters:
            if not w.done():
                w.set_result(value)

    def wait(self) -> asyncio.Future[Any]:
        """A future of the outcome. A message can be handled while its admission is still
        being journaled, so it may be settled already: then the future is done at once."""
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        if self.settled:
            fut.set_result(self.outcome)
        else:
            self.waiters.append(fut)
        return fut


@dataclass
class AgentRecord:
    """Everything the supervisor tracks about one agent."""

    spec: AgentSpec
    order: int
    spec_blob: bytes = b""
    ref: Any = None
    info: dict[str, Any] = field(default_factory=dict)
    state: str = STARTING
    mailbox: deque[Pending] = field(default_factory=deque)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    room: asyncio.Condition = field(default_factory=asyncio.Condition)
    inflight: list[Pending] = field(default_factory=list)
    idle: asyncio.Event = field(default_factory=asyncio.Event)
    routed: int = 0
    reported: tuple[int, int, int, int, int, int] = (0, 0, 0, 0, 0, 0)
    handled: int = 0
    failed: int = 0
    retried: int = 0
    dead: int = 0
    restarts: int = 0
    restart_times: deque[float] = field(default_factory=deque)
    last_error: str | None = None
    snapshot: bytes | None = None
    backoff_until: float = 0.0
    isolate: int = 0
    task: asyncio.Task[None] | None = None
    dispatcher_restarts: int = 0
    events_dropped: int = 0
    events_unreported: int = 0

    @property
    def name(self) -> str:
        return self.spec.name

    def has_room(self) -> bool:
        return len(self.mailbox) < self.spec.mailbox.capacity
