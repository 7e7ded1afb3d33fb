"""Tables and JSON of ``raygent memory``: hits with every stage's scores, store stats,
evaluation metrics and sweep results."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from rich import box
from rich.table import Table
from rich.text import Text

from memory._eval import Metrics
from memory._records import Hit
from memory._sweep import SweepPoint

SNIPPET_CHARS = 160


def _snippet(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= SNIPPET_CHARS else flat[:SNIPPET_CHARS - 3] + "..."


def _scored(score: float | None, rank: int | None, digits: int) -> Text:
    # "-": the record was not among that retriever's candidates (or the mode skipped it).
    if score is None:
        return Text("-", style="dim")
    return Text(f"{score:.{digits}f} #{rank}" if rank is not None else f"{score:.{digits}f}")


_SCORE_NOTE = {
    "hybrid": "score: vector and keyword scores fused",
    "vector": "score: cosine similarity",
    "keyword": "score: BM25",
}


def hit_json(rank: int, hit: Hit) -> dict[str, Any]:
    """A hit as plain JSON-compatible data, with its 1-based rank."""
    return {"rank": rank, "id": hit.id, **hit.explain(),
            "namespace": hit.namespace, "metadata": hit.metadata, "text": hit.text}


def hits_table(hits: Sequence[Hit], *, mode: str) -> Table:
    """One row per hit, with the per-retriever scores and ranks that explain its place.

    Args:
        hits: Search results, best first.
        mode: The search mode (chooses the caption explaining ``score``).

    Returns:
        The table.
    """
    reranked = any(h.rerank_score is not None for h in hits)
    note = "score: cross-encoder rerank score" if reranked else _SCORE_NOTE[mode]
    table = Table(box=box.SIMPLE_HEAD,
                  caption=f"{note}; vector, keyword: score #rank among that retriever's "
                          "candidates (- not among them)"
                          + ("; fused: the score before reranking" if reranked else ""),
                  caption_justify="left", pad_edge=False)
    table.add_column("#", justify="right", no_wrap=True)
    table.add_column("id", style="bold cyan", no_wrap=True)
    table.add_column("score", justify="right", no_wrap=True)
    if reranked and mode == "hybrid":
        table.add_column("fused", justify="right", no_wrap=True)
    table.add_column("vector", justify="right", no_wrap=True)
    table.add_column("keyword", justify="right", no_wrap=True)
    # The only wrappable column, so it alone gives way when the terminal is narrow; its
    # cells do not wrap though, they end in an ellipsis: one line per hit.
    table.add_column("text", min_width=12)
    for rank, hit in enumerate(hits, start=1):
        fused = [_scored(hit.fused_score, None, 3)] if reranked and mode == "hybrid" else []
        table.add_row(str(rank), hit.id, f"{hit.score:.3f}", *fused,
                      _scored(hit.vector_score, hit.vector_rank, 3),
                      _scored(hit.keyword_score, hit.keyword_rank, 2),
                      Text(_snippet(hit.text), no_wrap=True, overflow="ellipsis"))
    return table


def metrics_table(results: Mapping[str, Metrics]) -> Table:
    """nDCG@10, recall@100 and MRR@10 per mode, with nDCG@10 per query kind.

    Args:
        results: Metrics by mode name.

    Returns:
        The table.
    """
    kinds = sorted({k for m in results.values() for k in m.by_kind})
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False,
                  caption="nDCG@10 per query kind on the right; p50: search latency with "
                          "the query embedding", caption_justify="left")
    table.add_column("mode", style="bold", no_wrap=True)
    for col in ("nDCG@10", "recall@100", "MRR@10", "p50 ms", *kinds):
        table.add_column(col, justify="right", no_wrap=True)
    for mode, m in results.items():
        table.add_row(mode, f"{m.ndcg_at_10:.4f}", f"{m.recall_at_100:.4f}", f"{m.mrr:.4f}",
                      f"{m.p50_ms:.1f}", *(f"{m.by_kind.get(k, 0.0):.3f}" for k in kinds))
    return table


def sweep_table(points: Sequence[SweepPoint], *, top: int) -> Table:
    """The best ``top`` hybrid configurations of a sweep, then the single-retriever rows.

    Args:
        points: Sweep results.
        top: How many hybrid rows to show.

    Returns:
        The table.
    """
    hybrid = sorted((p for p in points if p.mode == "hybrid"),
                    key=lambda p: (-p.metrics.ndcg_at_10, -p.metrics.mrr))[:top]
    baselines = [p for p in points if p.mode != "hybrid"]
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("configuration", no_wrap=True)
    for col in ("nDCG@10", "recall@100", "MRR@10"):
        table.add_column(col, justify="right", no_wrap=True)
    for p in [*hybrid, *baselines]:
        m = p.metrics
        table.add_row(p.label(), f"{m.ndcg_at_10:.4f}", f"{m.recall_at_100:.4f}",
                      f"{m.mrr:.4f}", style="" if p.mode == "hybrid" else "dim")
    return table


def _value(value: Any) -> str:
    if isinstance(value, Mapping):
        return ", ".join(f"{k} {v}" for k, v in value.items()) or "-"
    return "-" if value is None else str(value)


def stats_table(stats: Mapping[str, Any], *, where: str) -> Table:
    """The store's counters as a two-column table.

    Args:
        stats: What ``stats()`` of the service or the memory agent returned.
        where: The store's directory or the agent that serves it (its data dir is not
            repeated when it is the same).

    Returns:
        The table.
    """
    table = Table(box=box.SIMPLE_HEAD, show_header=False, pad_edge=False)
    table.add_column("field", style="bold", no_wrap=True)
    table.add_column("value", overflow="fold")
    rows = [("records", "records"), ("namespaces", "namespaces"), ("model", "model"),
            ("dimensions", "dim"), ("vocabulary", "vocabulary"),
            ("avg tokens per record", "avg_doc_tokens"), ("dead slots", "dead_fraction"),
            ("ANN index", "ann_index"), ("table version", "table_version"),
            ("data dir", "data_dir")]
    for label, key in rows:
        if key not in stats or (key == "data_dir" and stats[key] == where):
            continue
        value = stats[key]
        if key == "dead_fraction" and isinstance(value, int | float):
            table.add_row(label, f"{value:.0%}")
        else:
            table.add_row(label, _value(value))
    # Call counters and uptime only mean something for a long-lived memory agent.
    if stats.get("calls"):
        table.add_row("calls", _value(stats["calls"]))
        errors = stats.get("errors") or {}
        table.add_row("errors", Text(_value(errors), style="red" if errors else ""))
        if "uptime_s" in stats:
            table.add_row("uptime", f"{float(stats['uptime_s']):.0f}s")
    return table


