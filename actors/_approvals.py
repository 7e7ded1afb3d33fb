"""Human approval, the supervisor's side: parked messages, answers, expiry.

A handler's ``ctx.approval`` reaches :meth:`ApprovalPart.approval_request`, which journals
a pending approval (on disk before the handler hears back) and the handler ends; its
message comes back from the agent as ``parked`` and is *held* here, out of the agent's
mailbox (its slot is free) but still accepted in the journal. ``approve``/``reject``
(:meth:`answer_approval`) or the wait's expiry record the answer, then queue the held
message again at the front of its agent's mailbox; the handler runs again and gets the
answer. After a supervisor restart, recovery holds again every accepted message that has
a pending approval (``_hold_if_waiting``).

Deadlines of approvals are wall-clock times on the supervisor's node (``expires`` in the
journal), so a wait keeps its deadline across restarts; a held message's own deadline
(``ttl_s``) and an asker who gave up no longer apply once it waits for a person: when it
is answered it runs to its end, and its reply is recorded for an ask sent again.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from typing import Any

from actors._approval import (
    APPROVED,
    EXPIRED,
    PENDING,
    REJECTED,
    Approval,
    ApprovalRow,
    PendingApproval,
    approval_id,
    default_answer,
    view,
)
from actors._approval_errors import (
    ApprovalConflictError,
    ApprovalError,
    ApprovalNotFoundError,
)
from actors._credentials import proves
from actors._errors import AgentStoppedError, ForgedSenderError
from actors._mailbox import FAILED, STOPPED, STOPPING, AgentRecord, Pending
from actors._screen import check_answer, check_ticket
from actors._supervisor_base import CoreState, log

_IDLE_S = 60.0  # longest sleep of the expiry loop (it is woken by every new wait)


class ApprovalPart(CoreState):
    _key: bytes
    _approvals: dict[str, ApprovalRow]
    _held: dict[str, Pending]
    _approval_wake: asyncio.Event
    _approval_task: asyncio.Task[None] | None

    def _init_approvals(self) -> None:
        self._approvals = {}
        self._held = {}
        self._approval_wake = asyncio.Event()
        self._approval_task = None

    # -- lifecycle (called by SupervisorCore and recovery) -------------------------------

    def _load_approvals(self) -> None:
        self._approvals = {row.id: row for row in self.journal.approvals()}

    def _hold_if_waiting(self, item: Pending) -> bool:
        """Hold a recovered message whose handler waits for an approval (True if so)."""
        agent, key = item.key
        if item.key in self._keys:  # a copy sent again during recovery: it parks itself
            return True
        for row in self._approvals.values():
            if (row.status == PENDING and row.agent == agent
                    and row.ticket.message_key == key):
                self._held[row.id] = item
                self._keys[item.key] = item
                return True
        return False

    def _start_approvals(self) -> None:
        if self._approval_task is None:
            self._approval_task = asyncio.get_running_loop().create_task(
                self._approval_loop())

    def _stop_approvals(self) -> None:
        if self._approval_task is not None:
            self._approval_task.cancel()
            self._approval_task = None

    # -- the agent's call ----------------------------------------------------------------

    async def approval_request(self, agent: str, ticket: Any, token: str | None = None
                               ) -> tuple[str, str, str | None]:
        """The answer recorded for an agent's wait, or journal it as pending.

        Returns:
            ``(id, status, answer JSON or None)``; status ``pending`` means "park".

        Raises:
            ForgedSenderError: The caller is not the agent it names.
            MessageError: A malformed ticket.
            ApprovalError: The agent has no such message in progress.
        """
        if not isinstance(agent, str) or not proves(self._key, agent, token):
            raise ForgedSenderError(str(agent)[:100])
        ticket = check_ticket(ticket, self.config.max_message_bytes)
        ident = approval_id(agent, ticket.key)
        row = self._approvals.get(ident)
        if row is not None:
            if row.status == EXPIRED and row.answer is None:
                # The handler fails now (ApprovalExpiredError) and its message is
                # dead-lettered; a replay of it from there asks a person again.
                del self._approvals[ident]
                self.journal.approval_drop([ident])
                await self.journal.flush()
            return ident, row.status, row.answer
        if (agent, ticket.message_key) not in self._keys:
            raise ApprovalError(f"agent {agent!r} has no message {ticket.message_id!r} in "
                                "progress: ctx.approval belongs in the handler of a "
                                "delivered message")
        now = time.time()
        row = ApprovalRow(id=ident, agent=agent, ticket=ticket, created=now,
                          expires=None if ticket.timeout_s is None else now + ticket.timeout_s)
        self._approvals[ident] = row  # before any await: a concurrent copy finds it
        self.journal.approval_put(row)
        await self.journal.flush()  # parked only once the wait is on disk
        self._approval_wake.set()
        self._event("approval_pending", agent, ticket.text[:200], approval_id=ident,
                    message_id=ticket.message_id)
        return ident, PENDING, None

    def _park(self, rec: AgentRecord, item: Pending, ident: Any) -> None:
        """A delivered message whose handler now waits: hold it (``_dispatch._apply``)."""
        row = self._approvals.get(ident) if isinstance(ident, str) else None
        if row is None:
            self._dead_letter(rec, item, "parked on an unknown approval", str(ident)[:100])
            return
        old = self._held.get(ident)
        if old is not None and old is not item:  # two copies of one message: one waits
            item.waiters.extend(w for w in old.waiters if w not in item.waiters)
        self._held[ident] = item
        if row.status != PENDING:  # answered while its handler was still running
            self._release(ident)

    # -- answers -------------------------------------------------------------------------

    def pending_approvals(self, payloads: bool = True, every: bool = False
                          ) -> list[PendingApproval]:
        """Waiting approvals, oldest first (``every``: answered ones too).

        ``payloads=False`` leaves out the pickled requests (for the CLI, which cannot
        import their classes): ``text`` shows them.
        """
        rows = [r for r in self._approvals.values() if every or r.status == PENDING]
        rows.sort(key=lambda r: r.created)
        return [view(r, payloads=payloads) for r in rows]

    async def answer_approval(self, ident: str, approved: bool, data: str | None = None,
                              reason: str | None = None, by: str | None = None
                              ) -> PendingApproval:
        """Approve or reject a waiting approval; its message is queued again.

        ``data`` is JSON text. Giving the same answer again is accepted (nothing changes).

        Raises:
            ApprovalNotFoundError: No approval has that id.
            ApprovalConflictError: It was answered otherwise, or expired.
            MessageError: A malformed answer.
        """
        check_answer(ident, data, reason, by, self.config.max_message_bytes)
        if not isinstance(approved, bool):
            raise ApprovalError("approved must be True or False")
        try:
            value = None if data is None else json.loads(data)
        except ValueError as exc:
            raise ApprovalError(f"the approval's data is not valid JSON: {exc}") from None
        row = self._approvals.get(ident)
        if row is None:
            raise ApprovalNotFoundError(ident)
        status = APPROVED if approved else REJECTED
        if row.status != PENDING:
            old = None if row.answer is None else Approval.from_json(row.answer)
            if (row.status == status and old is not None and old.data == value
                    and old.reason == reason):
                return view(row, payloads=False)
            raise ApprovalConflictError(ident, row.status)
        now = time.time()
        answer = Approval(approved=approved, data=value, reason=reason, by=by, at=now)
        await self._record(row, status, answer.to_json(), now)
        self._event("approval_answered", row.agent, f"{status} by {by or 'someone'}",
                    approval_id=ident)
        return view(self._approvals[ident], payloads=False)

    async def _record(self, row: ApprovalRow, status: str, answer: str | None,
                      at: float) -> None:
        new = ApprovalRow(id=row.id, agent=row.agent, ticket=row.ticket, created=row.created,
                          expires=row.expires, status=status, answer=answer, answered_at=at)
        # Set before any await, so a second answer arriving meanwhile is judged against
        # this one (same answer: accepted; another: a conflict), never both recorded.
        self._approvals[row.id] = new
        self.journal.approval_put(new)
        await self.journal.flush()  # answered means on disk before the message moves
        self._release(row.id)

    def _release(self, ident: str) -> None:
        """Queue a held message again (front of its mailbox), now that it has an answer."""
        item = self._held.pop(ident, None)
        if item is None:
            return  # still running (it parks, then is released) or already gone
        rec = self._agents.get(item.env.recipient or "")
        if rec is None:
            log.error("approval %s answered, but agent %r is gone: message %s dropped",
                      ident, item.env.recipient, item.env.id)
            self._keys.pop(item.key, None)
            self.journal.forget([item.env])
            self._persist()
            item.settle(AgentStoppedError(item.env.recipient or "", "stopped while the "
                                          "message waited for an approval"))
            return
        if rec.state in (FAILED, STOPPING, STOPPED):
            self._dead_letter(rec, item, f"agent {rec.state} while it waited for approval",
                              rec.last_error)
            return
        # Its deadline and any asker who gave up no longer apply: it runs to its end.
        item.deadline = None
        item.waiters = [w for w in item.waiters if not w.done()]
        item.env = item.env.evolve(ttl_s=None)
        rec.mailbox.appendleft(item)
        rec.wake.set()

    # -- expiry --------------------------------------------------------------------------

    async def _approval_loop(self) -> None:
        while not self._closing:
            now = time.time()
            for row in [r for r in self._approvals.values()
                        if r.status == PENDING and r.expires is not None
                        and r.expires <= now]:
                try:
                    await self._expire(row, now)
                except Exception:  # a journal hiccup: try again at the next round
                    log.exception("could not expire approval %s", row.id)
            self._prune_approvals(now)
            ends = [r.expires for r in self._approvals.values()
                    if r.status == PENDING and r.expires is not None]
            wait = min([_IDLE_S, *(e - time.time() for e in ends)])
            self._approval_wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._approval_wake.wait(), max(0.01, wait))

    async def _expire(self, row: ApprovalRow, now: float) -> None:
        answer = default_answer(row.ticket.policy, now)
        await self._record(row, EXPIRED, None if answer is None else answer.to_json(), now)
        self._event("approval_expired", row.agent,
                    "failed" if answer is None else f"default answer: {answer.approved}",
                    approval_id=row.id)

    def _prune_approvals(self, now: float) -> None:
        """Forget answers past the dedupe window whose message has ended."""
        cutoff = now - self.config.journal.dedupe_age_s
        old = [r.id for r in self._approvals.values()
               if r.status != PENDING and (r.answered_at or now) < cutoff
               and (r.agent, r.ticket.message_key) not in self._keys]
        if old:
            for ident in old:
                del self._approvals[ident]
            self.journal.approval_drop(old)
            self._persist()


__all__ = ["ApprovalPart"]
