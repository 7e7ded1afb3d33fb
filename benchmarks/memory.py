"""Benchmark of raygent's memory layer, measured side by side in one run.

Usage::

    python benchmarks/memory.py            # 100,000 documents (several minutes on 2 cores)
    python benchmarks/memory.py --quick    # 10,000 documents, under a minute

What is measured:

* BM25 scoring: ``memory.BM25Index.get_scores`` against ``rank_bm25.BM25Okapi.get_scores`` on
  the same tokens (speed-up and the largest absolute score difference), and top-10 retrieval
  against ``bm25s`` (one query per call, the agent-memory access pattern; batched figures are
  printed too).
* Ingestion: documents per second through ``MemoryService.add`` (embedding, LanceDB commit,
  keyword indexing) divided by raw ``SentenceTransformer.encode`` on the same texts, on a
  subset of the corpus.
* Search latency, query embedding included (the query cache is disabled), on a store
  holding every document of the corpus: in process through ``MemoryService.search``
  (``inprocess_*_p50_ms``), then through the memory actor, as agents use it
  (``vector_p50_ms``, ``keyword_p50_ms``, ``hybrid_p50_ms``, ``hybrid_p99_ms``).

Embedding 100k texts with MiniLM on two CPU cores takes far too long for a benchmark, so only
the ingestion subset is embedded by the model; the vectors of the other documents are random
convex mixtures of two of those real vectors plus a little Gaussian noise, re-normalised. The
texts, keyword index and LanceDB table are real for every document, and each query is a real
model embedding, so search costs are those of a true store of that size.

The last line printed is one JSON object with the headline figures.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from memory import (
    BM25Index,
    Embedder,
    MemoryConfig,
    MemoryService,
    Tokenizer,
)
from memory._embedder import resolve_model_path


def measure_search(
    search_fn: Callable[[str], Any], queries: Sequence[str], warmup: int = 5
) -> dict[str, float]:
    """Time one search call per query.

    Reusable for any transport (in-process service, Ray actor handle...): ``search_fn`` takes
    a query string and returns when the result is available.

    Args:
        search_fn: Performs one search.
        queries: Query strings, each used once (after ``warmup`` untimed calls on the first).
        warmup: Untimed calls made first.

    Returns:
        ``p50_ms``, ``p99_ms``, ``mean_ms`` and ``n``.
    """
    for q in queries[:warmup]:
        search_fn(q)
    times = []
    for q in queries:
        start = time.perf_counter()
        search_fn(q)
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    return {
        "p50_ms": statistics.median(times),
        "p99_ms": times[min(len(times) - 1, round(0.99 * (len(times) - 1)))],
        "mean_ms": statistics.fmean(times),
        "n": len(times),
    }


# ---------------------------------------------------------------------- corpus


_TOPICS = [
    "router",
    "firmware",
    "network",
    "outage",
    "latency",
    "packet",
    "dns",
    "certificate",
    "backup",
    "cluster",
    "node",
    "disk",
    "memory",
    "leak",
    "billing",
    "invoice",
    "payment",
    "refund",
    "customer",
    "ticket",
    "release",
    "deploy",
    "rollback",
    "kitchen",
    "recipe",
    "oven",
    "flour",
    "butter",
    "garden",
    "tomato",
    "compost",
    "soil",
    "river",
    "mountain",
    "train",
    "flight",
    "hotel",
    "museum",
    "ticket",
    "passport",
    "battery",
    "engine",
    "tyre",
    "brake",
    "sensor",
    "fuel",
    "weather",
    "storm",
    "rain",
    "snow",
    "football",
    "tennis",
    "marathon",
    "training",
    "muscle",
    "sleep",
    "vitamin",
    "doctor",
    "hospital",
    "school",
    "teacher",
    "student",
    "exam",
    "library",
    "book",
    "history",
    "empire",
    "treaty",
    "war",
    "trade",
    "market",
    "price",
    "stock",
    "bond",
    "inflation",
    "energy",
    "solar",
    "wind",
    "heat",
    "pump",
    "insulation",
    "window",
    "door",
    "roof",
    "paint",
    "music",
    "guitar",
    "piano",
    "song",
    "concert",
    "film",
    "camera",
    "photo",
    "language",
    "grammar",
    "translation",
    "science",
    "cell",
    "gene",
    "protein",
    "star",
    "planet",
    "galaxy",
    "telescope",
    "ocean",
    "fish",
    "bird",
    "forest",
    "tree",
    "animal",
    "dog",
    "cat",
]
_GLUE = [
    "the",
    "a",
    "of",
    "to",
    "and",
    "in",
    "for",
    "on",
    "with",
    "is",
    "was",
    "are",
    "that",
    "this",
    "it",
    "from",
    "by",
    "at",
    "as",
    "be",
    "has",
    "have",
    "after",
    "before",
    "during",
    "because",
    "when",
    "while",
    "which",
    "new",
    "old",
    "small",
    "large",
    "quick",
    "slow",
]


def make_corpus(n: int, seed: int = 7) -> list[str]:
    """Synthetic documents: Zipf-distributed topic words, invented rare terms and codes.

    Args:
        n: Number of documents.
        seed: Random seed.

    Returns:
        ``n`` distinct texts of roughly 20-50 words.
    """
    rng = np.random.default_rng(seed)
    syll = ["ka", "lo", "mi", "ren", "tu", "sa", "vor", "el", "qui", "do", "zan", "pe"]
    rare = ["".join(rng.choice(syll, size=rng.integers(2, 4))) for _ in range(20_000)]
    vocab = _TOPICS + rare
    weights = 1.0 / np.arange(1, len(vocab) + 1) ** 1.05
    weights /= weights.sum()
    docs = []
    for i in range(n):
        n_words = int(rng.integers(12, 30))
        content = rng.choice(len(vocab), size=n_words, p=weights)
        glue = rng.choice(len(_GLUE), size=n_words // 2)
        words = [vocab[c] for c in content] + [_GLUE[g] for g in glue]
        rng.shuffle(words)
        words.append(f"ID-{i:06d}")
        docs.append(" ".join(words) + ".")
    return docs


def make_queries(docs: Sequence[str], n: int, seed: int) -> list[str]:
    """Queries of 2-5 words taken from random documents (so they have keyword matches)."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        words = [w.strip(".") for w in rng.choice(docs).split() if w not in _GLUE]
        out.append(" ".join(rng.sample(words, k=min(len(words), rng.randint(2, 5)))))
    return out


# ---------------------------------------------------------------------- keyword


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


# ---------------------------------------------------------------------- store


class _BulkEmbedder:
    """Embedder that serves precomputed document vectors and embeds queries for real."""

    def __init__(self, real: Embedder, vectors: dict[str, np.ndarray]) -> None:
        self._real = real
        self._vectors = vectors

    @property
    def dim(self) -> int:
        return self._real.dim

    @property
    def model_name(self) -> str:
        return self._real.model_name

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        return np.stack([self._vectors[t] for t in texts]).astype(np.float32)

    def encode_query(self, text: str) -> np.ndarray:
        return self._real.encode_query(text)


def bench_store(docs: list[str], n_ingest: int, n_queries: int,
                runtime: Any = None) -> dict[str, Any]:
    """Ingestion ratio on a subset, then search latency on a store of every document,
    in-process and through the memory actor (``runtime``)."""
    from sentence_transformers import SentenceTransformer

    subset = docs[:n_ingest]
    st = SentenceTransformer(resolve_model_path("all-MiniLM-L6-v2"), device="cpu")
    st.encode(subset[:64], batch_size=64)  # warm up
    root = Path(tempfile.mkdtemp(prefix="raygent-bench-"))
    cfg = MemoryConfig(data_dir=root / "ingest", query_cache_size=0)
    embedder = Embedder(cfg)
    embedder.encode(subset[:64])  # load and warm up outside the timing
    # Alternate raw encoding and store ingestion chunk by chunk, so that load from other
    # processes on the machine falls on both sides alike.
    raw_parts = []
    t_raw = t_store = 0.0
    batch = 250
    with MemoryService(cfg, embedder=embedder) as svc:
        for n_chunk, start in enumerate(range(0, n_ingest, batch)):
            chunk = range(start, min(start + batch, n_ingest))
            texts = [docs[i] for i in chunk]
            records = [{"id": f"d{i}", "text": docs[i], "metadata": {"n": i % 100}} for i in chunk]
            # Swap which side goes first each chunk.
            for side in ("raw", "store") if n_chunk % 2 == 0 else ("store", "raw"):
                t = time.perf_counter()
                if side == "raw":
                    raw_parts.append(st.encode(texts, batch_size=64, normalize_embeddings=True))
                    t_raw += time.perf_counter() - t
                else:
                    svc.add(records)
                    t_store += time.perf_counter() - t
    raw_vecs = np.concatenate(raw_parts)
    raw_rate = n_ingest / t_raw
    store_rate = n_ingest / t_store
    del st
    gc.collect()
    print(
        f"Ingest {n_ingest:,} docs: raw encode {raw_rate:.0f} docs/s, "
        f"MemoryService.add {store_rate:.0f} docs/s -> ratio {store_rate / raw_rate:.3f}"
    )

    # Fill the full-size store: real vectors for the subset, mixtures for the rest.
    rng = np.random.default_rng(3)
    n = len(docs)
    base = np.asarray(raw_vecs, dtype=np.float32)
    a = rng.integers(0, n_ingest, size=n)
    b = rng.integers(0, n_ingest, size=n)
    w = rng.uniform(0.55, 0.95, size=(n, 1)).astype(np.float32)
    mixed = w * base[a] + (1 - w) * base[b] + rng.normal(0, 0.02, size=(n, base.shape[1]))
    mixed[:n_ingest] = base
    mixed /= np.linalg.norm(mixed, axis=1, keepdims=True)
    vectors = {docs[i]: mixed[i].astype(np.float32) for i in range(n)}
    big_cfg = MemoryConfig(data_dir=root / "full", query_cache_size=0)
    bulk = _BulkEmbedder(embedder, vectors)
    t = time.perf_counter()
    svc = MemoryService(big_cfg, embedder=bulk)  # type: ignore[arg-type]
    for start in range(0, n, 10_000):
        svc.add(
            [
                {"id": f"d{i}", "text": docs[i], "metadata": {"n": i % 100}}
                for i in range(start, min(start + 10_000, n))
            ]
        )
    svc.flush()
    print(f"Built the {n:,}-doc store (precomputed vectors) in {time.perf_counter() - t:.1f}s")

    results: dict[str, Any] = {}
    queries = make_queries(docs, 3 * n_queries, seed=23)
    for i, mode in enumerate(("vector", "keyword", "hybrid")):
        qs = queries[i * n_queries : (i + 1) * n_queries]
        m = measure_search(lambda q, mode=mode: svc.search(q, k=10, mode=mode), qs)
        results[mode] = m
        print(
            f"  {mode:>7} search k=10 over {svc.count():,} docs: p50 {m['p50_ms']:.2f} ms  "
            f"p99 {m['p99_ms']:.2f} ms  (n={m['n']}, query embedding included)"
        )
    fq = queries[:n_queries]
    m = measure_search(lambda q: svc.search(q, k=10, mode="hybrid", filters={"n": {"lt": 10}}), fq)
    print(f"  hybrid + filter (10% selective): p50 {m['p50_ms']:.2f} ms  p99 {m['p99_ms']:.2f} ms")
    svc.close()
    t = time.perf_counter()
    svc = MemoryService(big_cfg, embedder=bulk)  # type: ignore[arg-type]
    print(f"Reopened the {svc.count():,}-doc store in {time.perf_counter() - t:.1f}s")
    svc.close()
    out = {
        "ingest_ratio": store_rate / raw_rate,
        "inprocess_vector_p50_ms": results["vector"]["p50_ms"],
        "inprocess_keyword_p50_ms": results["keyword"]["p50_ms"],
        "inprocess_hybrid_p50_ms": results["hybrid"]["p50_ms"],
        "inprocess_hybrid_p99_ms": results["hybrid"]["p99_ms"],
    }
    if runtime is not None:
        # The same store served by the memory actor: every query crosses a Ray call and is
        # embedded by the actor's own MiniLM.
        from memory import MemoryAgent

        t = time.perf_counter()
        runtime.spawn(MemoryAgent, name="memory", config={"data_dir": str(big_cfg.data_dir),
                                                          "query_cache_size": 0})
        print(f"Memory actor opened the store in {time.perf_counter() - t:.1f}s")
        mem = runtime.memory
        mem.search("warm up the model", k=10)
        for i, mode in enumerate(("vector", "keyword", "hybrid")):
            qs = queries[i * n_queries : (i + 1) * n_queries]
            m = measure_search(lambda q, mode=mode: mem.search(q, k=10, mode=mode), qs)
            out[f"{mode}_p50_ms"] = m["p50_ms"]
            if mode == "hybrid":
                out["hybrid_p99_ms"] = m["p99_ms"]
            print(f"  {mode:>7} through the memory actor: p50 {m['p50_ms']:.2f} ms  "
                  f"p99 {m['p99_ms']:.2f} ms")
        runtime.stop_agent("memory")
    shutil.rmtree(root, ignore_errors=True)
    return out


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Run the benchmark and print the JSON summary as the last line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="10,000 documents, < 60 s")
    parser.add_argument("--docs", type=int, default=None, help="override the corpus size")
    args = parser.parse_args(argv)
    n_docs = args.docs or (10_000 if args.quick else 100_000)
    n_ingest = 1_000 if args.quick else 5_000
    n_queries = 100 if args.quick else 300
    started = time.perf_counter()
    # Ray first: its processes must not be forked after LanceDB runs in this process.
    from actors import Runtime, RuntimeConfig
    from actors._config import TracingConfig

    runtime = Runtime(config=RuntimeConfig(namespace="raygent-bench-memory",
                                           tracing=TracingConfig(exporter="none")),
                      init_kwargs={"include_dashboard": False,
                                   "logging_level": "WARNING"}).start()
    docs = make_corpus(n_docs)
    summary: dict[str, Any] = {}
    try:
        summary.update(bench_bm25(docs, n_queries=n_queries,
                                  n_rank_queries=20 if args.quick else 10))
        summary.update(bench_store(docs, n_ingest=min(n_ingest, n_docs), n_queries=n_queries,
                                   runtime=runtime))
    finally:
        runtime.stop()
    summary["n_docs"] = n_docs
    summary["vectors"] = (
        f"{min(n_ingest, n_docs)} real MiniLM embeddings; the rest mixtures of two real vectors "
        "+ N(0, 0.02) noise, normalised"
    )
    summary["elapsed_s"] = time.perf_counter() - started
    print(f"Total {summary['elapsed_s']:.1f}s")
    # Keep the score difference unrounded: it is compared against 1e-9.
    print(
        json.dumps(
            {
                k: (round(v, 6) if isinstance(v, float) and k != "bm25_max_abs_diff" else v)
                for k, v in summary.items()
            }
        )
    )
    return summary


if __name__ == "__main__":
    main()
