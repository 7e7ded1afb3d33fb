"""BM25 scoring against rank_bm25 (same scores, speed) and bm25s (top-10 speed)."""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks._memory_corpus import make_queries
from memory import BM25Index, Tokenizer


def bench_bm25(docs: list[str], n_queries: int, n_rank_queries: int) -> dict[str, Any]:
    """Compare our BM25 with rank_bm25 (scores) and bm25s (top-10) on identical tokens."""
    import bm25s
    from rank_bm25 import BM25Okapi

    tok = Tokenizer()
    corpus_tokens = tok.tokenize_many(docs)
    queries = [tok(q) for q in make_queries(docs, n_queries, seed=11)]

    t = time.perf_counter()
    ours = BM25Index()
    for start in range(0, len(corpus_tokens), 10_000):
        ours.append(corpus_tokens[start : start + 10_000])
    t_ours_build = time.perf_counter() - t

    t = time.perf_counter()
    ref = BM25Okapi(corpus_tokens)
    t_ref_build = time.perf_counter() - t

    t = time.perf_counter()
    b25 = bm25s.BM25(k1=1.5, b=0.75, method="robertson")
    b25.index(corpus_tokens, show_progress=False)
    t_b25_build = time.perf_counter() - t

    # get_scores: identical results, timed on the same queries.
    rank_q = queries[:n_rank_queries]
    for q in rank_q[:3]:
        ours.get_scores(q)
    t = time.perf_counter()
    ours_scores = [ours.get_scores(q) for q in rank_q]
    t_ours = (time.perf_counter() - t) / len(rank_q)
    t = time.perf_counter()
    ref_scores = [ref.get_scores(q) for q in rank_q]
    t_ref = (time.perf_counter() - t) / len(rank_q)
    max_diff = max(float(np.abs(a - b).max()) for a, b in zip(ours_scores, ref_scores, strict=True))

    # Top-10, one query per call.
    def b25_one(q: list[str]) -> Any:
        return b25.retrieve([q], k=10, show_progress=False, n_threads=1)

    for q in queries[:5]:
        b25_one(q)
        ours.top_k(q, 10)
    ratios = []
    t_b25_total = t_ours_total = 0.0
    # Interleave the two so that machine noise hits both alike.
    for q in queries:
        t = time.perf_counter()
        b25_one(q)
        t_b = time.perf_counter() - t
        t = time.perf_counter()
        ours.top_k(q, 10)
        t_o = time.perf_counter() - t
        t_b25_total += t_b
        t_ours_total += t_o
        ratios.append(t_b / t_o)
    # Batched: bm25s gets all queries in one call, we loop.
    t = time.perf_counter()
    b25.retrieve(queries, k=10, show_progress=False, n_threads=1)
    t_b25_batch = time.perf_counter() - t
    t = time.perf_counter()
    for q in queries:
        ours.top_k(q, 10)
    t_ours_batch = time.perf_counter() - t

    # Persistence round trip.
    with tempfile.TemporaryDirectory() as d:
        t = time.perf_counter()
        ours.save(Path(d) / "bm25.npz")
        t_save = time.perf_counter() - t
        t = time.perf_counter()
        BM25Index.load(Path(d) / "bm25.npz")
        t_load = time.perf_counter() - t

    n = len(docs)
    print(f"BM25 over {n:,} docs, {ours.vocab_size:,} terms, avg {ours.avgdl:.1f} tokens/doc")
    print(
        f"  build: ours {t_ours_build:.2f}s  rank_bm25 {t_ref_build:.2f}s  bm25s {t_b25_build:.2f}s"
    )
    print(
        f"  get_scores ({len(rank_q)} queries): ours {t_ours * 1000:.3f} ms  "
        f"rank_bm25 {t_ref * 1000:.1f} ms  -> {t_ref / t_ours:.0f}x, max |diff| {max_diff:.2e}"
    )
    print(
        f"  top-10 one query per call ({len(queries)} queries): ours "
        f"{t_ours_total / len(queries) * 1000:.3f} ms  bm25s "
        f"{t_b25_total / len(queries) * 1000:.3f} ms  -> {t_b25_total / t_ours_total:.2f}x "
        f"(median per-query ratio {statistics.median(ratios):.2f}x)"
    )
    print(
        f"  top-10 batched: ours {t_ours_batch * 1000:.1f} ms  bm25s {t_b25_batch * 1000:.1f} ms"
        f"  -> {t_b25_batch / t_ours_batch:.2f}x"
    )
    print(f"  save {t_save:.2f}s  load {t_load:.2f}s")
    return {
        "bm25_speedup": t_ref / t_ours,
        "bm25_max_abs_diff": max_diff,
        "bm25s_ratio": t_b25_total / t_ours_total,
        "bm25s_batch_ratio": t_b25_batch / t_ours_batch,
    }
