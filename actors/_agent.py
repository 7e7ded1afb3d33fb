"""The Agent base class: plain Python, unit-testable without Ray.

Handlers are methods decorated with :func:`handles`; the payload type comes from the type
hint of the first parameter after ``self`` (or is passed explicitly: ``@handles(Echo)``)
and is resolved once, when the class is defined. Matching is by exact kind: a subclass of a
payload class is a different kind and needs its own handler. A handler returns the reply
(for ``ask``) or ``None``. Handlers may be ``async def`` or plain ``def``; plain handlers
run in a worker thread so the agent stays responsive to health checks, and they use the
blocking ``send``/``ask``/``publish`` while async handlers use the ``*_async`` forms.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator, Callable, Coroutine, Mapping
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar, get_type_hints

from actors._envelope import CURRENT_SCOPE
from actors._errors import ConfigError, RaygentError
from actors._registry import kind_of_type

if TYPE_CHECKING:
    from actors._transport import Transport

F = TypeVar("F", bound=Callable[..., Any])
R = TypeVar("R")

_MARK = "__raygent_handles__"
_TIMEOUT = "__raygent_timeout__"
_SERVICE = "__raygent_service__"


def handles(arg: Any = None, /, *, timeout_s: float | None = None) -> Any:
    """Mark a method as the handler of one payload type.

    ``@handles`` reads the type from the ``msg`` parameter's hint; ``@handles(Payload)``
    names it explicitly (useful when the hint cannot be resolved at class creation).
    ``timeout_s`` limits how long one call may run: an ``async def`` handler is cancelled
    then, a plain ``def`` one (which cannot be) has its agent restarted; either way the
    message is retried or dead-lettered like any failure (``HandlerTimeoutError``).
    """
    if timeout_s is not None and not (isinstance(timeout_s, int | float)
                                      and 0 < timeout_s < float("inf")):
        raise ConfigError(f"timeout_s must be a positive number of seconds, not {timeout_s!r}")

    def mark(fn: F, payload: Any) -> F:
        setattr(fn, _MARK, payload)
        if timeout_s is not None:
            setattr(fn, _TIMEOUT, float(timeout_s))
        return fn

    if isinstance(arg, type):
        explicit = arg
        return lambda fn: mark(fn, explicit)
    if arg is None:
        return lambda fn: mark(fn, True)
    return mark(arg, True)


def service(fn: F) -> F:
    """Declare a method reachable through direct calls (``invoke``), as memory's ``search``.

    Nothing else of an agent is: lifecycle hooks, ``snapshot``/``restore``, messaging and
    handlers never are. A class may also list its services in ``services = ("a", "b")``.
    """
    setattr(fn, _SERVICE, True)
    return fn


def _payload_type(cls: type, fn: Callable[..., Any], mark: Any) -> type:
    if isinstance(mark, type):
        return mark
    params = list(inspect.signature(fn).parameters.values())
    if len(params) < 2:
        raise ConfigError(
            f"{cls.__qualname__}.{fn.__name__}: a handler takes (self, msg, ctx)"
        )
    try:
        hints = get_type_hints(fn)
    except Exception as exc:  # NameError for hints naming local classes
        raise ConfigError(
            f"{cls.__qualname__}.{fn.__name__}: cannot resolve the type hint of "
            f"{params[1].name!r} ({exc}); define the payload at module level or use "
            "@handles(PayloadType)"
        ) from None
    hint = hints.get(params[1].name)
    if not isinstance(hint, type):
        raise ConfigError(
            f"{cls.__qualname__}.{fn.__name__}: parameter {params[1].name!r} needs a payload "
            "type hint (a class registered with @message)"
        )
    return hint


class Agent:
    """Base class of every agent.

    Subclass it, add handlers with :func:`handles`, and spawn it with
    ``Runtime.spawn(MyAgent, name="...")``. The runtime builds it with ``(name, config)``.

    Attributes:
        name: The agent's unique name in its system.
        config: The mapping given at spawn.
        subscriptions: Topics the agent subscribes to when it starts.
        concurrency: Handlers that may run at once. 1 (the default) handles messages one
            at a time in send order; more suits I/O-bound agents (model calls), whose
            messages then finish in any order and retry one by one.
    """

    subscriptions: ClassVar[tuple[str, ...]] = ()
    concurrency: ClassVar[int] = 1
    services: ClassVar[tuple[str, ...]] = ()
    _raygent_handlers: ClassVar[dict[str, str]] = {}
    _raygent_timeouts: ClassVar[dict[str, float]] = {}
    _raygent_services: ClassVar[frozenset[str]] = frozenset()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._collect_handlers()
        cls._collect_services()

    @classmethod
    def _collect_services(cls) -> None:
        names = set(cls.services)
        for base in cls.__mro__[1:]:
            names |= getattr(base, "_raygent_services", frozenset())
        names |= {attr for attr, fn in cls.__dict__.items() if getattr(fn, _SERVICE, False)}
        handlers = set(cls._raygent_handlers.values())
        for name in names:
            if name.startswith("_") or name in vars(Agent) or name in handlers:
                raise ConfigError(
                    f"{cls.__qualname__}.{name} cannot be a service: lifecycle, state, "
                    "messaging, handler and private methods are never reachable by invoke")
            if not callable(getattr(cls, name, None)):
                raise ConfigError(f"{cls.__qualname__} lists service {name!r}, which is not "
                                  "one of its methods")
        cls._raygent_services = frozenset(names)

    @classmethod
    def _collect_handlers(cls) -> None:
        table: dict[str, str] = {}
        timeouts: dict[str, float] = {}
        for base in reversed(cls.__mro__[1:]):
            table.update(getattr(base, "_raygent_handlers", {}))
            timeouts.update(getattr(base, "_raygent_timeouts", {}))
        own: dict[str, str] = {}
        for attr, fn in cls.__dict__.items():
            mark = getattr(fn, _MARK, None)
            if mark is None:
                continue
            ptype = _payload_type(cls, fn, mark)
            kind = kind_of_type(ptype)
            if kind is None:
                raise ConfigError(
                    f"{cls.__qualname__}.{attr}: {ptype.__qualname__} is not a registered "
                    "message; decorate it with @message"
                )
            if kind in own:
                raise ConfigError(
                    f"{cls.__qualname__}: two handlers for {kind!r} ({own[kind]}, {attr})"
                )
            own[kind] = attr
            table[kind] = attr
            timeouts.pop(kind, None)
            if hasattr(fn, _TIMEOUT):
                timeouts[kind] = getattr(fn, _TIMEOUT)
        cls._raygent_handlers = table
        cls._raygent_timeouts = timeouts

    def __init__(self, name: str, config: Mapping[str, Any] | None = None) -> None:
        self.name = name
        self.config: Mapping[str, Any] = dict(config or {})
        self._transport: Transport | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._memory: Any = None
        self._exit_reason: str | None = None

    def exit(self, reason: str = "done") -> None:
        """Ask the runtime to stop this agent once the current message is handled.

        A normal exit: a ``transient`` or ``temporary`` agent is then stopped and removed
        (its queued mail dead-lettered); a ``permanent`` one is restarted, as in OTP.
        """
        self._exit_reason = reason or "done"

    @property
    def memory(self) -> Any:
        """The shared memory service (a ``MemoryClient`` when running on Ray).

        Raises:
            RaygentError: Outside a runtime, unless a test set ``agent._memory``.
        """
        if self._memory is None:
            raise RaygentError(
                f"agent {self.name!r} has no memory: spawn memory.MemoryAgent as 'memory' "
                "in the same system, or set agent._memory in a unit test"
            )
        return self._memory

    # -- what subclasses override -------------------------------------------------------

    async def on_start(self) -> None:
        """Called once the agent (and its restored state) is ready, before any message."""

    async def on_stop(self) -> None:
        """Called on a graceful stop; skipped after a failure."""

    async def health(self) -> bool:
        """Check what the agent depends on; return False or raise when unhealthy."""
        return True

    def snapshot(self) -> Any:
        """Return the state to restore after a restart (picklable), or None for none."""
        return None

    def restore(self, state: Any) -> None:
        """Put back state returned by :meth:`snapshot`."""

    async def on_unhandled(self, msg: Any, ctx: Any) -> Any:
        """Called for a kind with no handler (the supervisor normally rejects it first)."""
        raise RaygentError(f"{self.name!r} has no handler for {type(msg).__qualname__}")

    # -- class facts the runtime reads ----------------------------------------------------

    @classmethod
    def accepted_kinds(cls) -> tuple[str, ...]:
        """Kinds this agent class has handlers for."""
        return tuple(sorted(cls._raygent_handlers))

    @classmethod
    def has_snapshot(cls) -> bool:
        """Whether the class overrides :meth:`snapshot` (only then is state captured)."""
        return cls.snapshot is not Agent.snapshot

    # -- messaging, inside handlers -------------------------------------------------------

    def _bind(self, transport: Transport, loop: asyncio.AbstractEventLoop | None) -> None:
        self._transport = transport
        self._loop = loop

    def _need_transport(self) -> Transport:
        if self._transport is None:
            raise RaygentError(
                f"agent {self.name!r} is not attached to a runtime: spawn it with "
                "Runtime.spawn, or bind a transport in tests"
            )
        return self._transport

    async def send_async(
        self, recipient: str, payload: Any, *, timeout_s: float | None = None,
        deadline_s: float | None = None, idempotency_key: str | None = None,
    ) -> str:
        """Send a message to another agent through the supervisor; return its id."""
        return await self._need_transport().send(
            recipient, payload, timeout_s=timeout_s, deadline_s=deadline_s,
            idempotency_key=idempotency_key,
        )

    async def ask_async(
        self, recipient: str, payload: Any, *, timeout_s: float | None = None
    ) -> Any:
        """Send a request and wait for the handler's return value.

        Raises:
            AskTimeoutError: If no reply comes within ``timeout_s``.
            HandlerError: If the receiving handler failed on every attempt.
        """
        return await self._need_transport().ask(
            recipient, payload, timeout_s=timeout_s
        )

    async def publish_async(self, topic: str, payload: Any) -> int:
        """Publish to a topic; return how many subscribers it was queued for."""
        return await self._need_transport().publish(topic, payload)

    def _blocking(self, coro: Coroutine[Any, Any, R]) -> R:
        loop = self._loop
        if loop is None or not loop.is_running():
            return asyncio.run(coro)
        if _in_loop(loop):
            coro.close()
            raise RaygentError(
                "the blocking send/ask/publish cannot run on the agent's event loop: "
                "use send_async/ask_async/publish_async in async handlers"
            )
        # The loop runs the send in its own context: carry the handler's scope there, so
        # the message gets its correlation id and derived idempotency key.
        scope = CURRENT_SCOPE.get()

        async def in_scope() -> R:
            CURRENT_SCOPE.set(scope)
            return await coro

        return asyncio.run_coroutine_threadsafe(in_scope(), loop).result()

    def send(
        self, recipient: str, payload: Any, *, timeout_s: float | None = None,
        deadline_s: float | None = None, idempotency_key: str | None = None,
    ) -> str:
        """Blocking :meth:`send_async`, for plain ``def`` handlers."""
        return self._blocking(self.send_async(
            recipient, payload, timeout_s=timeout_s, deadline_s=deadline_s,
            idempotency_key=idempotency_key,
        ))

    def ask(self, recipient: str, payload: Any, *, timeout_s: float | None = None) -> Any:
        """Blocking :meth:`ask_async`, for plain ``def`` handlers."""
        return self._blocking(self.ask_async(recipient, payload, timeout_s=timeout_s))

    def publish(self, topic: str, payload: Any) -> int:
        """Blocking :meth:`publish_async`, for plain ``def`` handlers."""
        return self._blocking(self.publish_async(topic, payload))

    async def stream_async(self, recipient: str, payload: Any, *,
                           timeout_s: float | None = None) -> AsyncIterator[Any]:
        """Read another agent's streamed reply chunk by chunk (docs/streaming.md).

        Leaving the loop early cancels the stream; a streaming handler may pass chunks on
        with ``yield`` as they come.

        Raises:
            StreamLostError: The producer died mid-stream or ``timeout_s`` ran out.
            HandlerError: The producing handler raised.
        """
        opener = getattr(self._need_transport(), "stream", None)
        if opener is None:
            raise RaygentError(f"agent {self.name!r}'s transport cannot stream: run it "
                               "in a Ray runtime")
        reader = await opener(recipient, payload, timeout_s=timeout_s)
        async for chunk in reader:
            yield chunk


def _in_loop(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False
