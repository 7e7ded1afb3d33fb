"""The reader's side of a stream: an async (and a blocking) iterator over pulled chunks.

It is given two calls, ``pull(max_items, wait_s)`` returning :class:`Pulled` and
``cancel(reason)``, so the same reader serves a local :class:`StreamBuffer` and the
supervisor's remote one. Leaving early (``break``, ``aclose``, an exception in the loop
body) cancels the stream, which the producer sees as :class:`StreamCancelledError` on its
next emit.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator
from typing import Any

from actors._stream_errors import StreamLostError
from actors._streams import CANCELLED, ENDED, Pulled

PullFn = Callable[[int, float | None], Awaitable[Pulled]]
CancelFn = Callable[[str], Awaitable[Any]]


class StreamReader:
    """Iterate the chunks of one stream in order; ``reply`` holds the final value."""

    def __init__(self, stream_id: str, pull: PullFn, cancel: CancelFn, *,
                 timeout_s: float | None = None, batch: int = 64) -> None:
        self.stream_id = stream_id
        self._pull = pull
        self._cancel = cancel
        self._deadline = None if timeout_s is None else time.monotonic() + timeout_s
        self._batch = batch
        self._expected = 0
        self._done = False
        self.reply: Any = None

    def __aiter__(self) -> AsyncIterator[Any]:
        return self._chunks()

    async def _chunks(self) -> AsyncIterator[Any]:
        try:
            while not self._done:
                wait = None if self._deadline is None else self._deadline - time.monotonic()
                if wait is not None and wait <= 0:
                    raise StreamLostError(self.stream_id, "no end within the stream's "
                                          "timeout_s; raise timeout_s for longer answers")
                got = await self._pull(self._batch, wait)
                if got.chunks and got.first_seq != self._expected:
                    raise StreamLostError(self.stream_id, f"chunk {self._expected} was "
                                          f"skipped (got {got.first_seq})")
                self._expected += len(got.chunks)
                for chunk in got.chunks:
                    yield chunk
                if got.done:
                    self._done = True
                    if got.state == ENDED:
                        self.reply = got.reply
                    elif got.state != CANCELLED and got.error is not None:
                        raise got.error
        finally:
            if not self._done:
                self._done = True
                await self._cancel("the consumer stopped reading")

    async def aclose(self) -> None:
        """Stop reading; the producer is told on its next emit."""
        if not self._done:
            self._done = True
            await self._cancel("the consumer closed the stream")


async def _await(step: Awaitable[Any]) -> Any:
    return await step


def blocking_iter(reader: StreamReader, run: Callable[[Coroutine[Any, Any, Any]], Any]
                  ) -> Iterator[Any]:
    """A plain iterator over ``reader``, each step run by ``run`` (a loop's runner)."""
    agen = reader.__aiter__()
    try:
        while True:
            try:
                yield run(_await(agen.__anext__()))
            except StopAsyncIteration:
                return
    finally:
        run(_await(agen.aclose()))  # type: ignore[attr-defined]


def local_reader(buf: Any, *, timeout_s: float | None = None, batch: int = 64
                 ) -> StreamReader:
    """A reader over a :class:`StreamBuffer` in the same event loop (tests, local runs)."""
    async def cancel(reason: str) -> None:
        buf.cancel(reason)
    return StreamReader(buf.stream_id, buf.pull, cancel, timeout_s=timeout_s, batch=batch)


__all__ = ["StreamReader", "blocking_iter", "local_reader"]
