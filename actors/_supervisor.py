"""The supervisor: its public calls (lifecycle, routing, effects, status), assembled from
one part per job — admission (``_admission.py``), dispatch, supervision, dead letters,
events and recovery.

Plain asyncio, no Ray: it reaches agents through an :class:`AgentBackend` (Ray actors in a
real system, in-process hosts in tests). All state lives on one event loop, so there are no
locks; every ``await`` is a point where other calls may run. A message is *accepted* once
it is journaled (``send`` returns then). Every call is screened first (``_screen.py``):
malformed envelopes and senders that cannot prove their name are refused.
"""

from __future__ import annotations

import asyncio
import random
import secrets
import time
from collections import deque
from typing import Any

from opentelemetry.trace import Tracer

from actors import _telemetry as tm
from actors._admission import AdmissionPart
from actors._approvals import ApprovalPart
from actors._config import RuntimeConfig
from actors._credentials import agent_token, proves
from actors._deadletters import DeadLetterPart
from actors._dispatch import DispatchPart
from actors._envelope import Envelope
from actors._errors import (
    AgentExistsError,
    AskTimeoutError,
    ConfigError,
    ForgedSenderError,
    MessageError,
    PayloadTypeError,
    RaygentError,
)
from actors._events import EventsPart
from actors._exchange import ExchangePart, sent_id
from actors._journal import AgentRow, Journal, MemoryJournal
from actors._mailbox import FAILED, RUNNING, STOPPED, AgentRecord, Pending
from actors._metrics import Metrics, NullMetrics
from actors._recovery import RecoveryPart, pack_spec
from actors._screen import screen, seconds
from actors._spec import AgentSpec
from actors._status import AgentStatus, SystemStatus
from actors._supervision import SupervisionPart
from actors._supervisor_base import AgentBackend
from actors._supervisor_streams import StreamPart


class SupervisorCore(AdmissionPart, ExchangePart, DispatchPart, SupervisionPart,
                     DeadLetterPart, EventsPart, RecoveryPart, ApprovalPart, StreamPart):
    """One system's supervisor. Every agent-to-agent message passes through it."""

    def __init__(self, config: RuntimeConfig, backend: AgentBackend,
                 journal: Journal | None = None, tracer: Tracer | None = None,
                 metrics: Metrics | None = None, key: bytes | None = None) -> None:
        self.config = config
        # Signs each agent's name (actors/_credentials.py); random when no file holds it.
        self._key = key or secrets.token_bytes(32)
        self.metrics = metrics or NullMetrics()
        self._tracer = tracer or tm.tracer()
        self._traced = tracer is not None and config.tracing.exporter != "none"
        self.backend = backend
        self.journal = journal or MemoryJournal(
            dedupe_window=config.journal.dedupe_window,
            dedupe_age_s=config.journal.dedupe_age_s, dlq_capacity=config.dlq_capacity)
        self._agents = {}
        self._topics = {}
        self._keys = {}
        self._parked = {}
        self._events = deque(maxlen=config.event_capacity)
        self._order = 0
        self._routed = 0
        self._started_at = time.time()
        self._health_task: asyncio.Task[None] | None = None
        self._starting: asyncio.Task[None] | None = None
        self._closing = False
        self._rand = random.Random()
        self._tasks = set()
        self._evicted_seen = 0
        self.supervisor_restarts = 0
        self._init_approvals()

    # -- lifecycle --------------------------------------------------------------------

    async def start(self) -> None:
        """Recover from the journal (once), then start the periodic health checks."""
        if self._starting is None:
            self._starting = asyncio.get_running_loop().create_task(self._start())
        await asyncio.shield(self._starting)

    async def _start(self) -> None:
        await self._recover()
        self._evicted_seen = self.journal.evicted()
        self._health_task = asyncio.get_running_loop().create_task(self._health_loop())
        self._start_approvals()

    def halt(self) -> None:
        """Stop all of this supervisor's work at once, touching neither the agents nor the
        journal: what the death of its process does. Only useful to rehearse recovery in a
        test (``actors.testing.LocalSystem.crash_supervisor``)."""
        self._closing = True
        self._stop_approvals()
        tasks = [self._health_task, self._starting, *self._tasks,
                 *(rec.task for rec in self._agents.values())]
        for task in tasks:
            if task is not None:
                task.cancel()
        self.journal.close(clean=False)

    async def spawn(self, spec: AgentSpec) -> AgentStatus:
        """Create an agent and start routing to it.

        Raises:
            AgentExistsError: If the name is taken.
        """
        if not spec.name or not isinstance(spec.name, str):
            raise ConfigError("agent name must be a non-empty string", field="name")
        old = self._agents.get(spec.name)
        if old is not None and old.state != STOPPED:
            raise AgentExistsError(spec.name)
        self._order += 1
        rec = AgentRecord(spec=spec, order=self._order, spec_blob=pack_spec(spec))
        rec.idle.set()
        self._agents[spec.name] = rec
        self.journal.put_agent(AgentRow(name=spec.name, order=rec.order, spec=rec.spec_blob))
        await self.journal.flush()
        try:
            rec.ref, rec.info = await self.backend.create(spec, None, self._token(spec.name))
        except BaseException as exc:
            # Mail queued while it was starting must not vanish with it.
            rec.state = FAILED
            rec.last_error = f"spawn failed: {type(exc).__name__}: {exc}"
            while rec.mailbox:
                self._dead_letter(rec, rec.mailbox.popleft(), "spawn failed", rec.last_error)
            del self._agents[spec.name]
            self.journal.drop_agent(spec.name)
            self._persist()
            raise
        rec.state = RUNNING
        for topic in spec.topics:
            await self.subscribe(spec.name, topic)
        self._start_dispatcher(rec)
        rec.wake.set()
        return self._status_of(rec)

    async def stop_agent(self, name: str, timeout_s: float = 10.0) -> None:
        """Stop one agent gracefully: let its mailbox drain, run ``on_stop``, remove it."""
        await self._drain_and_stop(self._get(name), timeout_s, "stopped on request")

    async def shutdown(self, timeout_s: float = 10.0) -> list[str]:
        """Stop every agent, newest first, gracefully within ``timeout_s`` each.

        Returns:
            One line per agent that did not stop cleanly (empty when all did).
        """
        self._closing = True
        if self._health_task is not None:
            self._health_task.cancel()
        self._stop_approvals()
        deadline = time.monotonic() + timeout_s
        failures: list[str] = []
        for name in sorted(self._agents, key=lambda n: -self._agents[n].order):
            left = max(0.5, deadline - time.monotonic())
            try:
                await self.stop_agent(name, left)
            except Exception as exc:
                failures.append(f"{name}: {type(exc).__name__}: {exc}")
        self.journal.compact()
        return failures

    async def restart(self, name: str) -> AgentStatus:
        """Restart an agent now (also one marked failed); its intensity window resets."""
        rec = self._get(name)
        rec.restart_times.clear()
        prior = rec.state
        rec.state = "restarting"
        await self._restart_one(rec, "manual restart", graceful=prior == RUNNING)
        return self._status_of(rec)

    # -- routing -------------------------------------------------------------------------

    def _token(self, name: str) -> str:
        return agent_token(self._key, name)

    def _screen(self, envs: Any, token: Any) -> list[Envelope]:
        return screen(envs, token, self._key, self.config.max_message_bytes)

    async def submit(self, envs: list[Envelope], timeout_s: float | None = None,
                     token: str | None = None) -> list[str | RaygentError]:
        """Queue envelopes for their recipients; return each one's id or its error.

        Returns once they are journaled. ``timeout_s`` is how long to wait for room under
        the ``block`` mailbox policy; ``token`` proves an agent sender's name.

        Raises:
            MessageError: A malformed envelope (nothing of the call is queued).
            ForgedSenderError: A sender the token does not prove.
        """
        envs = self._screen(envs, token)
        timeout_s = seconds(timeout_s, "timeout_s")
        routed, spans = self._route(envs)
        results = await self._admit(routed, timeout_s)
        self._end_spans(spans, results)
        return [sent_id(env, r) for env, r in zip(envs, results, strict=True)]

    async def ask(self, env: Envelope, timeout_s: float | None = None,
                  token: str | None = None) -> Any:
        """Queue a request and wait for its reply (bytes); errors come back as values."""
        (result,) = await self.ask_many([env], timeout_s, token)
        return result

    async def ask_many(self, envs: list[Envelope], timeout_s: float | None = None,
                       token: str | None = None) -> list[Any]:
        """Queue many requests; return each reply (pickled bytes) or the error for it.

        One deadline covers queueing, waiting for room and the reply, measured on the
        supervisor's monotonic clock from when the call arrived.
        """
        envs = self._screen(envs, token)
        loop = asyncio.get_running_loop()
        timeout = seconds(timeout_s, "timeout_s")
        timeout = self.config.ask_timeout_s if timeout is None else timeout
        deadline = loop.time() + timeout
        envs = [e if e.expects_reply and e.ttl_s is not None else
                e.evolve(expects_reply=True, ttl_s=timeout if e.ttl_s is None else e.ttl_s)
                for e in envs]
        routed, spans = self._route(envs)
        results = await self._admit(routed, timeout)
        self._end_spans(spans, results)
        futures: list[asyncio.Future[Any] | None] = []
        for r in results:
            if isinstance(r, Pending):
                futures.append(r.wait())
            else:
                futures.append(None)
        waiting = [f for f in futures if f is not None]
        if waiting:
            await asyncio.wait(waiting, timeout=max(0.0, deadline - loop.time()))
        out: list[Any] = []
        for env, r, f in zip(envs, results, futures, strict=True):
            if f is None:
                out.append(r)
            elif f.done():
                out.append(f.result())
            else:
                f.cancel()
                out.append(AskTimeoutError(env.recipient or "", env.kind, timeout))
        return out

    async def publish(self, env: Envelope, token: str | None = None) -> int:
        """Queue one copy per subscriber of ``env.topic``; return how many were queued.

        A copy that cannot be queued (full or failed subscriber) is dead-lettered, never
        dropped. Copies have ids derived from the original, so a publish retried after a
        supervisor restart is recognised.

        Raises:
            PayloadTypeError: If a subscriber has no handler for the kind (nothing queued).
        """
        (env,) = self._screen([env], token)
        subs = list(self._topics.get(env.topic or "", ()))
        for name in subs:
            rec = self._agents[name]
            if env.kind not in rec.spec.accepted:
                raise PayloadTypeError(name, env.kind, rec.spec.accepted)
        copies = [env.evolve(id=f"{env.id}.{name}", recipient=name,
                             correlation_id=env.correlation_id or env.id) for name in subs]
        routed, spans = self._route(copies)
        results = await self._admit(routed, None)
        queued = 0
        for copy, result in zip(routed, results, strict=True):
            if isinstance(result, RaygentError):
                rec = self._agents[copy.recipient or ""]
                self._dead_letter(rec, Pending(copy), "publish: " + type(result).__name__,
                                  str(result))
            else:
                queued += 1
        self._end_spans(spans, [])
        return queued

    async def subscribe(self, name: str, topic: str) -> None:
        """Subscribe an agent to a topic (on disk when this returns)."""
        self._get(name)
        subs = self._topics.setdefault(topic, [])
        if name not in subs:
            subs.append(name)
            self.journal.put_sub(name, topic)
            await self.journal.flush()

    async def unsubscribe(self, name: str, topic: str) -> None:
        subs = self._topics.get(topic, [])
        if name in subs:
            subs.remove(name)
            self.journal.drop_sub(name, topic)
            await self.journal.flush()

    # -- effects -------------------------------------------------------------------------

    def _own(self, agent: Any, key: Any, token: Any) -> None:
        """Only an agent itself reads and writes its effect records."""
        if not isinstance(agent, str) or not proves(self._key, agent, token):
            raise ForgedSenderError(str(agent)[:100])
        if not isinstance(key, str) or not 0 < len(key) <= 2048:
            raise MessageError("an effect key must be a non-empty string of at most 2048 "
                               "characters")

    async def effect_get(self, agent: str, key: str, token: str | None = None
                         ) -> bytes | None:
        """The recorded result of an agent's effect, if it ran (``ctx.effect``)."""
        self._own(agent, key, token)
        return self.journal.effect_get(agent, key)

    async def effect_put(self, agent: str, key: str, result: bytes,
                         token: str | None = None) -> None:
        self._own(agent, key, token)
        if not isinstance(result, bytes) or len(result) > self.config.max_message_bytes:
            raise MessageError("an effect's recorded result must be bytes within "
                               "max_message_bytes")
        self.journal.effect_put(agent, key, result)
        await self.journal.flush()  # recorded means on disk: redelivery will not repeat it

    # -- status --------------------------------------------------------------------------

    def mailbox_depths(self) -> dict[str, int]:
        """Messages waiting per agent (what the metrics sampler reads)."""
        return {name: len(rec.mailbox) for name, rec in self._agents.items()}

    def _status_of(self, rec: AgentRecord) -> AgentStatus:
        return AgentStatus(
            name=rec.name, cls=rec.spec.class_name, state=rec.state,
            mailbox_depth=len(rec.mailbox), mailbox_capacity=rec.spec.mailbox.capacity,
            inflight=len(rec.inflight), handled=rec.handled, failed=rec.failed,
            retried=rec.retried, dead_lettered=rec.dead, restarts=rec.restarts,
            last_error=rec.last_error,
            topics=tuple(t for t, subs in self._topics.items() if rec.name in subs),
            node_id=rec.info.get("node_id"), pid=rec.info.get("pid"),
            actor_id=rec.info.get("actor_id"), events_dropped=rec.events_dropped,
            dispatcher_restarts=rec.dispatcher_restarts,
        )

    def status(self) -> SystemStatus:
        return SystemStatus(
            namespace=self.config.namespace, supervisor=self.config.supervisor_name,
            strategy=self.config.strategy, started_at=self._started_at,
            agents=[self._status_of(r) for r in
                    sorted(self._agents.values(), key=lambda r: r.order)],
            dead_letters=self.journal.dead_count(), routed=self._routed,
            topics={t: tuple(s) for t, s in self._topics.items()},
            journal=self.journal.stats(), supervisor_restarts=self.supervisor_restarts,
            recovered_s=self.recovered_s,
        )

    async def flush_traces(self) -> None:
        """Ask every agent to export its finished spans now."""
        await asyncio.gather(*(self.backend.flush(r.ref) for r in self._agents.values()
                               if r.state == RUNNING), return_exceptions=True)

    def agent_names(self) -> list[str]:
        return [n for n, r in self._agents.items() if r.state != STOPPED]


__all__ = ["AgentBackend", "SupervisorCore"]
