"""The operations every memory store offers, and the search modes."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

if TYPE_CHECKING:
    from memory._fusion import FusionStrategy
    from memory._records import Hit, Record

Mode = Literal["hybrid", "vector", "keyword"]
MODES: tuple[str, ...] = ("hybrid", "vector", "keyword")


@runtime_checkable
class MemoryStore(Protocol):
    """The operations every memory store offers."""

    def add(self, records: Iterable[Record | Mapping[str, Any]]) -> list[str]:
        """Insert new records; all-or-nothing."""
        ...

    def upsert(self, records: Iterable[Record | Mapping[str, Any]]) -> list[str]:
        """Insert or replace records; all-or-nothing."""
        ...

    def delete(self, ids: Sequence[str]) -> int:
        """Delete records by id; all-or-nothing."""
        ...

    def get(self, ids: Sequence[str]) -> list[Record]:
        """Fetch records by id."""
        ...

    def search(
        self,
        query: str,
        k: int = 5,
        mode: Mode = "hybrid",
        namespace: str | None = None,
        filters: Mapping[str, Any] | None = None,
        fusion: FusionStrategy | None = None,
    ) -> list[Hit]:
        """Search the records."""
        ...

    def count(self, namespace: str | None = None) -> int:
        """Count records."""
        ...

    def flush(self) -> None:
        """Persist derived state and compact storage."""
        ...

    def close(self) -> None:
        """Flush and release the store."""
        ...
