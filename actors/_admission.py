"""Admission: check a message's recipient, drop copies of known messages, journal it (one
commit per call) and queue it; and the ``route`` spans that continue each sender's trace.

A message is de-duplicated on ``(recipient, dedupe_key)``: a copy of a message still queued
joins it (an ask gets the same reply), a copy of one already handled is not run again (an
ask gets the recorded reply), within the journal's dedupe window.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from opentelemetry.trace import Span, SpanKind

from actors import _telemetry as tm
from actors._envelope import Envelope, dumps
from actors._errors import (
    AgentFailedError,
    AgentNotFoundError,
    AgentUnavailableError,
    HandlerError,
    MailboxFullError,
    PayloadTypeError,
    RaygentError,
    UnknownRecipientError,
)
from actors._faults import crash_point
from actors._journal import DEAD, DONE
from actors._mailbox import FAILED, STOPPED, AgentRecord, Pending
from actors._secrets import redact
from actors._supervisor_base import CoreState

_NONE = dumps(None)


class AdmissionPart(CoreState):

    def _get(self, name: str) -> AgentRecord:
        rec = self._agents.get(name)
        if rec is None:
            raise AgentNotFoundError(name)
        return rec

    def _target(self, env: Envelope) -> AgentRecord:
        name = env.recipient or ""
        rec = self._agents.get(name)
        if rec is None or rec.state == STOPPED:
            raise UnknownRecipientError(name, tuple(sorted(self._agents)))
        if env.kind not in rec.spec.accepted:
            raise PayloadTypeError(name, env.kind, rec.spec.accepted)
        if rec.state == FAILED:
            raise AgentFailedError(name, rec.last_error or "failed")
        if self._closing:
            raise AgentUnavailableError(name, "the system is shutting down")
        return rec

    def _known(self, env: Envelope) -> Pending | tuple[str, bytes | None] | None:
        """A live copy of the message, or the journal's record of an ended one."""
        key = (env.recipient or "", env.dedupe_key)
        live = self._keys.get(key)
        if live is not None:
            return live
        found = self.journal.find(*key)
        if found is not None and found[0] in (DONE, DEAD):
            return found
        return None

    def _enqueue_now(self, rec: AgentRecord, items: list[Pending]) -> None:
        for item in items:
            self._keys[item.key] = item
            rec.mailbox.append(item)
        self._routed += len(items)
        rec.routed += len(items)
        rec.wake.set()

    async def _wait_room(self, rec: AgentRecord, deadline: float) -> None:
        loop = asyncio.get_running_loop()
        async with rec.room:
            while not rec.has_room():
                left = deadline - loop.time()
                if left <= 0:
                    raise MailboxFullError(rec.name, rec.spec.mailbox.capacity)
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(rec.room.wait(), left)
            if rec.state in (FAILED, STOPPED):
                raise AgentFailedError(rec.name, rec.last_error or rec.state)

    async def _admit(self, envs: list[Envelope], wait_s: float | None) -> list[Any]:
        """Check, de-duplicate, journal (one commit) and queue ``envs``.

        Under the ``block`` mailbox policy a send waits up to ``wait_s`` for room, an ask
        up to its own timeout (``ttl_s``).

        Returns, per envelope: a :class:`Pending` (new or joined), for an ask
        (``expects_reply``) of a message already handled its recorded reply (``bytes``) or
        error, for a send of one its id (``str``), or the error that refused it.
        """
        loop = asyncio.get_running_loop()
        out: list[Any] = []
        fresh: dict[str, list[Pending]] = {}
        blocked: list[tuple[int, AgentRecord, Pending, float]] = []
        for env in envs:
            try:
                rec = self._target(env)
            except RaygentError as exc:
                out.append(exc)
                continue
            known = self._known(env)
            if isinstance(known, Pending):
                out.append(known)
                continue
            if known is not None:
                state, reply = known
                if not env.expects_reply:
                    out.append(env.id)
                elif state == DEAD:
                    out.append(HandlerError(rec.name, env.kind, "DeadLetter",
                                            "this message was dead-lettered earlier: see "
                                            "`raygent dlq list`"))
                else:
                    out.append(reply if reply is not None else _NONE)
                continue
            item = Pending(env, None if env.ttl_s is None else loop.time() + env.ttl_s)
            queued = len(fresh.get(rec.name, ())) + len(rec.mailbox)
            if queued >= rec.spec.mailbox.capacity:
                room_s = env.ttl_s if env.expects_reply else wait_s
                if rec.spec.mailbox.policy == "reject" or not room_s:
                    out.append(MailboxFullError(rec.name, rec.spec.mailbox.capacity))
                    continue
                blocked.append((len(out), rec, item, room_s))
            else:
                fresh.setdefault(rec.name, []).append(item)
                self._keys[item.key] = item  # a second copy in this same call joins it
            out.append(item)
        crash_point(self.config.fault_file, "accepted")
        self.journal.accept([p.env for items in fresh.values() for p in items])
        # Delivery may start while the journal commits: a crash before the commit loses
        # no message, since the caller has no acknowledgement yet and sends it again
        # (the same id), and a receiver that already handled it recognises it.
        for name, items in fresh.items():
            self._enqueue_now(self._agents[name], items)
        for slot, rec, item, room_s in blocked:
            try:
                await self._wait_room(rec, loop.time() + room_s)
                self.journal.accept([item.env])
                self._enqueue_now(rec, [item])
            except RaygentError as exc:
                out[slot] = exc
        await self.journal.flush()  # acknowledged only once on disk
        crash_point(self.config.fault_file, "journaled")
        return out

    def _route(self, envs: list[Envelope]) -> tuple[list[Envelope], list[Span]]:
        """Open one ``route`` span per recipient and sender context, continuing its trace.

        A batch of envelopes from one sender span (``ask_many``, a publish) shares one
        route span, so tracing costs per call, not per message; a single send gets its own.
        """
        if not self._traced:
            return envs, []
        groups: dict[tuple[str, str], tuple[Span, dict[str, str]]] = {}
        counts: dict[tuple[str, str], int] = {}
        out: list[Envelope] = []
        for env in envs:
            name = env.recipient or ""
            key = (name, env.trace.get("traceparent", ""))
            group = groups.get(key)
            if group is None:
                rec = self._agents.get(name)
                span = self._tracer.start_span(
                    tm.span_route(name), context=tm.extract(env.trace),
                    kind=SpanKind.INTERNAL, attributes={
                        tm.MSG_SYSTEM: tm.SYSTEM, tm.MSG_OPERATION: "receive",
                        tm.MSG_DESTINATION: name, tm.MSG_ID: env.id, tm.KIND: env.kind,
                        tm.SENDER: env.sender,
                        tm.MAILBOX_DEPTH: len(rec.mailbox) if rec else 0})
                group = groups[key] = (span, tm.inject(span))
            counts[key] = counts.get(key, 0) + 1
            out.append(env.evolve(trace=group[1]))
        for key, (span, _) in groups.items():
            if counts[key] > 1:
                span.set_attribute(tm.MSG_BATCH_COUNT, counts[key])
        return out, [span for span, _ in groups.values()]

    def _end_spans(self, spans: list[Span], results: list[Any]) -> None:
        # Error text only when the capture switch is on (it may quote a payload).
        capture = self.config.tracing.record_payloads
        errors = [redact(str(r)) if capture else type(r).__name__
                  for r in results if isinstance(r, RaygentError)]
        for span in spans:
            for err in errors[:10]:
                span.add_event("raygent.rejected", {"error": err})
            span.end()
