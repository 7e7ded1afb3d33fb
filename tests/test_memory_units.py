"""Tokenizer, fusion, filters, records, chunking, loading, config and the embedder."""

from __future__ import annotations

import itertools
import json
import pickle
import threading
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from actors._errors import ConfigError, InvalidQueryError, InvalidRecordError
from memory import (
    RRF,
    BM25Config,
    Embedder,
    FusionStrategy,
    MemoryConfig,
    Record,
    Tokenizer,
    TokenizerConfig,
    WeightedFusion,
    chunk_text,
    default_data_dir,
    light_stem,
    load_documents,
    shared_embedder,
)
from memory._filters import Column, compile_filters, evaluate
from memory._records import coerce_records

# ---------------------------------------------------------------------- tokenizer


def test_default_tokenizer_is_lowercase_unicode_words_without_stopwords() -> None:
    tok = Tokenizer()
    assert tok("The XJ-9027 valve, Größe 3; naïve café_au_lait") == [
        "xj",
        "9027",
        "valve",
        "grösse",
        "3",
        "naïve",
        "café_au_lait",
    ]
    assert tok("Straße") == ["strasse"]  # casefold, not just lower
    assert tok("日本語 テキスト") == ["日本語", "テキスト"]
    assert tok("  ...  ") == []
    # The default drops English stopwords (chosen by the sweep); None keeps every token.
    assert Tokenizer(TokenizerConfig(stopwords=None))("The valve is in it") == [
        "the", "valve", "is", "in", "it"]
    assert tok("The valve is in it") == ["valve"]


def test_tokenizer_options() -> None:
    tok = Tokenizer(TokenizerConfig(stopwords="english", stem=True, min_token_len=2))
    assert tok("The cats were running to the parties quickly") == [
        "cat",
        "run",
        "party",
        "quick",
    ]
    custom = Tokenizer(TokenizerConfig(stopwords=frozenset({"foo"}), lowercase=False))
    assert custom("Foo foo Bar") == ["Foo", "Bar"]
    assert Tokenizer(TokenizerConfig(pattern=r"[a-z]+"))("ab1cd") == ["ab", "cd"]
    assert tok.fingerprint() != Tokenizer().fingerprint()
    assert Tokenizer().fingerprint() == Tokenizer(TokenizerConfig()).fingerprint()
    with pytest.raises(ConfigError):
        TokenizerConfig(stopwords="klingon")
    with pytest.raises(ConfigError):
        TokenizerConfig(min_token_len=0)


@pytest.mark.parametrize(
    ("word", "stem"),
    [
        ("running", "run"),
        ("parties", "party"),
        ("cats", "cat"),
        ("glasses", "glass"),
        ("status", "status"),
        ("analysis", "analysis"),
        ("jumped", "jump"),
        ("quickly", "quick"),
        ("is", "is"),
        ("x9027s", "x9027s"),
    ],
)
def test_light_stem(word: str, stem: str) -> None:
    assert light_stem(word) == stem


# ---------------------------------------------------------------------- fusion


def test_rrf() -> None:
    fused = RRF(k=60).fuse([("a", 0.9), ("b", 0.5)], [("b", 12.0), ("c", 3.0)])
    assert fused["b"] == pytest.approx(1 / 62 + 1 / 61)
    assert fused["a"] == pytest.approx(1 / 61)
    assert fused["c"] == pytest.approx(1 / 62)
    assert RRF().fuse([], []) == {}
    with pytest.raises(ConfigError):
        RRF(k=-1)


def test_weighted_fusion_min_max() -> None:
    fused = WeightedFusion(alpha=0.5).fuse(
        [("a", 0.9), ("b", 0.5), ("c", 0.1)], [("b", 10.0), ("d", 2.0)]
    )
    assert fused["a"] == pytest.approx(0.5)
    assert fused["b"] == pytest.approx(0.5 * 0.5 + 0.5)
    assert fused["c"] == pytest.approx(0.0)
    assert fused["d"] == pytest.approx(0.0)
    # A single candidate (no spread) normalises to 1.
    assert WeightedFusion(alpha=0.25).fuse([("a", 0.3)], [])["a"] == pytest.approx(0.25)
    with pytest.raises(ConfigError):
        WeightedFusion(alpha=1.5)
    assert isinstance(RRF(), FusionStrategy)
    assert isinstance(WeightedFusion(), FusionStrategy)


# ---------------------------------------------------------------------- records


def test_records_accept_dicts_and_dataclasses() -> None:
    when = datetime(2024, 5, 1, tzinfo=UTC)
    recs = coerce_records(
        [
            {"id": "a", "text": "hello", "metadata": {"n": 1, "tags": ["x"]}},
            Record(id="b", text="world", namespace="ns", created_at=when.timestamp()),
            {"id": "c", "text": "naive", "created_at": datetime(2024, 5, 1)},
        ],
        max_text_chars=100,
    )
    assert [r.id for r in recs] == ["a", "b", "c"]
    assert recs[0].namespace == "default"
    assert recs[1].created_at == when.timestamp()
    assert recs[2].created_at == when.timestamp()  # naive datetimes are UTC


@pytest.mark.parametrize(
    "bad",
    [
        {"id": "a", "text": ""},
        {"id": "a", "text": "   \n"},
        {"id": "a", "text": 42},
        {"id": "a", "text": None},
        {"id": "a", "text": b"bytes"},
        {"id": "", "text": "x"},
        {"id": 7, "text": "x"},
        {"id": "a" * 600, "text": "x"},
        {"id": "a", "text": "x" * 101},
        {"id": "a", "text": "x", "metadata": {"s": {1, 2}}},
        {"id": "a", "text": "x", "metadata": {"f": float("nan")}},
        {"id": "a", "text": "x", "metadata": {3: "int key"}},
        {"id": "a", "text": "x", "metadata": {"created_at": 1}},
        {"id": "a", "text": "x", "metadata": "not a dict"},
        {"id": "a", "text": "x", "namespace": ""},
        {"id": "a", "text": "x", "created_at": "yesterday"},
        {"id": "a", "text": "x", "colour": "red"},
        "just a string",
    ],
)
def test_records_reject_bad_input(bad: object) -> None:
    with pytest.raises(InvalidRecordError):
        coerce_records([{"id": "ok", "text": "fine"}, bad], max_text_chars=100)


def test_records_reject_a_single_record_instead_of_a_list() -> None:
    with pytest.raises(InvalidRecordError):
        coerce_records({"id": "a", "text": "x"}, max_text_chars=10)  # type: ignore[arg-type]


def test_errors_pickle() -> None:
    err = InvalidQueryError("k must be >= 1")
    assert str(pickle.loads(pickle.dumps(err))) == str(err)


# ---------------------------------------------------------------------- filters


def _columns() -> dict[str, Column]:
    metas = [
        {"year": 2019, "lang": "en", "tags": ["a", "b"], "ok": True},
        {"year": 2021, "lang": "de", "tags": ["b"], "ok": False},
        {"year": 2023.5, "lang": "en", "ok": 1},
        {"lang": None},
        {"year": "2020"},
    ]
    fields = {"year", "lang", "tags", "ok"}
    return {f: Column.build([m.get(f) for m in metas], [f not in m for m in metas]) for f in fields}


@pytest.mark.parametrize(
    ("flt", "expected"),
    [
        ({"lang": "en"}, [0, 2]),
        ({"year": {"gte": 2020}}, [1, 2]),
        ({"year": {"gt": 2019, "lt": 2023}}, [1]),
        ({"year": 2021}, [1]),
        ({"year": "2020"}, [4]),
        ({"lang": {"in": ["de", "en"]}}, [0, 1, 2]),
        ({"lang": {"nin": ["en"]}}, [1, 3, 4]),
        ({"lang": {"ne": "en"}}, [1, 3, 4]),
        ({"lang": None}, [3]),
        ({"tags": "b"}, [0, 1]),
        ({"tags": {"in": ["a"]}}, [0]),
        ({"ok": True}, [0]),
        ({"ok": 1}, [2]),
        ({"lang": "en", "year": {"lte": 2020}}, [0]),
        ({"missing": "x"}, []),
    ],
)
def test_filters(flt: dict[str, object], expected: list[int]) -> None:
    cols = _columns()
    mask = evaluate(
        compile_filters(flt),
        cols.__getitem__
        if flt.keys() <= cols.keys()
        else (lambda f: cols.get(f) or Column.build([None] * 5, [True] * 5)),
        5,
    )
    assert mask is not None
    assert np.flatnonzero(mask).tolist() == expected


@pytest.mark.parametrize(
    "flt",
    [
        {"year": {"between": [1, 2]}},
        {"year": {"gte": "2020"}},
        {"year": {"gte": True}},
        {"year": {"gte": float("inf")}},
        {"lang": {"in": "en"}},
        {"lang": {"eq": ["en"]}},
        {"lang": {}},
        {"": 1},
        "lang=en",
    ],
)
def test_bad_filters(flt: object) -> None:
    with pytest.raises(InvalidQueryError):
        compile_filters(flt)  # type: ignore[arg-type]


def test_time_filters_accept_datetimes() -> None:
    (cond,) = compile_filters({"created_at": {"gte": datetime(2024, 1, 1, tzinfo=UTC)}})
    assert cond.value == datetime(2024, 1, 1, tzinfo=UTC).timestamp()
    with pytest.raises(InvalidQueryError):
        compile_filters({"year": {"gte": datetime(2024, 1, 1)}})


# ---------------------------------------------------------------------- chunking and loading


def test_chunk_text() -> None:
    words = " ".join(f"word{i}" for i in range(400))
    chunks = chunk_text(words, size=200, overlap=50)
    assert all(len(c) <= 200 for c in chunks)
    assert all(not c.startswith(" ") and " " not in (c[0], c[-1]) for c in chunks)
    # Nothing is lost and consecutive chunks overlap.
    assert {w for c in chunks for w in c.split()} == set(words.split())
    for a, b in itertools.pairwise(chunks):
        assert a.split()[-1] in b.split()[:15]
    assert chunk_text("short", 100, 10) == ["short"]
    assert chunk_text("   ", 100, 10) == []
    para = "First paragraph sentence.\n\nSecond paragraph here. " * 10
    assert chunk_text(para, 120, 0)[0].endswith("sentence.")
    for size, overlap in ((0, 0), (10, 10), (10, -1)):
        with pytest.raises(ConfigError):
            chunk_text("x", size, overlap)


def test_load_documents(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("plain text file")
    (tmp_path / "b.md").write_text("# Title here\n\nBody " + "lorem ipsum " * 200)
    (tmp_path / "c.jsonl").write_text(
        json.dumps({"id": "j1", "text": "json one", "metadata": {"k": 1}})
        + "\n\n"
        + json.dumps({"text": "json two", "namespace": "other"})
        + "\n"
    )
    (tmp_path / "skip.csv").write_text("ignored in directories")
    (tmp_path / ".hidden").mkdir()
    (tmp_path / ".hidden" / "h.txt").write_text("hidden")
    recs = load_documents([tmp_path])
    by_id = {r.id: r for r in recs}
    assert set(by_id) == {
        str(tmp_path / "a.txt"),
        str(tmp_path / "b.md"),
        "j1",
        f"{tmp_path / 'c.jsonl'}:3",
    }
    assert by_id[str(tmp_path / "b.md")].metadata["title"] == "Title here"
    assert by_id["j1"].metadata == {"k": 1, "source": str(tmp_path / "c.jsonl")}
    assert by_id[f"{tmp_path / 'c.jsonl'}:3"].namespace == "other"
    chunked = load_documents([tmp_path / "b.md"], chunk_size=500, overlap=50)
    assert len(chunked) > 1
    assert chunked[0].id.endswith("#0")
    assert chunked[0].metadata["chunks"] == len(chunked)
    with pytest.raises(InvalidRecordError):
        load_documents([tmp_path / "skip.csv"])
    with pytest.raises(InvalidRecordError):
        load_documents([tmp_path / "nope.txt"])
    (tmp_path / "bad.jsonl").write_text('{"text": "ok"}\n{broken\n')
    with pytest.raises(InvalidRecordError, match=r"bad\.jsonl:2"):
        load_documents([tmp_path / "bad.jsonl"])


# ---------------------------------------------------------------------- config


def test_config_validation_and_defaults(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("RAYGENT_MEMORY_DIR", str(tmp_path / "env"))
    assert default_data_dir() == tmp_path / "env"
    assert MemoryConfig().resolved_data_dir() == tmp_path / "env"
    monkeypatch.delenv("RAYGENT_MEMORY_DIR")
    monkeypatch.setenv("RAYGENT_HOME", str(tmp_path / "home"))
    assert default_data_dir() == tmp_path / "home" / "memory"
    monkeypatch.delenv("RAYGENT_HOME")
    assert default_data_dir() == Path("~/.raygent/memory").expanduser()
    assert MemoryConfig(data_dir=str(tmp_path)).data_dir == tmp_path  # type: ignore[arg-type]
    for kwargs in (
        {"batch_size": 0},
        {"max_k": -1},
        {"ann_threshold": 10},
        {"compact_ratio": 0.0},
        {"model": ""},
    ):
        with pytest.raises(ConfigError):
            MemoryConfig(**kwargs)  # type: ignore[arg-type]
    for kwargs in ({"k1": -1.0}, {"b": 1.5}, {"epsilon": float("nan")}):
        with pytest.raises(ConfigError):
            BM25Config(**kwargs)  # type: ignore[arg-type]


def test_unknown_model_is_a_config_error() -> None:
    emb = Embedder(MemoryConfig(model="/nonexistent/model-dir"))
    with pytest.raises(ConfigError, match="model"):
        emb.encode(["x"])


# ---------------------------------------------------------------------- embedder


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    return shared_embedder()


def test_embedder_vectors(embedder: Embedder) -> None:
    vecs = embedder.encode(["a cat sat on the mat", "a kitten rested on the rug", "tax law"])
    assert vecs.shape == (3, embedder.dim) == (3, 384)
    assert vecs.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)
    assert vecs[0] @ vecs[1] > vecs[0] @ vecs[2]
    assert embedder.encode([]).shape == (0, 384)


def test_query_cache(embedder: Embedder) -> None:
    hits = embedder.cache_hits
    first = embedder.encode_query("a query used twice")
    second = embedder.encode_query("a query used twice")
    assert second is first
    assert embedder.cache_hits == hits + 1
    np.testing.assert_allclose(first, embedder.encode(["a query used twice"])[0], atol=1e-5)
    small = Embedder(MemoryConfig(query_cache_size=2))
    small._model = embedder._model  # reuse the loaded weights
    for q in ("q1", "q2", "q3"):
        small.encode_query(q)
    assert list(small._cache) == ["q2", "q3"]


def test_embedder_is_thread_safe(embedder: Embedder) -> None:
    texts = [f"sentence number {i} about topic {i % 7}" for i in range(40)]
    expected = embedder.encode(texts)
    results: dict[int, np.ndarray] = {}
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            if i % 2:
                results[i] = embedder.encode(texts)
            else:
                results[i] = np.stack([embedder.encode_query(t) for t in texts])
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors
    # int8 activations are quantised per model run, so a text's vector moves a little with
    # the texts it shares a run with (cosine >= 0.97); the fp32 backends agree to 1e-4.
    for got in results.values():
        if embedder.backend == "onnx-int8":
            assert np.sum(got * expected, axis=1).min() >= 0.97
        else:
            np.testing.assert_allclose(got, expected, atol=1e-4)
