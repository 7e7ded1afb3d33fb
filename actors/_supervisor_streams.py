"""The supervisor's part in streams: it holds each stream's buffer between the producing
agent and the reader (``actors/_streams.py``), and turns the producer's death into
``StreamLostError`` for the reader instead of a hang.

The reader calls ``stream_open`` (which starts the handler through the backend's
``stream`` call), then ``stream_pull`` until the stream is done, or ``stream_cancel``. The
agent calls ``stream_emit`` for each chunk; it waits while the reader is a window behind.
"""

from __future__ import annotations

import asyncio
from typing import Any

from actors._envelope import Envelope
from actors._errors import AgentUnavailableError, ConfigError, RaygentError, UnknownRecipientError
from actors._ids import new_id
from actors._stream_errors import StreamCancelledError
from actors._streams import Pulled, StreamBuffer, StreamTable


class StreamPart:
    """Mixed into :class:`~actors.SupervisorCore`."""

    _agents: dict[str, Any]
    backend: Any

    def _screen(self, envs: Any, token: Any) -> list[Envelope]:
        raise NotImplementedError  # SupervisorCore

    def _stream_table(self) -> StreamTable:
        table: StreamTable | None = self.__dict__.get("_stream_table_")
        if table is None:
            table = self.__dict__["_stream_table_"] = StreamTable()
            self.__dict__["_stream_tasks_"] = set()
            self.__dict__["_stream_parties_"] = {}
        return table

    async def stream_open(self, env: Envelope, token: str | None = None) -> str:
        """Start ``env``'s handler as a stream; return the stream id to pull from."""
        [env] = self._screen([env], token)
        rec = self._agents.get(env.recipient or "")
        if rec is None:
            raise UnknownRecipientError(env.recipient or "", tuple(sorted(self._agents)))
        if rec.ref is None:
            raise AgentUnavailableError(rec.name, "it is not running")
        stream = getattr(self.backend, "stream", None)
        if stream is None:
            raise ConfigError("this supervisor's backend cannot stream: use the Ray backend")
        sid = new_id()
        buf = self._stream_table().open(sid, rec.name)
        task = asyncio.create_task(self._produce(stream, rec.ref, env, buf))
        tasks: set[asyncio.Task[None]] = self.__dict__["_stream_tasks_"]
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        return sid

    async def _produce(self, stream: Any, ref: Any, env: Envelope, buf: StreamBuffer) -> None:
        try:
            reply = await stream(ref, env, buf.stream_id)
            buf.end(reply)
        except StreamCancelledError:
            pass
        except RaygentError as exc:
            buf.fail(exc)
        except Exception as exc:  # the agent's process died: Ray's actor errors
            buf.lose(f"{env.recipient!r} stopped mid-stream: {type(exc).__name__}")
        finally:
            self._party_done(buf.stream_id)

    def _party_done(self, sid: str) -> None:
        # Forget a stream once both its producer and its reader are finished with it.
        parties: dict[str, int] = self.__dict__["_stream_parties_"]
        parties[sid] = parties.get(sid, 0) + 1
        if parties[sid] >= 2:
            del parties[sid]
            self._stream_table().drop(sid)

    async def stream_emit(self, sid: str, chunk: Any) -> int:
        """One chunk from the producer; waits while the reader is a window behind."""
        return await self._stream_table().get(sid).emit(chunk)

    async def stream_pull(self, sid: str, max_items: int = 64, wait_s: float | None = 1.0
                          ) -> Pulled:
        """Chunks available now (waiting up to ``wait_s`` for the first one)."""
        got = await self._stream_table().get(sid).pull(max_items, wait_s)
        if got.done:
            self._party_done(sid)
        return got

    async def stream_cancel(self, sid: str, reason: str = "the consumer closed the stream"
                            ) -> None:
        """The reader left: the producer's next emit raises ``StreamCancelledError``."""
        table = self._stream_table()
        buf = table._streams.get(sid)
        if buf is not None and buf.cancel(reason):
            self._party_done(sid)
