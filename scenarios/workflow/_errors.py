"""The workflow scenario's errors, rooted in :class:`actors.RaygentError`.

::

    RaygentError
    ├── ConfigError (actors)        a flow file or connection setting is invalid
    └── WorkflowError               a step could not do its work
        ├── SignatureError          a webhook request's signature is wrong (_signature)
        ├── ConditionError          an expression failed to parse or evaluate
        ├── TemplateError           a template names a field the event lacks
        ├── SecretError             a secret cannot be read (the value is never shown)
        ├── EmailError              the SMTP server refused or could not be reached
        ├── EventLogError           the event-log database refused the insert
        ├── CRMError                the CRM answered with an error, or stayed down
        ├── UnknownStepError        a message names a step the flow lacks (_runner)
        └── NoSuchEventError        no such event in the history (_replay)

``retryable`` tells the supervisor whether another delivery could help: a template that
names a missing field fails the same way every time, so it goes straight to the
dead-letter queue; an SMTP timeout is retried. Each message says what to do.
"""

from __future__ import annotations

from typing import Any

from actors import RaygentError


class WorkflowError(RaygentError):
    """A workflow step failed."""


class ConditionError(WorkflowError):
    """An expression is malformed (at parse time) or cannot be evaluated."""

    retryable = False

    def __init__(self, expression: str, reason: str, *, column: int | None = None) -> None:
        where = f" at column {column}" if column is not None else ""
        super().__init__(
            f"condition {expression!r}{where}: {reason}; see docs/workflow.md for the "
            "expression language (paths, literals, == != < <= > >=, in, and/or/not)")
        self.expression = expression
        self.reason = reason
        self.column = column

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self), (self.expression, self.reason),
                           {"column": self.column}))


class TemplateError(WorkflowError):
    """A ``{{ ... }}`` template cannot be rendered from the event."""

    retryable = False

    def __init__(self, template: str, reason: str) -> None:
        super().__init__(
            f"template {template!r}: {reason}; fix the flow file or send events that carry "
            "the field, then replay the event (`raygent workflow replay ID`)")
        self.template = template
        self.reason = reason

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.template, self.reason))


class SecretError(WorkflowError):
    """A secret reference cannot be resolved; the message names the source, never a value."""

    retryable = False

    def __init__(self, source: str, reason: str) -> None:
        super().__init__(
            f"secret from {source}: {reason}; set the variable or write the file (see "
            "docs/workflow.md, Secrets)")
        self.source = source
        self.reason = reason

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.source, self.reason))


class EmailError(WorkflowError):
    """Sending through SMTP failed; ``retryable`` is False for permanent (5xx) refusals."""

    def __init__(self, server: str, reason: str, *, retryable: bool = True) -> None:
        hint = ("the server may be down or busy: it is retried, then dead-lettered "
                "(replay with `raygent workflow replay ID`)" if retryable else
                "the server refused it permanently: fix the address, credentials or "
                "settings, then replay the event")
        super().__init__(f"SMTP {server}: {reason}; {hint}")
        self.server = server
        self.reason = reason
        self.retryable = retryable

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self), (self.server, self.reason),
                           {"retryable": self.retryable}))


class EventLogError(WorkflowError):
    """The event-log database could not take the row."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(
            f"event log {url}: {reason}; check that the database is reachable and the "
            "table's schema matches (the step is retried, then dead-lettered)")
        self.url = url
        self.reason = reason

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.url, self.reason))


class CRMError(WorkflowError):
    """The CRM call failed after its retries (or was refused outright).

    Never retried by the supervisor: the CRM agent already retried with backoff, so the
    step goes to the dead-letter queue, from where ``raygent workflow replay`` takes it.
    """

    retryable = False

    def __init__(self, url: str, reason: str, *, attempts: int = 1,
                 status: int | None = None) -> None:
        super().__init__(
            f"CRM {url}: {reason} after {attempts} attempt(s); the step is in the "
            "dead-letter queue: once the CRM is back (or the request is fixed), run "
            "`raygent workflow replay ID`")
        self.url = url
        self.reason = reason
        self.attempts = attempts
        self.status = status

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self), (self.url, self.reason),
                           {"attempts": self.attempts, "status": self.status}))


def _rebuild(cls: type[RaygentError], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    return cls(*args, **kwargs)


__all__ = ["CRMError", "ConditionError", "EmailError", "EventLogError", "SecretError",
           "TemplateError", "WorkflowError"]
