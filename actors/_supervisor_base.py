"""The state every part of the supervisor shares, and how it reaches agents.

``SupervisorCore`` (``actors/_supervisor.py``) is assembled from one class per job:
routing (itself), dispatch (``_dispatch.py``), supervision and restarts
(``_supervision.py``), dead letters (``_deadletters.py``), events (``_events.py``) and
recovery from the journal (``_recovery.py``). They all derive from :class:`CoreState`,
which declares the shared state and the few calls one part makes into another.
"""

from __future__ import annotations

import asyncio
import logging
import random
from typing import Any, Protocol

from opentelemetry.trace import Span, Tracer

from actors._config import RuntimeConfig
from actors._envelope import Envelope
from actors._journal import Journal
from actors._mailbox import AgentRecord, Pending
from actors._metrics import Metrics
from actors._spec import AgentSpec, BatchResult
from actors.messages import AgentEvent

log = logging.getLogger("raygent.supervisor")


class AgentBackend(Protocol):
    """How the supervisor creates and reaches agents (Ray actors, or in-process hosts)."""

    async def create(self, spec: AgentSpec, snapshot: bytes | None, token: str
                     ) -> tuple[Any, dict[str, Any]]:
        """Start an agent (restored from ``snapshot``, proving its name with ``token``);
        return its handle and facts.

        Raises:
            AgentExistsError: If something else holds the name.
        """
        ...

    async def adopt(self, spec: AgentSpec) -> tuple[Any, dict[str, Any]] | None:
        """Find the agent's running actor after a supervisor restart (None if gone)."""
        ...

    async def deliver(self, ref: Any, batch: list[Envelope]) -> BatchResult:
        """Run a batch. Raises AgentUnavailableError if the agent's process is gone."""
        ...

    async def health(self, ref: Any) -> None: ...
    async def stop(self, ref: Any) -> bytes | None: ...
    async def kill(self, ref: Any, name: str) -> None: ...
    async def rss_mb(self, ref: Any) -> float | None: ...
    async def flush(self, ref: Any) -> None: ...


class CoreState:
    """Shared state of the supervisor's parts (set up by ``SupervisorCore.__init__``)."""

    config: RuntimeConfig
    backend: AgentBackend
    journal: Journal
    metrics: Metrics
    _tracer: Tracer
    _traced: bool
    _agents: dict[str, AgentRecord]
    _topics: dict[str, list[str]]
    _keys: dict[tuple[str, str], Pending]
    _events: Any  # deque[AgentEvent]
    _order: int
    _routed: int
    _closing: bool
    _rand: random.Random
    _tasks: set[asyncio.Task[Any]]
    _evicted_seen: int
    supervisor_restarts: int
    _key: bytes

    # -- calls between parts (each defined once, in the part named) ---------------------

    def _dead_letter(self, rec: AgentRecord, item: Pending, reason: str,
                     error: str | None) -> None:
        raise NotImplementedError  # _deadletters.py

    def _event(self, event: str, agent: str, detail: str, **data: str) -> AgentEvent:
        raise NotImplementedError  # _events.py

    async def _on_failure(self, rec: AgentRecord, reason: str) -> None:
        raise NotImplementedError  # _supervision.py

    def _load_approvals(self) -> None:
        raise NotImplementedError  # _approvals.py

    def _hold_if_waiting(self, item: Pending) -> bool:
        raise NotImplementedError  # _approvals.py

    def _park(self, rec: AgentRecord, item: Pending, ident: Any) -> None:
        raise NotImplementedError  # _approvals.py

    async def _on_exit(self, rec: AgentRecord, reason: str) -> None:
        raise NotImplementedError  # _supervision.py

    async def _create(self, rec: AgentRecord) -> tuple[Any, dict[str, Any]] | None:
        raise NotImplementedError  # _supervision.py

    def _start_dispatcher(self, rec: AgentRecord) -> None:
        raise NotImplementedError  # _dispatch.py

    def _report(self, rec: AgentRecord) -> None:
        raise NotImplementedError  # _dispatch.py

    def _trace_event(self, event: str, rec: AgentRecord, env: Envelope, *,
                     error: str | None, is_error: bool, **attrs: Any) -> None:
        raise NotImplementedError  # _dispatch.py

    def _enqueue_now(self, rec: AgentRecord, items: list[Pending]) -> None:
        raise NotImplementedError  # _supervisor.py

    def _sweep_parked(self) -> None:
        raise NotImplementedError  # _exchange.py

    def _token(self, name: str) -> str:
        raise NotImplementedError  # _supervisor.py

    def _screen(self, envs: Any, token: Any) -> list[Envelope]:
        raise NotImplementedError  # _supervisor.py

    def _route(self, envs: list[Envelope]) -> tuple[list[Envelope], list[Span]]:
        raise NotImplementedError  # _admission.py

    async def _admit(self, envs: list[Envelope], wait_s: float | None) -> list[Any]:
        raise NotImplementedError  # _admission.py

    def _end_spans(self, spans: list[Span], results: list[Any]) -> None:
        raise NotImplementedError  # _admission.py

    def _persist(self) -> None:
        """Commit the journal's queued writes soon, for writes nobody waits on (dead
        letters, registry changes): they are never left queued."""
        self._spawn_task(self.journal.flush())

    def _spawn_task(self, coro: Any) -> None:
        """Run ``coro`` on its own, kept referenced until it ends; errors are logged."""
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)

        def done(t: asyncio.Task[Any]) -> None:
            self._tasks.discard(t)
            if not t.cancelled() and t.exception() is not None:
                log.error("supervisor task failed", exc_info=t.exception())

        task.add_done_callback(done)
