"""Supervision events (crashes, restarts, failures, dead letters) and their subscribers.

Every event is kept in a bounded ring for ``Runtime.events`` and, except dead-letter
notices, sent to the agents subscribed to ``EVENTS_TOPIC``. A subscriber whose mailbox is
full does not block the supervisor: the event is not queued for it, the miss is counted
(``AgentStatus.events_dropped``), and the next event it does get carries
``data["dropped"]``, the number it missed since, so a watcher always knows it fell behind.
"""

from __future__ import annotations

import time

from actors._envelope import Envelope
from actors._mailbox import RUNNING, Pending
from actors._supervisor_base import CoreState, log
from actors.messages import EVENTS_TOPIC, AgentEvent

_QUIET = ("dead_letter",)  # frequent, and each one is in the dead-letter queue already


class EventsPart(CoreState):
    def _event(self, event: str, agent: str, detail: str, **data: str) -> AgentEvent:
        ev = AgentEvent(event=event, agent=agent, detail=detail, at=time.time(), data=data)
        self._events.append(ev)
        if event in _QUIET:
            return ev
        log.warning("agent %s %s: %s", agent, event, detail)
        for name in list(self._topics.get(EVENTS_TOPIC, ())):
            rec = self._agents.get(name)
            if rec is None or rec.state != RUNNING or name == agent:
                continue
            if "AgentEvent" not in rec.spec.accepted:
                continue
            if not rec.has_room():
                rec.events_dropped += 1
                rec.events_unreported += 1
                continue
            sent = ev
            if rec.events_unreported:
                sent = AgentEvent(event=event, agent=agent, detail=detail, at=ev.at,
                                  data={**data, "dropped": str(rec.events_unreported)})
                rec.events_unreported = 0
            env = Envelope.wrap(sent, kind="AgentEvent", sender="supervisor",
                                recipient=name, topic=EVENTS_TOPIC)
            self.journal.accept([env])
            self._enqueue_now(rec, [Pending(env)])
            self._persist()
        return ev

    def events(self, since: float = 0.0) -> list[AgentEvent]:
        """Events at or after ``since`` (wall-clock seconds), oldest first."""
        return [e for e in self._events if e.at >= since]
