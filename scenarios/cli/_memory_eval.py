"""``raygent memory eval``: retrieval quality of the default memory settings, measured.

Builds a throw-away store over the bundled evaluation set (``memory.evalset``; document
vectors are cached under ``$RAYGENT_HOME/cache/evalset`` after the first run), runs every
labelled query in each mode and prints nDCG@10, recall@100 and MRR@10. ``--sweep`` runs the
grid that chose the defaults (``memory._sweep``); ``--rerank-model`` adds the cross-encoder
stage as one more row.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import replace
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.text import Text

from memory._config import MemoryConfig, RerankConfig
from memory._embedder import shared_embedder
from memory._eval import Metrics, corpus_vectors, eval_store, evaluate, store_search
from memory._fusion import default_fusion
from memory._rerank import CrossEncoderReranker
from memory._sweep import best, fusion_label, sweep
from memory.evalset import load_eval_set
from scenarios.cli._edge import JsonOpt, console, edge, err_console, print_json
from scenarios.cli._memory_render import metrics_table, sweep_table


class EvalMode(StrEnum):
    """What ``raygent memory eval`` measures."""

    hybrid = "hybrid"
    vector = "vector"
    keyword = "keyword"


@contextlib.contextmanager
def _progress(hidden: bool) -> Iterator[Callable[[str], Callable[[int, int], None]]]:
    """Yields ``task(description)`` -> a ``(done, total)`` callback drawing a bar."""
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=err_console, transient=True,
                  disable=hidden) as progress:
        def task(description: str) -> Callable[[int, int], None]:
            tid = progress.add_task(description, total=None)

            def update(done: int, total: int) -> None:
                progress.update(tid, completed=done, total=total)

            return update

        yield task


@edge
def eval_command(
    modes: Annotated[list[EvalMode] | None, typer.Option(
        "--mode", "-m", case_sensitive=False, show_default="all three",
        help="Retrieval mode to measure (repeat for several).")] = None,
    sweep_grid: Annotated[bool, typer.Option(
        "--sweep", help="Also run the fusion / candidates / stopwords grid that chose the "
                        "defaults (minutes).")] = False,
    top: Annotated[int, typer.Option(
        "--top", min=1, help="Sweep rows to show, best first.")] = 15,
    rerank_model: Annotated[Path | None, typer.Option(
        "--rerank-model", show_default=False,
        help="Local cross-encoder directory: adds a hybrid + rerank row.")] = None,
    rerank_top_n: Annotated[int, typer.Option(
        "--rerank-top-n", min=1, help="Fused hits the cross-encoder re-scores.")] = 20,
    eval_dir: Annotated[Path | None, typer.Option(
        "--set", show_default="the bundled set",
        help="Directory with corpus.jsonl and queries.jsonl in the bundled format.")] = None,
    cache_dir: Annotated[Path | None, typer.Option(
        "--cache-dir", show_default="$RAYGENT_HOME/cache/evalset",
        help="Where document vectors are cached between runs.")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Measure retrieval quality (nDCG@10, recall@100, MRR@10) on the evaluation set."""
    es = load_eval_set(eval_dir)
    wanted = [m.value for m in (modes or list(EvalMode))]
    config = MemoryConfig()
    reranker = None
    if rerank_model is not None:
        # Checked before the slow part: a typo should not cost a corpus embedding.
        rerank = RerankConfig(model=str(rerank_model), top_n=rerank_top_n)
        reranker = CrossEncoderReranker(rerank)
    show = not (quiet or as_json) and err_console.is_terminal
    with err_console.status("loading the embedding model...") if show else \
            contextlib.nullcontext():
        embedder = shared_embedder(config)
        embedder.dim  # noqa: B018 - loads the model here, under the status line
    with _progress(not show) as task:
        vectors = corpus_vectors(es, embedder, cache_dir,
                                 progress=task(f"embedding {len(es.corpus)} documents"))
        results: dict[str, Metrics] = {}
        with tempfile.TemporaryDirectory(prefix="raygent-eval-") as tmp:
            store = eval_store(es, Path(tmp) / "store", embedder,
                               replace(config, rerank=rerank) if reranker else config,
                               vectors=vectors, reranker=reranker)
            try:
                for mode in wanted:
                    results[mode] = evaluate(store_search(store, mode=mode, rerank=False), es)
                if reranker is not None:
                    results["hybrid+rerank"] = evaluate(
                        store_search(store, mode="hybrid", rerank=True), es)
            finally:
                store.close()
        points = sweep(es, embedder, config=config, cache_dir=cache_dir,
                       progress=task("sweep")) if sweep_grid else []
    setting = {"fusion": fusion_label(config.fusion or default_fusion()),
               "candidates": config.candidates,
               "stopwords": config.tokenizer.stopwords or None}
    if as_json:
        out: dict[str, Any] = {
            "set": {"documents": len(es.corpus), "queries": len(es.queries),
                    "source": str(eval_dir) if eval_dir else "bundled"},
            "defaults": setting,
            "modes": {mode: m.as_dict() for mode, m in results.items()}}
        if points:
            win = best(points)
            out["sweep"] = [{"config": p.label(), **p.metrics.as_dict()} for p in points]
            out["best"] = {"config": win.label(), **win.metrics.as_dict()}
        print_json(out)
        return
    console.print(Text.assemble(
        ("retrieval quality ", "bold"),
        f"on {len(es.queries)} queries over {len(es.corpus)} documents; defaults: "
        f"{setting['fusion']}, {setting['candidates']} candidates, stopwords "
        f"{setting['stopwords'] or 'kept'}"), soft_wrap=True)
    console.print(metrics_table(results))
    if points:
        win = best(points)
        console.print(Text.assemble(("sweep ", "bold"), f"best: {win.label()}"),
                      soft_wrap=True)
        console.print(sweep_table(points, top=top))
