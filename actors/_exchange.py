"""One call for everything a process has to say: the supervisor's side of coalescing.

A sender gathers the sends and asks its callers make at about the same time into one
``exchange`` call (``actors/_outbox.py``). The supervisor admits them together (one journal
commit), then answers the asks that finish first — waiting for the first reply, then a
short ``linger`` for others — and *parks* the ones still running, which a later exchange
``collect``s. So a fast ask is never held up by a slow one sharing its call, and a busy
process makes a handful of calls in flight instead of one per message.

Parked replies belong to their sender (driver, or an agent proving its name) and are kept
until collected or until their ask's deadline (plus a grace) has passed. After a
supervisor restart nothing is parked: a collect for an unknown id is answered ``lost`` and
the sender sends that ask again — the same envelope, which the journal recognises.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from actors._credentials import DRIVER, proves
from actors._envelope import Envelope
from actors._errors import AskTimeoutError, ForgedSenderError, MessageError, RaygentError
from actors._mailbox import Pending
from actors._screen import seconds
from actors._supervisor_base import CoreState

_GRACE_S = 60.0  # how long a finished, uncollected reply is kept past its ask's deadline
_MAX_LINGER_S = 0.05
_MAX_POLL_S = 30.0


@dataclass(frozen=True, kw_only=True, slots=True)
class ExchangeResult:
    """What one exchange returns.

    Attributes:
        sent: Per send, its id or the error that refused it.
        replies: Per finished ask (by envelope id), its pickled reply or its error.
        waiting: Asks still running: collect them with a later exchange.
        lost: Collected ids this supervisor does not know (it restarted): send them again.
    """

    sent: list[str | RaygentError] = field(default_factory=list)
    replies: dict[str, Any] = field(default_factory=dict)
    waiting: list[str] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)


@dataclass(slots=True)
class _Wait:
    future: asyncio.Future[Any]
    deadline: float  # the supervisor's loop (monotonic) time, never a wall clock
    recipient: str
    kind: str
    timeout_s: float


def sent_id(env: Envelope, admitted: Any) -> str | RaygentError:
    """What a send is answered: the id it was accepted under, or the error refusing it."""
    if isinstance(admitted, RaygentError):
        return admitted
    return admitted.env.id if isinstance(admitted, Pending) else env.id


class ExchangePart(CoreState):
    _parked: dict[tuple[str, str], _Wait]

    def _identify(self, sender: Any, token: Any, envs: list[Envelope]) -> str:
        if not isinstance(sender, str) or not sender:
            raise MessageError("malformed call: sender must be a name")
        if sender != DRIVER and not proves(self._key, sender, token):
            raise ForgedSenderError(sender[:100])
        if any(env.sender != sender for env in envs):
            raise ForgedSenderError(next(e.sender for e in envs if e.sender != sender))
        return sender

    async def exchange(self, sender: str, sends: list[Envelope], wait_s: float | None,
                       asks: list[Envelope], collect: list[str], token: str | None = None,
                       linger_s: float = 0.0005, poll_s: float = 5.0) -> ExchangeResult:
        """Admit ``sends`` and ``asks`` (one commit), answer what finishes soon, park the rest.

        Raises:
            MessageError: A malformed call (nothing of it is admitted).
            ForgedSenderError: The sender cannot prove its name, or an envelope claims
                another sender.
        """
        sends, asks = self._screen(sends, token), self._screen(asks, token)
        sender = self._identify(sender, token, [*sends, *asks])
        if not isinstance(collect, list) or not all(isinstance(i, str) for i in collect):
            raise MessageError("malformed call: collect must be a list of message ids")
        wait_s = seconds(wait_s, "wait_s")
        linger = min(seconds(linger_s, "linger_s") or 0.0, _MAX_LINGER_S)
        poll = min(seconds(poll_s, "poll_s") or 0.0, _MAX_POLL_S)
        loop = asyncio.get_running_loop()
        now = loop.time()
        asks = [e if e.expects_reply else e.evolve(expects_reply=True) for e in asks]
        routed, spans = self._route([*sends, *asks])
        admitted = await self._admit(routed, wait_s)
        self._end_spans(spans, admitted)
        out = ExchangeResult(sent=[sent_id(env, r) for env, r in
                                   zip(sends, admitted[:len(sends)], strict=True)])
        waits: dict[str, _Wait] = {}
        for env, r in zip(asks, admitted[len(sends):], strict=True):
            if isinstance(r, Pending):
                timeout = env.ttl_s if env.ttl_s is not None else self.config.ask_timeout_s
                waits[env.id] = _Wait(r.wait(), now + timeout, env.recipient or "",
                                      env.kind, timeout)
            else:
                out.replies[env.id] = r
        for mid in collect:
            parked = self._parked.pop((sender, mid), None)
            if parked is None:
                out.lost.append(mid)
            else:
                waits[mid] = parked
        await self._await_first(waits, poll, linger)
        now = loop.time()
        for mid, w in waits.items():
            if w.future.done():
                out.replies[mid] = w.future.result()
            elif now >= w.deadline:
                w.future.cancel()
                out.replies[mid] = AskTimeoutError(w.recipient, w.kind, w.timeout_s)
            else:
                self._parked[(sender, mid)] = w
                out.waiting.append(mid)
        return out

    async def _await_first(self, waits: dict[str, _Wait], poll_s: float,
                           linger_s: float) -> None:
        """Wait for the first reply (at most ``poll_s``, or the first deadline), then up to
        ``linger_s`` more for the others."""
        pending = [w.future for w in waits.values() if not w.future.done()]
        if not pending:
            return
        loop = asyncio.get_running_loop()
        horizon = min([loop.time() + poll_s, *(w.deadline for w in waits.values())])
        done, rest = await asyncio.wait(pending, timeout=max(0.0, horizon - loop.time()),
                                        return_when=asyncio.FIRST_COMPLETED)
        if done and rest and linger_s > 0:
            await asyncio.wait(rest, timeout=linger_s)

    def _sweep_parked(self) -> None:
        """Drop replies nobody collected (their sender went away)."""
        if not self._parked:
            return
        limit = asyncio.get_running_loop().time() - _GRACE_S
        for key in [k for k, w in self._parked.items() if w.deadline < limit]:
            w = self._parked.pop(key)
            if not w.future.done():
                w.future.cancel()


__all__ = ["ExchangePart", "ExchangeResult", "sent_id"]
