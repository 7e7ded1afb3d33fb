"""The driver's stream calls: ``rt.stream`` and ``rt.stream_async`` (docs/streaming.md).

A mixin of :class:`~actors.Runtime`: the request goes to the supervisor like an ``ask``,
then a :class:`~actors._stream_client.StreamReader` pulls the chunks from the supervisor's
buffer for it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

from opentelemetry.trace import SpanKind

from actors import _telemetry as tm
from actors._messaging import Messaging
from actors._stream_client import StreamReader, blocking_iter
from actors._streams import Pulled


class StreamCalls(Messaging):
    """``stream``/``stream_async`` for :class:`~actors.Runtime` (docs/streaming.md)."""

    def _stream_env(self, agent: str, payload: Any, timeout_s: float | None) -> Any:
        with self._span(tm.span_ask(agent), SpanKind.CLIENT, agent,
                        **{"raygent.stream": True}):
            return self._envelope(agent, payload, ttl_s=self._timeout(timeout_s),
                                  expects_reply=True)

    def stream(self, agent: str, payload: Any, *, timeout_s: float | None = None
               ) -> Iterator[Any]:
        """Send a request and iterate the handler's chunks as they come (blocking form).

        Breaking out of the loop cancels the stream: the handler's next ``yield`` stops it.
        The final reply, if the handler returned one, is not a chunk.

        Raises:
            MessageError: The request was rejected (as for ``ask``).
            StreamLostError: The agent or the supervisor died mid-stream, or no end came
                within ``timeout_s``.
            HandlerError: The handler raised (after the chunks it emitted).
        """
        env = self._stream_env(agent, payload, timeout_s)
        sid = str(self._block(self._call("stream_open", env)))

        async def pull(n: int, wait: float | None) -> Pulled:
            return await self._call("stream_pull", sid, n, _slice(wait))  # type: ignore[no-any-return]

        async def cancel(reason: str) -> None:
            await self._call("stream_cancel", sid, reason)
        reader = StreamReader(sid, pull, cancel, timeout_s=self._timeout(timeout_s))
        return blocking_iter(reader, self._block)

    async def stream_async(self, agent: str, payload: Any, *, timeout_s: float | None = None
                           ) -> AsyncIterator[Any]:
        """:meth:`stream` for async callers: ``async for chunk in rt.stream_async(...)``."""
        env = self._stream_env(agent, payload, timeout_s)
        sid = str(await self._bridge(self._call("stream_open", env)))

        async def pull(n: int, wait: float | None) -> Pulled:
            return await self._bridge(  # type: ignore[no-any-return]
                self._call("stream_pull", sid, n, _slice(wait)))

        async def cancel(reason: str) -> None:
            await self._bridge(self._call("stream_cancel", sid, reason))
        reader = StreamReader(sid, pull, cancel, timeout_s=self._timeout(timeout_s))
        async for chunk in reader:
            yield chunk


def _slice(wait: float | None) -> float:
    # One pull waits at most a few seconds, so a reader's call never outlives Ray's patience.
    return 5.0 if wait is None else min(wait, 5.0)


__all__ = ["StreamCalls"]
