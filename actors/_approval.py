"""Human approval, the agent's side: ``answer = await ctx.approval(request, ...)``.

A handler that needs a person's go-ahead asks for it and *parks*: the supervisor journals
the request, the handler ends by raising :class:`Parked` (the agent is free for other
work, nothing waits in its memory), and the message is kept aside until someone answers
(``raygent approve ID`` / ``rt.approve(ID)``) or the wait expires. Then the message is
delivered again and the handler runs again from the start; this time ``ctx.approval``
returns the recorded :class:`Approval` at once. Work done before the approval must
therefore be repeatable: side effects go through ``ctx.effect`` (recorded, not repeated)
and messages sent get derived idempotency keys (not sent twice) — the replay model of
Temporal's workflows.

The n-th ``ctx.approval`` of a handler run is keyed ``<message key>?<n>`` (or
``<message key>?<name>`` with ``name=``), so a handler must ask for its approvals in the
same order each time it runs.
"""

from __future__ import annotations

import hashlib
import json
import math
import pickle
from dataclasses import asdict, dataclass, replace
from typing import Any, Protocol, runtime_checkable

from actors._approval_errors import ApprovalError, ApprovalExpiredError
from actors._errors import NotSerializableError, RaygentError
from actors._telemetry import payload_text


class MessageFacts(Protocol):
    """What a wait needs to know of the message it parks (a ``MessageContext`` has it;
    structural, so this module does not import the context, which imports it)."""

    @property
    def dedupe_key(self) -> str: ...
    @property
    def message_id(self) -> str: ...
    @property
    def kind(self) -> str: ...

PENDING, APPROVED, REJECTED, EXPIRED = "pending", "approved", "rejected", "expired"
POLICIES = ("fail", "approve", "reject")
TEXT_LIMIT = 2000  # characters of the request shown by `raygent pending`


@dataclass(frozen=True, kw_only=True)
class Approval:
    """A person's answer (or the timeout policy's).

    Attributes:
        approved: Yes or no.
        data: What the approver added (any JSON value: ``raygent approve ID --data``).
        reason: Why (a rejection's ``--reason``, or the timeout's note).
        by: Who answered (the approver's user name; ``timeout`` for a default answer).
        at: Wall-clock seconds when it was answered.
        expired: True when nobody answered in time and this is the policy's default.
    """

    approved: bool
    data: Any = None
    reason: str | None = None
    by: str | None = None
    at: float | None = None
    expired: bool = False

    def to_json(self) -> str:
        """The answer as JSON text (how the journal and the CLI keep it).

        Raises:
            ApprovalError: If ``data`` is not a JSON value.
        """
        try:
            return json.dumps(asdict(self), allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise ApprovalError(f"an approval's data must be a JSON value (str, number, "
                                f"bool, null, list, dict): {exc}") from None

    @classmethod
    def from_json(cls, text: str) -> Approval:
        return cls(**json.loads(text))


@dataclass(frozen=True, kw_only=True)
class Ticket:
    """What an agent sends the supervisor when a handler asks for an approval.

    ``request`` is the pickled request (the supervisor never unpickles it); ``text`` shows
    it to tools that cannot import its class; ``policy`` is JSON: ``{"on_timeout":
    "fail"}`` or ``{"on_timeout": "default", "answer": {...}}``.
    """

    key: str
    message_key: str
    message_id: str
    kind: str
    request: bytes
    text: str
    timeout_s: float | None
    policy: str


@dataclass(frozen=True, kw_only=True)
class ApprovalRow:
    """One approval as the supervisor and its journal hold it."""

    id: str
    agent: str
    ticket: Ticket
    created: float
    expires: float | None
    status: str = PENDING
    answer: str | None = None  # Approval JSON (None while pending, or expired with "fail")
    answered_at: float | None = None


@dataclass(frozen=True, kw_only=True)
class PendingApproval:
    """An approval as ``rt.pending()`` and ``raygent pending`` show it.

    Attributes:
        id: What ``approve``/``reject`` take.
        agent: The agent whose handler waits.
        message_id: The parked message.
        kind: The parked message's kind.
        text: The request as text.
        created_at: Wall-clock seconds when it was asked for.
        expires_at: Wall-clock seconds (on the supervisor's node) when the wait ends.
        on_timeout: ``fail``, or the default answer as JSON.
        status: ``pending``, ``approved``, ``rejected`` or ``expired``.
        answer: The answer, once there is one.
        data: The pickled request (empty when listed with ``payloads=False``).
    """

    id: str
    agent: str
    message_id: str
    kind: str
    text: str
    created_at: float
    expires_at: float | None
    on_timeout: str
    status: str
    answer: Approval | None = None
    data: bytes = b""

    @property
    def request(self) -> Any:
        """The request object (unpickled: its class must import here)."""
        return pickle.loads(self.data) if self.data else None


class Parked(BaseException):
    """Raised by ``ctx.approval`` to end a handler that now waits for a person.

    A ``BaseException`` (like ``asyncio.CancelledError``) so that a handler's ``except
    Exception`` does not swallow it: let it through. The agent's host reports the message
    as parked, not failed.
    """

    def __init__(self, approval_id: str) -> None:
        super().__init__(approval_id)
        self.approval_id = approval_id


@runtime_checkable
class ApprovalStore(Protocol):
    """The supervisor, through the agent's transport."""

    async def approval_request(self, agent: str, ticket: Ticket
                               ) -> tuple[str, str, str | None]: ...


def approval_id(agent: str, key: str) -> str:
    """A short id a person can type, the same for the same wait every time it is asked."""
    return "ap-" + hashlib.sha256(f"{agent}\0{key}".encode()).hexdigest()[:12]


def policy_json(on_timeout: str | Approval) -> str:
    """The timeout policy as the journal keeps it.

    Raises:
        ApprovalError: An unknown policy, or a default answer whose data is not JSON.
    """
    if isinstance(on_timeout, Approval):
        answer = on_timeout
    elif on_timeout == "fail":
        return json.dumps({"on_timeout": "fail"})
    elif on_timeout in ("approve", "reject"):
        answer = Approval(approved=on_timeout == "approve",
                          reason="not answered in time: the default answer")
    else:
        raise ApprovalError(f"on_timeout must be one of {', '.join(POLICIES)} or an "
                            f"Approval (the default answer), not {on_timeout!r}")
    return json.dumps({"on_timeout": "default", "answer": json.loads(answer.to_json())})


def default_answer(policy: str, at: float) -> Approval | None:
    """The answer an expired wait gets under ``policy`` (None: it fails)."""
    data = json.loads(policy)
    if data.get("on_timeout") == "fail":
        return None
    if data.get("on_timeout") != "default":
        raise ValueError(f"unknown timeout policy {policy[:100]!r}")
    answer = Approval(**data["answer"])
    return replace(answer, by=answer.by or "timeout", at=at, expired=True)


def _timeout(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not (
            math.isfinite(value) and value > 0):
        raise ApprovalError(f"timeout_s must be a positive number of seconds or None, not "
                            f"{value!r}")
    return float(value)


async def wait_for_approval(store: Any, agent: str, key: str, ctx: MessageFacts,
                            request: Any, *, timeout_s: float | None,
                            on_timeout: str | Approval) -> Approval:
    """``ctx.approval`` (see :meth:`actors.MessageContext.approval`) once its key is known:
    the recorded answer, or journal the request and raise :class:`Parked`."""
    if not isinstance(store, ApprovalStore):
        raise RaygentError("ctx.approval needs a running agent: call it from an async "
                           "handler of an agent hosted by a runtime")
    timeout = _timeout(timeout_s)
    try:
        blob = pickle.dumps(request, protocol=5)
    except Exception as exc:
        raise NotSerializableError("approval request", f"{type(exc).__name__}: {exc}"
                                   ) from None
    ticket = Ticket(key=key, message_key=ctx.dedupe_key, message_id=ctx.message_id,
                    kind=ctx.kind, request=blob, text=payload_text(request, TEXT_LIMIT),
                    timeout_s=timeout, policy=policy_json(on_timeout))
    ident, status, answer = await store.approval_request(agent, ticket)
    if status == PENDING:
        raise Parked(ident)
    if answer is None:
        raise ApprovalExpiredError(ident, timeout or 0.0)
    return Approval.from_json(answer)


def view(row: ApprovalRow, *, payloads: bool = True) -> PendingApproval:
    """How a row is shown to callers."""
    policy = json.loads(row.ticket.policy)
    shown = "fail" if policy.get("on_timeout") == "fail" else json.dumps(policy["answer"])
    return PendingApproval(
        id=row.id, agent=row.agent, message_id=row.ticket.message_id, kind=row.ticket.kind,
        text=row.ticket.text, created_at=row.created, expires_at=row.expires,
        on_timeout=shown, status=row.status,
        answer=None if row.answer is None else Approval.from_json(row.answer),
        data=row.ticket.request if payloads else b"")


__all__ = ["APPROVED", "EXPIRED", "PENDING", "REJECTED", "Approval", "ApprovalRow",
           "ApprovalStore", "MessageFacts", "Parked", "PendingApproval", "Ticket", "approval_id",
           "default_answer", "policy_json", "view", "wait_for_approval"]
