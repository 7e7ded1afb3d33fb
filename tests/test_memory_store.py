"""HybridStore and MemoryService with the real model, LanceDB and files on disk."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from rank_bm25 import BM25Okapi

from actors._errors import (
    ConfigError,
    CorruptStoreError,
    DuplicateIdError,
    InvalidQueryError,
    InvalidRecordError,
    RecordNotFoundError,
    StoreError,
)
from memory import (
    RRF,
    Embedder,
    HybridStore,
    MemoryConfig,
    MemoryService,
    MemoryStore,
    Record,
    TokenizerConfig,
    WeightedFusion,
    shared_embedder,
)

REPO = Path(__file__).resolve().parent.parent

DOCS = [
    {
        "id": "cats",
        "text": "Felines enjoy napping in warm sunny spots.",
        "metadata": {"year": 2020},
    },
    {"id": "code", "text": "Meeting notes: lunch plans, the weather and the party; ref XJ-9027."},
    {"id": "v1", "text": "Replacement part XJ-9072 fits the older valve housing."},
    {"id": "v2", "text": "Part XJ-2907 is the seal kit for the valve."},
    {"id": "v3", "text": "Order part XJ-7209 for the pump."},
    {"id": "ray", "text": "Ray actors are stateful workers that handle one call at a time."},
    {"id": "db", "text": "LanceDB stores vectors in columnar files on local disk."},
    {"id": "bread", "text": "Sourdough bread rises slowly in a cold fridge overnight."},
    {"id": "tax", "text": "Income tax returns are due at the end of April."},
    {"id": "moon", "text": "Apollo astronauts walked on the lunar surface in 1969."},
]


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    return shared_embedder()


@pytest.fixture
def config(tmp_path: Path) -> MemoryConfig:
    return MemoryConfig(data_dir=tmp_path / "mem")


@pytest.fixture
def store(config: MemoryConfig, embedder: Embedder) -> Iterator[HybridStore]:
    s = HybridStore(config, embedder)
    yield s
    s.close()


def _ids(hits: list[Any]) -> list[str]:
    return [h.id for h in hits]


def _run_python(code: str, *args: str, timeout: float = 180) -> dict[str, Any]:
    """Run code in a fresh interpreter; it prints one JSON object as its last line."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(REPO)}
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        cwd=REPO,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _wait_for(cond: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    event = threading.Event()
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        event.wait(0.05)


# ---------------------------------------------------------------------- basics


def test_store_protocol(store: HybridStore) -> None:
    assert isinstance(store, MemoryStore)


def test_add_get_upsert_delete_count(store: HybridStore) -> None:
    assert store.add(DOCS[:3]) == ["cats", "code", "v1"]
    assert store.add([Record(id="ns1", text="in another namespace", namespace="other")]) == ["ns1"]
    assert store.count() == 4
    assert store.count("other") == 1
    assert store.count("nope") == 0
    assert store.namespaces() == {"default": 3, "other": 1}
    (cats,) = store.get(["cats"])
    assert cats.text == DOCS[0]["text"]
    assert cats.metadata == {"year": 2020}
    assert cats.namespace == "default"
    assert cats.created_at is not None and cats.created_at == cats.updated_at
    assert _ids(store.get(["v1", "cats"])) == ["v1", "cats"]  # order as asked
    # Upsert replaces text and metadata, keeps created_at, bumps updated_at.
    store.upsert(
        [
            {"id": "cats", "text": "Dogs love long walks.", "metadata": {"year": 2024}},
            {"id": "new", "text": "A brand new record."},
        ]
    )
    (cats2,) = store.get(["cats"])
    assert cats2.text == "Dogs love long walks."
    assert cats2.metadata == {"year": 2024}
    assert cats2.created_at == cats.created_at
    assert cats2.updated_at is not None and cats2.updated_at >= cats.updated_at  # type: ignore[operator]
    assert store.count() == 5
    assert "cats" in _ids(store.search("walks", k=5, mode="keyword"))
    assert "cats" not in _ids(store.search("napping", k=5, mode="keyword"))
    # Delete.
    assert store.delete(["cats", "ns1"]) == 2
    assert store.count() == 3
    assert store.namespaces() == {"default": 3}
    with pytest.raises(RecordNotFoundError):
        store.get(["cats"])
    assert store.delete(["cats", "nope"], missing_ok=True) == 0
    assert store.add([{"id": "cats", "text": "Re-added after delete."}]) == ["cats"]
    assert store.add([]) == []


def test_hybrid_finds_what_only_one_retriever_finds(store: HybridStore) -> None:
    store.add(DOCS)
    # A rare identifier: keyword search pins it, vector search prefers look-alike codes.
    vec = store.search("XJ-9027", k=3, mode="vector")
    kw = store.search("XJ-9027", k=3, mode="keyword")
    hyb = store.search("XJ-9027", k=3)
    assert "code" not in _ids(vec)
    assert _ids(kw)[0] == "code"
    assert _ids(hyb)[0] == "code"
    assert hyb[0].keyword_rank == 1 and hyb[0].vector_rank is not None
    # A paraphrase without shared words: only vector search sees it.
    query = "where do cats like to sleep"
    assert "cats" not in _ids(store.search(query, k=3, mode="keyword"))
    assert _ids(store.search(query, k=3, mode="vector"))[0] == "cats"
    top = store.search(query, k=3)[0]
    assert top.id == "cats"
    assert top.keyword_score is None and top.keyword_rank is None
    assert top.vector_rank == 1 and top.vector_score is not None and top.vector_score > 0.3


def test_hit_fields_and_fusion_override(store: HybridStore) -> None:
    store.add(DOCS)
    vec = store.search("valve part", k=4, mode="vector")
    assert all(h.keyword_score is None and h.keyword_rank is None for h in vec)
    assert [h.vector_rank for h in vec] == [1, 2, 3, 4]
    assert [h.score for h in vec] == sorted((h.score for h in vec), reverse=True)
    assert all(h.score == h.vector_score for h in vec)
    kw = store.search("valve part", k=4, mode="keyword")
    assert all(h.vector_score is None and h.score == h.keyword_score for h in kw)
    rrf = store.search("valve part", k=4, fusion=RRF(k=60))
    for h in rrf:
        expected = sum(1 / (60 + r) for r in (h.vector_rank, h.keyword_rank) if r is not None)
        assert h.score == pytest.approx(expected)
    weighted = store.search("valve part", k=4, fusion=WeightedFusion(alpha=0.0))
    # alpha=0 is keyword-only ordering among keyword candidates.
    assert _ids(weighted)[:2] == _ids(kw)[:2]
    assert all(isinstance(h.created_at, float) for h in weighted)


def test_filters_apply_before_top_k(store: HybridStore) -> None:
    recs = [
        {
            "id": f"n{i}",
            "text": f"note {i} about valves and pumps",
            "metadata": {"year": 2000 + i % 10},
        }
        for i in range(60)
    ]
    recs.append(
        {
            "id": "odd",
            "text": "a poem about autumn leaves",
            "metadata": {"year": 1990, "lang": "fr", "tags": ["poem", "autumn"]},
        }
    )
    store.add(recs)
    for mode in ("vector", "keyword", "hybrid"):
        hits = store.search("valves and pumps", k=5, mode=mode, filters={"year": {"lt": 2001}})
        ids = set(_ids(hits))
        assert ids <= {f"n{i}" for i in range(0, 60, 10)} | {"odd"}
        assert len(hits) == 5
    # The only match is the least relevant document, and it is still returned.
    for mode in ("vector", "hybrid"):
        assert _ids(store.search("valves", k=3, mode=mode, filters={"lang": "fr"})) == ["odd"]
    assert _ids(store.search("valves", k=3, filters={"tags": "poem"})) == ["odd"]
    assert store.search("valves", k=3, filters={"lang": "de"}) == []
    hits = store.search("valves", k=50, filters={"year": {"gte": 2005, "lte": 2006}})
    assert len(hits) == 12
    assert all(h.metadata["year"] in (2005, 2006) for h in hits)


def test_namespace_and_time_filters(store: HybridStore) -> None:
    t2020 = datetime(2020, 6, 1, tzinfo=UTC)
    t2024 = datetime(2024, 6, 1, tzinfo=UTC)
    store.add(
        [
            {"id": "old", "text": "quarterly report on sales", "created_at": t2020},
            {"id": "new", "text": "quarterly report on sales figures", "created_at": t2024},
            {"id": "a1", "text": "quarterly report on sales", "namespace": "agent-a"},
        ]
    )
    hits = store.search(
        "quarterly report", k=5, filters={"created_at": {"lt": datetime(2021, 1, 1)}}
    )
    assert _ids(hits) == ["old"]
    hits = store.search(
        "quarterly report",
        k=5,
        filters={"created_at": {"gte": t2024.timestamp() - 1}, "namespace": "default"},
    )
    assert _ids(hits) == ["new"]
    assert _ids(store.search("quarterly report", k=5, namespace="agent-a")) == ["a1"]
    assert set(
        _ids(store.search("quarterly report", k=5, filters={"id": {"in": ["old", "a1"]}}))
    ) == {"old", "a1"}
    with pytest.raises(InvalidQueryError, match="agent-a, default"):
        store.search("x", namespace="agent-b")


def test_keyword_scores_equal_rank_bm25_after_updates(store: HybridStore) -> None:
    store.add(DOCS)
    store.upsert(
        [
            {"id": "db", "text": "LanceDB keeps the vectors and the text on disk."},
            {"id": "extra", "text": "the the the valve"},
        ]
    )
    store.delete(["tax", "v2"])
    recs = store.get(sorted(store._slots.slot_of))
    tok = store.tokenizer
    ref = BM25Okapi([tok(r.text) for r in recs])
    for q in ("the valve part", "lancedb vectors disk disk", "unknownword", "the"):
        got = store.keyword_scores(q)
        expected = ref.get_scores(tok(q))
        np.testing.assert_allclose([got[r.id] for r in recs], expected, atol=1e-9)


# ---------------------------------------------------------------------- bad input


def test_bad_input_raises_typed_errors_and_harms_nothing(store: HybridStore) -> None:
    store.add(DOCS[:4])
    before = [r.to_dict() for r in store.get([d["id"] for d in DOCS[:4]])]
    hits_before = _ids(store.search("valve", k=4))
    big = "x" * (store.config.max_text_chars + 1)
    cases: list[tuple[Callable[[], Any], type[Exception]]] = [
        (
            lambda: store.add([{"id": "n1", "text": "ok"}, {"id": "n2", "text": ""}]),
            InvalidRecordError,
        ),
        (
            lambda: store.add([{"id": "n1", "text": "ok"}, {"id": "n2", "text": 5}]),
            InvalidRecordError,
        ),
        (
            lambda: store.add([{"id": "n1", "text": "ok"}, {"id": "n2", "text": big}]),
            InvalidRecordError,
        ),
        (
            lambda: store.add([{"id": "n1", "text": "ok"}, {"id": "n1", "text": "again"}]),
            DuplicateIdError,
        ),
        (
            lambda: store.add([{"id": "n1", "text": "ok"}, {"id": "cats", "text": "dup"}]),
            DuplicateIdError,
        ),
        (
            lambda: store.add([{"id": "n1", "text": "ok", "metadata": {"x": object()}}]),
            InvalidRecordError,
        ),
        (lambda: store.add("not a list"), InvalidRecordError),  # type: ignore[arg-type]
        (
            lambda: store.upsert([{"id": "cats", "text": "a"}, {"id": "cats", "text": "b"}]),
            InvalidRecordError,
        ),
        (lambda: store.upsert([{"id": "cats", "text": "  "}]), InvalidRecordError),
        (lambda: store.delete(["cats", "missing"]), RecordNotFoundError),
        (lambda: store.delete("cats"), InvalidRecordError),  # type: ignore[arg-type]
        (lambda: store.get(["cats", "missing"]), RecordNotFoundError),
        (lambda: store.search(""), InvalidQueryError),
        (lambda: store.search("   "), InvalidQueryError),
        (lambda: store.search(None), InvalidQueryError),  # type: ignore[arg-type]
        (lambda: store.search("x", k=0), InvalidQueryError),
        (lambda: store.search("x", k=-3), InvalidQueryError),
        (lambda: store.search("x", k=2.5), InvalidQueryError),  # type: ignore[arg-type]
        (lambda: store.search("x", k=True), InvalidQueryError),  # type: ignore[arg-type]
        (lambda: store.search("x", k=10**9), InvalidQueryError),
        (lambda: store.search("x", mode="semantic"), InvalidQueryError),  # type: ignore[arg-type]
        (lambda: store.search("x", namespace="ghost"), InvalidQueryError),
        (lambda: store.search("x", filters={"year": {"near": 3}}), InvalidQueryError),
        (lambda: store.search("x", filters={"year": {"gte": "2020"}}), InvalidQueryError),
        (lambda: store.search("x", fusion="rrf"), InvalidQueryError),  # type: ignore[arg-type]
    ]
    for call, error in cases:
        with pytest.raises(error):
            call()
    assert store.count() == 4
    assert [r.to_dict() for r in store.get([d["id"] for d in DOCS[:4]])] == before
    assert _ids(store.search("valve", k=4)) == hits_before
    with pytest.raises(RecordNotFoundError):
        store.get(["n1"])
    # Nothing reached LanceDB either: a reopen sees the same four records.
    store.close()
    with HybridStore(store.config, store.embedder) as again:
        assert again.count() == 4


def test_closed_store_and_second_owner(config: MemoryConfig, embedder: Embedder) -> None:
    s = HybridStore(config, embedder)
    with pytest.raises(StoreError, match="already open"):
        HybridStore(config, embedder)
    s.close()
    s.close()  # idempotent
    for call in (
        lambda: s.add(DOCS[:1]),
        lambda: s.search("x"),
        lambda: s.get(["a"]),
        lambda: s.count(),
        lambda: s.flush(),
    ):
        with pytest.raises(StoreError, match="closed"):
            call()
    HybridStore(config, embedder).close()  # the lock was released


# ---------------------------------------------------------------------- persistence


_SEARCH_SCRIPT = """
    import json, sys
    from memory import HybridStore, MemoryConfig
    store = HybridStore(MemoryConfig(data_dir=sys.argv[1]))
    records = [r.to_dict() for r in store.get(json.loads(sys.argv[2]))]
    out = {"count": store.count(), "records": records}
    for q in json.loads(sys.argv[3]):
        for mode in ("vector", "keyword", "hybrid"):
            out[f"{mode}:{q}"] = [[h.id, h.score] for h in store.search(q, k=5, mode=mode)]
    store.close()
    print(json.dumps(out))
"""


def _snapshot(store: HybridStore, ids: list[str], queries: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {"count": store.count(), "records": [r.to_dict() for r in store.get(ids)]}
    for q in queries:
        for mode in ("vector", "keyword", "hybrid"):
            out[f"{mode}:{q}"] = [[h.id, h.score] for h in store.search(q, k=5, mode=mode)]  # type: ignore[arg-type]
    return out


def _assert_same(a: dict[str, Any], b: dict[str, Any]) -> None:
    assert a.keys() == b.keys()
    assert a["count"] == b["count"]
    assert a["records"] == b["records"]
    for key in a:
        if ":" in key:
            assert [x[0] for x in a[key]] == [x[0] for x in b[key]], key
            np.testing.assert_allclose([x[1] for x in a[key]], [x[1] for x in b[key]], atol=1e-6)


QUERIES = ["valve part XJ-9027", "where do cats like to sleep", "moon landing"]


def test_reopen_in_a_fresh_process_gives_identical_results(
    config: MemoryConfig, embedder: Embedder
) -> None:
    with HybridStore(config, embedder) as s:
        s.add([{**d, "metadata": {**d.get("metadata", {}), "k": [1, "two", None]}} for d in DOCS])
        s.upsert([{"id": "db", "text": "LanceDB keeps vectors on disk in Lance files."}])
        s.delete(["tax"])
        ids = sorted(s._slots.slot_of)
        expected = _snapshot(s, ids, QUERIES)
    got = _run_python(_SEARCH_SCRIPT, str(config.data_dir), json.dumps(ids), json.dumps(QUERIES))
    _assert_same(expected, got)


def test_acknowledged_writes_survive_a_crash(config: MemoryConfig, embedder: Embedder) -> None:
    with HybridStore(config, embedder) as s:
        s.add(DOCS)  # closing saves the keyword sidecar
    crash = """
        import os, sys
        from memory import HybridStore, MemoryConfig
        store = HybridStore(MemoryConfig(data_dir=sys.argv[1]))
        store.add([{"id": "late", "text": "zebra crossing near the harbour"}])
        store.upsert([{"id": "bread", "text": "Rye bread with caraway seeds"}])
        store.delete(["moon", "tax"])
        print('{"ok": true}', flush=True)
        os._exit(0)  # no close, no flush: the sidecar is now stale
    """
    assert _run_python(crash, str(config.data_dir)) == {"ok": True}
    with HybridStore(config, embedder) as s:
        assert s.count() == len(DOCS) - 1
        assert _ids(s.search("zebra harbour", k=1, mode="keyword")) == ["late"]
        assert _ids(s.search("caraway", k=1, mode="keyword")) == ["bread"]
        assert "moon" not in _ids(s.search("lunar apollo 1969", k=5, mode="keyword"))
        recs = s.get(sorted(s._slots.slot_of))
        ref = BM25Okapi([s.tokenizer(r.text) for r in recs])
        got = s.keyword_scores("bread the zebra")
        np.testing.assert_allclose(
            [got[r.id] for r in recs], ref.get_scores(s.tokenizer("bread the zebra")), atol=1e-9
        )


def test_missing_or_damaged_sidecar_is_rebuilt(config: MemoryConfig, embedder: Embedder) -> None:
    with HybridStore(config, embedder) as s:
        s.add(DOCS)
        expected = _snapshot(s, ["cats"], QUERIES)
    sidecar = config.resolved_data_dir() / "keyword_index.npz"
    sidecar.unlink()
    with HybridStore(config, embedder) as s:
        _assert_same(expected, _snapshot(s, ["cats"], QUERIES))
    assert sidecar.exists()
    sidecar.write_bytes(b"garbage")
    with HybridStore(config, embedder) as s:
        _assert_same(expected, _snapshot(s, ["cats"], QUERIES))
        s.rebuild_keyword_index()
        _assert_same(expected, _snapshot(s, ["cats"], QUERIES))


def test_tokenizer_change_rebuilds_keyword_index(config: MemoryConfig, embedder: Embedder) -> None:
    keep_all = MemoryConfig(data_dir=config.data_dir, tokenizer=TokenizerConfig(stopwords=None))
    with HybridStore(keep_all, embedder) as s:
        s.add(DOCS)
        assert s.search("the", k=3, mode="keyword")
    with HybridStore(config, embedder) as s:  # the default drops English stopwords
        assert s.search("the", k=3, mode="keyword") == []
    with HybridStore(keep_all, embedder) as s:
        assert s.search("the", k=3, mode="keyword")


def test_deletes_are_compacted_on_reopen(config: MemoryConfig, embedder: Embedder) -> None:
    with HybridStore(config, embedder) as s:
        s.add(DOCS)
        s.delete([d["id"] for d in DOCS[:6]])
        assert s.stats()["dead_fraction"] > 0.5
        expected = _snapshot(s, ["bread"], ["bread", "tax"])
    with HybridStore(config, embedder) as s:
        assert s.stats()["dead_fraction"] == 0.0
        _assert_same(expected, _snapshot(s, ["bread"], ["bread", "tax"]))


# ---------------------------------------------------------------------- corruption


def _make_store(config: MemoryConfig, embedder: Embedder) -> Path:
    with HybridStore(config, embedder) as s:
        s.add(DOCS)
    return config.resolved_data_dir()


def test_corrupt_manifest(config: MemoryConfig, embedder: Embedder) -> None:
    path = _make_store(config, embedder)
    (path / "store.json").write_text("{not json")
    with pytest.raises(CorruptStoreError, match=r"store\.json"):
        HybridStore(config, embedder)


def test_missing_manifest_with_data(config: MemoryConfig, embedder: Embedder) -> None:
    path = _make_store(config, embedder)
    (path / "store.json").unlink()
    with pytest.raises(CorruptStoreError):
        HybridStore(config, embedder)


def test_missing_table(config: MemoryConfig, embedder: Embedder) -> None:
    import shutil

    path = _make_store(config, embedder)
    shutil.rmtree(path / "records.lance")
    with pytest.raises(CorruptStoreError, match="missing"):
        HybridStore(config, embedder)


def test_truncated_data_file(config: MemoryConfig, embedder: Embedder) -> None:
    path = _make_store(config, embedder)
    for f in (path / "records.lance" / "data").iterdir():
        with open(f, "r+b") as fh:
            fh.truncate(f.stat().st_size // 3)
    with pytest.raises(CorruptStoreError) as info:
        HybridStore(config, embedder)
    assert "from a backup" in str(info.value)


def test_damaged_table_manifest(config: MemoryConfig, embedder: Embedder) -> None:
    path = _make_store(config, embedder)
    for f in (path / "records.lance" / "_versions").glob("*.manifest"):
        f.write_bytes(b"garbage")
    with pytest.raises(CorruptStoreError):
        HybridStore(config, embedder)


def test_other_model_is_a_config_error(config: MemoryConfig, embedder: Embedder) -> None:
    path = _make_store(config, embedder)
    info = json.loads((path / "store.json").read_text())
    (path / "store.json").write_text(json.dumps({**info, "dim": 768, "model": "other"}))
    with pytest.raises(ConfigError, match="model"):
        HybridStore(config, embedder)


def test_data_dir_is_a_file(tmp_path: Path, embedder: Embedder) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigError):
        HybridStore(MemoryConfig(data_dir=tmp_path / "file"), embedder)


# ---------------------------------------------------------------------- concurrency


def test_concurrent_adds_and_searches_lose_nothing(store: HybridStore) -> None:
    store.add(DOCS)
    writers, batches, per_batch = 4, 8, 5
    done = threading.Event()
    errors: list[BaseException] = []
    searches = [0]

    def write(w: int) -> None:
        try:
            for b in range(batches):
                store.add(
                    [
                        {"id": f"w{w}-{b}-{i}", "text": f"token{w}x{b}x{i} shared words here"}
                        for i in range(per_batch)
                    ]
                )
                if b % 3 == 0:
                    store.upsert([{"id": f"w{w}-{b}-0", "text": f"token{w}x{b}x0 rewritten"}])
        except BaseException as exc:
            errors.append(exc)

    def read() -> None:
        try:
            while not done.is_set():
                for mode in ("hybrid", "keyword", "vector"):
                    hits = store.search("shared words", k=10, mode=mode)  # type: ignore[arg-type]
                    assert all(h.text for h in hits)
                store.count()
                searches[0] += 1
        except BaseException as exc:
            errors.append(exc)

    readers = [threading.Thread(target=read) for _ in range(3)]
    threads = [threading.Thread(target=write, args=(w,)) for w in range(writers)]
    for t in readers + threads:
        t.start()
    for t in threads:
        t.join(timeout=240)
    done.set()
    for t in readers:
        t.join(timeout=60)
    assert not errors, errors
    assert searches[0] > 0
    total = len(DOCS) + writers * batches * per_batch
    assert store.count() == total
    for w in range(writers):
        for b in range(batches):
            for i in range(per_batch):
                hits = store.search(f"token{w}x{b}x{i}", k=1, mode="keyword")
                assert _ids(hits) == [f"w{w}-{b}-{i}"]
    store.close()
    with HybridStore(store.config, store.embedder) as again:
        assert again.count() == total


def test_background_ann_index_does_not_block_ingest(tmp_path: Path, embedder: Embedder) -> None:
    cfg = MemoryConfig(data_dir=tmp_path / "ann", ann_threshold=256)
    with HybridStore(cfg, embedder) as s:
        s.add([{"id": f"a{i}", "text": f"note number {i} on topic {i % 17}"} for i in range(300)])
        s.add([{"id": "after", "text": "written while the index builds"}])
        assert s.count() == 301
        _wait_for(lambda: s.stats()["ann_index"] not in ("pending", "building"), 120, "ANN build")
        assert s.stats()["ann_index"] == "ready"
        assert _ids(s.search("written while the index builds", k=1)) == ["after"]


# ---------------------------------------------------------------------- service


def test_service_end_to_end(tmp_path: Path, embedder: Embedder) -> None:
    cfg = MemoryConfig(data_dir=tmp_path / "svc", ingest_roots=(tmp_path,))
    with MemoryService(cfg, embedder=embedder) as svc:
        assert svc.health()["records"] == 0
        svc.add([DOCS[0], Record(id="r2", text="A record given as a dataclass.")])
        svc.upsert([{"id": "r2", "text": "Replaced text."}])
        assert svc.count() == 2
        assert svc.get(["r2"])[0].text == "Replaced text."
        assert _ids(svc.search("cats sleeping", k=1)) == ["cats"]
        (tmp_path / "notes.md").write_text("# Notes\n\nThe XJ-9027 valve was ordered.")
        ids = svc.ingest([tmp_path / "notes.md"])
        assert len(ids) == 1
        assert _ids(svc.search("XJ-9027", k=1, mode="keyword")) == ids
        assert svc.delete(["r2"]) == 1
        health = svc.health()
        assert health["ok"] and health["records"] == 2
        stats = svc.stats()
        assert stats["records"] == 2
        assert stats["calls"]["search"] >= 2
        assert stats["namespaces"] == {"default": 2}
        with pytest.raises(InvalidQueryError):
            svc.search("x", k=0)
        assert svc.stats()["errors"] == {"search": 1}
        svc.flush()
    with pytest.raises(StoreError):
        svc.health()


def test_service_defaults_share_the_model(tmp_path: Path) -> None:
    a = MemoryService(MemoryConfig(data_dir=tmp_path / "a"))
    b = MemoryService(MemoryConfig(data_dir=tmp_path / "b"))
    try:
        assert a.embedder is b.embedder is shared_embedder()
    finally:
        a.close()
        b.close()
