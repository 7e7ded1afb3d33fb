"""The fairness and confidence arithmetic on hand-made examples, and the scorer on real
MiniLM embeddings (no Ray)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from actors import ConfigError
from scenarios.recruitment import Calibration, Scorer, adverse_impact, expected_calibration_error
from scenarios.recruitment._calibration import agreement, confidences, rank
from scenarios.recruitment._fairness import compare, rank_after, report
from scenarios.recruitment._redactor import redact
from scenarios.recruitment._scorer import check_weights
from scenarios.recruitment.messages import CandidateScore, Experience, Job, Resume


def test_adverse_impact_ratio_on_a_hand_made_example() -> None:
    # 100 women considered, 50 selected (0.50); 80 men considered, 24 selected (0.30):
    # 0.30 / 0.50 = 0.60, under four fifths. Ages: 0.45 vs 0.40 -> 0.889, passes.
    groups, considered, selected = {}, {}, {}
    for i in range(100):
        groups[f"w{i}"] = {"gender": "female", "age_band": "under_40" if i < 60 else "40_plus"}
        considered[f"w{i}"] = 1
        selected[f"w{i}"] = 1 if i < 50 else 0
    for i in range(80):
        groups[f"m{i}"] = {"gender": "male", "age_band": "under_40" if i < 40 else "40_plus"}
        considered[f"m{i}"] = 1
        selected[f"m{i}"] = 1 if i < 24 else 0
    groups["unlabelled"] = {}
    considered["unlabelled"], selected["unlabelled"] = 1, 1
    by_attr = {g.attribute: g for g in adverse_impact(considered, selected, groups)}
    gender = by_attr["gender"]
    assert gender.rates == {"female": 0.5, "male": 0.3}
    assert gender.ratio == pytest.approx(0.6)
    assert not gender.passes
    # Fisher's exact test on [[24, 56], [50, 50]], two-sided: p = 0.0094
    assert gender.p_value == pytest.approx(0.0094, abs=1e-4)
    assert gender.adverse
    age = by_attr["age_band"]
    # under 40: women 0-49 selected of 0-59 (50/60) + men 0-23 of 0-39 (24/40) = 74/100;
    # 40 plus: women 60-99 none (0/40) + men 40-79 none (0/40) = 0/80.
    assert age.selected == {"under_40": 74, "40_plus": 0}
    assert age.ratio == 0.0 and not age.passes


def test_adverse_impact_counts_repeated_consideration() -> None:
    groups = {"a": {"g": "x"}, "b": {"g": "y"}}
    rates = adverse_impact({"a": 10, "b": 10}, {"a": 5, "b": 4}, groups)[0]
    assert rates.considered == {"x": 10, "y": 10}
    assert rates.ratio == pytest.approx(0.8) and rates.passes  # exactly four fifths passes


def test_a_small_sample_under_four_fifths_is_not_significant() -> None:
    # 3 of 10 vs 4 of 10: ratio 0.75, yet one candidate's difference (p = 1.0)
    groups = {f"a{i}": {"g": "a"} for i in range(10)} | {f"b{i}": {"g": "b"} for i in range(10)}
    selected = {"a0": 1, "a1": 1, "a2": 1, "b0": 1, "b1": 1, "b2": 1, "b3": 1}
    rates = adverse_impact(dict.fromkeys(groups, 1), selected, groups)[0]
    assert rates.ratio == pytest.approx(0.75) and not rates.passes
    assert rates.p_value == pytest.approx(1.0) and not rates.adverse


def test_nobody_selected_is_no_adverse_impact() -> None:
    assert adverse_impact({"a": 1}, {}, {"a": {"g": "x"}})[0].ratio == 1.0


def test_expected_calibration_error_by_hand() -> None:
    # bin 0.9: 4 predictions at 0.9, 3 right -> |0.9 - 0.75| * 4; bin 0.1: |0.1 - 0| * 1
    ece = expected_calibration_error([0.9, 0.9, 0.9, 0.9, 0.1], [1, 1, 1, 0, 0])
    assert ece == pytest.approx((0.15 * 4 + 0.1) / 5)
    assert expected_calibration_error([1.0, 0.0], [True, False]) == 0.0
    with pytest.raises(ValueError):
        expected_calibration_error([], [])


def test_rank_after_breaks_ties_by_id() -> None:
    scores = {"a": 0.9, "b": 0.8, "c": 0.7}
    assert rank_after(scores, "c", 0.7) == 3
    assert rank_after(scores, "c", 0.85) == 2
    assert rank_after(scores, "c", 0.8) == 3    # tie with "b": "b" < "c"
    assert rank_after(scores, "a", 0.8) == 1    # tie with "b": "a" < "b"


def _score(cid: str, adjusted: float, **fields: float) -> CandidateScore:
    return CandidateScore(candidate_id=cid, raw_score=adjusted, adjusted_score=adjusted,
                          fields=fields or {"requirements": adjusted})


def test_compare_reports_score_rank_and_raw_moves() -> None:
    results = rank([_score("a", 0.80), _score("b", 0.75), _score("c", 0.70)], {}, Calibration())
    copies = [CandidateScore(candidate_id="c~gender", raw_score=0.5, adjusted_score=0.78,
                             fields={}),
              CandidateScore(candidate_id="a~age", raw_score=0.8, adjusted_score=0.80,
                             fields={})]
    moved = compare(results, copies, {"c~gender": ("c", "gender"), "a~age": ("a", "age")})
    by = {(m.candidate_id, m.variant): m for m in moved}
    assert by["c", "gender"].score_delta == pytest.approx(0.08)
    assert by["c", "gender"].rank_change == 1      # from 3rd to 2nd
    assert by["c", "gender"].raw_delta == pytest.approx(0.2)
    assert by["a", "age"].score_delta == 0 and by["a", "age"].rank_change == 0
    r = report("j", moved)
    assert (r.variants, r.max_rank_change) == (2, 1)
    assert r.max_score_delta == pytest.approx(0.08) and r.worst[0].candidate_id == "c"


@given(st.lists(st.floats(0.0, 1.0), min_size=1, max_size=30))
def test_confidences_are_probabilities_ordered_like_the_scores(scores: list[float]) -> None:
    conf = confidences(scores, [0.0] * len(scores), [0.0] * len(scores),
                       Calibration(temperature=0.05))
    assert np.all(conf >= 0) and conf.sum() <= 1 + 1e-9
    order = np.argsort(scores)
    assert np.all(np.diff(conf[order]) >= -1e-12)


def test_a_wide_margin_gives_a_high_confidence() -> None:
    cal = Calibration(temperature=0.02, agreement=0.0, absent_score=0.5)
    wide = confidences([0.85, 0.70], [0, 0], [1, 1], cal)[0]
    narrow = confidences([0.85, 0.84], [0, 0], [1, 1], cal)[0]
    assert wide > 0.99 and 0.5 < narrow < 0.7  # e^0.5 / (e^0.5 + 1) = 0.62


def test_agreement_is_the_share_of_fields_led() -> None:
    a = agreement([{"requirements": 0.9, "skills": 0.5, "experience": 0.4, "whole": 0.3},
                   {"requirements": 0.8, "skills": 0.6, "experience": 0.4, "whole": 0.2}])
    assert list(a) == [0.75, 0.5]  # ties count for both


def test_calibration_is_loaded_and_checked(tmp_path) -> None:
    cal = Calibration.load()  # the bundled data/calibration.json
    assert cal.temperature > 0
    with pytest.raises(ConfigError, match=r"calibration\.temperature"):
        Calibration(temperature=0)
    with pytest.raises(ConfigError, match="no calibration file"):
        Calibration.load(tmp_path / "none.json")
    assert Calibration.from_config({"temperature": 0.1}).temperature == 0.1


def test_weights_are_checked() -> None:
    with pytest.raises(ConfigError, match=r"scorer\.weights\.colour"):
        check_weights({"colour": 1})
    with pytest.raises(ConfigError, match=r"scorer\.weights\.whole"):
        check_weights({"whole": -1})
    with pytest.raises(ConfigError, match="at least one"):
        check_weights(dict.fromkeys(("requirements", "skills", "experience", "whole",
                                     "years"), 0))


# -- the scorer with the real model --------------------------------------------------------


@pytest.fixture(scope="module")
def scorer() -> Scorer:
    from memory import shared_embedder

    return Scorer(shared_embedder().encode)


JOB = Job(id="j", source="j.md", title="Data Engineer", requirements=(
    "At least 5 years of experience", "Experience with Kafka", "Strong SQL skills"),
    responsibilities=("Build streaming data pipelines",), min_years=5.0)


def _cand(cid: str, skills: tuple[str, ...], bullet: str, years: float) -> object:
    return redact(Resume(id=cid, source=f"{cid}.md", name="Sam Lee", skills=skills,
                         experience=(Experience(title="Data Engineer", years=years,
                                                period=f"{years:g} years", text=(bullet,)),)))


def test_the_scorer_prefers_the_matching_resume_and_quotes_evidence(scorer: Scorer) -> None:
    good = _cand("good", ("Kafka", "SQL", "Spark"),
                 "Built streaming pipelines on Kafka for payments.", 7)
    weak = _cand("weak", ("Photoshop", "Illustrator"), "Designed brand identities.", 7)
    junior = _cand("junior", ("Kafka", "SQL", "Spark"),
                   "Built streaming pipelines on Kafka for payments.", 2)
    s = {x.candidate_id: x for x in scorer.score(JOB, [good, weak, junior])}
    assert s["good"].adjusted_score > s["junior"].adjusted_score > s["weak"].adjusted_score
    met = {e.requirement: e for e in s["good"].matched}
    assert met["Experience with Kafka"].sentence in ("Kafka", "Built streaming pipelines on "
                                                     "Kafka for payments.")
    assert "At least 5 years of experience" in met
    assert [e.requirement for e in s["junior"].missing] == ["At least 5 years of experience"]
    assert s["junior"].fields["years"] == pytest.approx(0.4)
    assert {e.requirement for e in s["weak"].missing} >= {"Experience with Kafka"}
    assert set(s["good"].fields) == {"requirements", "skills", "experience", "whole", "years"}
    assert all(math.isfinite(x.raw_score) for x in s.values())


def test_the_scorer_embeds_each_text_once(scorer: Scorer) -> None:
    cand = _cand("again", ("Kafka",), "Ran Kafka clusters in production.", 6)
    scorer.score(JOB, [cand])
    before = scorer.embedded
    scorer.score(JOB, [cand])
    assert scorer.embedded == before  # every text came from the cache
