"""How a recruitment run is shown: a ranked table per job with its audit, the group
selection rates, the rejected files; and the same as JSON for ``--json``."""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from rich.table import Table
from rich.text import Text

if TYPE_CHECKING:
    from rich.console import Console

    from scenarios.recruitment._config import RecruitmentCheck
    from scenarios.recruitment._outcome import Outcome
    from scenarios.recruitment.messages import AuditReport, Ranking, Result


def _short(text: str, n: int = 70) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def ranking_table(r: Ranking, shortlist: int) -> Table:
    """One row per ranked candidate; the shortlist in bold."""
    table = Table(show_header=True, header_style="dim", box=None, pad_edge=False)
    for col in ("#", "candidate", "file", "adjusted", "raw", "confidence", "met"):
        table.add_column(col, justify="left" if col in ("candidate", "file") else "right",
                         no_wrap=True, overflow="ellipsis")
    for x in r.results:
        met = len(x.matched)
        table.add_row(str(x.rank), x.candidate_id, x.source.rsplit("/", 1)[-1],
                      f"{x.adjusted_score:.3f}", f"{x.raw_score:.3f}", f"{x.confidence:.2f}",
                      f"{met}/{met + len(x.missing)}",
                      style="bold" if x.rank <= shortlist else "dim")
    return table


def explain(console: Console, x: Result) -> None:
    console.print(f"  why #{x.rank} {x.candidate_id}: "
                  + ", ".join(f"{k} {v:.2f}" for k, v in x.fields.items()), style="dim")
    for ev in x.matched:
        console.print(Text(f"    ✓ {ev.requirement} ← “{_short(ev.sentence, 80)}” "
                           f"({ev.similarity:.2f})", style="green"))
    for ev in x.missing:
        console.print(Text(f"    ✗ {ev.requirement} (closest: “{_short(ev.sentence, 60)}”, "
                           f"{ev.similarity:.2f})", style="yellow"))


def audit_line(a: AuditReport | None, check: RecruitmentCheck) -> Text:
    if a is None:
        return Text("  audit: not run", style="yellow")
    ok = (a.max_score_delta <= check.max_score_delta
          and a.max_rank_change <= check.max_rank_change and not a.errors)
    text = (f"  audit: {a.variants} counterfactual copies (names of other groups, gender, "
            f"age); max score change {a.max_score_delta:.4f} (tolerance "
            f"{check.max_score_delta}), max rank change {a.max_rank_change}; the unredacted "
            f"score would have moved up to {a.max_raw_delta:.3f}")
    if not ok and a.worst:
        w = a.worst[0]
        text += f"; worst: {w.candidate_id} {w.variant} {w.score_delta:+.4f}"
    return Text(text + (" ✓" if ok else " ✗"), style="green" if ok else "bold red")


def fairness_table(out: Outcome, check: RecruitmentCheck) -> Table:
    table = Table(show_header=True, header_style="dim", box=None, pad_edge=False,
                  title="selection rates per group (shortlisted / considered)",
                  title_justify="left", title_style="bold")
    for col in ("attribute", "group", "selected", "rate", "adverse-impact ratio"):
        table.add_column(col, justify="right" if col in ("selected", "rate") else "left")
    for g in out.fairness:
        ok = g.ratio >= check.min_adverse_impact_ratio
        mark = "✓" if ok else ("✗ significant" if g.p_value < 0.05 else "< 0.8, not significant")
        first = True
        for group, rate in g.rates.items():
            ratio = Text(f"{g.ratio:.2f} (p={g.p_value:.2f}) {mark}",
                         style="green" if ok else "bold red" if g.adverse else "yellow"
                         ) if first else Text("")
            table.add_row(g.attribute if first else "", group,
                          f"{g.selected.get(group, 0)}/{g.considered[group]}", f"{rate:.3f}",
                          ratio)
            first = False
    return table


def print_report(console: Console, out: Outcome, *, shortlist: int,
                 check: RecruitmentCheck) -> None:
    """Print the tables of a run."""
    for r in out.rankings:
        if r.job is None:
            continue
        best = out.best_rank.get(r.job.id, -1)
        mark = "" if best == -1 else (" [green]known best first ✓[/]" if best == 1
                                      else f" [red]known best at {best} ✗[/]")
        console.print(f"\n[bold]{r.job.id}[/] {r.job.title} [dim]"
                      f"({r.source.rsplit('/', 1)[-1]}): {r.retrieved} retrieved from "
                      f"{out.pool_size}, search {r.search_ms:.0f} ms, scoring "
                      f"{r.score_ms / 1000:.1f} s[/]" + mark)
        console.print(ranking_table(r, shortlist))
        if r.review is not None:
            console.print(f"  shortlist {r.review}", markup=False)
        if r.results:
            explain(console, r.results[0])
        console.print(audit_line(out.audits.get(r.job.id), check))
    if out.masked:
        console.print("\nmasked before scoring: " + ", ".join(
            f"{k} {v}" for k, v in sorted(out.masked.items())), style="dim")
    if out.fairness:
        console.print()
        console.print(fairness_table(out, check))
    for rej in out.rejected:
        console.print(Text(f"rejected {rej.source}: {rej.reason}", style="yellow"),
                      soft_wrap=True)


def _result(x: Result) -> dict[str, Any]:
    return {"rank": x.rank, "candidate_id": x.candidate_id, "source": x.source,
            "adjusted_score": x.adjusted_score, "raw_score": x.raw_score,
            "confidence": x.confidence, "fields": x.fields,
            "matched": [{"requirement": e.requirement, "evidence": e.sentence,
                         "similarity": e.similarity} for e in x.matched],
            "missing": [{"requirement": e.requirement, "closest": e.sentence,
                         "similarity": e.similarity} for e in x.missing]}


def to_json(out: Outcome, *, check: RecruitmentCheck) -> dict[str, Any]:
    """The run as JSON-ready data (the ``details`` of the scenario result)."""
    jobs = []
    for r in out.rankings:
        if r.job is None:
            continue
        audit = out.audits.get(r.job.id)
        jobs.append({"job_id": r.job.id, "title": r.job.title, "source": r.source,
                     "retrieved": r.retrieved, "known_best_rank": out.best_rank.get(r.job.id),
                     "results": [_result(x) for x in r.results], "review": r.review,
                     "audit": asdict(audit) if audit is not None else None})
    return {"pool": out.pool, "pool_size": out.pool_size, "jobs": jobs,
            "fairness": [{"attribute": g.attribute, "rates": g.rates,
                          "selected": g.selected, "considered": g.considered,
                          "adverse_impact_ratio": round(g.ratio, 4),
                          "p_value": round(g.p_value, 4), "four_fifths": g.passes,
                          "adverse": g.adverse}
                         for g in out.fairness],
            "masked": dict(out.masked), "timings": out.timings,
            "rejected": [{"source": r.source, "reason": r.reason} for r in out.rejected],
            "check": asdict(check)}
