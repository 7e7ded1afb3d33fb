"""The recruitment scenario through real actors: the bundled pool end to end (known best
first, the counterfactual audit within tolerance, the four-fifths rule), a deliberately
biased scorer that the audit must catch, bad input files, a killed scorer, the CLI."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from scenarios import Scenario, ScenarioResult, builtin_scenarios
from scenarios._launch import with_overrides
from scenarios.recruitment import Scorer, ScorerAgent
from scenarios.recruitment._config import RecruitmentCheck
from scenarios.recruitment._drive import Outcome, verdict
from scenarios.recruitment._lexicon import FIRST_NAMES
from scenarios.recruitment._records import pool_name
from scenarios.recruitment.messages import (
    AddCandidates,
    Audit,
    Candidate,
    CandidateScore,
    Job,
    RankJob,
)
from tests.conftest import wait_for

DATA = Path(__file__).resolve().parent.parent / "scenarios" / "recruitment" / "data"
_FEMALE = re.compile(r"\b(?:she|her|hers|herself|" + "|".join(
    n for group in FIRST_NAMES.values() for n in group["female"]) + r")\b", re.I)


class BiasedScorer(Scorer):
    """Docks 0.08 from every resume that reads female: the bias the audit must catch."""

    def score(self, job: Job, candidates: Sequence[Candidate]) -> list[CandidateScore]:
        return [dataclasses.replace(s, adjusted_score=s.adjusted_score - 0.08 * bool(
                    _FEMALE.search(c.raw_text)))
                for s, c in zip(super().score(job, candidates), candidates, strict=True)]


class BiasedScorerAgent(ScorerAgent):
    scorer_class = BiasedScorer


def _spec(tmp: Path, **inputs: str) -> Any:
    spec = builtin_scenarios()["recruitment"].spec
    assert spec is not None
    return with_overrides(spec, data_dir=str(tmp / "memory"), input_paths=inputs or None)


@pytest.fixture(scope="module")
def rt(ray_session: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from actors import RetryPolicy, Runtime, RuntimeConfig
    from actors._config import TracingConfig

    runtime = Runtime(config=RuntimeConfig(
        namespace=f"t-rec-{uuid.uuid4().hex[:8]}", health_interval_s=0.5,
        health_timeout_s=30.0, start_timeout_s=600.0,
        retry=RetryPolicy(max_attempts=3, backoff_s=0.05),
        tracing=TracingConfig(exporter="none"))).start()
    yield runtime
    runtime.stop(timeout_s=10.0)


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("recruitment")


@pytest.fixture(scope="module")
def bundled(rt: Any, home: Path) -> ScenarioResult:
    """The bundled scenario, run once for the module."""
    result: ScenarioResult = rt.launch(Scenario.from_spec(_spec(home)),
                                       console=Console(quiet=True))
    return result


def test_the_bundled_run_passes(bundled: ScenarioResult) -> None:
    assert bundled.ok, bundled.summary
    assert "8 job(s) ranked against 160 resumes" in bundled.summary


def test_the_known_best_candidate_ranks_first_for_every_bundled_job(
        bundled: ScenarioResult) -> None:
    truth = json.loads((DATA / "ground_truth.json").read_text())["jobs"]
    jobs = bundled.details["jobs"]
    assert len(jobs) == len(truth) == 8
    for job in jobs:
        assert job["results"][0]["candidate_id"] == truth[job["job_id"]]["best"], job["job_id"]
        assert job["known_best_rank"] == 1


def test_the_counterfactual_audit_passes_on_the_bundled_pool(bundled: ScenarioResult) -> None:
    for job in bundled.details["jobs"]:
        audit = job["audit"]
        # every ranked candidate got copies: names of 3 other groups, gender, age
        assert audit["variants"] >= 4 * len(job["results"]), job["job_id"]
        assert audit["max_score_delta"] <= 0.01
        assert audit["max_rank_change"] == 0
        assert not audit["errors"]
    # The swaps are real: without redaction the score would have moved.
    assert max(j["audit"]["max_raw_delta"] for j in bundled.details["jobs"]) > 0.02


def test_no_group_shows_adverse_impact(bundled: ScenarioResult) -> None:
    fairness = {g["attribute"]: g for g in bundled.details["fairness"]}
    assert set(fairness) == {"gender", "origin", "age_band"}
    assert len(fairness["origin"]["rates"]) == 4
    for g in fairness.values():
        assert not g["adverse"], g
        assert g["adverse_impact_ratio"] >= 0.7, g  # ±1 of 40 moves it ~0.1 by chance
        assert sum(g["selected"].values()) == 8 * 5  # 8 jobs, shortlist of 5


def test_each_result_has_scores_confidence_and_evidence(bundled: ScenarioResult) -> None:
    for job in bundled.details["jobs"]:
        top = job["results"][0]
        assert 0.0 <= top["confidence"] <= 1.0
        assert top["confidence"] == max(r["confidence"] for r in job["results"])
        assert set(top["fields"]) == {"requirements", "skills", "experience", "whole", "years"}
        assert top["matched"], job["job_id"]
        for ev in top["matched"]:
            assert ev["requirement"] and ev["evidence"]
        scores = [r["adjusted_score"] for r in job["results"]]
        assert scores == sorted(scores, reverse=True)
    assert bundled.details["masked"]["name"] == 160  # every resume had its name masked


def _biased_pipeline(rt: Any) -> tuple[str, str]:
    from scenarios.recruitment import AuditorAgent, RankerAgent

    names = {"parser": "parser", "redactor": "redactor", "scorer": "biased-scorer"}
    rt.spawn(BiasedScorerAgent, name="biased-scorer")
    rt.spawn(RankerAgent, name="biased-ranker", config={**names, "top_n": 10})
    rt.spawn(AuditorAgent, name="biased-auditor", config=names)
    return "biased-ranker", "biased-auditor"


def test_a_biased_scorer_fails_the_audit(rt: Any, bundled: ScenarioResult) -> None:
    ranker, auditor = _biased_pipeline(rt)
    pool = bundled.details["pool"]
    out = Outcome(pool=pool, pool_size=160)
    for source in sorted((DATA / "jobs").iterdir())[:2]:
        from scenarios.recruitment import load_documents

        doc = load_documents(source, "job").documents[0]
        ranking = rt.ask(ranker, RankJob(pool=pool, job=doc), timeout_s=600)
        out.rankings.append(ranking)
        out.audits[ranking.job.id] = rt.ask(auditor, Audit(ranking=ranking), timeout_s=600)
    worst = max(out.audits.values(), key=lambda a: a.max_score_delta)
    assert worst.max_score_delta == pytest.approx(0.08, abs=1e-6)
    assert {w.variant for w in worst.worst} & {"gender", "origin:anglo", "origin:hispanic",
                                                "origin:east_asian", "origin:west_african"}
    ok, summary = verdict(out, RecruitmentCheck())
    assert not ok
    assert "moved a score by 0.0800 (tolerance 0.01)" in summary


def _user_folder(tmp: Path) -> tuple[Path, Path]:
    resumes, jobs = tmp / "resumes", tmp / "jobs"
    resumes.mkdir()
    jobs.mkdir()
    truth = json.loads((DATA / "ground_truth.json").read_text())["jobs"]["job-01"]
    for cid in truth["planted"]:  # the planted candidates of job-01, in their formats
        for found in (DATA / "resumes").glob(f"{cid}.*"):
            shutil.copy(found, resumes / found.name)
    (resumes / "empty.md").write_text("\n \n")
    (resumes / "scan.pdf").write_bytes(b"%PDF-1.7 binary")
    (resumes / "latin1.txt").write_bytes("Jos\xe9 P\xe9rez\nSKILLS\nSQL\n".encode("latin-1"))
    with open(resumes / "huge.md", "wb") as f:
        f.truncate(10 * 1024 * 1024)
    (resumes / "notes.md").write_text("# Pat Doe\nI like long walks.\n")
    shutil.copy(next((DATA / "jobs").glob("job-01.*")), jobs)
    (jobs / "vague.md").write_text("# Rockstar\n## About the role\nBe awesome.\n")
    return jobs, resumes


def test_the_users_files_drop_the_bundled_labels(home: Path, tmp_path: Path) -> None:
    jobs, resumes = _user_folder(tmp_path)
    spec = _spec(home, jobs=str(jobs), resumes=str(resumes))
    assert "labels" not in spec.input  # no bundled ground truth for the user's files
    assert spec.input["jobs"] == str(jobs) and spec.input["resumes"] == str(resumes)


def test_a_killed_scorer_is_restarted_and_the_job_still_ranked(rt: Any,
                                                               bundled: ScenarioResult) -> None:
    import ray

    from scenarios.recruitment import load_documents

    before = rt.status().agent("scorer").restarts
    ray.kill(rt.agent_handle("scorer"), no_restart=True)
    wait_for(lambda: rt.status().agent("scorer").restarts > before, timeout_s=60,
             message="the scorer is restarted")
    doc = load_documents(next((DATA / "jobs").glob("job-02.*")), "job").documents[0]
    ranking = rt.ask("ranker", RankJob(pool=bundled.details["pool"], job=doc), timeout_s=600)
    assert ranking.results[0].candidate_id == bundled.details["jobs"][1]["results"][0][
        "candidate_id"]


def test_adding_the_same_files_again_keeps_one_record_each(rt: Any,
                                                           bundled: ScenarioResult) -> None:
    from scenarios.recruitment import load_documents
    from scenarios.recruitment._records import pool_namespace

    docs = load_documents(DATA / "resumes", "resume").documents
    pool = pool_name("bundled", docs)
    assert pool == bundled.details["pool"]
    added = rt.ask("ranker", AddCandidates(pool=pool, documents=tuple(docs[:5])), timeout_s=300)
    assert len(added.ids) == 5
    assert rt.memory.count(pool_namespace(pool)) == 160


def test_the_cli_names_each_bad_file_and_ranks_the_rest_as_json(tmp_path: Path) -> None:
    jobs, resumes = _user_folder(tmp_path)
    env = {**os.environ, "RAYGENT_HOME": str(tmp_path / "home")}
    env.pop("RAY_ADDRESS", None)
    raygent = Path(sys.executable).with_name("raygent")
    proc = subprocess.run(
        [str(raygent), "run", "recruitment", "--jobs", str(jobs), "--resumes", str(resumes),
         "--json", "--namespace", f"t-rec-cli-{uuid.uuid4().hex[:6]}"],
        env=env, capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    data = json.loads(proc.stdout)  # nothing but the JSON on stdout
    assert data["ok"] and data["scenario"] == "recruitment", data["summary"]
    rejected = {os.path.basename(r["source"]): r["reason"]
                for r in data["details"]["rejected"]}
    assert set(rejected) == {"empty.md", "scan.pdf", "latin1.txt", "huge.md", "notes.md",
                             "vague.md"}
    assert "empty" in rejected["empty.md"]
    assert "unknown format '.pdf'" in rejected["scan.pdf"]
    assert "not UTF-8" in rejected["latin1.txt"]
    assert "over the limit" in rejected["huge.md"]
    assert "no skills or experience" in rejected["notes.md"]
    assert "lists no requirements" in rejected["vague.md"]
    (job,) = data["details"]["jobs"]  # the rest is ranked and audited
    assert len(job["results"]) == data["details"]["pool_size"] == 6
    assert job["audit"]["variants"] >= 24 and job["audit"]["max_score_delta"] <= 0.01
    assert job["known_best_rank"] is None and data["details"]["fairness"] == []
    assert "6 file(s) rejected" in data["summary"]


def test_inputs_on_the_command_line_must_exist_and_be_known(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from scenarios.cli import app

    result = CliRunner().invoke(app, ["run", "rag-qa", "--jobs", str(tmp_path)])
    assert result.exit_code == 1
    assert "--jobs: scenario 'rag-qa' takes no jobs input" in result.output
    result = CliRunner().invoke(app, ["run", "recruitment", "--resumes",
                                      str(tmp_path / "missing")])
    assert result.exit_code == 1
    assert "--resumes: no such file or directory" in result.output
