"""The sweep that chose the hybrid-search defaults: every fusion setting on one set.

For each stopword setting one store is built over the evaluation corpus (vectors cached,
see ``memory._eval``), and each query is searched once per retriever through the real
``HybridStore.search`` at the deepest candidate depth. Every fusion strategy (RRF over
several ``k``; weighted fusion over ``alpha`` and three normalisations) and every shallower
depth is then applied to those two lists exactly as hybrid search applies it
(``memory._search.rank``): a retriever's top ``c`` is the first ``c`` of its top 200, since
both order by score then slot. A test checks the result against ``search`` itself.
Vector-only and keyword-only runs are the baselines hybrid must beat.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import cast

from memory._config import MemoryConfig
from memory._embedder import Embed
from memory._eval import Metrics, SearchFn, corpus_vectors, eval_store, evaluate
from memory._fusion import NORMALIZATIONS, RRF, FusionStrategy, Normalization, WeightedFusion
from memory._search import rank
from memory.evalset import EvalSet

RRF_KS = (10, 30, 60, 100)
ALPHAS = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
CANDIDATES = (20, 50, 100, 200)
STOPWORDS: tuple[str | None, ...] = (None, "english")


def fusion_grid() -> list[FusionStrategy]:
    """Every fusion strategy the sweep tries."""
    grid: list[FusionStrategy] = [RRF(k=k) for k in RRF_KS]
    grid += [WeightedFusion(alpha=a, normalization=cast(Normalization, n))
             for n in NORMALIZATIONS for a in ALPHAS]
    return grid


def fusion_label(fusion: FusionStrategy | None) -> str:
    """A short human name, e.g. ``rrf k=60`` or ``weighted 0.6 minmax``."""
    if isinstance(fusion, RRF):
        return f"rrf k={fusion.k}"
    if isinstance(fusion, WeightedFusion):
        return f"weighted {fusion.alpha:g} {fusion.normalization}"
    return "-" if fusion is None else type(fusion).__name__


@dataclass(frozen=True, kw_only=True)
class SweepPoint:
    """One configuration and what it scored.

    Attributes:
        mode: ``hybrid``, ``vector`` or ``keyword``.
        fusion: The fusion strategy (hybrid only).
        candidates: Hits per retriever (hybrid only).
        stopwords: The tokenizer's stopword setting.
        metrics: The scores.
    """

    mode: str
    fusion: FusionStrategy | None
    candidates: int | None
    stopwords: str | None
    metrics: Metrics

    def label(self) -> str:
        """``hybrid weighted 0.6 minmax c=50 stop=english`` style."""
        stop = self.stopwords or "none"
        if self.mode != "hybrid":
            return f"{self.mode} stop={stop}"
        return f"hybrid {fusion_label(self.fusion)} c={self.candidates} stop={stop}"


def _replay(found: dict[str, list[tuple[str, float]]], text_of: dict[str, str]) -> SearchFn:
    """One retriever's recorded lists as a search function."""
    return lambda query, k: [i for i, _ in found[text_of[query]][:k]]


def _replay_fused(lists: dict[str, dict[str, list[tuple[str, float]]]], text_of: dict[str, str],
                  fusion: FusionStrategy, candidates: int) -> SearchFn:
    """Hybrid search replayed from recorded lists, as ``HybridStore.search`` computes it."""
    def search(query: str, k: int) -> list[str]:
        qid, depth = text_of[query], max(k, candidates)
        vec, kw = lists["vector"][qid][:depth], lists["keyword"][qid][:depth]
        return [i for i, _ in rank("hybrid", k, vec, kw, fusion)]

    return search


def sweep(eval_set: EvalSet, embedder: Embed, *, config: MemoryConfig | None = None,
          fusions: Sequence[FusionStrategy] | None = None,
          candidates: Sequence[int] = CANDIDATES,
          stopwords: Sequence[str | None] = STOPWORDS,
          cache_dir: Path | None = None,
          progress: Callable[[int, int], None] | None = None) -> list[SweepPoint]:
    """Run the grid and return one point per configuration (baselines included).

    Args:
        eval_set: Labelled queries and corpus.
        embedder: Query and document embedder.
        config: Base store settings (tokenizer stopwords are swept over it).
        fusions: Strategies to try; ``None`` means :func:`fusion_grid`.
        candidates: Candidate depths to try.
        stopwords: Stopword settings to try.
        cache_dir: Document-vector cache (see :func:`memory._eval.corpus_vectors`).
        progress: Called with ``(done, total)`` after each configuration.

    Returns:
        The points, in grid order.
    """
    base = config if config is not None else MemoryConfig()
    grid = list(fusions) if fusions is not None else fusion_grid()
    vectors = corpus_vectors(eval_set, embedder, cache_dir)
    depth = max(candidates)
    total = len(stopwords) * (2 + len(grid) * len(candidates))
    done = 0
    points: list[SweepPoint] = []

    def tick() -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress(done, total)

    for stop in stopwords:
        cfg = replace(base, tokenizer=replace(base.tokenizer, stopwords=stop), rerank=None)
        with tempfile.TemporaryDirectory(prefix="raygent-sweep-") as tmp:
            store = eval_store(eval_set, Path(tmp) / "store", embedder, cfg, vectors=vectors)
            try:
                lists = {mode: {q.id: [(h.id, h.score) for h in
                                       store.search(q.text, k=max(depth, 100), mode=mode)]
                                for q in eval_set.queries}
                         for mode in ("vector", "keyword")}
            finally:
                store.close()
        text_of = {q.text: q.id for q in eval_set.queries}
        for mode in ("vector", "keyword"):
            m = evaluate(_replay(lists[mode], text_of), eval_set)
            points.append(SweepPoint(mode=mode, fusion=None, candidates=None, stopwords=stop,
                                     metrics=m))
            tick()
        for cand in candidates:
            for fusion in grid:
                m = evaluate(_replay_fused(lists, text_of, fusion, cand), eval_set)
                points.append(SweepPoint(mode="hybrid", fusion=fusion, candidates=cand,
                                         stopwords=stop, metrics=m))
                tick()
    return points


def best(points: Sequence[SweepPoint], *, max_p50_ms: float | None = None) -> SweepPoint:
    """The hybrid point with the highest nDCG@10 (ties: higher MRR, then fewer candidates).

    Args:
        points: Sweep results.
        max_p50_ms: Ignore configurations slower than this median latency.

    Returns:
        The winner.
    """
    hybrid = [p for p in points if p.mode == "hybrid"
              and (max_p50_ms is None or p.metrics.p50_ms <= max_p50_ms)]
    if not hybrid:
        raise ValueError("no hybrid configuration within the latency budget")
    return max(hybrid, key=lambda p: (round(p.metrics.ndcg_at_10, 4), round(p.metrics.mrr, 4),
                                      -(p.candidates or 0)))
