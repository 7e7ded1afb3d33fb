"""The envelope a payload travels in, and the context a handler sees.

The payload travels as the bytes its sender pickled (``data``), once: the supervisor routes,
journals and delivers those bytes without ever unpickling them, so it needs none of the
agents' classes and a payload costs one serialisation per hop. Handlers never see the
envelope: they get the payload and a :class:`MessageContext`.
"""

from __future__ import annotations

import contextvars
import dataclasses
import pickle
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from actors._ids import new_id

if TYPE_CHECKING:
    from actors._approval import Approval

T = TypeVar("T")


def dumps(value: Any) -> bytes:
    """Pickle a payload or reply the way every hop expects it (protocol 5)."""
    return pickle.dumps(value, protocol=5)


def loads(data: bytes) -> Any:
    """Unpickle what :func:`dumps` made (in the receiving process, never the supervisor)."""
    return pickle.loads(data)


@dataclass(frozen=True, kw_only=True, slots=True)
class Envelope:
    """One message in flight.

    Attributes:
        id: Unique, time-sortable message id.
        kind: Registered kind of the payload.
        sender: Name of the sending agent, or ``"driver"`` for code outside agents. Set by
            the runtime (the transport of the sending process), never by the caller.
        recipient: Name of the receiving agent (``None`` for a topic message before fan-out).
        topic: Topic the message was published on, if any.
        data: The pickled payload (see :attr:`payload`).
        correlation_id: Id shared by a request and every message caused by it.
        reply_to: Id of the message whose handling sent this one (its cause), if any.
        created_at: Wall-clock seconds when the sender made it (informational only).
        ttl_s: Seconds the message may wait before it is delivered; the supervisor turns it
            into a deadline on its own monotonic clock when it accepts the message, so no
            two machines' clocks are ever compared.
        attempt: Delivery attempt, 1 for the first.
        idempotency_key: Key that makes retried or duplicated sends have one effect. The
            runtime derives one for every message a handler sends, so a redelivered input
            sends its outputs once.
        trace: W3C trace-context carrier (``traceparent``/``tracestate``).
        expects_reply: Whether a caller waits on the handler's return value.
    """

    id: str = field(default_factory=new_id)
    kind: str
    sender: str = "driver"
    recipient: str | None = None
    topic: str | None = None
    data: bytes
    correlation_id: str | None = None
    reply_to: str | None = None
    created_at: float = field(default_factory=time.time)
    ttl_s: float | None = None
    attempt: int = 1
    idempotency_key: str | None = None
    trace: dict[str, str] = field(default_factory=dict)
    expects_reply: bool = False

    @classmethod
    def wrap(cls, payload: Any, *, kind: str | None = None, **fields: Any) -> Envelope:
        """An envelope around ``payload`` (pickled here); ``kind`` defaults to its kind."""
        if kind is None:
            from actors._registry import kind_of

            kind = kind_of(payload)
        return cls(kind=kind, data=dumps(payload), **fields)

    @property
    def payload(self) -> Any:
        """The payload, unpickled (each access unpickles again: keep the result)."""
        return loads(self.data)

    @property
    def dedupe_key(self) -> str:
        """Key the runtime de-duplicates on: the idempotency key if set, else the id."""
        return self.idempotency_key or self.id

    def evolve(self, **changes: Any) -> Envelope:
        """Return a copy with some fields changed."""
        return dataclasses.replace(self, **changes)


class EffectRunner(Protocol):
    """What a context needs of the agent's effect recorder (``actors._effects``; structural,
    so this module does not import it: it imports this one)."""

    async def run(self, key: str, fn: Callable[[], Awaitable[T] | T]) -> T: ...
    async def approval(self, ctx: MessageContext, key: str, request: Any, *,
                       timeout_s: float | None, on_timeout: str | Approval) -> Approval: ...


@dataclass(frozen=True, kw_only=True, slots=True)
class MessageContext:
    """What a handler knows about the message it is handling.

    Attributes:
        deadline: Wall-clock seconds *of the receiving process* by which the sender wants
            an answer (computed from the time left when the message was delivered), or
            None.
    """

    message_id: str
    kind: str
    sender: str
    recipient: str
    topic: str | None
    correlation_id: str | None
    attempt: int
    deadline: float | None
    trace: dict[str, str]
    dedupe_key: str = ""
    reply_to: str | None = None  # the message whose handling sent this one, if any
    _effects: EffectRunner | None = field(default=None, repr=False, compare=False)
    _emit: Callable[[Any], Awaitable[Any]] | None = field(default=None, repr=False,
                                                          compare=False)

    @classmethod
    def of(cls, env: Envelope, effects: EffectRunner | None = None) -> MessageContext:
        return cls(
            message_id=env.id,
            kind=env.kind,
            sender=env.sender,
            recipient=env.recipient or "",
            topic=env.topic,
            correlation_id=env.correlation_id or env.id,
            attempt=env.attempt,
            deadline=None if env.ttl_s is None else time.time() + env.ttl_s,
            trace=env.trace,
            dedupe_key=env.dedupe_key,
            reply_to=env.reply_to,
            _effects=effects,
        )

    async def emit(self, chunk: Any) -> None:
        """Send one partial result to a streaming reader (docs/streaming.md).

        Waits while the reader is a window behind. Raises ``StreamCancelledError`` when the
        reader has left, and ``RaygentError`` when the message was not sent with
        ``stream``/``stream_async`` (a plain ``ask`` has no one to read chunks).
        """
        if self._emit is None:
            from actors._errors import RaygentError
            raise RaygentError(f"ctx.emit needs a streamed request: {self.kind!r} came by "
                               "send/ask; read it with Runtime.stream or Agent.stream_async")
        await self._emit(chunk)

    async def effect(self, name: str, fn: Callable[[], Awaitable[T] | T], *,
                     key: str | None = None) -> T:
        """Run a side effect once per message (or per ``key``), recording its result.

        The result is stored durably by the runtime before this returns; when the message
        is delivered again (a retry, an agent or supervisor restart), the recorded result
        is returned and ``fn`` is not called. ``fn`` may be a plain function or return an
        awaitable; its result must be picklable. A failure is not recorded, so a retry
        runs ``fn`` again.

        The one window left: the agent dies after ``fn`` took effect but before the record
        was written. Then ``fn`` runs again on redelivery, so give the outside service an
        idempotency key of its own (``ctx.dedupe_key`` plus ``name`` is stable across
        redeliveries) where it accepts one ("effectively once").

        Args:
            name: Names the effect within the handler (one message may have several).
            fn: The effect.
            key: Records under this key instead of ``<message key>:<name>``, so the same
                business event arriving in different messages still has one effect.

        Raises:
            RaygentError: Outside a runtime (no recorder), or when the record cannot be
                written (the supervisor stays unreachable).
        """
        recorder = self._effects
        if recorder is None:
            from actors._errors import RaygentError

            raise RaygentError("ctx.effect needs a running agent: this context has no "
                               "effect recorder (build one with AgentHost in tests)")
        result: T = await recorder.run(key or f"{self.dedupe_key}:{name}", fn)
        return result

    async def approval(self, request: Any, *, timeout_s: float | None = None,
                       on_timeout: str | Approval = "fail", name: str | None = None
                       ) -> Approval:
        """Wait for a person to approve or reject ``request`` (see docs/approvals.md).

        The first time, the request is journaled and the handler ends here (a
        :class:`~actors._approval.Parked` signal, which must not be caught): the message
        waits aside, the agent goes on with other work. Once someone answers (``raygent
        approve ID``, ``rt.approve(ID)``) or the wait expires, the message is delivered
        again and the handler runs again from the start; this call then returns the
        answer at once. So put side effects before it in ``ctx.effect``.

        Args:
            request: What the approver is shown (any picklable value; shown as text).
            timeout_s: How long to wait (wall-clock on the supervisor's node); None waits
                until answered.
            on_timeout: ``"fail"`` (raise :class:`~actors.ApprovalExpiredError`: the
                message is dead-lettered), ``"approve"``/``"reject"``, or an
                :class:`~actors.Approval` to return as the default answer.
            name: Keys this wait by name instead of by its order in the handler.

        Raises:
            ApprovalExpiredError: The wait expired under ``on_timeout="fail"``.
            ApprovalError: A bad ``timeout_s`` or ``on_timeout``.
        """
        recorder = self._effects
        scope = CURRENT_SCOPE.get()
        if recorder is None or scope is None:
            from actors._errors import RaygentError

            raise RaygentError("ctx.approval needs a running agent: call it from an async "
                               "handler of an agent hosted by a runtime")
        if name is None:
            scope.approvals += 1
            name = str(scope.approvals)
        return await recorder.approval(self, f"{self.dedupe_key}?{name}", request,
                                       timeout_s=timeout_s, on_timeout=on_timeout)


@dataclass(slots=True)
class HandlerScope:
    """The message a handler is working on, seen by the sends it makes (a context var).

    Every message the handler sends gets ``reply_to`` = this message's id, its correlation
    id and a derived idempotency key (``<key>><n>``), so sending again after a redelivery
    is recognised by the supervisor and has no second effect.
    """

    env: Envelope
    sent: int = 0
    approvals: int = 0  # ctx.approval calls so far (they are keyed by their order)

    def child_key(self) -> str:
        self.sent += 1
        return f"{self.env.dedupe_key}>{self.sent}"

    @property
    def correlation_id(self) -> str:
        return self.env.correlation_id or self.env.id


CURRENT_SCOPE: contextvars.ContextVar[HandlerScope | None] = contextvars.ContextVar(
    "raygent_handler_scope", default=None)
