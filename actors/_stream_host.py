"""The producer's side of a stream: run one handler and hand each chunk to ``emit``.

A streaming handler is an async generator (``async def h(self, msg): yield chunk``) or any
handler calling ``await ctx.emit(chunk)``; a plain handler's return value is the stream's
final reply. Chunks are
handed over one at a time and ``emit`` waits while the reader is a window behind, so the
handler is paced by its reader. When the reader leaves, ``emit`` raises
``StreamCancelledError``: the generator is closed (its ``finally`` blocks run) and the
error ends the call.
"""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
from collections.abc import Awaitable, Callable
from typing import Any

from actors._agent import Agent
from actors._envelope import CURRENT_SCOPE, Envelope, HandlerScope, MessageContext
from actors._errors import HandlerError, PayloadTypeError, RaygentError
from actors._stream_errors import StreamError

Emit = Callable[[Any], Awaitable[Any]]


async def run_stream(agent: Agent, env: Envelope, emit: Emit) -> Any:
    """Run ``env``'s handler on ``agent``, emitting its chunks; return its final value.

    Raises:
        PayloadTypeError: The agent has no handler for the payload.
        StreamCancelledError: The reader left (the handler was stopped).
        HandlerError: The handler raised.
    """
    cls = type(agent)
    attr = cls._raygent_handlers.get(env.kind)
    if attr is None:
        raise PayloadTypeError(agent.name, env.kind, cls.accepted_kinds())
    fn = getattr(agent, attr)
    token = CURRENT_SCOPE.set(HandlerScope(env))
    try:
        ctx = dataclasses.replace(MessageContext.of(env), _emit=emit)
        if inspect.isasyncgenfunction(fn):
            gen = fn(env.payload, ctx)
            try:
                async for chunk in gen:
                    await emit(chunk)
            finally:
                await gen.aclose()
            return None
        if inspect.iscoroutinefunction(fn):
            return await fn(env.payload, ctx)
        return await asyncio.to_thread(fn, env.payload, ctx)
    except (StreamError, RaygentError):
        raise
    except Exception as exc:
        raise HandlerError(agent.name, env.kind, type(exc).__name__, str(exc)[:500]) from None
    finally:
        CURRENT_SCOPE.reset(token)
