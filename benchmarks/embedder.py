"""Benchmark of the embedder backends (PyTorch fp32, ONNX fp32, ONNX int8), side by side.

Usage::

    python benchmarks/embedder.py            # whole evaluation set (a few minutes on 2 cores)
    python benchmarks/embedder.py --quick    # a slice of it, under a minute
    python benchmarks/embedder.py --eval-dir DIR   # corpus.jsonl + queries.jsonl from DIR

What is measured, in one process and one run:

* bulk throughput (sentences/s): every backend embeds the same evaluation-set documents
  through ``memory.Embedder.encode``, chunk by chunk in rotating order, so load from other
  processes falls on all of them alike; PyTorch is timed twice, with its default threads
  (the old default, the baseline of ``embed_speedup``) and on one thread (``torch-1t``: far
  better than two when other processes hold the cores, ``embed_speedup_vs_torch_1t``);
* single-query latency (p50/p99 ms): one short query at a time through ``encode_query``
  with the query cache off, rotating the backend per query;
* retrieval quality: nDCG@10 of the default (hybrid) search and of vector-only search on
  the evaluation set, each backend's document vectors from the bulk step, its queries
  embedded by itself;
* coalescing: 8 threads each embedding one query at a time through the default backend:
  queries/s and how many calls each model run served.

``embed_speedup`` is the default backend's bulk rate over PyTorch's; ``embed_ndcg_delta`` is
PyTorch's hybrid nDCG@10 minus the default backend's (positive = the default is worse).
The evaluation set is ``memory.evalset.load_eval_set()`` when that package is present, else
the small labelled set in ``tests/data``; ``measure(eval_set=...)`` takes any object with
``corpus`` (record dicts) and ``queries`` (``text`` and ``relevant`` attributes).

The last line printed is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._stats import pct
from memory import Embedder, HybridStore, MemoryConfig

BACKENDS = ("torch", "onnx", "onnx-int8")
#: Timed as well: PyTorch on one intra-op thread, its best setting on a loaded machine.
TIMED = (*BACKENDS, "torch-1t")
DEFAULT = MemoryConfig().embed_backend
ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True, kw_only=True)
class _Query:
    id: str
    text: str
    relevant: dict[str, int]


@dataclass(frozen=True, kw_only=True)
class _EvalSet:
    name: str
    corpus: list[dict[str, Any]]
    queries: list[_Query]


def _jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()
            if line.strip()]


def load_eval(eval_dir: Path | None = None) -> _EvalSet:
    """The evaluation set: ``eval_dir``, else the bundled one, else ``tests/data``."""
    if eval_dir is None:
        try:
            from memory.evalset import load_eval_set  # type: ignore[import-not-found]
        except ImportError:
            return load_eval(ROOT / "tests" / "data")
        es = load_eval_set()
        return _EvalSet(name="memory.evalset", corpus=list(es.corpus),
                        queries=[_Query(id=q.id, text=q.text, relevant=dict(q.relevant))
                                 for q in es.queries])
    if (eval_dir / "corpus.jsonl").exists():
        corpus, rows = _jsonl(eval_dir / "corpus.jsonl"), _jsonl(eval_dir / "queries.jsonl")
    else:  # the format of tests/data
        corpus, rows = _jsonl(eval_dir / "eval_docs.jsonl"), _jsonl(eval_dir / "eval_queries.jsonl")
    queries = [_Query(id=r["id"], text=r.get("text", r.get("query", "")),
                      relevant=r["relevant"]) for r in rows]
    return _EvalSet(name=str(eval_dir), corpus=corpus, queries=queries)


def _as_eval(eval_set: Any) -> _EvalSet:
    if isinstance(eval_set, _EvalSet):
        return eval_set
    return _EvalSet(name=type(eval_set).__name__, corpus=list(eval_set.corpus),
                    queries=[_Query(id=q.id, text=q.text, relevant=dict(q.relevant))
                             for q in eval_set.queries])


def subset(es: _EvalSet, n_queries: int, n_docs: int, seed: int = 5) -> _EvalSet:
    """Some queries, every document they label, and other documents up to ``n_docs``."""
    rng = np.random.default_rng(seed)
    if n_queries >= len(es.queries) and n_docs >= len(es.corpus):
        return es
    picked = [es.queries[i] for i in sorted(rng.choice(len(es.queries),
                                                       min(n_queries, len(es.queries)),
                                                       replace=False))]
    keep = {d for q in picked for d in q.relevant}
    others = [i for i, d in enumerate(es.corpus) if d["id"] not in keep]
    extra = max(0, n_docs - len(keep))
    keep |= {es.corpus[i]["id"] for i in rng.choice(others, min(extra, len(others)),
                                                    replace=False)}
    return _EvalSet(name=f"{es.name} (slice)", queries=picked,
                    corpus=[d for d in es.corpus if d["id"] in keep])


def ndcg_at_10(ranked: Sequence[str], relevant: dict[str, int]) -> float:
    """nDCG@10 with linear gains (the definition ``memory._eval`` uses)."""
    dcg = sum(relevant.get(d, 0) / math.log2(i + 2) for i, d in enumerate(ranked[:10]))
    ideal = sorted((g for g in relevant.values() if g > 0), reverse=True)[:10]
    best = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
    return dcg / best if best else 0.0


class _Precomputed:
    """Serves the bulk step's document vectors; embeds queries with the backend."""

    def __init__(self, real: Embedder, table: dict[str, np.ndarray]) -> None:
        self._real, self._table = real, table
        self.dim, self.model_name = real.dim, real.model_name

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        return np.stack([self._table[t] for t in texts]).astype(np.float32)

    def encode_query(self, text: str) -> np.ndarray:
        return self._real.encode_query(text)


def _progress(quiet: bool) -> Any:
    from rich.progress import Progress

    return Progress(transient=True, disable=quiet)


def quality(es: _EvalSet, emb: Embedder, vectors: np.ndarray) -> dict[str, float]:
    """Mean nDCG@10 of hybrid and vector search over a store of the corpus."""
    table = {d["text"]: vectors[i] for i, d in enumerate(es.corpus)}
    with tempfile.TemporaryDirectory(prefix="raygent-bench-embed-") as tmp:
        store = HybridStore(MemoryConfig(data_dir=Path(tmp)), _Precomputed(emb, table))
        try:
            for start in range(0, len(es.corpus), 2000):
                store.add(es.corpus[start:start + 2000])
            return {mode: float(np.mean([
                ndcg_at_10([h.id for h in store.search(q.text, k=10, mode=mode)], q.relevant)
                for q in es.queries])) for mode in ("hybrid", "vector")}
        finally:
            store.close()


def concurrency(emb: Embedder, queries: Sequence[str], threads: int = 8) -> dict[str, float]:
    """Queries/s with ``threads`` callers embedding one query at a time, and calls per run."""
    runs0, calls0 = emb.model_runs, emb.model_calls
    chunks = [list(queries[i::threads]) for i in range(threads)]
    start = threading.Barrier(threads + 1)

    def work(mine: list[str]) -> None:
        start.wait()
        for q in mine:
            emb.encode([q])

    pool = [threading.Thread(target=work, args=(c,)) for c in chunks]
    for t in pool:
        t.start()
    t0 = time.perf_counter()
    start.wait()
    for t in pool:
        t.join()
    elapsed = time.perf_counter() - t0
    runs, calls = emb.model_runs - runs0, emb.model_calls - calls0
    return {"qps": len(queries) / elapsed, "calls_per_run": calls / max(runs, 1)}


def measure(quick: bool, eval_set: Any = None, *, threads: int | None = None,
            quiet: bool = False, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Measure every backend side by side and return the figures.

    Args:
        quick: A slice of the evaluation set (under a minute) instead of all of it.
        eval_set: ``None`` for :func:`load_eval`, or any object with ``corpus`` and
            ``queries`` (as ``memory.evalset.EvalSet``).
        threads: ``MemoryConfig.embed_threads`` for every backend (``None``: one per core).
        quiet: No progress bars.
        log: Where the human-readable lines go.

    Returns:
        The figures (``embed_speedup``, ``embed_ndcg_delta`` and the per-backend ones).
    """
    full = _as_eval(eval_set) if eval_set is not None else load_eval()
    es = subset(full, 40, 320) if quick else full
    texts = [d["text"] for d in es.corpus]
    queries = [q.text for q in es.queries]
    n_lat = 20 if quick else 200
    lat_queries = (queries * (n_lat // max(len(queries), 1) + 1))[:n_lat]
    log(f"Evaluation set {es.name}: {len(texts):,} documents, {len(queries)} queries")

    embedders: dict[str, Embedder] = {}
    for name in TIMED:
        t = time.perf_counter()
        emb = Embedder(MemoryConfig(embed_backend=name.removesuffix("-1t"), query_cache_size=0,
                                    embed_threads=1 if name.endswith("-1t") else threads))
        emb.encode(texts[:64])  # load (exporting once if the cache is empty) and warm up
        emb.encode_query(queries[0])
        embedders[name] = emb
        log(f"  {name:<9} ready in {time.perf_counter() - t:.1f}s")

    # Bulk: chunks in rotating order, so a burst of outside load hits every backend.
    chunk = 256
    vectors = {name: np.empty((len(texts), embedders[name].dim), dtype=np.float32)
               for name in TIMED}
    spent = dict.fromkeys(TIMED, 0.0)
    with _progress(quiet) as bar:
        task = bar.add_task("bulk embedding", total=len(texts))
        for n, start in enumerate(range(0, len(texts), chunk)):
            part = texts[start:start + chunk]
            for name in TIMED[n % 4:] + TIMED[:n % 4]:
                t = time.perf_counter()
                vectors[name][start:start + len(part)] = embedders[name].encode(part)
                spent[name] += time.perf_counter() - t
            bar.advance(task, len(part))
    rate = {name: len(texts) / spent[name] for name in TIMED}

    lat: dict[str, list[float]] = {name: [] for name in TIMED}
    for n, q in enumerate(lat_queries):
        for name in TIMED[n % 4:] + TIMED[:n % 4]:
            t = time.perf_counter()
            embedders[name].encode_query(q)
            lat[name].append((time.perf_counter() - t) * 1000)

    ref = vectors["torch"]
    scores: dict[str, dict[str, float]] = {}
    with _progress(quiet) as bar:
        task = bar.add_task("retrieval quality", total=len(BACKENDS))
        for name in BACKENDS:
            scores[name] = quality(es, embedders[name], vectors[name])
            bar.advance(task)
    conc = concurrency(embedders[DEFAULT], (queries * 4)[: (48 if quick else 400)])

    log(f"{'backend':<10} {'bulk sent/s':>11} {'vs torch':>8} {'query p50':>10} {'p99':>8}"
        f" {'min cos':>8} {'nDCG hybrid':>11} {'vector':>7}")
    for name in TIMED:
        cos = np.sum(vectors[name] * ref, axis=1)
        score = scores.get(name.removesuffix("-1t"), {})
        log(f"{name:<10} {rate[name]:>11.0f} {rate[name] / rate['torch']:>7.2f}x "
            f"{pct(lat[name], 0.5):>8.2f}ms {pct(lat[name], 0.99):>6.2f}ms {cos.min():>8.4f} "
            f"{score.get('hybrid', 0.0):>11.4f} {score.get('vector', 0.0):>7.4f}")
    log(f"8 threads, one query per call ({DEFAULT}): {conc['qps']:.0f} queries/s, "
        f"{conc['calls_per_run']:.2f} calls per model run")

    out: dict[str, Any] = {
        "embed_speedup": rate[DEFAULT] / rate["torch"],
        "embed_ndcg_delta": scores["torch"]["hybrid"] - scores[DEFAULT]["hybrid"],
        "embed_ndcg_delta_vector": scores["torch"]["vector"] - scores[DEFAULT]["vector"],
        "embed_query_speedup": pct(lat["torch"], 0.5) / pct(lat[DEFAULT], 0.5),
        "embed_speedup_vs_torch_1t": rate[DEFAULT] / rate["torch-1t"],
        "embed_rate_torch_1t": rate["torch-1t"],
        "embed_query_p50_ms_torch_1t": pct(lat["torch-1t"], 0.5),
        "embed_default": DEFAULT,
        "embed_concurrent_qps": conc["qps"],
        "embed_calls_per_run": conc["calls_per_run"],
        "embed_eval_set": es.name, "embed_eval_docs": len(texts),
        "embed_eval_queries": len(queries),
    }
    for name in BACKENDS:
        key = name.replace("-", "_")
        out[f"embed_rate_{key}"] = rate[name]
        out[f"embed_query_p50_ms_{key}"] = pct(lat[name], 0.5)
        out[f"embed_query_p99_ms_{key}"] = pct(lat[name], 0.99)
        out[f"embed_ndcg_{key}"] = scores[name]["hybrid"]
        out[f"embed_ndcg_vector_{key}"] = scores[name]["vector"]
        out[f"embed_min_cos_{key}"] = float(np.sum(vectors[name] * ref, axis=1).min())
    return out


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Run the benchmark and print the JSON summary as the last line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a slice of the set, < 60 s")
    parser.add_argument("--eval-dir", type=Path, default=None,
                        help="corpus.jsonl + queries.jsonl (or tests/data's files) to use")
    parser.add_argument("--threads", type=int, default=None, help="embed_threads to use")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    eval_set = load_eval(args.eval_dir) if args.eval_dir is not None else None
    summary = measure(args.quick, eval_set, threads=args.threads, quiet=args.quiet)
    summary["elapsed_s"] = time.perf_counter() - started
    print(f"Total {summary['elapsed_s']:.1f}s")
    print(json.dumps({k: round(v, 4) if isinstance(v, float) else v
                      for k, v in summary.items()}))
    return summary


if __name__ == "__main__":
    main()
