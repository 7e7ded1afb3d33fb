"""Messages for talking to the memory agent through the supervisor's mailbox.

Most callers use ``self.memory`` (direct, concurrent calls); these exist for workflows that
want memory writes ordered with other messages, or retried and dead-lettered like them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from actors import message


@message(kind="memory.Recall")
@dataclass(frozen=True, kw_only=True)
class Recall:
    """Search memory; the reply is a list of ``memory.Hit``."""

    query: str
    k: int = 5
    mode: str = "hybrid"
    namespace: str | None = None
    filters: dict[str, Any] | None = None


@message(kind="memory.Remember")
@dataclass(frozen=True, kw_only=True)
class Remember:
    """Upsert records (dicts with id, text, metadata, namespace); the reply is their ids."""

    records: tuple[dict[str, Any], ...] = field(default_factory=tuple)
