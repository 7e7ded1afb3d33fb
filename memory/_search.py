"""The search path: argument checks, exact vector top-k, fusion and the hits it returns.

Queries do not go through LanceDB. The store keeps every vector in one float32 matrix and
searches it *exactly* with a matrix product (``memory._vectors``: a bfloat16 first pass
where the CPU makes that faster, then exact float32 scores): at 100k x 384 that costs
5-14 ms on one core, against ~225 ms for a LanceDB flat scan, while an IVF_PQ index answers
in ~6 ms but takes ~100 s to build and is approximate. Keyword candidates come from the in-memory
:class:`~memory._bm25.BM25Index`. Hybrid mode takes ``candidates`` hits from each retriever,
fuses them (:mod:`memory._fusion`) and keeps every retriever's score and rank on the hit,
so a caller can see why it ranked where it did. An optional rerank stage
(:mod:`memory._rerank`) then re-scores the best fused hits with a cross-encoder.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any, TypeVar

import numpy as np

from actors._errors import InvalidQueryError, StoreError
from memory._fusion import FusionStrategy
from memory._protocol import MODES
from memory._records import Hit
from memory._rerank import Reranker
from memory._slots import SlotTable

#: ``(slot, score)`` pairs, best first.
Ranking = list[tuple[int, float]]
K = TypeVar("K", int, str)  # slot numbers in the store, document ids when a sweep replays


def check_args(query: Any, k: Any, mode: Any, fusion: Any, max_k: int,
               candidates: Any = None) -> None:
    """Reject bad search arguments with a message that says what to pass instead.

    Raises:
        InvalidQueryError: For an empty query, bad ``k`` or ``candidates``, unknown mode, or
            a fusion object without ``fuse``.
    """
    if not isinstance(query, str) or not query.strip():
        raise InvalidQueryError("query must be a non-empty string")
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= max_k:
        raise InvalidQueryError(f"k must be an integer in [1, {max_k}], got {k!r}")
    if mode not in MODES:
        raise InvalidQueryError(f"unknown mode {mode!r}: use one of {', '.join(MODES)}")
    if fusion is not None and not isinstance(fusion, FusionStrategy):
        raise InvalidQueryError("fusion must have a fuse(vector, keyword) method")
    if candidates is not None and (
        isinstance(candidates, bool) or not isinstance(candidates, int) or candidates < 1
    ):
        raise InvalidQueryError(f"candidates must be an integer >= 1, got {candidates!r}")


def keyword_top(slots: SlotTable, tokens: list[str], k: int, mask: np.ndarray | None
                ) -> Ranking:
    """The ``k`` best BM25 slots sharing at least one term with the query."""
    found, scores = slots.bm25.top_k(tokens, k, mask)
    return list(zip(found.tolist(), scores.tolist(), strict=True))


def rank(mode: str, k: int, vec: list[tuple[K, float]], kw: list[tuple[K, float]],
         fuse: FusionStrategy) -> list[tuple[K, float]]:
    """The final order: one retriever's list, or both fused (hybrid)."""
    if mode == "vector":
        return vec[:k]
    if mode == "keyword":
        return kw[:k]
    fused = fuse.fuse(vec, kw)
    vrank = {s: r for r, (s, _) in enumerate(vec, start=1)}
    krank = {s: r for r, (s, _) in enumerate(kw, start=1)}
    # Ties (common with RRF) go to the better vector rank, then keyword rank, then slot.
    big = 1 << 30
    return sorted(
        fused.items(),
        key=lambda item: (-item[1], vrank.get(item[0], big), krank.get(item[0], big), item[0]),
    )[:k]


def make_hits(slots: SlotTable, mode: str, ranked: Ranking, vec: Ranking, kw: Ranking
              ) -> list[Hit]:
    """Turn ranked slots into :class:`Hit` objects carrying both retrievers' evidence."""
    vinfo = {s: (score, r) for r, (s, score) in enumerate(vec, start=1)}
    kinfo = {s: (score, r) for r, (s, score) in enumerate(kw, start=1)}
    hits = []
    for s, score in ranked:
        v = vinfo.get(s)
        kk = kinfo.get(s)
        hits.append(
            Hit(
                id=slots.ids[s],
                text=slots.texts[s],
                metadata=json.loads(json.dumps(slots.metas[s])),
                namespace=slots.namespaces[slots.ns[s]],
                score=float(score),
                vector_score=v[0] if v else None,
                vector_rank=v[1] if v else None,
                keyword_score=kk[0] if kk else None,
                keyword_rank=kk[1] if kk else None,
                fused_score=float(score) if mode == "hybrid" else None,
                created_at=float(slots.created[s]),
                updated_at=float(slots.updated[s]),
            )
        )
    return hits


def rerank_hits(reranker: Reranker, query: str, hits: list[Hit], k: int) -> list[Hit]:
    """Re-score hits with a cross-encoder and keep the best ``k``.

    Each hit's ``score`` becomes its rerank score (also in ``rerank_score``); its fused and
    per-retriever evidence stays. Equal rerank scores keep the fused order.
    """
    scores = reranker.score(query, [h.text for h in hits])
    if len(scores) != len(hits) or not np.isfinite(scores).all():
        raise StoreError(f"the reranker returned {len(scores)} scores for {len(hits)} texts "
                         "(expected one finite score per text)")
    order = sorted(range(len(hits)), key=lambda i: (-float(scores[i]), i))[:k]
    return [replace(hits[i], score=float(scores[i]), rerank_score=float(scores[i]))
            for i in order]
