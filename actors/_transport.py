"""How an agent (or the driver) hands messages to the supervisor.

Sender-side checks live here, so a bad message is rejected in the sender's process before
anything is queued: an unregistered payload, one that cannot be pickled, or one over the
size limit. The supervisor then checks the recipient and the kind it accepts.
"""

from __future__ import annotations

import pickle
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from opentelemetry.trace import SpanKind, Tracer

from actors import _telemetry as tm
from actors._envelope import Envelope
from actors._errors import MessageTooLargeError, NotSerializableError, RaygentError
from actors._registry import kind_of


def make_envelope(
    *, sender: str, payload: Any, max_bytes: int, recipient: str | None = None,
    topic: str | None = None, deadline_s: float | None = None,
    idempotency_key: str | None = None, correlation_id: str | None = None,
    expects_reply: bool = False, trace: dict[str, str] | None = None,
) -> Envelope:
    """Build an envelope after the sender-side checks.

    Raises:
        UnknownKindError: The payload's class is not registered.
        NotSerializableError: The payload cannot be pickled.
        MessageTooLargeError: The pickled payload is over ``max_bytes``.
    """
    kind = kind_of(payload)
    try:
        size = len(pickle.dumps(payload, protocol=5))
    except Exception as exc:  # pickle raises many types (TypeError, PicklingError, ...)
        raise NotSerializableError(kind, f"{type(exc).__name__}: {exc}") from None
    if size > max_bytes:
        raise MessageTooLargeError(size, max_bytes)
    now = time.time()
    return Envelope(
        kind=kind, sender=sender, recipient=recipient, topic=topic, payload=payload,
        created_at=now, deadline=None if deadline_s is None else now + deadline_s,
        idempotency_key=idempotency_key, correlation_id=correlation_id,
        expects_reply=expects_reply, trace=trace or {},
    )


class Transport(Protocol):
    """Outbound side of an agent: what ``send``/``ask``/``publish`` call."""

    async def send(
        self, sender: str, recipient: str, payload: Any, *, timeout_s: float | None,
        deadline_s: float | None, idempotency_key: str | None,
    ) -> str: ...

    async def ask(
        self, sender: str, recipient: str, payload: Any, *, timeout_s: float | None
    ) -> Any: ...

    async def publish(self, sender: str, topic: str, payload: Any) -> int: ...


Call = Callable[..., Awaitable[Any]]


class SupervisorTransport:
    """A :class:`Transport` over anything that exposes the supervisor's methods.

    ``call(method_name, *args)`` returns an awaitable: a Ray actor method call in a real
    system, a direct coroutine call in tests without Ray.
    """

    def __init__(self, call: Call, *, max_bytes: int, ask_timeout_s: float,
                 tracer: Tracer | None = None) -> None:
        self._call = call
        self._max_bytes = max_bytes
        self._ask_timeout_s = ask_timeout_s
        self._tracer = tracer or tm.tracer()

    async def send(
        self, sender: str, recipient: str, payload: Any, *, timeout_s: float | None = None,
        deadline_s: float | None = None, idempotency_key: str | None = None,
    ) -> str:
        with self._tracer.start_as_current_span(
            tm.span_send(recipient), kind=SpanKind.PRODUCER,
            attributes=tm.send_attributes(recipient, sender),
        ) as span:
            env = make_envelope(
                sender=sender, recipient=recipient, payload=payload, max_bytes=self._max_bytes,
                deadline_s=deadline_s, idempotency_key=idempotency_key, trace=tm.inject(span),
            )
            span.set_attribute(tm.MSG_ID, env.id)
            span.set_attribute(tm.KIND, env.kind)
            (outcome,) = await self._call("submit", [env], timeout_s)
            if isinstance(outcome, RaygentError):
                raise outcome
            return env.id

    async def ask(
        self, sender: str, recipient: str, payload: Any, *, timeout_s: float | None = None
    ) -> Any:
        timeout = self._ask_timeout_s if timeout_s is None else timeout_s
        with self._tracer.start_as_current_span(
            tm.span_ask(recipient), kind=SpanKind.CLIENT,
            attributes=tm.send_attributes(recipient, sender),
        ) as span:
            env = make_envelope(
                sender=sender, recipient=recipient, payload=payload, max_bytes=self._max_bytes,
                deadline_s=timeout, expects_reply=True, trace=tm.inject(span),
            )
            span.set_attribute(tm.MSG_ID, env.id)
            span.set_attribute(tm.KIND, env.kind)
            outcome = await self._call("ask", env, timeout)
            if isinstance(outcome, RaygentError):
                raise outcome
            return outcome

    async def publish(self, sender: str, topic: str, payload: Any) -> int:
        with self._tracer.start_as_current_span(
            tm.span_publish(topic), kind=SpanKind.PRODUCER,
            attributes={**tm.send_attributes(topic, sender), tm.TOPIC: topic},
        ) as span:
            env = make_envelope(sender=sender, topic=topic, payload=payload,
                                max_bytes=self._max_bytes, trace=tm.inject(span))
            span.set_attribute(tm.MSG_ID, env.id)
            return int(await self._call("publish", env))

