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
* Retrieval quality on the bundled evaluation set (``memory.evalset``; a sample with
  ``--quick``): nDCG@10 of the default hybrid search, BM25 and vector search
  (``eval_ndcg_at_10``, ``eval_bm25_ndcg_at_10``, ``eval_vector_ndcg_at_10``,
  ``hybrid_gain``), and the cross-encoder rerank stage (``rerank_p50_ms``, ``rerank_gain``;
  see ``benchmarks/_memory_eval.py`` for why the gain needs ``RAYGENT_RERANK_MODEL``).
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
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._memory_bm25 import bench_bm25
from benchmarks._memory_corpus import make_corpus
from benchmarks._memory_eval import bench_quality
from benchmarks._memory_store import bench_store
from benchmarks._progress import Phases, add_flags, silenced


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Run the benchmark and print the JSON summary as the last line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="10,000 documents, < 60 s")
    parser.add_argument("--docs", type=int, default=None, help="override the corpus size")
    add_flags(parser)
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
    phases = Phases(["bm25", "quality", "store (ingest + search)"], quiet=silenced(args),
                    title="memory")
    try:
        with phases:
            with phases.phase("bm25"):
                summary.update(bench_bm25(docs, n_queries=n_queries,
                                          n_rank_queries=20 if args.quick else 10))
            with phases.phase("quality"):
                summary.update(bench_quality(args.quick,
                                             rerank_queries=20 if args.quick else 60))
            with phases.phase("store (ingest + search)"):
                summary.update(bench_store(docs, n_ingest=min(n_ingest, n_docs),
                                           n_queries=n_queries, runtime=runtime))
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
