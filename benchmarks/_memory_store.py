"""Ingestion and search latency of the memory store, in process and through the actor."""

from __future__ import annotations

import gc
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks._memory_corpus import make_queries
from memory import Embedder, MemoryConfig, MemoryService
from memory._embedder import resolve_model_path
from memory._eval import CachedDocs


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
    bulk = CachedDocs(embedder, vectors)
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
        out.update(bench_actor(runtime, big_cfg, queries, n_queries))
    shutil.rmtree(root, ignore_errors=True)
    return out


def measure_concurrent(search_fn: Callable[[str], Any], queries: Sequence[str],
                       callers: int = 8) -> float:
    """Searches per second with ``callers`` threads each making one call at a time."""
    with ThreadPoolExecutor(callers) as pool:
        list(pool.map(search_fn, queries[:callers]))  # every caller's first call, untimed
        t = time.perf_counter()
        list(pool.map(search_fn, queries))
        return len(queries) / (time.perf_counter() - t)


def _spawn(runtime: Any, cfg: MemoryConfig, threads: int | None) -> Any:
    from memory import MemoryAgent

    t = time.perf_counter()
    runtime.spawn(MemoryAgent, name="memory", config={
        "data_dir": str(cfg.data_dir), "query_cache_size": 0, "threads": threads})
    label = f"threads={threads}" if threads else "default settings"
    print(f"Memory actor ({label}) opened the store in {time.perf_counter() - t:.1f}s")
    mem = runtime.memory
    mem.search("warm up the model", k=10)
    return mem


def bench_actor(runtime: Any, cfg: MemoryConfig, queries: Sequence[str],
                n_queries: int) -> dict[str, Any]:
    """The same store served by the memory actor: every query crosses a Ray call and is
    embedded by the actor's own MiniLM. First with the default settings (torch on the one
    thread Ray gives actors), then with ``threads=2`` for comparison."""
    out: dict[str, Any] = {}
    mem = _spawn(runtime, cfg, threads=2)
    m = measure_search(lambda q: mem.search(q, k=10, mode="hybrid"),
                       queries[2 * n_queries: 3 * n_queries])
    out["hybrid_p50_ms_2threads"] = m["p50_ms"]
    print(f"   hybrid through the memory actor, threads=2: p50 {m['p50_ms']:.2f} ms"
          f"  p99 {m['p99_ms']:.2f} ms")
    runtime.stop_agent("memory")
    mem = _spawn(runtime, cfg, threads=None)
    for i, mode in enumerate(("vector", "keyword", "hybrid")):
        qs = queries[i * n_queries: (i + 1) * n_queries]
        m = measure_search(lambda q, mode=mode: mem.search(q, k=10, mode=mode), qs)
        out[f"{mode}_p50_ms"] = m["p50_ms"]
        if mode == "hybrid":
            out["hybrid_p99_ms"] = m["p99_ms"]
        print(f"  {mode:>7} through the memory actor: p50 {m['p50_ms']:.2f} ms  "
              f"p99 {m['p99_ms']:.2f} ms")
    qps = measure_concurrent(lambda q: mem.search(q, k=10, mode="hybrid"), queries)
    out["concurrent_qps"] = qps
    print(f"   hybrid, 8 concurrent callers: {qps:.1f} searches/s "
          f"(one caller: {1000 / out['hybrid_p50_ms']:.1f}/s at p50)")
    runtime.stop_agent("memory")
    return out
