"""How an agent (or the driver) hands messages to the supervisor.

Sender-side checks live here, so a bad message is rejected in the sender's process before
anything is queued: an unregistered payload, one that cannot be pickled, or one over the
size limit. The payload is pickled once, here, and travels as bytes. The supervisor then
checks the recipient and the kind it accepts.

A message sent from inside a handler inherits the handled message's correlation id, names
it as its cause (``reply_to``) and gets an idempotency key derived from it, so the same
input redelivered sends each output once (``actors/_envelope.py`` ``HandlerScope``).
"""

from __future__ import annotations

import pickle
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from opentelemetry.trace import SpanKind, Tracer

from actors import _telemetry as tm
from actors._envelope import CURRENT_SCOPE, Envelope, loads
from actors._errors import MessageTooLargeError, NotSerializableError, RaygentError
from actors._outbox import Outbox
from actors._registry import kind_of
from actors._stream_client import StreamReader
from actors._streams import Pulled


def make_envelope(
    *, sender: str, payload: Any, max_bytes: int, recipient: str | None = None,
    topic: str | None = None, ttl_s: float | None = None,
    idempotency_key: str | None = None, correlation_id: str | None = None,
    expects_reply: bool = False, trace: dict[str, str] | None = None,
) -> Envelope:
    """Build an envelope after the sender-side checks (inside a handler: a child of it).

    Raises:
        UnknownKindError: The payload's class is not registered.
        NotSerializableError: The payload cannot be pickled.
        MessageTooLargeError: The pickled payload is over ``max_bytes``.
    """
    kind = kind_of(payload)
    try:
        data = pickle.dumps(payload, protocol=5)
    except Exception as exc:  # pickle raises many types (TypeError, PicklingError, ...)
        raise NotSerializableError(kind, f"{type(exc).__name__}: {exc}") from None
    if len(data) > max_bytes:
        raise MessageTooLargeError(len(data), max_bytes)
    reply_to = None
    scope = CURRENT_SCOPE.get()
    if scope is not None:
        correlation_id = correlation_id or scope.correlation_id
        reply_to = scope.env.id
        idempotency_key = idempotency_key or scope.child_key()
    return Envelope(
        kind=kind, sender=sender, recipient=recipient, topic=topic, data=data,
        created_at=time.time(), ttl_s=ttl_s, idempotency_key=idempotency_key,
        correlation_id=correlation_id, reply_to=reply_to, expects_reply=expects_reply,
        trace=trace or {},
    )


def reply_value(value: Any) -> Any:
    """What a caller gets from the supervisor's answer: raise its error, unpickle a reply."""
    if isinstance(value, RaygentError):
        raise value
    if isinstance(value, bytes):
        return loads(value)
    return value


class Transport(Protocol):
    """Outbound side of an agent: what ``send``/``ask``/``publish`` call.

    The sender is the transport's own agent: an agent cannot send as another.
    """

    async def send(
        self, recipient: str, payload: Any, *, timeout_s: float | None,
        deadline_s: float | None, idempotency_key: str | None,
    ) -> str: ...

    async def ask(self, recipient: str, payload: Any, *, timeout_s: float | None) -> Any: ...

    async def publish(self, topic: str, payload: Any) -> int: ...


Call = Callable[..., Awaitable[Any]]


class SupervisorTransport:
    """A :class:`Transport` over anything that exposes the supervisor's methods.

    ``call(method_name, *args)`` returns an awaitable: a Ray actor method call in a real
    system (retried while the supervisor restarts), a direct coroutine call in tests.
    It is also the agent's effect store (``ctx.effect``).
    """

    def __init__(self, call: Call, *, sender: str, token: str | None, max_bytes: int,
                 ask_timeout_s: float, tracer: Tracer | None = None) -> None:
        self._call = call
        self.sender = sender
        self._token = token  # proves ``sender`` to the supervisor (actors/_credentials.py)
        # Concurrent handlers' sends and asks leave together (actors/_outbox.py).
        self.outbox = Outbox(call, sender=sender, token=token)
        self._max_bytes = max_bytes
        self._ask_timeout_s = ask_timeout_s
        self._tracer = tracer or tm.tracer()

    async def _emit(self, span_name: str, kind: SpanKind, destination: str,
                    go: Callable[[Envelope], Awaitable[Any]], **fields: Any) -> Any:
        with self._tracer.start_as_current_span(
            span_name, kind=kind, attributes=tm.send_attributes(destination, self.sender),
        ) as span:
            env = make_envelope(sender=self.sender, max_bytes=self._max_bytes,
                                trace=tm.inject(span), **fields)
            span.set_attribute(tm.MSG_ID, env.id)
            span.set_attribute(tm.KIND, env.kind)
            return await go(env)

    async def send(
        self, recipient: str, payload: Any, *, timeout_s: float | None = None,
        deadline_s: float | None = None, idempotency_key: str | None = None,
    ) -> str:
        outcome = await self._emit(
            tm.span_send(recipient), SpanKind.PRODUCER, recipient,
            lambda env: self.outbox.send(env, timeout_s), recipient=recipient,
            payload=payload, ttl_s=deadline_s, idempotency_key=idempotency_key)
        return str(reply_value(outcome))

    async def ask(self, recipient: str, payload: Any, *, timeout_s: float | None = None
                  ) -> Any:
        timeout = self._ask_timeout_s if timeout_s is None else timeout_s
        outcome = await self._emit(
            tm.span_ask(recipient), SpanKind.CLIENT, recipient,
            lambda env: self.outbox.ask(env, timeout), recipient=recipient,
            payload=payload, ttl_s=timeout, expects_reply=True)
        return reply_value(outcome)

    async def stream(self, recipient: str, payload: Any, *, timeout_s: float | None = None
                     ) -> StreamReader:
        """Open a stream from ``recipient``'s handler (``Agent.stream_async``)."""
        timeout = self._ask_timeout_s if timeout_s is None else timeout_s
        sid = str(await self._emit(
            tm.span_ask(recipient), SpanKind.CLIENT, recipient,
            lambda env: self._call("stream_open", env, self._token), recipient=recipient,
            payload=payload, ttl_s=timeout, expects_reply=True))

        async def pull(n: int, wait: float | None) -> Pulled:
            got: Pulled = await self._call("stream_pull", sid, n,
                                           5.0 if wait is None else min(wait, 5.0))
            return got

        async def cancel(reason: str) -> None:
            await self._call("stream_cancel", sid, reason)
        return StreamReader(sid, pull, cancel, timeout_s=timeout)

    async def publish(self, topic: str, payload: Any) -> int:
        return int(await self._emit(
            tm.span_publish(topic), SpanKind.PRODUCER, topic,
            lambda env: self._call("publish", env, self._token), topic=topic,
            payload=payload))

    async def effect_get(self, agent: str, key: str) -> bytes | None:
        found: bytes | None = await self._call("effect_get", agent, key, self._token)
        return found

    async def effect_put(self, agent: str, key: str, result: bytes) -> None:
        await self._call("effect_put", agent, key, result, self._token)

    async def approval_request(self, agent: str, ticket: Any) -> tuple[str, str, str | None]:
        """Ask the supervisor for a person's answer (``ctx.approval``, actors/_approval.py)."""
        state: tuple[str, str, str | None] = await self._call(
            "approval_request", agent, ticket, self._token)
        return state
