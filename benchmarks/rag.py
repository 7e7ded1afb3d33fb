"""rag-qa end to end through the actors versus the same pipeline in-process, same run.

    python benchmarks/rag.py [--quick]

The pipeline is the rag-qa scenario's: hybrid search (top 5) → extractive answerer with
citations. Questions are the bundled rag-qa questions and evaluation queries, each text
asked once (repetitions get a suffix), so caches of query embeddings never answer.
"In-process" runs it as plain calls in this process (MemoryService +
ExtractiveBackend, no Ray); "actors" sends each question to the retriever agent, which asks
memory, the answerer and the LLM agent, every hop through the supervisor. Both stores hold
the bundled corpus, in separate directories (a store is opened by one process at a time).

Prints the figures; the LAST line is one JSON object: ``actor_qps``, ``inprocess_qps``,
``rag_ratio`` (actor/in-process throughput, all questions in flight), ``p50_ms``,
``p99_ms`` (one question at a time through the actors), ``inprocess_p50_ms``, and per
retrieval mode on the bundled evaluation set (40 labelled queries) ``ndcg_at_10_<mode>``,
``recall_at_5_<mode>``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import tempfile
import time
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import ray

from actors import Runtime, RuntimeConfig
from actors._config import TracingConfig
from actors.llm import Complete, ExtractiveBackend
from benchmarks._stats import pct
from memory import MemoryConfig, MemoryService
from scenarios import Scenario, builtin_scenarios
from scenarios._launch import with_overrides
from scenarios.rag_qa import DATA_DIR, DATA_QUESTIONS, Question, load_questions


def in_process(questions: list[str], data_dir: str) -> tuple[float, list[float], Any]:
    """Throughput and per-question latencies of the pipeline as plain calls."""
    svc = MemoryService(MemoryConfig(data_dir=data_dir))
    svc.ingest([str(DATA_DIR / "rag_corpus.jsonl")], chunk_size=1000, overlap=100)
    llm = ExtractiveBackend()
    import asyncio

    async def answer(q: str) -> Any:
        hits = svc.search(q, k=5, mode="hybrid")
        req = Complete.question(q, context=[(h.id, h.text) for h in hits])
        return await llm.complete(req.messages, context=req.context)

    async def run_all() -> tuple[float, list[float]]:
        await answer("a warm-up question about routers")  # load the models
        lat = []
        t0 = time.perf_counter()
        for q in questions:
            t1 = time.perf_counter()
            await answer(q)
            lat.append((time.perf_counter() - t1) * 1000)
        return len(questions) / (time.perf_counter() - t0), lat

    qps, lat = asyncio.run(run_all())
    return qps, lat, svc


def quality(svc: MemoryService) -> dict[str, float]:
    """nDCG@10 and recall@5 of each retrieval mode on the bundled labelled queries."""
    queries = [json.loads(line) for line in
               (DATA_DIR / "rag_eval_queries.jsonl").read_text().splitlines() if line.strip()]
    out: dict[str, float] = {}
    for mode in ("vector", "keyword", "hybrid"):
        ndcgs, recalls = [], []
        for q in queries:
            rel: dict[str, int] = q["relevant"]
            ids = [h.id.rsplit("#", 1)[0] for h in svc.search(q["query"], k=10, mode=mode)]
            dcg = sum(rel.get(d, 0) / math.log2(i + 2) for i, d in enumerate(ids))
            ideal = sorted(rel.values(), reverse=True)[:10]
            idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
            ndcgs.append(dcg / idcg if idcg else 0.0)
            relevant = {d for d, g in rel.items() if g > 0}
            recalls.append(len(relevant & set(ids[:5])) / len(relevant))
        out[f"ndcg_at_10_{mode}"] = round(statistics.fmean(ndcgs), 4)
        out[f"recall_at_5_{mode}"] = round(statistics.fmean(recalls), 4)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="fewer repetitions (< 1 minute)")
    args = ap.parse_args()
    base = [q["question"] for q in load_questions(str(DATA_QUESTIONS))]
    base += [json.loads(line)["query"] for line in
             (DATA_DIR / "rag_eval_queries.jsonl").read_text().splitlines() if line.strip()]
    reps = 1 if args.quick else 4
    # Every question text is new, so no query-embedding cache hides the model's cost; the
    # answerer's cache of corpus sentence embeddings does help, as it would in production.
    questions = [q if r == 0 else f"{q} (take {r + 1})" for r in range(reps) for q in base]
    tmp = tempfile.mkdtemp(prefix="raygent-bench-rag-")

    # Ray first: forking its processes after LanceDB is in use in this process is unsafe.
    config = RuntimeConfig(namespace="raygent-bench-rag", tracing=TracingConfig(exporter="none"))
    rt = Runtime(config=config, init_kwargs={"include_dashboard": False,
                                             "logging_level": "WARNING"}).start()
    inproc_qps, inproc_lat, svc = in_process(questions, os.path.join(tmp, "inproc"))
    print(f"in-process  {inproc_qps:6.1f} questions/s   p50 {statistics.median(inproc_lat):.1f} ms")
    figures = quality(svc)
    svc.close()
    for mode in ("vector", "keyword", "hybrid"):
        print(f"quality     {mode:8s} nDCG@10 {figures[f'ndcg_at_10_{mode}']:.3f}   "
              f"recall@5 {figures[f'recall_at_5_{mode}']:.3f}")

    spec = builtin_scenarios()["rag-qa"].spec
    assert spec is not None
    spec = with_overrides(spec, data_dir=os.path.join(tmp, "actors"), questions=None)
    try:
        from rich.console import Console

        rt.launch(Scenario.from_spec(spec), count=1, console=Console(quiet=True))
        rt.ask("retriever", Question(text="a warm-up question about routers"), timeout_s=120)
        t0 = time.perf_counter()
        ref = rt.ask_many_ref([("retriever", Question(text=q)) for q in questions],
                              timeout_s=600)
        replies = rt.replies(ray.get(ref))
        actor_qps = len(questions) / (time.perf_counter() - t0)
        bad = [r for r in replies if isinstance(r, Exception) or getattr(r, "error", None)]
        if bad:
            raise SystemExit(f"{len(bad)} questions failed through the actors: {bad[0]}")
        lat = []
        for q in [f"{q} (alone)" for q in base]:
            t1 = time.perf_counter()
            rt.ask("retriever", Question(text=q), timeout_s=120)
            lat.append((time.perf_counter() - t1) * 1000)
    finally:
        rt.stop()
    p50, p99 = statistics.median(lat), pct(lat, 0.99)
    print(f"actors      {actor_qps:6.1f} questions/s   p50 {p50:.1f} ms   p99 {p99:.1f} ms")
    print(f"rag_ratio   {actor_qps / inproc_qps:.2f} (actors / in-process throughput)")
    result = {"actor_qps": round(actor_qps, 2), "inprocess_qps": round(inproc_qps, 2),
              "rag_ratio": round(actor_qps / inproc_qps, 3), "p50_ms": round(p50, 1),
              "p99_ms": round(p99, 1),
              "inprocess_p50_ms": round(statistics.median(inproc_lat), 1),
              "questions": len(questions), **figures, "quick": args.quick}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
