"""The audit's arithmetic: adverse impact across groups, and counterfactual comparisons.

- Adverse impact (:func:`adverse_impact`): per attribute (gender, origin, age band), each
  group's selection rate and the ratio of the lowest to the highest; under 0.8 breaks the
  four-fifths rule of the US Uniform Guidelines on Employee Selection Procedures
  (29 CFR 1607.4(D)). The same guidelines say a ratio from small numbers may not show
  adverse impact at all, so each attribute also gets the p-value of Fisher's exact test
  between its lowest and highest group: the ratio *shows* adverse impact when it is under
  0.8 and that difference is significant (p < 0.05). With 40 shortlisted candidates over
  four groups, one candidate more in one group moves the ratio by about 0.1 by chance.
- Counterfactuals (:func:`compare`, :func:`report`): how far a copy's score moved from the
  original's, and where the candidate would rank if only its score had moved
  (:func:`rank_after`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from scenarios.recruitment.messages import AuditReport, CandidateScore, Counterfactual, Result

FOUR_FIFTHS = 0.8
SIGNIFICANCE = 0.05


@dataclass(frozen=True, kw_only=True)
class GroupRates:
    """Selection rates of one attribute's groups, and the four-fifths verdict."""

    attribute: str
    rates: dict[str, float]
    selected: dict[str, int]
    considered: dict[str, int]
    ratio: float
    p_value: float = 1.0

    @property
    def passes(self) -> bool:
        """The four-fifths rule, taken literally."""
        return self.ratio >= FOUR_FIFTHS

    @property
    def adverse(self) -> bool:
        """Under four fifths *and* a significant difference (see the module docstring)."""
        return not self.passes and self.p_value < SIGNIFICANCE


def fisher_p(selected_a: int, total_a: int, selected_b: int, total_b: int) -> float:
    """Two-sided p-value of Fisher's exact test on two groups' selection counts."""
    from scipy.stats import fisher_exact

    table = [[selected_a, total_a - selected_a], [selected_b, total_b - selected_b]]
    return float(fisher_exact(table, alternative="two-sided").pvalue)


def adverse_impact(considered: Mapping[str, int], selected: Mapping[str, int],
                   groups: Mapping[str, Mapping[str, str]]) -> list[GroupRates]:
    """Selection rates per group and the adverse-impact ratio, for every attribute.

    Args:
        considered: Candidate id → how many times it was considered (e.g. jobs ranked).
        selected: Candidate id → how many times it was selected (shortlisted).
        groups: Candidate id → attribute → group (``{"gender": "female", ...}``).
            Candidates without labels are left out.

    Returns:
        One :class:`GroupRates` per attribute, with ``ratio`` = lowest rate / highest rate
        (1.0 when nobody was selected) and the Fisher p-value of those two groups.
    """
    out = []
    attributes = sorted({a for labels in groups.values() for a in labels})
    for attr in attributes:
        seen: dict[str, int] = defaultdict(int)
        chosen: dict[str, int] = defaultdict(int)
        for cid, n in considered.items():
            group = groups.get(cid, {}).get(attr)
            if group is None:
                continue
            seen[group] += n
            chosen[group] += selected.get(cid, 0)
        rates = {g: chosen[g] / seen[g] for g in sorted(seen) if seen[g]}
        top = max(rates.values(), default=0.0)
        ratio = min(rates.values()) / top if top > 0 else 1.0
        p = 1.0
        if len(rates) > 1 and top > 0:
            low, high = min(rates, key=rates.__getitem__), max(rates, key=rates.__getitem__)
            p = fisher_p(chosen[low], seen[low], chosen[high], seen[high])
        out.append(GroupRates(attribute=attr, rates=rates, selected=dict(chosen),
                              considered=dict(seen), ratio=ratio, p_value=p))
    return out


def rank_after(scores: Mapping[str, float], candidate: str, new_score: float) -> int:
    """1-based rank of ``candidate`` if its score became ``new_score`` (others fixed).

    Ties are broken by candidate id, as the ranker does.
    """
    key = (-new_score, candidate)
    return 1 + sum(1 for cid, s in scores.items() if cid != candidate and (-s, cid) < key)


def compare(results: Sequence[Result], scores: Sequence[CandidateScore],
            origin_of: Mapping[str, tuple[str, str]]) -> list[Counterfactual]:
    """One :class:`Counterfactual` per scored copy, against the ranked originals.

    Args:
        results: The ranking of the originals.
        scores: The copies' scores, under the copies' ids.
        origin_of: Copy id → (original candidate id, variant name).
    """
    base = {r.candidate_id: r.adjusted_score for r in results}
    base_raw = {r.candidate_id: r.raw_score for r in results}
    ranks = {r.candidate_id: r.rank for r in results}
    out = []
    for s in scores:
        cid, variant = origin_of[s.candidate_id]
        moved_to = rank_after(base, cid, s.adjusted_score)
        out.append(Counterfactual(
            candidate_id=cid, variant=variant,
            score_delta=round(abs(s.adjusted_score - base[cid]), 6),
            rank_change=abs(moved_to - ranks[cid]),
            raw_delta=round(abs(s.raw_score - base_raw[cid]), 6)))
    return out


def report(job_id: str, results: Sequence[Counterfactual],
           errors: Sequence[str] = ()) -> AuditReport:
    """The largest moves, and the five copies that moved most."""
    worst = sorted(results, key=lambda c: (-c.score_delta, -c.rank_change, -c.raw_delta))
    return AuditReport(
        job_id=job_id, variants=len(results),
        max_score_delta=max((c.score_delta for c in results), default=0.0),
        max_rank_change=max((c.rank_change for c in results), default=0),
        max_raw_delta=max((c.raw_delta for c in results), default=0.0),
        worst=tuple(worst[:5]), errors=tuple(errors))
