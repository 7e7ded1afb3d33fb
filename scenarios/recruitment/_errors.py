"""The recruitment scenario's one error: a document that cannot be used.

    RaygentError
    └── DocumentError     a resume or job file is empty, too large, not UTF-8, of an
                          unknown format, malformed, or lacks what it needs

It is raised by the readers and the parser and turned into a :class:`Rejected` entry, so
one bad file is reported by name while the rest of the pool is still ranked.
"""

from __future__ import annotations

from typing import Any

from actors import RaygentError


class DocumentError(RaygentError):
    """A document that cannot be used; the message names the file and what to do."""

    retryable = False

    def __init__(self, source: str, reason: str) -> None:
        super().__init__(f"{source}: {reason}")
        self.source = source
        self.reason = reason

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.source, self.reason))
