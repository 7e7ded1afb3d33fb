"""The seam where a durable journal sits.

The supervisor tells its journal about every message it accepts and every message that
reaches an end (handled or dead-lettered). The default journal keeps nothing: messages in
flight survive an agent restart (the supervisor holds them) but not a supervisor restart.
A durable journal implements the same three calls against disk.
"""

from __future__ import annotations

from typing import Protocol

from actors._envelope import Envelope


class Journal(Protocol):
    def accepted(self, env: Envelope) -> None: ...
    def finished(self, env: Envelope) -> None: ...
    def pending(self) -> list[Envelope]: ...


class NullJournal:
    """Keeps nothing (the default until a durable journal lands)."""

    def accepted(self, env: Envelope) -> None:
        return None

    def finished(self, env: Envelope) -> None:
        return None

    def pending(self) -> list[Envelope]:
        return []
