"""Fusion strategies that merge the vector and keyword rankings of a hybrid search.

A strategy is any object with a ``fuse`` method (:class:`FusionStrategy`); two ship:

* :class:`RRF` — reciprocal rank fusion, ``sum(1 / (k + rank))``. It ignores raw scores, so it
  needs no calibration between cosine similarities and BM25 scores.
* :class:`WeightedFusion` — ``alpha * vector + (1 - alpha) * keyword`` over scores
  normalised within each candidate list: min-max, z-score or divided by the best score.

The default (:data:`DEFAULT_FUSION`) is ``WeightedFusion(alpha=0.6, normalization="zscore")``,
the best of 100 fusion settings swept on the bundled evaluation set (410 queries, 6,860
documents; ``raygent memory eval --sweep``, table in the README): nDCG@10 0.721 against
0.634 for vector search alone, 0.690 for the best min-max setting and 0.659 for the best
RRF. Score-aware fusion wins because the two lists disagree in confidence, not just in
order: an exact code match stands far above the rest of the BM25 list, while a paraphrase
query leaves BM25 with a flat list of incidental matches; RRF weighs both rank 1s alike.
z-scores keep that spread where min-max stretches every list to [0, 1].
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol, TypeVar, runtime_checkable

from actors._errors import ConfigError

K = TypeVar("K", bound=Hashable)


@runtime_checkable
class FusionStrategy(Protocol):
    """Merges two ranked candidate lists into one score per candidate."""

    def fuse(
        self, vector: Sequence[tuple[K, float]], keyword: Sequence[tuple[K, float]]
    ) -> dict[K, float]:
        """Fuse two rankings.

        Args:
            vector: ``(key, score)`` pairs from vector search, best first.
            keyword: ``(key, score)`` pairs from keyword search, best first.

        Returns:
            A fused score for every key in either list (higher is better).
        """
        ...


@dataclass(frozen=True, kw_only=True)
class RRF:
    """Reciprocal rank fusion (Cormack et al., 2009).

    Attributes:
        k: Rank offset; larger values flatten the advantage of the top ranks.
    """

    k: int = 60

    def __post_init__(self) -> None:
        if self.k < 0:
            raise ConfigError("must be >= 0", field="RRF.k")

    def fuse(
        self, vector: Sequence[tuple[K, float]], keyword: Sequence[tuple[K, float]]
    ) -> dict[K, float]:
        """Sum ``1 / (k + rank)`` over the lists a key appears in (ranks start at 1).

        Args:
            vector: Vector ranking, best first.
            keyword: Keyword ranking, best first.

        Returns:
            Fused scores.
        """
        fused: dict[K, float] = {}
        for ranking in (vector, keyword):
            for rank, (key, _score) in enumerate(ranking, start=1):
                fused[key] = fused.get(key, 0.0) + 1.0 / (self.k + rank)
        return fused


Normalization = Literal["minmax", "zscore", "max"]
NORMALIZATIONS: tuple[str, ...] = ("minmax", "zscore", "max")


def _normalise(ranking: Sequence[tuple[K, float]], how: str) -> tuple[dict[K, float], float]:
    """Scale one candidate list's scores; also return the value a missing key gets.

    ``minmax`` maps to [0, 1] (a list whose scores are all equal maps to 1.0; missing is
    0); ``zscore`` subtracts the mean and divides by the standard deviation (missing gets
    the list's lowest value); ``max`` divides by the best score, taking 0 as the theoretical
    minimum of both BM25 and cosine similarity (negative cosines count as 0; missing is 0).
    """
    if not ranking:
        return {}, 0.0
    scores = [s for _, s in ranking]
    if how == "max":
        hi = max(scores)
        if hi <= 0 or not math.isfinite(hi):
            return {key: 1.0 for key, _ in ranking}, 0.0
        return {key: max(s, 0.0) / hi for key, s in ranking}, 0.0
    if how == "zscore":
        mean = sum(scores) / len(scores)
        std = math.sqrt(sum((s - mean) ** 2 for s in scores) / len(scores))
        if std <= 0 or not math.isfinite(std):
            return {key: 0.0 for key, _ in ranking}, 0.0
        out = {key: (s - mean) / std for key, s in ranking}
        return out, min(out.values())
    lo, hi = min(scores), max(scores)
    span = hi - lo
    if span <= 0 or not math.isfinite(span):
        return {key: 1.0 for key, _ in ranking}, 0.0
    return {key: (s - lo) / span for key, s in ranking}, 0.0


@dataclass(frozen=True, kw_only=True)
class WeightedFusion:
    """Convex combination of normalised scores.

    Attributes:
        alpha: Weight of the vector score, in [0, 1]; the keyword score gets ``1 - alpha``.
        normalization: How each candidate list's scores are scaled before mixing:
            ``"minmax"``, ``"zscore"`` or ``"max"`` (see :func:`_normalise`).
    """

    alpha: float = 0.5
    normalization: Normalization = "minmax"

    def __post_init__(self) -> None:
        if not 0.0 <= self.alpha <= 1.0:
            raise ConfigError("must be within [0, 1]", field="WeightedFusion.alpha")
        if self.normalization not in NORMALIZATIONS:
            raise ConfigError(f"unknown normalization {self.normalization!r}: use one of "
                              f"{', '.join(NORMALIZATIONS)}", field="WeightedFusion.normalization")

    def fuse(
        self, vector: Sequence[tuple[K, float]], keyword: Sequence[tuple[K, float]]
    ) -> dict[K, float]:
        """Combine normalised scores.

        Args:
            vector: Vector ranking, best first.
            keyword: Keyword ranking, best first.

        Returns:
            Fused scores (in [0, 1] for ``minmax`` and ``max``).
        """
        nv, fv = _normalise(vector, self.normalization)
        nk, fk = _normalise(keyword, self.normalization)
        return {
            key: self.alpha * nv.get(key, fv) + (1.0 - self.alpha) * nk.get(key, fk)
            for key in nv.keys() | nk.keys()
        }


#: The fusion hybrid search uses when ``MemoryConfig.fusion`` is ``None``: chosen by the sweep
#: on the bundled evaluation set (README, "Retrieval quality"). One line to change.
DEFAULT_FUSION: FusionStrategy = WeightedFusion(alpha=0.6, normalization="zscore")


def default_fusion() -> FusionStrategy:
    """Return the fusion used when none is configured (``DEFAULT_FUSION``)."""
    return DEFAULT_FUSION


def fusion_from(spec: FusionStrategy | Mapping[str, Any] | None) -> FusionStrategy | None:
    """Build a fusion strategy from config data (a scenario spec's ``memory.config.fusion``).

    Args:
        spec: ``{"kind": "rrf", "k": 60}``, ``{"kind": "weighted", "alpha": 0.6,
            "normalization": "minmax"}``, a strategy object (returned as is) or ``None``.

    Returns:
        The strategy, or ``None``.

    Raises:
        ConfigError: For an unknown kind or field, naming it.
    """
    if spec is None or isinstance(spec, FusionStrategy):
        return spec
    if not isinstance(spec, Mapping):
        raise ConfigError(f"must be a mapping with a 'kind', got {type(spec).__name__}",
                          field="fusion")
    args = dict(spec)
    kinds: dict[str, type[Any]] = {"rrf": RRF, "weighted": WeightedFusion}
    kind = args.pop("kind", None)
    if kind not in kinds:
        raise ConfigError(f"kind must be one of {', '.join(kinds)}, got {kind!r}",
                          field="fusion.kind")
    try:
        return kinds[kind](**args)
    except TypeError as exc:
        raise ConfigError(f"{exc}", field="fusion") from None
