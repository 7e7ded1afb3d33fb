"""Fit the confidence model on a generated calibration pool; write ``data/calibration.json``.

    python -m scenarios.recruitment.calibrate [--seed 101] [--jobs 48] [--resumes 3000]
                                              [--top-n N] [--samples FILE] [--quiet]

The pool comes from the same generator as the bundled one, with its own seed (the bundled
pool uses 7, ``benchmarks/recruitment.py`` 2024), so the confidence is never fitted on the
data it is judged on. Every job is ranked in-process with the spec's scorer weights and
``top_n`` (the same code the agents run, ``_flow``); then ``T``, ``beta``, ``gamma`` and
``s0`` of ``_calibration`` are fitted by maximum likelihood of each job's true best
candidate (scipy's Nelder-Mead on the negative log-likelihood), and the expected
calibration error of the top candidate's confidence is reported before and after.
``--samples FILE`` keeps the ranked jobs' features; ``--from-samples FILE`` refits on them
without ranking again."""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import tempfile
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from scenarios.recruitment._calibration import (
    CALIBRATION_FILE,
    Calibration,
    agreement,
    confidences,
    coverage,
    expected_calibration_error,
)
from scenarios.recruitment._flow import LocalSteps, add_candidates, rank_job
from scenarios.recruitment._scorer import Scorer
from scenarios.recruitment._synth import generate
from scenarios.recruitment.generate import documents
from scenarios.recruitment.messages import Ranking

SPEC = Path(__file__).parent / "spec.yaml"
#: When every calibration job is ranked right, the likelihood keeps improving as ``T``
#: shrinks, towards certainty at any margin. The floor keeps a margin of 0.01 between the
#: first two candidates at a confidence of about 0.99 (e^5 : 1), not 1.
MIN_TEMPERATURE = 0.002


@dataclass(frozen=True, kw_only=True)
class Sample:
    """One ranked job: the scores, the field agreement, where the true best is (-1: not
    retrieved)."""

    adjusted: tuple[float, ...]
    agree: tuple[float, ...]
    met: tuple[float, ...]
    best: int
    pool: str = ""  # which generated pool it came from ("seed=101 resumes=10000 top_n=30")


def sample_of(ranking: Ranking, best_id: str, pool: str = "") -> Sample:
    ids = [r.candidate_id for r in ranking.results]
    return Sample(adjusted=tuple(r.adjusted_score for r in ranking.results),
                  agree=tuple(agreement([r.fields for r in ranking.results])),
                  met=tuple(coverage(ranking.results)),
                  best=ids.index(best_id) if best_id in ids else -1, pool=pool)


def nll(cal: Calibration, samples: Sequence[Sample]) -> float:
    """Negative log-likelihood of the true best (or of "not retrieved") under ``cal``."""
    total = 0.0
    for s in samples:
        conf = confidences(s.adjusted, s.agree, s.met, cal)
        p = conf[s.best] if s.best >= 0 else 1.0 - float(conf.sum())
        total -= math.log(max(float(p), 1e-12))
    return total / max(1, len(samples))


def top_confidence(cal: Calibration, samples: Sequence[Sample]) -> tuple[list[float],
                                                                         list[bool]]:
    conf = [float(confidences(s.adjusted, s.agree, s.met, cal)[0]) for s in samples if s.adjusted]
    right = [s.best == 0 for s in samples if s.adjusted]
    return conf, right


def fit(samples: Sequence[Sample], start: Calibration | None = None) -> Calibration:
    """Maximum-likelihood ``T`` (on a log scale), ``beta``, ``gamma`` and ``s0``."""
    from scipy.optimize import minimize

    s0 = start or Calibration()

    def make(x: np.ndarray) -> Calibration:
        return Calibration(temperature=max(math.exp(x[0]), MIN_TEMPERATURE),
                           agreement=float(x[1]), coverage=float(x[2]),
                           absent_score=float(x[3]))

    best = minimize(lambda x: nll(make(x), samples),
                    np.array([math.log(s0.temperature), s0.agreement, s0.coverage,
                              s0.absent_score]), method="Nelder-Mead",
                    options={"xatol": 1e-4, "fatol": 1e-6, "maxiter": 8000})
    fitted = make(best.x)
    return Calibration(**{k: round(v, 6) for k, v in fitted.to_dict().items()})


def spec_settings() -> tuple[dict[str, float], float, int]:
    """The scorer weights, match threshold and ranker ``top_n`` of the bundled spec."""
    spec = yaml.safe_load(SPEC.read_text(encoding="utf-8"))
    agents = {a["name"]: a.get("config") or {} for a in spec["agents"]}
    scorer = agents["scorer"]
    return (dict(scorer.get("weights") or {}), float(scorer.get("match_threshold", 0.55)),
            int(agents["ranker"].get("top_n", 20)))


async def collect(seed: int, jobs: int, resumes: int, top_n: int, *, encode: Any,
                  quiet: bool = False) -> list[Sample]:
    """Rank every job of a generated pool in-process; one :class:`Sample` per job."""
    from rich.progress import Progress

    from memory import MemoryConfig, MemoryService

    pool = generate(seed, jobs=jobs, resumes=resumes)
    truth = pool.truth()["jobs"]
    job_docs, resume_docs = documents(pool)
    weights, threshold, _ = spec_settings()
    with tempfile.TemporaryDirectory(prefix="raygent-calibrate-") as tmp, \
            MemoryService(MemoryConfig(data_dir=Path(tmp))) as memory:
        steps = LocalSteps(memory, Scorer(encode, weights=weights, match_threshold=threshold),
                           reference_year=2025)
        samples = []
        with Progress(disable=quiet, transient=True) as bar:
            task = bar.add_task("adding resumes", total=len(resume_docs))
            for i in range(0, len(resume_docs), 200):
                await add_candidates(steps, "calibration", resume_docs[i:i + 200])
                bar.advance(task, len(resume_docs[i:i + 200]))
            task = bar.add_task("ranking jobs", total=len(job_docs))
            for doc in job_docs:
                ranking = await rank_job(steps, "calibration", doc, top_n=top_n,
                                         calibration=Calibration())
                assert ranking.job is not None, ranking.rejected
                samples.append(sample_of(ranking, truth[ranking.job.id]["best"],
                                         f"seed={seed} resumes={resumes} top_n={top_n}"))
                bar.advance(task)
    return samples


def pools_of(samples: Sequence[Sample], args: argparse.Namespace,
             top_n: int) -> dict[str, Any]:
    """Where the samples came from: the pool this run generated, or every pool named in the
    sample files (with its number of jobs)."""
    if not args.from_samples:
        return {"seed": args.seed, "jobs": args.jobs, "resumes": args.resumes, "top_n": top_n}
    named = Counter(s.pool or "unnamed" for s in samples)
    return {"pools": [f"{pool} jobs={n}" for pool, n in sorted(named.items())],
            "jobs": len(samples)}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed", type=int, default=101)
    ap.add_argument("--jobs", type=int, default=48)
    ap.add_argument("--resumes", type=int, default=3000)
    ap.add_argument("--top-n", type=int, default=None, help="default: the spec's ranker")
    ap.add_argument("--out", type=Path, default=CALIBRATION_FILE)
    ap.add_argument("--samples", type=Path, default=None,
                    help="also write the ranked jobs' features here (JSON lines)")
    ap.add_argument("--from-samples", type=Path, nargs="+", default=None,
                    help="fit on samples written earlier (one file or several pools' files) "
                         "instead of ranking a pool")
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args(argv)
    from memory import shared_embedder

    top_n = args.top_n or spec_settings()[2]
    if args.from_samples:
        rows = [json.loads(line) for path in args.from_samples
                for line in path.read_text().splitlines() if line.strip()]
        samples = [Sample(adjusted=tuple(r["adjusted"]), agree=tuple(r["agree"]),
                          met=tuple(r["met"]), best=int(r["best"]), pool=r.get("pool", ""))
                   for r in rows]
    else:
        samples = asyncio.run(collect(args.seed, args.jobs, args.resumes, top_n,
                                      encode=shared_embedder().encode, quiet=args.quiet))
    if args.samples:
        args.samples.write_text("".join(json.dumps(asdict(s)) + "\n" for s in samples))
    before = Calibration()
    fitted = fit(samples)
    conf0, right = top_confidence(before, samples)
    conf1, _ = top_confidence(fitted, samples)
    result = {"parameters": fitted.to_dict(),
              "fitted_on": {**pools_of(samples, args, top_n),
                            "top1_accuracy": round(float(np.mean(right)), 4),
                            "best_not_retrieved": sum(s.best < 0 for s in samples),
                            "nll": round(nll(fitted, samples), 4),
                            "ece_before": round(expected_calibration_error(conf0, right), 4),
                            "ece": round(expected_calibration_error(conf1, right), 4)}}
    args.out.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
