"""Coming back: rebuild the supervisor's state from its journal after a restart.

Agents are detached actors, so they keep running while the supervisor is down. On start
the supervisor reads its registry and re-adopts every agent whose actor still answers
(``AgentBackend.adopt``), re-creates the ones that died (from their spec and last
snapshot), restores topic subscriptions, and queues every unfinished message again in the
order it was accepted. Callers that were waiting retry with the same envelope and are
joined to the re-queued message by its dedupe key (``actors/_supervisor.py``).
"""

from __future__ import annotations

import asyncio
import time

from ray import cloudpickle

from actors._mailbox import FAILED, RESTARTING, RUNNING, AgentRecord, Pending
from actors._spec import AgentSpec
from actors._supervisor_base import CoreState, log


def pack_spec(spec: AgentSpec) -> bytes:
    """A spec as bytes for the journal (cloudpickle: classes defined in scripts work too)."""
    blob: bytes = cloudpickle.dumps(spec)
    return blob


class RecoveryPart(CoreState):
    recovered_s: float | None = None

    async def _recover(self) -> None:
        """Rebuild from the journal (a no-op on a fresh one)."""
        started = time.monotonic()
        self.supervisor_restarts = self.journal.open()
        self._load_approvals()  # actors/_approvals.py: waits for a person survive us
        rows = self.journal.agents()
        if not rows:
            return
        loop = asyncio.get_running_loop()
        recs: list[AgentRecord] = []
        for row in rows:
            try:
                spec: AgentSpec = cloudpickle.loads(row.spec)
            except Exception as exc:  # its class no longer imports: say so, keep the rest
                log.error("cannot restore agent %s from the journal: %s", row.name, exc)
                self.journal.drop_agent(row.name)
                self._persist()
                continue
            rec = AgentRecord(spec=spec, order=row.order, spec_blob=row.spec,
                              restarts=row.restarts, snapshot=row.snapshot)
            rec.idle.set()
            self._agents[spec.name] = rec
            self._order = max(self._order, row.order)
            recs.append(rec)
        await asyncio.gather(*(self._bring_back(rec) for rec in recs))
        for name, topic in self.journal.subs():
            if name in self._agents:
                subs = self._topics.setdefault(topic, [])
                if name not in subs:
                    subs.append(name)
        queued = 0
        for env in self.journal.pending():
            found = self._agents.get(env.recipient or "")
            item = Pending(env, None if env.ttl_s is None else loop.time() + env.ttl_s)
            if found is None:
                log.error("message %s for unknown agent %r after restart", env.id,
                          env.recipient)
                continue
            rec = found
            if rec.state == FAILED:
                self._dead_letter(rec, item, "agent failed", rec.last_error)
                continue
            if self._hold_if_waiting(item):
                continue
            self._keys[item.key] = item
            rec.mailbox.append(item)
            queued += 1
        for rec in recs:
            if rec.state == RUNNING:
                self._start_dispatcher(rec)
                rec.wake.set()
        self.recovered_s = time.monotonic() - started
        self._event("supervisor_recovered", "supervisor",
                    f"restart {self.supervisor_restarts}: {len(recs)} agents, {queued} "
                    f"messages queued again in {self.recovered_s:.2f}s",
                    restarts=str(self.supervisor_restarts))

    async def _bring_back(self, rec: AgentRecord) -> None:
        try:
            found = await self.backend.adopt(rec.spec)
        except Exception as exc:  # an unreachable node: treat the agent as gone
            log.error("agent %s: cannot re-adopt (%s); starting a new one", rec.name, exc)
            found = None
        if found is None:
            rec.state = RESTARTING
            found = await self._create(rec)
            if found is None:
                log.error("agent %s could not be brought back: %s", rec.name, rec.last_error)
                return
            rec.restarts += 1
            self.journal.update_agent(rec.name, restarts=rec.restarts)
            self._persist()
        rec.ref, rec.info = found
        rec.state = RUNNING
