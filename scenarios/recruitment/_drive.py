"""The driver of ``raygent run recruitment``: feed the pool and the jobs, audit, check.

1. Read the job and resume files (a bad file is reported by name and skipped).
2. Add the resumes to the pool (the ranker parses, redacts and stores them in memory).
3. Rank every job (hybrid search, full scoring, confidence), then audit every ranking.
4. Check: no counterfactual copy moved a score or a rank past its tolerance; with group
   labels, the four-fifths rule holds for every attribute; with ground truth, the known
   best candidate ranks first for every job.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import TYPE_CHECKING

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from actors import RaygentError
from scenarios._result import ScenarioResult
from scenarios.recruitment._config import Labels, RecruitmentCheck, RecruitmentInput
from scenarios.recruitment._documents import load_documents
from scenarios.recruitment._fairness import SIGNIFICANCE, adverse_impact
from scenarios.recruitment._flow import chunks
from scenarios.recruitment._outcome import Outcome
from scenarios.recruitment._records import pool_name
from scenarios.recruitment._render import print_report, to_json
from scenarios.recruitment.messages import (
    AddCandidates,
    Added,
    Audit,
    Document,
    Ranking,
    RankJob,
)

if TYPE_CHECKING:
    from rich.console import Console

    from actors import Runtime
    from scenarios._spec import ScenarioSpec

WINDOW = 4  # add-batches in flight at once: the ranker works on several


@contextmanager
def progress(console: Console) -> Iterator[Progress]:
    """A progress display on ``console``, silent when the console is (``--quiet``,
    ``--json``)."""
    bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                   TimeElapsedColumn(), console=console, transient=True,
                   disable=console.quiet)
    with bar:
        yield bar


def add_pool(runtime: Runtime, cfg: RecruitmentInput, pool: str, docs: Sequence[Document],
             bar: Progress, out: Outcome) -> None:
    task = bar.add_task("adding resumes", total=len(docs))
    batches = chunks(docs, cfg.batch)
    for window in chunks(batches, WINDOW):
        replies = runtime.ask_many([(cfg.ranker, AddCandidates(pool=pool, documents=b))
                                    for b in window], timeout_s=1800)
        for batch, reply in zip(window, replies, strict=True):
            if isinstance(reply, Exception):
                raise reply
            added: Added = reply
            out.pool_size += len(added.ids)
            out.rejected.extend(added.rejected)
            out.masked.update(added.masked)
            bar.advance(task, len(batch))


def rank_one(runtime: Runtime, cfg: RecruitmentInput, pool: str, doc: Document,
             console: Console) -> Ranking:
    """Rank one job; with ``input.approval`` its shortlist first waits for a recruiter,
    whose ``raygent approve ID`` (or ``reject``) command is printed as soon as it waits."""
    job = RankJob(pool=pool, job=doc, top_n=cfg.top_n, review=cfg.approval)
    if cfg.approval is None:
        plain: Ranking = runtime.ask(cfg.ranker, job, timeout_s=1800)
        return plain
    timeout = 1800 + (cfg.approval.timeout_s or 7 * 86_400)
    shown: set[str] = set()
    with ThreadPoolExecutor(1, thread_name_prefix="rank") as pool_:
        asked = pool_.submit(runtime.ask, cfg.ranker, job, timeout_s=timeout)
        while True:
            try:
                reviewed: Ranking = asked.result(timeout=0.5)
                return reviewed
            except TimeoutError:
                pass
            for wait in runtime.pending(payloads=False):
                if wait.agent == cfg.ranker and wait.id not in shown:
                    shown.add(wait.id)
                    console.print(f"the shortlist of {doc.source.rsplit('/', 1)[-1]} waits "
                                  f"for a recruiter: {wait.text}\n  raygent approve {wait.id}"
                                  f"   (or: raygent reject {wait.id} --reason ...)",
                                  markup=False, soft_wrap=True)


def evaluate(out: Outcome, labels: Labels, shortlist: int) -> None:
    """Accuracy against the ground truth and selection rates per group."""
    ranked = [r for r in out.rankings if r.job is not None]
    for r in ranked:
        assert r.job is not None
        best = labels.best.get(r.job.id)
        if best is not None:
            ids = [x.candidate_id for x in r.results]
            out.best_rank[r.job.id] = ids.index(best) + 1 if best in ids else None
    if labels.groups and ranked:
        selected: Counter[str] = Counter(x.candidate_id for r in ranked
                                         for x in r.results[:shortlist])
        # Every candidate of the pool was considered for every job ranked.
        considered = {cid: len(ranked) for cid in labels.groups}
        out.fairness = adverse_impact(considered, selected, labels.groups)


def verdict(out: Outcome, check: RecruitmentCheck) -> tuple[bool, str]:
    ranked = [r for r in out.rankings if r.job is not None]
    delta = max((a.max_score_delta for a in out.audits.values()), default=0.0)
    moved = max((a.max_rank_change for a in out.audits.values()), default=0)
    raw = max((a.max_raw_delta for a in out.audits.values()), default=0.0)
    copies = sum(a.variants for a in out.audits.values())
    problems = []
    if delta > check.max_score_delta:
        problems.append(f"a counterfactual copy moved a score by {delta:.4f} "
                        f"(tolerance {check.max_score_delta})")
    if moved > check.max_rank_change:
        problems.append(f"a counterfactual copy moved a rank by {moved} "
                        f"(tolerance {check.max_rank_change})")
    errors = [e for a in out.audits.values() for e in a.errors]
    if errors:
        problems.append(f"{len(errors)} audit error(s), first: {errors[0]}")
    parts = [f"{len(ranked)} job(s) ranked against {out.pool_size} resumes",
             f"audit: {copies} counterfactual copies, max score change {delta:.4f}, "
             f"max rank change {moved} (unredacted score would move {raw:.3f})"]
    if out.fairness:
        worst = min(out.fairness, key=lambda g: g.ratio)
        parts.append(f"adverse-impact ratio {worst.ratio:.2f} ({worst.attribute}, "
                     f"p={worst.p_value:.2f})")
        for g in out.fairness:
            if g.ratio < check.min_adverse_impact_ratio and g.p_value < SIGNIFICANCE:
                problems.append(f"adverse impact on {g.attribute}: ratio {g.ratio:.2f} under "
                                f"{check.min_adverse_impact_ratio}, significant "
                                f"(p={g.p_value:.3f})")
    if out.best_rank:
        first = sum(1 for v in out.best_rank.values() if v == 1)
        parts.append(f"known best first for {first}/{len(out.best_rank)} jobs")
        if check.best_first and first < len(out.best_rank):
            problems.append(f"the known best candidate ranked first for only {first} of "
                            f"{len(out.best_rank)} jobs")
    if not ranked:
        problems.append("no job could be ranked")
    reviews = [r.review for r in ranked if r.review is not None]
    if reviews:
        approved = sum(1 for r in reviews if r.startswith("approved"))
        parts.append(f"shortlists approved {approved}/{len(reviews)}")
    if out.rejected:
        parts.append(f"{len(out.rejected)} file(s) rejected")
    summary = "; ".join(parts)
    if problems:
        summary += " — FAILED: " + "; ".join(problems)
    return not problems, summary


def drive(runtime: Runtime, spec: ScenarioSpec, *, console: Console,
          count: int) -> ScenarioResult:
    """Rank the spec's jobs (the first ``count``) against its resumes, audit, check."""
    cfg = RecruitmentInput.from_spec(spec)
    check = RecruitmentCheck.from_spec(spec)
    labels = Labels.load(cfg.truth, cfg.groups)
    jobs = load_documents(cfg.jobs, "job", max_bytes=cfg.max_file_bytes)
    resumes = load_documents(cfg.resumes, "resume", max_bytes=cfg.max_file_bytes)
    pool = pool_name(cfg.pool, resumes.documents)
    out = Outcome(pool=pool, rejected=[*jobs.rejected, *resumes.rejected])
    console.print(f"{len(resumes.documents)} resume(s) from {cfg.resumes}, "
                  f"{len(jobs.documents)} job(s) from {cfg.jobs}; pool {pool}")
    t0 = time.perf_counter()
    try:
        with progress(console) as bar:
            add_pool(runtime, cfg, pool, resumes.documents, bar, out)
            t1 = time.perf_counter()
            chosen = jobs.documents[:count]
            task = bar.add_task("ranking jobs", total=len(chosen))
            for doc in chosen:
                ranking = rank_one(runtime, cfg, pool, doc, console)
                out.rankings.append(ranking)
                if ranking.rejected is not None:
                    out.rejected.append(ranking.rejected)
                bar.advance(task)
            t2 = time.perf_counter()
            ranked = [r for r in out.rankings if r.job is not None]
            task = bar.add_task("auditing rankings", total=len(ranked))
            for ranking in ranked:
                assert ranking.job is not None
                out.audits[ranking.job.id] = runtime.ask(cfg.auditor, Audit(ranking=ranking),
                                                         timeout_s=1800)
                bar.advance(task)
    except RaygentError as exc:
        return ScenarioResult(ok=False, summary=f"the pipeline failed: {exc}",
                              details={"error": str(exc), "pool": pool})
    out.timings = {"add_s": round(t1 - t0, 2), "rank_s": round(t2 - t1, 2),
                   "audit_s": round(time.perf_counter() - t2, 2)}
    evaluate(out, labels, cfg.shortlist)
    print_report(console, out, shortlist=cfg.shortlist, check=check)
    ok, summary = verdict(out, check)
    return ScenarioResult(ok=ok, summary=summary, details=to_json(out, check=check))


__all__ = ["Outcome", "drive", "evaluate", "verdict"]
