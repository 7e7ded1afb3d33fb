"""The evaluation metrics and the bundled evaluation set (no model needed here)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from actors._errors import ConfigError
from memory import BM25Index, Tokenizer, TokenizerConfig
from memory._eval import evaluate, ndcg_at_k, recall_at_k, reciprocal_rank
from memory.evalset import EvalQuery, EvalSet, load_eval_set
from memory.evalset import _generate as gen


def test_metrics_match_a_hand_computed_example() -> None:
    ranked = ["a", "b", "c", "d"]
    relevant = {"b": 2, "d": 1, "e": 1}
    # DCG = 2/log2(3) + 1/log2(5) = 1.261860 + 0.430677 = 1.692536
    # IDCG = 2/log2(2) + 1/log2(3) + 1/log2(4) = 2 + 0.630930 + 0.5 = 3.130930
    assert ndcg_at_k(ranked, relevant, 10) == pytest.approx(0.540586, abs=1e-6)
    # Cut at 2: only b counts (1.261860); the ideal top two are 2 and 1 (2.630930).
    assert ndcg_at_k(ranked, relevant, 2) == pytest.approx(0.479625, abs=1e-6)
    assert recall_at_k(ranked, relevant, 100) == pytest.approx(2 / 3)
    assert recall_at_k(ranked, relevant, 3) == pytest.approx(1 / 3)
    assert reciprocal_rank(ranked, relevant) == 0.5
    assert reciprocal_rank(ranked, relevant, k=1) == 0.0


def test_metrics_edge_cases() -> None:
    assert ndcg_at_k(["x"], {}, 10) == 0.0
    assert ndcg_at_k([], {"a": 2}, 10) == 0.0
    assert ndcg_at_k(["a", "b"], {"a": 2, "b": 1}, 10) == pytest.approx(1.0)
    # A grade-1 document ahead of the grade-2 one loses gain.
    assert ndcg_at_k(["b", "a"], {"a": 2, "b": 1}, 10) < 1.0
    assert recall_at_k(["a"], {"a": 0}, 10) == 0.0


def test_evaluate_averages_over_queries() -> None:
    es = EvalSet(corpus=[{"id": "a", "text": "x"}, {"id": "b", "text": "y"}],
                 queries=[EvalQuery(id="q1", text="one", kind="mixed", domain="d",
                                    relevant={"a": 2}),
                          EvalQuery(id="q2", text="two", kind="keyword", domain="d",
                                    relevant={"b": 2})])
    perfect = evaluate(lambda q, k: ["a"] if q == "one" else ["b"], es)
    assert (perfect.ndcg_at_10, perfect.recall_at_100, perfect.mrr) == (1.0, 1.0, 1.0)
    half = evaluate(lambda q, k: ["a", "b"], es)
    assert half.by_kind == {"mixed": 1.0, "keyword": pytest.approx(1 / math.log2(3))}
    assert half.mrr == pytest.approx(0.75)
    assert half.queries == 2


def test_the_bundled_set_is_big_graded_and_well_formed() -> None:
    es = load_eval_set()
    ids = [d["id"] for d in es.corpus]
    assert len(ids) >= 5000 and len(set(ids)) == len(ids)
    assert len(es.queries) >= 300
    assert {q.kind for q in es.queries} == {"mixed", "keyword", "paraphrase"}
    assert {q.domain for q in es.queries} == {"drones", "services", "towns", "plants"}
    text = {d["id"]: d["text"] for d in es.corpus}
    graded = 0
    for q in es.queries:
        assert 2 in q.relevant.values(), q.id
        assert set(q.relevant) <= text.keys()
        graded += 1 in q.relevant.values()
        # Queries are written apart from the documents: never a copy of the answer (a bare
        # code, the whole point of a keyword query, aside).
        codes = [d for d in q.relevant if q.text in text[d] and " " not in q.text.strip()]
        for d in set(q.relevant) - set(codes):
            assert q.text.lower() not in text[d].lower(), (q.id, d)
    assert graded >= 100  # graded, not binary, labels


def test_paraphrase_queries_share_few_words_with_their_answers() -> None:
    es = load_eval_set()
    tok = Tokenizer(TokenizerConfig(stopwords="english"))
    text = {d["id"]: d["text"] for d in es.corpus}
    overlaps = []
    for q in es.queries:
        if q.kind != "paraphrase":
            continue
        answer = next(d for d, g in q.relevant.items() if g == 2)
        qt, dt = set(tok(q.text)), set(tok(text[answer]))
        overlaps.append(len(qt & dt) / len(qt))
    assert sum(overlaps) / len(overlaps) < 0.2


def test_bm25_alone_is_well_below_0_8() -> None:
    """The set must be hard for keywords: that is what makes it tell defaults apart."""
    es = load_eval_set()
    tok = Tokenizer()
    index = BM25Index()
    index.append(tok.tokenize_many([d["text"] for d in es.corpus]))
    ids = [d["id"] for d in es.corpus]

    def search(query: str, k: int) -> list[str]:
        slots, _ = index.top_k(tok(query), k)
        return [ids[s] for s in slots.tolist()]

    m = evaluate(search, es)
    assert m.ndcg_at_10 < 0.6
    assert m.by_kind["keyword"] > 0.95  # exact codes are what keywords are for
    assert m.by_kind["paraphrase"] < 0.1


def test_the_generator_reproduces_the_bundled_files(tmp_path: Path) -> None:
    assert gen.main(["--check"]) == 0
    assert gen.main(["--out", str(tmp_path)]) == 0
    assert gen.main(["--check", "--out", str(tmp_path)]) == 0
    (tmp_path / gen.QUERIES_FILE).write_text("")
    assert gen.main(["--check", "--out", str(tmp_path)]) == 1
    corpus, queries = gen.generate(seed=3)
    assert corpus != gen.generate()[0]  # the seed matters
    assert len(queries) == sum(sum(p.values()) for p in gen.PLAN.values())


def test_loading_a_broken_set_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"corpus\.jsonl is missing"):
        load_eval_set(tmp_path)
    (tmp_path / "corpus.jsonl").write_text(json.dumps({"id": "a", "text": "x"}) + "\n")
    (tmp_path / "queries.jsonl").write_text("{not json\n")
    with pytest.raises(ConfigError, match=r"queries\.jsonl:1: not JSON"):
        load_eval_set(tmp_path)
    (tmp_path / "queries.jsonl").write_text(json.dumps(
        {"id": "q", "text": "t", "kind": "mixed", "domain": "d", "relevant": {"zz": 2}}) + "\n")
    with pytest.raises(ConfigError, match="unknown documents"):
        load_eval_set(tmp_path)
