"""The BM25 index against rank_bm25, incremental updates and persistence."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
from rank_bm25 import BM25Okapi

from actors._errors import CorruptStoreError
from memory import BM25Config, BM25Index

TOL = 1e-9


def _corpus(n: int, seed: int = 0) -> list[list[str]]:
    """Synthetic token lists: a Zipf-ish vocabulary plus two terms in most documents."""
    rng = random.Random(seed)
    vocab = [f"t{i}" for i in range(3000)]
    weights = [1.0 / (i + 1) for i in range(len(vocab))]
    docs = []
    for _ in range(n):
        doc = rng.choices(vocab, weights=weights, k=rng.randint(0, 40))
        # "common" is in ~80% and "half" in ~60% of documents: negative raw idf, so the
        # epsilon floor is exercised.
        if rng.random() < 0.8:
            doc.append("common")
        if rng.random() < 0.6:
            doc += ["half", "half"]
        rng.shuffle(doc)
        docs.append(doc)
    return docs


def _queries(docs: list[list[str]], seed: int = 1) -> list[list[str]]:
    rng = random.Random(seed)
    out = [["common"], ["half", "common", "half"], ["nope"], [], ["t0", "t0", "t5"]]
    for _ in range(25):
        doc = rng.choice([d for d in docs if d])
        q = rng.sample(doc, k=min(len(doc), rng.randint(1, 4)))
        if rng.random() < 0.3:
            q.append("unseen-term")
        out.append(q)
    return out


def _check(index: BM25Index, live: dict[int, list[str]], cfg: BM25Config) -> None:
    """Scores over live slots equal a fresh BM25Okapi over the live corpus."""
    slots = sorted(live)
    ref = BM25Okapi([live[s] for s in slots], k1=cfg.k1, b=cfg.b, epsilon=cfg.epsilon)
    for q in _queries([live[s] for s in slots]):
        ours = index.get_scores(q)
        expected = ref.get_scores(q)
        assert ours.shape == (index.n_slots,)
        np.testing.assert_allclose(ours[slots], expected, rtol=0, atol=TOL)
        dead = np.ones(index.n_slots, dtype=bool)
        dead[slots] = False
        assert not ours[dead].any()


@pytest.mark.parametrize(
    "cfg", [BM25Config(), BM25Config(k1=1.2, b=0.5, epsilon=0.1), BM25Config(k1=2.0, b=1.0)]
)
@pytest.mark.filterwarnings("ignore:invalid value encountered in divide:RuntimeWarning")
def test_scores_match_rank_bm25(cfg: BM25Config) -> None:
    docs = _corpus(3000)
    index = BM25Index(cfg)
    index.append(docs)
    assert index.n_docs == 3000
    ref = BM25Okapi(docs, k1=cfg.k1, b=cfg.b, epsilon=cfg.epsilon)
    # The floor is really in play: some raw idf values are negative.
    assert ref.idf["common"] == pytest.approx(cfg.epsilon * ref.average_idf)
    assert ref.idf["half"] == pytest.approx(cfg.epsilon * ref.average_idf)
    assert index.avgdl == pytest.approx(ref.avgdl)
    assert index.vocab_size == len(ref.idf)
    for q in _queries(docs):
        # With b=1 rank_bm25 computes 0/0 = NaN for empty documents; they match nothing, so
        # the index scores them 0.
        expected = np.nan_to_num(ref.get_scores(q), nan=0.0)
        np.testing.assert_allclose(index.get_scores(q), expected, rtol=0, atol=TOL)


def test_incremental_adds_upserts_deletes_match_a_fresh_index() -> None:
    cfg = BM25Config()
    docs = _corpus(4000, seed=3)
    index = BM25Index(cfg)
    live: dict[int, list[str]] = {}
    # Adds in uneven batches.
    pos = 0
    for size in (1, 999, 500, 1500):
        slots = index.append(docs[pos : pos + size])
        live.update(zip(slots.tolist(), docs[pos : pos + size], strict=True))
        pos += size
    _check(index, live, cfg)
    rng = random.Random(9)
    # Upserts: remove the old version, append the new one.
    for _ in range(5):
        victims = rng.sample(sorted(live), 40)
        index.remove(victims)
        replacements = [docs[pos + i] for i in range(len(victims))]
        pos += len(victims)
        for s in victims:
            del live[s]
        new = index.append(replacements)
        live.update(zip(new.tolist(), replacements, strict=True))
    _check(index, live, cfg)
    # Deletes, including every document holding some term.
    holders = [s for s, d in live.items() if "t7" in d]
    index.remove(holders)
    for s in holders:
        del live[s]
    more = rng.sample(sorted(live), 300)
    index.remove(more)
    for s in more:
        del live[s]
    _check(index, live, cfg)
    assert index.get_scores(["t7"]).max() == 0.0
    # Compaction renumbers slots but keeps every score.
    mapping = index.compact()
    live = {int(mapping[s]): d for s, d in live.items()}
    assert index.n_slots == index.n_docs == len(live)
    _check(index, live, cfg)
    # And the index keeps working incrementally afterwards.
    tail = docs[pos : pos + 100]
    live.update(zip(index.append(tail).tolist(), tail, strict=True))
    _check(index, live, cfg)


def test_remove_rejects_unknown_or_dead_slots() -> None:
    index = BM25Index()
    index.append([["a"], ["b"]])
    index.remove([0])
    with pytest.raises(KeyError):
        index.remove([0])
    with pytest.raises(KeyError):
        index.remove([5])


def test_top_k_agrees_with_get_scores_and_respects_the_mask() -> None:
    docs = _corpus(2000, seed=5)
    index = BM25Index()
    index.append(docs)
    q = ["t3", "t10", "half"]
    scores = index.get_scores(q)
    slots, top = index.top_k(q, 10)
    assert len(slots) == 10
    np.testing.assert_allclose(top, scores[slots])
    assert top[0] == pytest.approx(scores.max())
    assert np.all(np.diff(top) <= 0)
    mask = np.zeros(index.n_slots, dtype=bool)
    mask[::7] = True
    mslots, mtop = index.top_k(q, 10, mask)
    assert mask[mslots].all()
    eligible = np.flatnonzero(mask & (scores != 0))
    best = eligible[np.argsort(-scores[eligible], kind="stable")[:10]]
    np.testing.assert_allclose(np.sort(mtop), np.sort(scores[best]))
    # Only documents sharing a term come back.
    assert len(index.top_k(["unseen"], 5)[0]) == 0


def test_single_document_matches_even_with_negative_scores() -> None:
    index = BM25Index()
    index.append([["solo", "doc"]])
    slots, scores = index.top_k(["solo"], 3)
    assert slots.tolist() == [0]
    ref = BM25Okapi([["solo", "doc"]]).get_scores(["solo"])
    np.testing.assert_allclose(scores, ref, atol=TOL)


def test_empty_index_and_empty_documents() -> None:
    index = BM25Index()
    assert index.get_scores(["x"]).shape == (0,)
    assert index.top_k(["x"], 5)[0].size == 0
    docs = [[], ["a", "b"], [], ["a"]]
    index.append(docs)
    np.testing.assert_allclose(
        index.get_scores(["a", "b"]), BM25Okapi(docs).get_scores(["a", "b"]), atol=TOL
    )
    index.remove([0, 1, 2, 3])
    assert index.n_docs == 0
    assert not index.get_scores(["a"]).any()


def test_save_load_round_trip(tmp_path: Path) -> None:
    docs = [*_corpus(1500, seed=7), ["ünïcödé", "日本語", "emoji🙂"]]
    index = BM25Index()
    index.append(docs)
    index.remove([3, 500, 1499])
    path = tmp_path / "bm25.npz"
    index.save(path, extra={"note": "hi", "n": 3})
    loaded, extra = BM25Index.load(path)
    assert extra == {"note": "hi", "n": 3}
    assert (loaded.n_slots, loaded.n_docs, loaded.vocab_size) == (
        index.n_slots,
        index.n_docs,
        index.vocab_size,
    )
    for q in [*_queries(docs), ["日本語", "emoji🙂"]]:
        np.testing.assert_array_equal(loaded.get_scores(q), index.get_scores(q))
    # The restored index keeps updating incrementally.
    loaded.remove([10])
    index.remove([10])
    loaded.append([["common", "t1"]])
    index.append([["common", "t1"]])
    np.testing.assert_array_equal(loaded.get_scores(["common"]), index.get_scores(["common"]))


def test_load_rejects_damaged_files(tmp_path: Path) -> None:
    path = tmp_path / "bm25.npz"
    path.write_bytes(b"not a zip file")
    with pytest.raises(CorruptStoreError):
        BM25Index.load(path)
    index = BM25Index()
    index.append([["a", "b"], ["b"]])
    index.save(path)
    data = dict(np.load(path))
    data["post_slots"] = data["post_slots"][:-1]
    np.savez(path, **data)
    with pytest.raises(CorruptStoreError):
        BM25Index.load(path)


def test_top_k_breaks_ties_at_the_cut_by_slot() -> None:
    """The top 3 is the first 3 of the top 10, even when scores tie at the cut."""
    from memory._topk import first_k

    index = BM25Index()
    index.append([["alpha", "x"], ["beta"], ["alpha", "y"], ["alpha", "z"], ["alpha", "w"],
                  ["alpha", "v"], ["gamma"], ["alpha", "alpha"]])
    top10, _ = index.top_k(["alpha"], 10)
    for k in (1, 2, 3, 4):
        topk, _ = index.top_k(["alpha"], k)
        assert topk.tolist() == top10[:k].tolist()
    # The tied documents (same length, one "alpha") come in slot order after the best.
    assert top10.tolist() == [7, 0, 2, 3, 4, 5]
    scores = np.array([1.0, 3.0, 2.0, 2.0, 2.0, 0.5])
    assert sorted(first_k(scores, 3).tolist()) == [1, 2, 3]
