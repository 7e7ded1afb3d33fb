"""The one exception tree of raygent.

Every error a user can see derives from :class:`RaygentError`, at most three levels deep,
and every one survives a pickle round trip (errors cross Ray process boundaries)::

    RaygentError
    ├── ConfigError                 bad configuration or scenario spec
    ├── MessageError                a message rejected at send, before it is queued
    │   ├── UnknownKindError
    │   ├── PayloadTypeError
    │   ├── MessageTooLargeError
    │   ├── NotSerializableError
    │   └── UnknownRecipientError
    ├── DeliveryError               a message accepted but not (yet) handled
    │   ├── MailboxFullError
    │   ├── AskTimeoutError
    │   ├── HandlerError            the receiving handler raised
    │   └── HandlerTimeoutError     the handler ran past its time limit
    ├── AgentError                  lifecycle and registry problems
    │   ├── AgentNotFoundError
    │   ├── AgentExistsError
    │   ├── AgentFailedError
    │   ├── AgentStoppedError       stopped while a message for it was in flight
    │   ├── AgentUnavailableError   its process is gone or unreachable (restarting)
    │   ├── RuntimeNotStartedError
    │   ├── SupervisorUnavailableError  the supervisor stayed unreachable past the budget
    │   ├── SupervisorRestartedError    the supervisor restarted and lost a reply
    │   └── ShutdownError           stopping the system left something behind
    ├── JournalError                the supervisor's journal cannot be read or written
    ├── SecurityError               refused: not allowed, whatever the retries
    │   ├── NotAServiceError        a method an agent does not offer through invoke
    │   ├── ForgedSenderError       an envelope claiming a sender it cannot prove
    │   ├── UntrustedModuleError    a scenario naming code outside the allowed modules
    │   └── PathNotAllowedError     a file outside the roots memory may read
    ├── ApprovalError               human approvals (``actors/_approval_errors.py``)
    ├── StreamError                 streamed replies (``actors/_stream_errors.py``)
    ├── StoreError                  memory store problems (see ``memory``)
    │   ├── InvalidRecordError
    │   ├── DuplicateIdError
    │   ├── RecordNotFoundError
    │   ├── InvalidQueryError
    │   └── CorruptStoreError
    └── LLMError (actors/llm/)      a model call failed
        ├── LLMRequestError         malformed request (fix the caller)
        ├── LLMHTTPError            error status (status, detail, attempts, .retryable)
        ├── LLMTimeoutError         no answer within the call's budget
        ├── LLMConnectionError      server unreachable, after retries
        └── LLMResponseError        not a valid chat completion

Each message says what to do about it.
"""

from __future__ import annotations

import functools
from typing import Any


class RaygentError(Exception):
    """Root of every raygent error.

    Every subclass's constructor arguments are recorded when it is built (see
    ``__init_subclass__``), and ``__reduce__`` rebuilds the error from them: an error
    crosses a Ray process boundary whole, and no subclass can forget its ``__reduce__``.
    """

    retryable: bool = True

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        init = cls.__dict__.get("__init__")
        if init is None:
            return

        @functools.wraps(init)
        def recording(self: RaygentError, *args: Any, **kw: Any) -> None:
            # The outermost constructor's arguments are the ones that rebuild the error.
            if "_init_args" not in self.__dict__:
                self.__dict__["_init_args"] = (args, kw)
            init(self, *args, **kw)

        cls.__init__ = recording  # type: ignore[method-assign]

    def __reduce__(self) -> tuple[Any, ...]:
        args, kw = self.__dict__.get("_init_args", ((self.message,), {}))
        return (_rebuild, (type(self), args, kw))


    def __str__(self) -> str:
        return self.message


class ConfigError(RaygentError):
    """A configuration value or scenario spec field is invalid."""

    retryable = False

    def __init__(self, message: str, *, field: str | None = None) -> None:
        text = f"{field}: {message}" if field else message
        super().__init__(text)
        self.field = field
        self._raw = message



class MessageError(RaygentError):
    """A message was rejected at send; nothing was queued."""

    retryable = False


class UnknownKindError(MessageError):
    def __init__(self, kind: str) -> None:
        super().__init__(
            f"unknown message kind {kind!r}: decorate the payload class with @message "
            "(or register_message) in a module the sender and receiver both import"
        )
        self.kind = kind



class PayloadTypeError(MessageError):
    def __init__(self, recipient: str, kind: str, accepted: tuple[str, ...]) -> None:
        super().__init__(
            f"agent {recipient!r} has no handler for {kind!r}; it accepts: "
            f"{', '.join(accepted) or 'nothing'}"
        )
        self.recipient = recipient
        self.kind = kind
        self.accepted = tuple(accepted)



class MessageTooLargeError(MessageError):
    def __init__(self, size: int, limit: int) -> None:
        super().__init__(
            f"message is {size} bytes, over the limit of {limit}: store large data in memory "
            "and send its id, or raise RuntimeConfig.max_message_bytes"
        )
        self.size = size
        self.limit = limit



class NotSerializableError(MessageError):
    def __init__(self, kind: str, reason: str) -> None:
        super().__init__(
            f"payload {kind!r} cannot be pickled ({reason}): payloads must hold plain data "
            "(no locks, sockets, open files or lambdas)"
        )
        self.kind = kind
        self.reason = reason



class UnknownRecipientError(MessageError):
    def __init__(self, recipient: str, known: tuple[str, ...] = ()) -> None:
        hint = f"; running agents: {', '.join(known)}" if known else ""
        super().__init__(f"no agent named {recipient!r}: spawn it first{hint}")
        self.recipient = recipient
        self.known = tuple(known)



class DeliveryError(RaygentError):
    """A message was accepted but could not be handled."""


class MailboxFullError(DeliveryError):
    def __init__(self, recipient: str, capacity: int) -> None:
        super().__init__(
            f"mailbox of {recipient!r} is full ({capacity} messages): retry later, send with "
            "a timeout to wait for room, or raise the agent's MailboxConfig.capacity"
        )
        self.recipient = recipient
        self.capacity = capacity



class AskTimeoutError(DeliveryError):
    def __init__(self, recipient: str, kind: str, timeout_s: float) -> None:
        super().__init__(
            f"no reply from {recipient!r} to {kind!r} within {timeout_s:g}s: the agent may be "
            "slow, busy or restarting; check `raygent status` and raise timeout_s"
        )
        self.recipient = recipient
        self.kind = kind
        self.timeout_s = timeout_s



class HandlerError(DeliveryError):
    """The receiving agent's handler raised; the original type and text are kept."""

    def __init__(self, recipient: str, kind: str, error_type: str, detail: str) -> None:
        super().__init__(f"{recipient!r} failed on {kind!r}: {error_type}: {detail}")
        self.recipient = recipient
        self.kind = kind
        self.error_type = error_type
        self.detail = detail



class HandlerTimeoutError(DeliveryError):
    def __init__(self, recipient: str, kind: str, timeout_s: float, cancelled: bool) -> None:
        how = ("it was cancelled" if cancelled else "a plain `def` handler cannot be "
               "cancelled, so the agent is restarted to stop it")
        super().__init__(
            f"{recipient!r} did not finish {kind!r} within its {timeout_s:g}s limit ({how}): "
            "make the handler faster, or raise its timeout_s in @handles(timeout_s=...)")
        self.recipient = recipient
        self.kind = kind
        self.timeout_s = timeout_s
        self.cancelled = cancelled


class AgentError(RaygentError):
    """Registry and lifecycle problems."""


class AgentNotFoundError(AgentError):
    def __init__(self, name: str) -> None:
        super().__init__(f"no agent named {name!r}: see `raygent status` for the running ones")
        self.name = name



class AgentExistsError(AgentError):
    def __init__(self, name: str) -> None:
        super().__init__(f"an agent named {name!r} already exists: pick another name or stop it")
        self.name = name



class AgentFailedError(AgentError):
    def __init__(self, name: str, reason: str) -> None:
        super().__init__(
            f"agent {name!r} has failed and is stopped ({reason}): fix the cause, then "
            "`runtime.restart({name!r})`"
        )
        self.name = name
        self.reason = reason



class AgentUnavailableError(AgentError):
    def __init__(self, name: str, reason: str) -> None:
        super().__init__(
            f"agent {name!r} is unreachable ({reason}); the supervisor restarts it by its "
            "restart policy and redelivers its messages"
        )
        self.name = name
        self.reason = reason



class RuntimeNotStartedError(AgentError):
    def __init__(self, message: str = "the runtime is not started: call Runtime.start() "
                 "or Runtime.attach() first") -> None:
        super().__init__(message)


class AgentStoppedError(AgentError):
    def __init__(self, name: str, reason: str) -> None:
        super().__init__(
            f"agent {name!r} was stopped before it answered ({reason}): the message went to "
            "the dead-letter queue; replay it once the agent runs again"
        )
        self.name = name
        self.reason = reason



class SupervisorUnavailableError(AgentError):
    def __init__(self, waited_s: float, reason: str) -> None:
        super().__init__(
            f"the supervisor did not answer for {waited_s:.1f}s ({reason}): it may be "
            "restarting after a crash or its node may be gone; check `raygent status` and "
            "`ray list actors`, and raise RuntimeConfig.journal.supervisor_retry_s to wait longer"
        )
        self.waited_s = waited_s
        self.reason = reason



class SupervisorRestartedError(AgentError):
    def __init__(self, message_id: str) -> None:
        super().__init__(
            f"the supervisor restarted while message {message_id!r} was in flight and no "
            "longer holds its reply (it was older than the reply retention): the message "
            "was handled at most once; ask again if the handler is safe to repeat"
        )
        self.message_id = message_id



class ShutdownError(AgentError):
    def __init__(self, failures: tuple[str, ...]) -> None:
        super().__init__(
            "stopping the system left work undone: " + "; ".join(failures)
            + " (check `ray list actors --filter ray_namespace=...` and kill leftovers)"
        )
        self.failures = tuple(failures)



class JournalError(RaygentError):
    def __init__(self, path: str, reason: str) -> None:
        super().__init__(
            f"the supervisor's journal at {path!r} failed ({reason}): check free disk space "
            "and permissions; a damaged journal can be moved aside (the system then starts "
            "empty) or restored from a backup"
        )
        self.path = path
        self.reason = reason



class SecurityError(RaygentError):
    """Refused on purpose: retrying will not help."""

    retryable = False


class NotAServiceError(SecurityError):
    def __init__(self, agent: str, method: str, services: tuple[str, ...]) -> None:
        offered = ", ".join(services) or "none"
        super().__init__(
            f"agent {agent!r} offers no service {method!r} (its services: {offered}): only "
            "methods declared with @service (or in `services`) can be invoked; send it a "
            "message instead")
        self.agent = agent
        self.method = method
        self.services = tuple(services)


class ForgedSenderError(SecurityError):
    def __init__(self, sender: str) -> None:
        super().__init__(
            f"an envelope claims to come from {sender!r} without that agent's credential: "
            "senders are set by the runtime; send through Runtime or Agent methods")
        self.sender = sender


class UntrustedModuleError(SecurityError):
    def __init__(self, target: str, allowed: tuple[str, ...]) -> None:
        super().__init__(
            f"{target!r} is not in an allowed module (allowed prefixes: "
            f"{', '.join(allowed)}): if you trust it, allow its package with "
            "`raygent run --trust PREFIX` or RAYGENT_TRUSTED_MODULES=PREFIX")
        self.target = target
        self.allowed = tuple(allowed)


class PathNotAllowedError(SecurityError):
    def __init__(self, path: str, roots: tuple[str, ...], reason: str,
                 fix: str | None = None) -> None:
        super().__init__(
            f"refusing to read {path!r}: {reason} (allowed roots: "
            f"{', '.join(roots) or 'none'}); "
            + (fix or "put the file under an allowed root or add its directory to "
               "MemoryConfig.ingest_roots"))
        self.path = path
        self.roots = tuple(roots)
        self.reason = reason
        self.fix = fix


class StoreError(RaygentError):
    """Memory store problems."""


class InvalidRecordError(StoreError):
    """A record to add is malformed (empty or non-string text, bad metadata, too large)."""

    retryable = False


class DuplicateIdError(StoreError):
    retryable = False

    def __init__(self, record_id: str,
                 detail: str = "already exists with other content") -> None:
        super().__init__(
            f"record id {record_id!r} {detail}: use upsert() to replace the stored record, "
            "or give the new one another id (adding the same content again is a no-op)"
        )
        self.record_id = record_id
        self.detail = detail



class RecordNotFoundError(StoreError):
    retryable = False

    def __init__(self, record_id: str) -> None:
        super().__init__(f"no record with id {record_id!r}")
        self.record_id = record_id



class InvalidQueryError(StoreError):
    """A search request is malformed (empty query, k <= 0, unknown mode or namespace)."""

    retryable = False


class CorruptStoreError(StoreError):
    def __init__(self, path: str, reason: str) -> None:
        super().__init__(
            f"the memory store at {path!r} is damaged ({reason}): restore the directory "
            "from a backup, or move it aside and ingest the documents again (`raygent "
            "memory ingest`); a damaged keyword index alone is rebuilt when the store opens"
        )
        self.path = path
        self.reason = reason



def _rebuild(cls: type[RaygentError], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    return cls(*args, **kwargs)
