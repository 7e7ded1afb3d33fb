"""Dead letters: messages that could not be delivered, kept in the journal until replayed.

With the durable journal every dead letter is on disk (up to ``dead_letters_max``, past
which the oldest are pruned and counted); with the memory journal the newest
``dlq_capacity`` are kept and each eviction is counted and announced as an event. Either
way no dead letter disappears without a number saying so.
"""

from __future__ import annotations

import time

from actors import _telemetry as tm
from actors._envelope import loads
from actors._errors import AgentFailedError, HandlerError
from actors._journal import LetterRow
from actors._mailbox import FAILED, AgentRecord, Pending
from actors._secrets import redact
from actors._status import DeadLetter
from actors._supervisor_base import CoreState


def payload_text(kind: str, data: bytes, limit: int = 200) -> str:
    """The payload as text for tools that may not import its class (never raises)."""
    try:
        value = loads(data)
    except Exception:  # unpickling needs the payload's module; show what we know instead
        return f"<{kind}: {len(data)} bytes, class not importable here>"
    return tm.payload_text(value, limit)


class DeadLetterPart(CoreState):
    def _dead_letter(self, rec: AgentRecord, item: Pending, reason: str,
                     error: str | None) -> None:
        rec.dead += 1
        self._keys.pop(item.key, None)
        reason, error = redact(reason), None if error is None else redact(error)
        self.journal.dead(LetterRow(envelope=item.env, reason=reason, error=error,
                                    at=time.time()))
        self._persist()
        self._trace_event(tm.EV_DEAD_LETTER, rec, item.env, is_error=True,
                          error=f"{reason}: {error}" if error else reason)
        if item.env.expects_reply:
            # The asker gets the handler's own error when there is one (see _apply).
            item.settle(AgentFailedError(rec.name, reason) if rec.state == FAILED else
                        HandlerError(rec.name, item.env.kind, "DeadLetter",
                                     f"{reason}: {error}" if error else reason))
        self._event("dead_letter", rec.name, reason, message_id=item.env.id)
        evicted = self.journal.evicted()
        if evicted > self._evicted_seen:
            self._event("dead_letters_evicted", rec.name,
                        f"{evicted - self._evicted_seen} oldest dead letters dropped to stay "
                        "within the limit: raise dlq_capacity / journal.dead_letters_max, "
                        "or replay and purge them", evicted=str(evicted))
            self._evicted_seen = evicted

    def dead_letters(self, limit: int | None = None, *, payloads: bool = True
                     ) -> list[DeadLetter]:
        """The newest ``limit`` dead letters (all when None), oldest first.

        With ``payloads=False`` each letter carries its payload as ``text`` and no bytes,
        so a reader that cannot import the payload's class (the CLI) can list them.
        """
        rows = self.journal.dead_letters(limit)
        if payloads:
            return [DeadLetter(envelope=r.envelope, reason=r.reason, error=r.error, at=r.at)
                    for r in rows]
        return [DeadLetter(envelope=r.envelope.evolve(data=b""), reason=r.reason,
                           error=r.error, at=r.at,
                           text=payload_text(r.envelope.kind, r.envelope.data))
                for r in rows]

    async def replay(self, ids: list[str] | None = None) -> int:
        """Queue dead letters again (all, or those with the given ids) as first attempts.

        A letter whose recipient is gone, failed or full stays in the queue, its error
        saying why the replay was refused.
        """
        wanted = None if ids is None else set(ids)
        replayed = 0
        for row in self.journal.dead_letters(None):
            env = row.envelope
            if wanted is not None and env.id not in wanted:
                continue
            rec = self._agents.get(env.recipient or "")
            problem: str | None = None
            if rec is None or rec.state in ("stopped", "failed"):
                problem = "recipient is gone or failed"
            elif not rec.has_room():
                problem = "recipient's mailbox is full"
            if problem is not None:
                self.journal.remove_dead([env.id])
                self.journal.dead(LetterRow(envelope=env, reason=row.reason,
                                            error=f"replay refused: {problem}", at=row.at))
                continue
            assert rec is not None
            fresh = env.evolve(attempt=1, ttl_s=None)  # a replay is a new first try
            self.journal.remove_dead([env.id])
            self.journal.forget([fresh])
            self.journal.accept([fresh])
            self._enqueue_now(rec, [Pending(fresh)])
            replayed += 1
        await self.journal.flush()
        return replayed

    def purge_dead_letters(self) -> int:
        return self.journal.remove_dead(None)


__all__ = ["DeadLetterPart", "payload_text"]
