"""Retrieval quality on the small hand-labelled set in tests/data (see its README); the
bundled evaluation set that chose the defaults is checked in test_memory_eval*.py."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from memory import HybridStore, MemoryConfig, ndcg_at_k, shared_embedder

DATA = Path(__file__).resolve().parent / "data"


def _load(name: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (DATA / name).read_text().splitlines() if line.strip()]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HybridStore]:
    # The default configuration, as users get it: default tokenizer and fusion.
    cfg = MemoryConfig(data_dir=tmp_path_factory.mktemp("quality"))
    s = HybridStore(cfg, shared_embedder())
    s.add(_load("eval_docs.jsonl"))
    yield s
    s.close()


def test_eval_set_is_well_formed() -> None:
    docs = _load("eval_docs.jsonl")
    queries = _load("eval_queries.jsonl")
    ids = {d["id"] for d in docs}
    assert 60 <= len(docs) <= 150 and len(ids) == len(docs)
    assert len(queries) >= 30
    assert {q["kind"] for q in queries} == {"keyword", "paraphrase", "mixed"}
    for q in queries:
        assert q["relevant"] and set(q["relevant"]) <= ids, q["id"]


def test_hybrid_is_at_least_as_good_as_either_retriever(store: HybridStore) -> None:
    queries = _load("eval_queries.jsonl")
    per_mode: dict[str, dict[str, float]] = {}
    for mode in ("vector", "keyword", "hybrid"):
        per_mode[mode] = {
            q["id"]: ndcg_at_k(
                [h.id for h in store.search(q["query"], k=10, mode=mode)], q["relevant"]
            )
            for q in queries
        }
    mean = {m: sum(v.values()) / len(v) for m, v in per_mode.items()}
    by_kind = {
        (m, kind): sum(per_mode[m][q["id"]] for q in queries if q["kind"] == kind)
        / sum(1 for q in queries if q["kind"] == kind)
        for m in per_mode
        for kind in ("keyword", "paraphrase", "mixed")
    }
    print("nDCG@10", {m: round(v, 4) for m, v in mean.items()})
    print("by kind", {f"{m}/{k}": round(v, 3) for (m, k), v in by_kind.items()})
    # No tolerance: the default fusion must not lose to either retriever on its own.
    assert mean["hybrid"] >= max(mean["vector"], mean["keyword"])
    # And it keeps each retriever's strength where that retriever is the right tool.
    assert by_kind[("hybrid", "keyword")] >= by_kind[("vector", "keyword")]
    assert by_kind[("hybrid", "paraphrase")] >= by_kind[("keyword", "paraphrase")]
