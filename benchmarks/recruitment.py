"""Recruitment: rank 10,000 resumes for a job through the actors vs in-process, same run.

    python benchmarks/recruitment.py [--quick] [--quiet | --json] [--resumes N] [--jobs J]
                                      [--top-n N]

The pool is generated (``scenarios.recruitment.generate``, seed 2024: neither the bundled
pool's seed nor the calibration's), with ground truth and group labels. "Rank the pool for
a job" is the whole path: parse, redact and store every resume in memory (MiniLM embeds
each profile: this dominates), then the job: hybrid search, full multi-field scoring of
the ``top_n`` retrieved, calibrated confidence. It runs twice, same code (``_flow``):

- in-process: ``MemoryService`` + ``Scorer`` called directly in this process;
- actors: the recruitment scenario's agents (parser, redactor, scorer, ranker, memory),
  resumes sent to the ranker in batches of 100, every hop through the supervisor.

``resumes_per_s`` is the actors' pool size / time for that path; ``recruitment_ratio`` is
actors / in-process. Then, through the actors only, the other jobs are ranked against the
same pool and every job's ranking is audited: ``top1_accuracy``/``top5_accuracy`` (the
known best first / in the top 5), ``confidence_ece`` (expected calibration error of the
top candidate's confidence against top-1 correctness, 10 bins), ``adverse_impact_ratio``
(lowest over gender, origin and age band of the four-fifths ratio, top 5 per job
selected), ``max_counterfactual_delta`` (largest score change of any counterfactual copy).
The LAST line is one JSON object with these figures.

Torch runs with the same number of threads in this process as in the actors (Ray starts
workers with one OpenMP thread), so the comparison is of the runtime, not of thread counts.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from rich.console import Console
from rich.progress import Progress

from actors import Runtime, RuntimeConfig
from actors._config import TracingConfig
from benchmarks._progress import add_flags, silenced
from memory import MemoryConfig, MemoryService, shared_embedder
from scenarios import builtin_scenarios
from scenarios._launch import spawn_agents, start_memory, with_overrides
from scenarios.recruitment import (
    Calibration,
    LocalSteps,
    Scorer,
    adverse_impact,
    expected_calibration_error,
)
from scenarios.recruitment._flow import add_candidates, chunks, rank_job
from scenarios.recruitment._synth import generate
from scenarios.recruitment.generate import documents
from scenarios.recruitment.messages import AddCandidates, Audit, Document, Ranking, RankJob

SEED = 2024
BATCH = 100


class ThreadProbe:
    """A Ray actor like the agents' processes: how many threads does torch use there?"""

    def threads(self) -> int:
        import torch

        return int(torch.get_num_threads())


def in_process(jobs: list[Document], resumes: list[Document], *, top_n: int, weights: Any,
               data_dir: str) -> tuple[float, Ranking]:
    """Seconds to store the pool and rank the first job, as plain calls."""
    memory = MemoryService(MemoryConfig(data_dir=Path(data_dir)))
    embedder = shared_embedder()
    embedder.encode(["warm up"])
    steps = LocalSteps(memory, Scorer(embedder.encode, weights=weights), reference_year=2025)

    async def run() -> Ranking:
        for batch in chunks(resumes, BATCH):
            await add_candidates(steps, "bench", batch)
        return await rank_job(steps, "bench", jobs[0], top_n=top_n,
                              calibration=Calibration.load())

    t0 = time.perf_counter()
    ranking = asyncio.run(run())
    elapsed = time.perf_counter() - t0
    memory.close()
    return elapsed, ranking


def through_actors(rt: Runtime, jobs: list[Document], resumes: list[Document], *,
                   top_n: int, bar: Progress) -> tuple[float, Ranking]:
    """Seconds to store the pool and rank the first job through the agents."""
    task = bar.add_task("actors: adding resumes", total=len(resumes))
    t0 = time.perf_counter()
    refs = [("ranker", AddCandidates(pool="bench", documents=b))
            for b in chunks(resumes, BATCH)]
    for window in chunks(refs, 8):
        for reply in rt.ask_many(list(window), timeout_s=3600):
            if isinstance(reply, Exception):
                raise reply
        bar.advance(task, sum(len(r[1].documents) for r in window))
    ranking: Ranking = rt.ask("ranker", RankJob(pool="bench", job=jobs[0], top_n=top_n),
                              timeout_s=1800)
    return time.perf_counter() - t0, ranking


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="a small pool (< 1 minute)")
    add_flags(ap)
    ap.add_argument("--resumes", type=int, default=None)
    ap.add_argument("--jobs", type=int, default=None)
    ap.add_argument("--top-n", type=int, default=None)
    args = ap.parse_args()
    n_resumes = args.resumes or (160 if args.quick else 10_000)
    n_jobs = args.jobs or (3 if args.quick else 32)
    console = Console(quiet=silenced(args), stderr=True)
    tmp = tempfile.mkdtemp(prefix="raygent-bench-recruit-")
    pool = generate(SEED, jobs=n_jobs, resumes=n_resumes)
    truth = pool.truth()["jobs"]
    groups = pool.groups()
    jobs, resumes = documents(pool)
    spec = builtin_scenarios()["recruitment"].spec
    assert spec is not None
    spec = with_overrides(spec, data_dir=os.path.join(tmp, "actors"))
    weights = next(a.config for a in spec.agents if a.name == "scorer").get("weights")
    # The full run ranks as the scenario does (the spec's top_n, which the confidence was
    # calibrated for); --quick scores fewer to stay under a minute.
    spec_top_n = int(next(a.config for a in spec.agents if a.name == "ranker")["top_n"])
    top_n = args.top_n or (6 if args.quick else spec_top_n)

    # Ray first: forking its processes after LanceDB is in use in this process is unsafe.
    rt = Runtime(config=RuntimeConfig(namespace="raygent-bench-recruit", start_timeout_s=600,
                                      tracing=TracingConfig(exporter="none")),
                 init_kwargs={"include_dashboard": False, "logging_level": "WARNING"}).start()
    try:
        start_memory(rt, spec, console=Console(quiet=True))
        spawn_agents(rt, spec, console=Console(quiet=True))
        # Load the memory agent's model before timing (a record in a namespace of its own).
        rt.memory.upsert([{"id": "warm-up", "text": "warm up", "namespace": "warm-up"}])
        import ray
        import torch

        probe: Any = ray.remote(ThreadProbe).remote()  # type: ignore[attr-defined]
        actor_threads = int(ray.get(probe.threads.remote()))
        ray.kill(probe)
        torch.set_num_threads(actor_threads)
        print(f"pool {n_resumes} resumes, {n_jobs} jobs (seed {SEED}), top_n {top_n}, "
              f"torch threads {actor_threads} in both paths", flush=True)
        inproc_s, inproc_rank = in_process(jobs, resumes, top_n=top_n, weights=weights,
                                           data_dir=os.path.join(tmp, "inproc"))
        print(f"in-process  {n_resumes / inproc_s:8.1f} resumes/s ({inproc_s:.1f} s)",
              flush=True)
        with Progress(console=console, transient=True, disable=silenced(args)) as bar:
            actors_s, first = through_actors(rt, jobs, resumes, top_n=top_n, bar=bar)
            print(f"actors      {n_resumes / actors_s:8.1f} resumes/s ({actors_s:.1f} s)",
                  flush=True)
            rankings = [first]
            task = bar.add_task("actors: ranking the other jobs", total=len(jobs) - 1)
            for doc in jobs[1:]:
                rankings.append(rt.ask("ranker", RankJob(pool="bench", job=doc, top_n=top_n),
                                       timeout_s=1800))
                bar.advance(task)
            task = bar.add_task("actors: auditing every ranking", total=len(rankings))
            t_audit = time.perf_counter()
            audits = []
            for r in rankings:
                audits.append(rt.ask("auditor", Audit(ranking=r), timeout_s=3600))
                bar.advance(task)
            audit_s = time.perf_counter() - t_audit
    finally:
        rt.stop()
    same = [r.candidate_id for r in inproc_rank.results] == [r.candidate_id
                                                              for r in first.results]
    positions = []
    for r in rankings:
        assert r.job is not None
        ids = [x.candidate_id for x in r.results]
        best = truth[r.job.id]["best"]
        positions.append(ids.index(best) + 1 if best in ids else None)
    top1 = sum(p == 1 for p in positions) / len(positions)
    top5 = sum(p is not None and p <= 5 for p in positions) / len(positions)
    ece = expected_calibration_error([r.results[0].confidence for r in rankings],
                                     [p == 1 for p in positions])
    selected = Counter(x.candidate_id for r in rankings for x in r.results[:5])
    rates = adverse_impact(dict.fromkeys(groups, len(rankings)), selected, groups)
    air = min(g.ratio for g in rates)
    delta = max(a.max_score_delta for a in audits)
    raw = max(a.max_raw_delta for a in audits)
    print(f"recruitment_ratio {n_resumes / actors_s / (n_resumes / inproc_s):.3f} "
          f"(actors / in-process); same ranking in both paths: {same}")
    print(f"accuracy    top-1 {top1:.3f}  top-5 {top5:.3f}  (best at {positions})")
    print(f"confidence  ECE {ece:.4f} over {len(rankings)} jobs; mean top confidence "
          f"{sum(r.results[0].confidence for r in rankings) / len(rankings):.3f}")
    print("fairness    " + "  ".join(f"{g.attribute} {g.ratio:.2f}" for g in rates)
          + f"; audit of {sum(a.variants for a in audits)} counterfactual copies in "
            f"{audit_s:.1f} s: max score change {delta:.6f} (unredacted would move "
            f"{raw:.3f})")
    result = {"resumes_per_s": round(n_resumes / actors_s, 2),
              "inprocess_resumes_per_s": round(n_resumes / inproc_s, 2),
              "recruitment_ratio": round(inproc_s / actors_s, 3),
              "top1_accuracy": round(top1, 4), "top5_accuracy": round(top5, 4),
              "max_counterfactual_delta": round(delta, 6), "max_raw_delta": round(raw, 4),
              "adverse_impact_ratio": round(air, 4), "confidence_ece": round(ece, 4),
              "resumes": n_resumes, "jobs": n_jobs, "top_n": top_n,
              "same_ranking": same, "quick": args.quick}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
