"""Retrieval quality: the metrics, and a store built over an evaluation set to measure them.

Metrics follow the usual definitions (as in ``trec_eval`` and BEIR):

* nDCG@k with linear gains: ``sum(grade / log2(rank + 1))`` over the top ``k``, divided by
  the same sum for the ideal order of the labelled documents;
* recall@k: the fraction of documents labelled relevant (grade >= 1) found in the top ``k``;
* MRR@10: the mean of ``1 / rank`` of the first relevant document in the top 10 (0 when
  none is there).

nDCG@10 and MRR@10 are taken from a search for 10 hits, recall@100 from a search for 100:
hybrid search draws ``max(k, candidates)`` hits from each retriever, so asking for 100
would hide what the candidate depth does to the top 10 that callers actually get.

:func:`evaluate` scores any search function; :func:`eval_store` opens a
:class:`~memory.HybridStore` over an :class:`~memory.evalset.EvalSet` whose document
vectors are cached on disk (per model and text), so repeated runs embed only the
queries.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from actors._home import raygent_home
from memory._config import MemoryConfig
from memory._embedder import Embed
from memory._rerank import Reranker
from memory._store import HybridStore
from memory.evalset import EvalSet

#: A search under test: ``(query, k) -> ids, best first``.
SearchFn = Callable[[str, int], Sequence[str]]


def ndcg_at_k(ranked: Sequence[str], relevant: Mapping[str, int], k: int = 10) -> float:
    """Normalised discounted cumulative gain of one ranking.

    Args:
        ranked: Document ids, best first.
        relevant: Graded labels (unlabelled documents count 0).
        k: Cut-off.

    Returns:
        A value in [0, 1]; 0 when nothing is labelled relevant.
    """
    dcg = sum(relevant.get(d, 0) / math.log2(i + 2) for i, d in enumerate(ranked[:k]))
    ideal = sorted((g for g in relevant.values() if g > 0), reverse=True)[:k]
    best = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
    return dcg / best if best > 0 else 0.0


def recall_at_k(ranked: Sequence[str], relevant: Mapping[str, int], k: int = 100) -> float:
    """Fraction of the relevant documents (grade >= 1) found in the top ``k``."""
    wanted = {d for d, g in relevant.items() if g > 0}
    if not wanted:
        return 0.0
    return len(wanted.intersection(ranked[:k])) / len(wanted)


def reciprocal_rank(ranked: Sequence[str], relevant: Mapping[str, int], k: int = 100) -> float:
    """``1 / rank`` of the first relevant document in the top ``k``, else 0."""
    for i, d in enumerate(ranked[:k], start=1):
        if relevant.get(d, 0) > 0:
            return 1.0 / i
    return 0.0


@dataclass(frozen=True, kw_only=True)
class Metrics:
    """Mean figures over a query set.

    Attributes:
        ndcg_at_10: Mean nDCG@10.
        recall_at_100: Mean recall@100.
        mrr: Mean reciprocal rank at 10.
        queries: Number of queries.
        p50_ms: Median search latency.
        by_kind: nDCG@10 per query kind.
    """

    ndcg_at_10: float
    recall_at_100: float
    mrr: float
    queries: int
    p50_ms: float = 0.0
    by_kind: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-compatible data, rounded to 4 decimals."""
        return {"ndcg_at_10": round(self.ndcg_at_10, 4),
                "recall_at_100": round(self.recall_at_100, 4), "mrr": round(self.mrr, 4),
                "queries": self.queries, "p50_ms": round(self.p50_ms, 3),
                "by_kind": {k: round(x, 4) for k, x in sorted(self.by_kind.items())}}


def evaluate(search: SearchFn, eval_set: EvalSet, *, depth: int = 100) -> Metrics:
    """Run every query of ``eval_set`` through ``search`` and average the metrics.

    Args:
        search: Returns ranked document ids for ``(query, k)``; called with ``k=10``
            (timed) and ``k=depth`` for each query.
        eval_set: Labelled queries.
        depth: The recall cut-off.

    Returns:
        The averages.
    """
    ndcg, recall, rr, times = [], [], [], []
    kinds: dict[str, list[float]] = defaultdict(list)
    for q in eval_set.queries:
        t = time.perf_counter()
        top = list(search(q.text, 10))
        times.append((time.perf_counter() - t) * 1000)
        score = ndcg_at_k(top, q.relevant, 10)
        ndcg.append(score)
        kinds[q.kind].append(score)
        rr.append(reciprocal_rank(top, q.relevant, 10))
        recall.append(recall_at_k(list(search(q.text, depth)), q.relevant, depth))
    n = len(eval_set.queries)
    return Metrics(ndcg_at_10=sum(ndcg) / n, recall_at_100=sum(recall) / n, mrr=sum(rr) / n,
                   queries=n, p50_ms=float(np.median(times)) if times else 0.0,
                   by_kind={k: sum(v) / len(v) for k, v in kinds.items()})


def store_search(store: HybridStore, **options: Any) -> SearchFn:
    """A :data:`SearchFn` over ``store.search`` with fixed options (mode, fusion...)."""
    return lambda query, k: [h.id for h in store.search(query, k=k, **options)]


class CachedDocs:
    """An embedder that serves known document vectors (the evaluation corpus's, from a cache
    file) and embeds anything else, and every query, with the real model."""

    def __init__(self, real: Embed, vectors: dict[str, np.ndarray]) -> None:
        self._real = real
        self._vectors = vectors

    @property
    def dim(self) -> int:
        return self._real.dim

    @property
    def model_name(self) -> str:
        return self._real.model_name

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        missing = [t for t in texts if t not in self._vectors]
        if missing:
            for t, vec in zip(missing, self._real.encode(missing), strict=True):
                self._vectors[t] = np.asarray(vec, dtype=np.float32)
        return np.stack([self._vectors[t] for t in texts]).astype(np.float32)

    def encode_query(self, text: str) -> np.ndarray:
        return self._real.encode_query(text)


def corpus_vectors(eval_set: EvalSet, embedder: Embed, cache_dir: Path | None = None,
                   progress: Callable[[int, int], None] | None = None) -> np.ndarray:
    """The corpus's document vectors, each text embedded once per model, then cached.

    The cache maps a hash of each text to its vector, so a changed corpus re-embeds only
    its new texts.

    Args:
        eval_set: The set whose corpus to embed.
        embedder: The embedder (its ``model_name`` names the cache file).
        cache_dir: Where to keep the cache; ``None`` means ``$RAYGENT_HOME/cache/evalset``.
        progress: Called with ``(done, total)`` while embedding.

    Returns:
        An ``(n_docs, dim)`` float32 array in corpus order.
    """
    texts = [d["text"] for d in eval_set.corpus]
    keys = [hashlib.sha1(t.encode()).hexdigest() for t in texts]
    folder = cache_dir if cache_dir is not None else raygent_home() / "cache" / "evalset"
    model = hashlib.sha1(embedder.model_name.encode()).hexdigest()[:16]
    path = folder / f"{model}-{embedder.dim}.npz"
    known: dict[str, np.ndarray] = {}
    if path.exists():
        try:
            with np.load(path) as z:
                known = dict(zip(z["keys"].tolist(), z["vectors"], strict=True))
        except (OSError, ValueError, KeyError):
            known = {}  # an unreadable cache is only lost time: embed again
    todo = sorted({i for i, key in enumerate(keys) if key not in known})
    for start in range(0, len(todo), 256):
        part = todo[start:start + 256]
        vecs = np.asarray(embedder.encode([texts[i] for i in part]), dtype=np.float32)
        known.update({keys[i]: vec for i, vec in zip(part, vecs, strict=True)})
        if progress is not None:
            progress(min(start + 256, len(todo)), len(todo))
    if todo:
        folder.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp.npz")
        np.savez(tmp, keys=np.asarray(list(known)), vectors=np.stack(list(known.values())))
        tmp.replace(path)
    if not texts:
        return np.zeros((0, embedder.dim), dtype=np.float32)
    return np.stack([known[key] for key in keys]).astype(np.float32)


def eval_store(eval_set: EvalSet, data_dir: Path, embedder: Embed,
               config: MemoryConfig | None = None, *, vectors: np.ndarray | None = None,
               cache_dir: Path | None = None, reranker: Reranker | None = None) -> HybridStore:
    """A store in ``data_dir`` holding the corpus of ``eval_set``.

    Args:
        eval_set: The set to load.
        data_dir: An empty (or missing) directory for the store.
        embedder: Embeds queries (and documents, unless ``vectors`` or the cache has them).
        config: Store settings (``data_dir`` is replaced); ``None`` means the defaults.
        vectors: Document vectors in corpus order, if already computed.
        cache_dir: See :func:`corpus_vectors`.
        reranker: The rerank stage, if any (else one is built from ``config.rerank``).

    Returns:
        The open store; the caller closes it.
    """
    if vectors is None:
        vectors = corpus_vectors(eval_set, embedder, cache_dir)
    table = {d["text"]: vectors[i] for i, d in enumerate(eval_set.corpus)}
    cfg = replace(config if config is not None else MemoryConfig(), data_dir=data_dir)
    store = HybridStore(cfg, CachedDocs(embedder, table), reranker)
    for start in range(0, len(eval_set.corpus), 2000):
        store.add(eval_set.corpus[start:start + 2000])
    return store
