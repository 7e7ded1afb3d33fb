"""Ranking and confidence: sort the scored candidates, attach a calibrated confidence.

``confidence`` is the probability that a candidate is the best one for the job among
those scored, by temperature-scaled softmax over the adjusted scores plus bonuses for the
agreement of the fields and for the requirements met, with a "the best was not retrieved"
option::

    logit_i = adjusted_i / T + beta * agreement_i + gamma * met_i
    confidence_i = exp(logit_i) / (exp(s0 / T) + sum_j exp(logit_j))

``agreement_i`` is the share of the embedding fields (requirements, skills, experience,
whole) in which candidate ``i`` scores highest, ``met_i`` the share of the job's
requirements it meets; the margin to the next candidate enters through the softmax (a top
candidate far ahead of the second gets most of the mass), and a low top score leaves mass
to "not retrieved". ``T``, ``beta``, ``gamma`` and ``s0`` are fitted by maximum likelihood
of the true best candidate on a generated calibration pool
(``python -m scenarios.recruitment.calibrate``), from a seed other than the bundled
pool's and the benchmark's; ``data/calibration.json`` holds them.

The expected calibration error (:func:`expected_calibration_error`) checks it: over
equal-width confidence bins, the gap between mean confidence and accuracy, weighted by
bin size.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from actors import ConfigError
from scenarios.recruitment.messages import CandidateScore, Result

CALIBRATION_FILE = Path(__file__).parent / "data" / "calibration.json"
AGREEMENT_FIELDS = ("requirements", "skills", "experience", "whole")
PARAMETERS = ("temperature", "agreement", "coverage", "absent_score")


@dataclass(frozen=True, kw_only=True)
class Calibration:
    """Parameters of the confidence model (see the module docstring)."""

    temperature: float = 0.02
    agreement: float = 0.5
    coverage: float = 0.0
    absent_score: float = 0.6

    def __post_init__(self) -> None:
        if not (math.isfinite(self.temperature) and self.temperature > 0):
            raise ConfigError("must be > 0", field="calibration.temperature")

    @classmethod
    def load(cls, path: str | Path | None = None) -> Calibration:
        """Read ``data/calibration.json`` (or ``path``); the defaults when it is missing."""
        p = Path(path) if path else CALIBRATION_FILE
        if not p.is_file():
            if path:
                raise ConfigError(f"no calibration file at {p}", field="calibration")
            return cls()
        data = json.loads(p.read_text(encoding="utf-8"))
        return cls(**{k: float(v) for k, v in data.get("parameters", data).items()
                      if k in PARAMETERS})

    @classmethod
    def from_config(cls, value: Any) -> Calibration:
        if isinstance(value, Mapping):
            return cls(**{k: float(v) for k, v in value.items()})
        return cls.load(value if isinstance(value, str) else None)

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


def agreement(fields: Sequence[Mapping[str, float]]) -> np.ndarray:
    """Per candidate, the share of :data:`AGREEMENT_FIELDS` where it scores highest."""
    if not fields:
        return np.zeros(0)
    mat = np.array([[f.get(name, 0.0) for name in AGREEMENT_FIELDS] for f in fields])
    return (mat == mat.max(axis=0)).mean(axis=1)


def coverage(scores: Sequence[Any]) -> np.ndarray:
    """Per candidate, the share of the job's requirements met."""
    return np.array([len(s.matched) / max(1, len(s.matched) + len(s.missing))
                     for s in scores], float)


def confidences(adjusted: ArrayLike, agree: ArrayLike, met: ArrayLike,
                cal: Calibration) -> np.ndarray:
    """The probability of each candidate being the best (see the module docstring)."""
    scores = np.asarray(adjusted, float)
    if scores.size == 0:
        return np.zeros(0)
    logits = (scores / cal.temperature
              + cal.agreement * np.asarray(agree, float)
              + cal.coverage * np.asarray(met, float))
    absent = cal.absent_score / cal.temperature
    top = max(float(logits.max()), absent)
    weights = np.exp(logits - top)
    return weights / (weights.sum() + math.exp(absent - top))


def expected_calibration_error(confidence: Sequence[float], correct: Sequence[bool], *,
                               bins: int = 10) -> float:
    """ECE with ``bins`` equal-width bins over [0, 1].

    Raises:
        ValueError: If the sequences differ in length or are empty.
    """
    conf = np.asarray(confidence, float)
    right = np.asarray(correct, float)
    if len(conf) != len(right) or len(conf) == 0:
        raise ValueError("need as many correctness flags as confidences, at least one")
    index = np.minimum((conf * bins).astype(int), bins - 1)
    total = 0.0
    for b in range(bins):
        member = index == b
        if member.any():
            total += member.sum() * abs(conf[member].mean() - right[member].mean())
    return float(total / len(conf))


def rank(scores: Sequence[CandidateScore], sources: Mapping[str, str],
         cal: Calibration) -> tuple[Result, ...]:
    """Sort by adjusted score (ties by id) and attach each candidate's confidence."""
    ordered = sorted(scores, key=lambda s: (-s.adjusted_score, s.candidate_id))
    conf = confidences([s.adjusted_score for s in ordered],
                       agreement([s.fields for s in ordered]), coverage(ordered), cal)
    return tuple(Result(rank=i + 1, candidate_id=s.candidate_id,
                        source=sources.get(s.candidate_id, ""),
                        adjusted_score=s.adjusted_score, raw_score=s.raw_score,
                        confidence=round(float(c), 4), fields=s.fields, matched=s.matched,
                        missing=s.missing)
                 for i, (s, c) in enumerate(zip(ordered, conf, strict=True)))
