"""What a scenario run returns, and the signature of a scenario body."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from rich.console import Console

    from actors import Runtime


@dataclass(frozen=True, kw_only=True)
class ScenarioResult:
    """The outcome of one scenario run.

    Attributes:
        ok: Whether the scenario's check passed.
        summary: One line saying what was checked and what came out.
        details: Figures worth keeping (counts, latencies), JSON-serialisable.
    """

    ok: bool
    summary: str
    details: Mapping[str, Any] = field(default_factory=dict)


class ScenarioFn(Protocol):
    """The signature of a scenario body."""

    def __call__(self, runtime: Runtime, *, console: Console, count: int) -> ScenarioResult:
        """Run against a started runtime, print progress to ``console``, return the check."""
        ...


