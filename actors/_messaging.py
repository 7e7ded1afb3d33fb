"""The driver's messaging calls: send, ask, publish and their many-at-once forms.

Each is written once, as work run on the runtime's loop thread (``actors/_loop.py``): the
blocking form waits for it, the ``*_async`` form awaits it from the caller's loop.
Envelopes are built, and their spans opened, in the caller's thread, so the caller's
trace context is the parent. Single sends and asks go through the outbox and coalesce
(``actors/_outbox.py``); the ``*_many`` calls are one supervisor call already.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from opentelemetry.trace import SpanKind, Tracer

from actors import _telemetry as tm
from actors._config import RuntimeConfig
from actors._credentials import DRIVER
from actors._envelope import Envelope
from actors._errors import RaygentError, RuntimeNotStartedError
from actors._loop import LoopThread, Work
from actors._outbox import Outbox
from actors._transport import make_envelope, reply_value


def values(results: list[Any]) -> list[Any]:
    """Each reply unpickled; errors stay values (the many-at-once calls' contract)."""
    out: list[Any] = []
    for r in results:
        try:
            out.append(reply_value(r))
        except RaygentError as exc:
            out.append(exc)
    return out


class Messaging:
    """send/ask/publish for :class:`~actors.Runtime` (see the module docstring)."""

    config: RuntimeConfig
    _tracer: Tracer
    _io: LoopThread | None
    _outbox: Outbox | None
    _sup: Any

    async def _call(self, method: str, *args: Any) -> Any:
        raise NotImplementedError  # Runtime

    # -- plumbing -----------------------------------------------------------------------

    def _loop(self) -> LoopThread:
        if self._io is None:
            raise RuntimeNotStartedError()
        return self._io

    def _block(self, work: Work[Any]) -> Any:
        return self._loop().run(work)

    async def _bridge(self, work: Work[Any]) -> Any:
        return await self._loop().bridge(work)

    def _box(self) -> Outbox:
        if self._outbox is None:
            raise RuntimeNotStartedError()
        return self._outbox

    @contextmanager
    def _span(self, name: str, kind: SpanKind, destination: str, **attrs: Any
              ) -> Iterator[Any]:
        with self._tracer.start_as_current_span(
                name, kind=kind,
                attributes={**tm.send_attributes(destination, DRIVER), **attrs}) as span:
            yield span

    def _envelope(self, recipient: str | None, payload: Any,
                  carrier: dict[str, str] | None = None, **kw: Any) -> Envelope:
        return make_envelope(sender=DRIVER, recipient=recipient, payload=payload,
                             max_bytes=self.config.max_message_bytes,
                             trace=tm.inject() if carrier is None else carrier, **kw)

    def _timeout(self, timeout_s: float | None) -> float:
        return self.config.ask_timeout_s if timeout_s is None else timeout_s

    # -- one message -----------------------------------------------------------------------

    def _send(self, recipient: str, payload: Any, timeout_s: float | None,
              deadline_s: float | None, idempotency_key: str | None,
              ) -> Callable[[], Awaitable[Any]]:
        with self._span(tm.span_send(recipient), SpanKind.PRODUCER, recipient):
            env = self._envelope(recipient, payload, ttl_s=deadline_s,
                                 idempotency_key=idempotency_key)
        box = self._box()
        # Only the outbox's own step runs on the loop thread; the caller unpacks the result.
        return lambda: box.send(env, timeout_s)

    def send(self, recipient: str, payload: Any, *, timeout_s: float | None = None,
             deadline_s: float | None = None, idempotency_key: str | None = None) -> str:
        """Queue a message for an agent; return its id once it is accepted (journaled).

        Raises:
            MessageError: The message was rejected (unknown kind, wrong payload type, too
                large, not picklable, unknown recipient).
            MailboxFullError: The mailbox stayed full (``timeout_s`` waits under the
                ``block`` policy).
        """
        return str(reply_value(self._block(self._send(recipient, payload, timeout_s,
                                                      deadline_s, idempotency_key))))

    async def send_async(self, recipient: str, payload: Any, *, timeout_s: float | None = None,
                         deadline_s: float | None = None,
                         idempotency_key: str | None = None) -> str:
        return str(reply_value(await self._bridge(self._send(
            recipient, payload, timeout_s, deadline_s, idempotency_key))))

    def _ask(self, recipient: str, payload: Any, timeout_s: float | None
             ) -> Callable[[], Awaitable[Any]]:
        timeout = self._timeout(timeout_s)
        with self._span(tm.span_ask(recipient), SpanKind.CLIENT, recipient):
            env = self._envelope(recipient, payload, ttl_s=timeout, expects_reply=True)
        box = self._box()
        return lambda: box.ask(env, timeout)

    def ask(self, recipient: str, payload: Any, *, timeout_s: float | None = None) -> Any:
        """Send a request and return the handler's reply.

        Raises:
            AskTimeoutError: No reply within ``timeout_s`` (default ``ask_timeout_s``).
            HandlerError: The handler failed on every attempt.
        """
        return reply_value(self._block(self._ask(recipient, payload, timeout_s)))

    async def ask_async(self, recipient: str, payload: Any, *,
                        timeout_s: float | None = None) -> Any:
        return reply_value(await self._bridge(self._ask(recipient, payload, timeout_s)))

    def _publish(self, topic: str, payload: Any) -> Coroutine[Any, Any, int]:
        with self._span(tm.span_publish(topic), SpanKind.PRODUCER, topic):
            env = self._envelope(None, payload, topic=topic)

        async def go() -> int:
            return int(await self._call("publish", env))
        return go()

    def publish(self, topic: str, payload: Any) -> int:
        """Publish to a topic; return how many subscribers it was queued for."""
        return int(self._block(self._publish(topic, payload)))

    async def publish_async(self, topic: str, payload: Any) -> int:
        return int(await self._bridge(self._publish(topic, payload)))

    # -- many at once ------------------------------------------------------------------------

    def _many(self, items: Iterable[tuple[str, Any]], method: str, timeout_s: float | None,
              build: Callable[[str, Any, dict[str, str]], Envelope]
              ) -> Coroutine[Any, Any, list[Any]]:
        items = list(items)
        kind = SpanKind.CLIENT if method == "ask_many" else SpanKind.PRODUCER
        with self._span(tm.span_ask("batch") if method == "ask_many" else
                        tm.span_send("batch"), kind, "batch",
                        **{tm.MSG_BATCH_COUNT: len(items)}):
            carrier = tm.inject()
            envs = [build(r, p, carrier) for r, p in items]

        async def go() -> list[Any]:
            raw: list[Any] = await self._call(method, envs, timeout_s)
            return values(raw) if method == "ask_many" else raw
        return go()

    def _send_many(self, items: Iterable[tuple[str, Any]], timeout_s: float | None
                   ) -> Coroutine[Any, Any, list[Any]]:
        return self._many(items, "submit", timeout_s,
                          lambda r, p, c: self._envelope(r, p, c))

    def send_many(self, items: Iterable[tuple[str, Any]], *, timeout_s: float | None = None
                  ) -> list[str | RaygentError]:
        """Queue many messages in one call; return each one's id or its error.

        Order is kept per recipient. Sender-side errors (unknown kind, too large) raise
        before anything is queued.
        """
        result: list[str | RaygentError] = self._block(self._send_many(items, timeout_s))
        return result

    async def send_many_async(self, items: Iterable[tuple[str, Any]], *,
                              timeout_s: float | None = None) -> list[str | RaygentError]:
        result: list[str | RaygentError] = await self._bridge(
            self._send_many(items, timeout_s))
        return result

    def _ask_many(self, items: Iterable[tuple[str, Any]], timeout_s: float | None
                  ) -> Coroutine[Any, Any, list[Any]]:
        timeout = self._timeout(timeout_s)
        return self._many(items, "ask_many", timeout, lambda r, p, c: self._envelope(
            r, p, c, ttl_s=timeout, expects_reply=True))

    def ask_many(self, items: Iterable[tuple[str, Any]], *, timeout_s: float | None = None
                 ) -> list[Any]:
        """Send many requests in one call; return each reply, or the error for it."""
        result: list[Any] = self._block(self._ask_many(items, timeout_s))
        return result

    async def ask_many_async(self, items: Iterable[tuple[str, Any]], *,
                             timeout_s: float | None = None) -> list[Any]:
        result: list[Any] = await self._bridge(self._ask_many(items, timeout_s))
        return result

    def ask_many_ref(self, items: Iterable[tuple[str, Any]], *,
                     timeout_s: float | None = None) -> Any:
        """Like :meth:`ask_many` but return the Ray ObjectRef at once (many in flight).

        ``ray.get`` of it gives the raw answers (pickled replies or errors): pass them
        through :meth:`replies` to get what :meth:`ask_many` returns. No retry happens
        if the supervisor restarts meanwhile.
        """
        timeout = self._timeout(timeout_s)
        items = list(items)
        with self._span(tm.span_send("batch"), SpanKind.PRODUCER, "batch",
                        **{tm.MSG_BATCH_COUNT: len(items)}):
            carrier = tm.inject()
            envs = [self._envelope(r, p, carrier, ttl_s=timeout, expects_reply=True)
                    for r, p in items]
        if self._sup is None:
            raise RuntimeNotStartedError()
        return self._sup.ask_many.remote(envs, timeout)

    @staticmethod
    def replies(raw: list[Any]) -> list[Any]:
        """The replies (or errors) in a raw :meth:`ask_many_ref` answer."""
        return values(raw)
