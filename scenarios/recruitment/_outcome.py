"""What one run of the recruitment driver produced, for the tables, the JSON and the check."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from scenarios.recruitment._fairness import GroupRates
from scenarios.recruitment.messages import AuditReport, Ranking, Rejected


@dataclass(kw_only=True)
class Outcome:
    """Everything a run produced, for the tables, the JSON and the check."""

    pool: str
    pool_size: int = 0
    rankings: list[Ranking] = field(default_factory=list)
    audits: dict[str, AuditReport] = field(default_factory=dict)
    rejected: list[Rejected] = field(default_factory=list)
    masked: Counter[str] = field(default_factory=Counter)
    fairness: list[GroupRates] = field(default_factory=list)
    best_rank: dict[str, int | None] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)


__all__ = ["Outcome"]
