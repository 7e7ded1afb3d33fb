"""The recruitment scenario's optional approval step (``input.approval``): each shortlist
waits for a recruiter's ``approve`` before it is reported; off by default."""

from __future__ import annotations

import dataclasses
import json
import shutil
import threading
import uuid
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from actors import ConfigError
from scenarios import Scenario, builtin_scenarios
from scenarios._launch import with_overrides
from scenarios.recruitment._config import RecruitmentInput
from scenarios.recruitment.messages import Review
from tests.conftest import wait_for

DATA = Path(__file__).resolve().parents[1] / "scenarios" / "recruitment" / "data"


def _spec(tmp: Path, **inputs: Any) -> Any:
    spec = builtin_scenarios()["recruitment"].spec
    assert spec is not None
    jobs, resumes = tmp / "jobs", tmp / "resumes"
    jobs.mkdir()
    resumes.mkdir()
    truth = json.loads((DATA / "ground_truth.json").read_text())["jobs"]["job-01"]
    for cid in truth["planted"]:
        for found in (DATA / "resumes").glob(f"{cid}.*"):
            shutil.copy(found, resumes / found.name)
    shutil.copy(next((DATA / "jobs").glob("job-01.*")), jobs)
    spec = with_overrides(spec, data_dir=str(tmp / "memory"),
                          input_paths={"jobs": str(jobs), "resumes": str(resumes)})
    return dataclasses.replace(spec, input={**spec.input, **inputs})


def test_approval_is_off_by_default_and_its_settings_are_checked(tmp_path: Path) -> None:
    base = builtin_scenarios()["recruitment"].spec
    assert base is not None and base.input.get("approval") is False
    assert RecruitmentInput.from_spec(base).approval is None
    spec = _spec(tmp_path, approval=True)
    assert RecruitmentInput.from_spec(spec).approval == Review(shortlist=5)
    custom = dataclasses.replace(spec, input={**spec.input, "approval": {
        "timeout_s": 5, "on_timeout": "approve"}})
    assert RecruitmentInput.from_spec(custom).approval == Review(
        shortlist=5, timeout_s=5.0, on_timeout="approve")
    for bad in ({"on_timeout": "maybe"}, {"timeout_s": -1}, {"when": 1}, "yes"):
        wrong = dataclasses.replace(spec, input={**spec.input, "approval": bad})
        with pytest.raises(ConfigError, match="approval"):
            RecruitmentInput.from_spec(wrong)


def test_the_shortlist_waits_for_the_recruiters_approval(ray_session: Any,
                                                        tmp_path: Path) -> None:
    from actors import RetryPolicy, Runtime, RuntimeConfig
    from actors._config import TracingConfig

    runtime = Runtime(config=RuntimeConfig(
        namespace=f"t-recap-{uuid.uuid4().hex[:8]}", health_interval_s=0.5,
        health_timeout_s=30.0, start_timeout_s=600.0,
        retry=RetryPolicy(max_attempts=3, backoff_s=0.05),
        tracing=TracingConfig(exporter="none"))).start()
    answered: dict[str, Any] = {}

    def recruiter() -> None:
        (wait,) = wait_for(runtime.pending, timeout_s=600, interval_s=0.2)
        answered["request"] = wait.request
        runtime.approve(wait.id, {"note": "call them"}, by="recruiter")

    thread = threading.Thread(target=recruiter, daemon=True)
    thread.start()
    try:
        result = runtime.launch(Scenario.from_spec(_spec(tmp_path, approval=True)), count=1,
                                console=Console(quiet=True))
    finally:
        thread.join(timeout=10)
        runtime.stop(timeout_s=10.0)
    assert result.ok, result.summary
    assert "shortlists approved 1/1" in result.summary
    (job,) = result.details["jobs"]
    assert job["review"] == "approved by recruiter"
    request = answered["request"]
    assert request.job_id == job["job_id"]
    assert [c for c, _ in request.shortlist] == [r["candidate_id"]
                                                 for r in job["results"][:5]]
