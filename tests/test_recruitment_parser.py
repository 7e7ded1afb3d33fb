"""Reading and parsing resumes and jobs: every format, bad input named by file, and
properties over generated documents (hypothesis)."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scenarios.recruitment import DocumentError, load_documents, parse_job, parse_resume
from scenarios.recruitment._counterfactual import variants
from scenarios.recruitment._parser import parse_documents
from scenarios.recruitment._redactor import redact
from scenarios.recruitment._synth import generate
from scenarios.recruitment._text import evidence_units, whole_text
from scenarios.recruitment.generate import render_resume
from scenarios.recruitment.messages import Document

MD = """# Ana Souza
Email: ana@example.com | Age: 31
Location: Lisbon

## Summary
Data engineer who builds pipelines.

## Skills
- Spark, Airflow
- SQL

## Experience
### Data Engineer, Northwind (Mar 2019 - 2024)
- Moved batches to streaming with Kafka.
### Analyst at Contoso (2 years)
- Built dashboards.

## Education
- B.Sc. Information Systems, State University, 2015
"""

TXT = """ANA SOUZA
ana@example.com

SUMMARY
Data engineer who builds pipelines.

SKILLS
Spark, Airflow, SQL

EXPERIENCE
Data Engineer - Northwind (2019 - 2024)
* Moved batches to streaming with Kafka.

EDUCATION
B.Sc. Information Systems, State University, 2015
"""

JSN = json.dumps({"name": "Ana Souza", "skills": ["Spark", "Airflow", "SQL"],
                  "summary": "Data engineer who builds pipelines.",
                  "experience": [{"title": "Data Engineer", "company": "Northwind",
                                  "start": 2019, "end": 2024,
                                  "highlights": ["Moved batches to streaming with Kafka."]}],
                  "education": [{"degree": "B.Sc. Information Systems",
                                 "institution": "State University", "year": 2015}],
                  "personal": {"age": 31}})

JOB = """# Data Engineer
Location: Remote

## About the role
Build our data platform.

## Requirements
- At least 4 years of experience with data pipelines
- Experience with Spark
- Strong SQL skills

## Responsibilities
- Build and operate pipelines
"""


def _doc(text: str, fmt: str, kind: str = "resume", source: str = "a") -> Document:
    return Document(source=source, format=fmt, kind=kind, text=text)


@pytest.mark.parametrize(("text", "fmt"), [(MD, "markdown"), (TXT, "text"), (JSN, "json")])
def test_each_format_gives_the_same_sections(text: str, fmt: str) -> None:
    r = parse_resume(_doc(text, fmt), reference_year=2025)
    assert r.name.lower() == "ana souza"
    assert r.skills == ("Spark", "Airflow", "SQL")
    assert r.summary == "Data engineer who builds pipelines."
    assert r.experience[0].title == "Data Engineer"
    assert r.experience[0].organisation == "Northwind"
    assert r.experience[0].years == 5.0
    assert r.experience[0].text == ("Moved batches to streaming with Kafka.",)
    assert r.education[0].year == 2015 and "Information Systems" in r.education[0].text


def test_markdown_details() -> None:
    r = parse_resume(_doc(MD, "markdown"), reference_year=2025)
    assert r.location == "Lisbon"
    assert r.experience[1].title == "Analyst" and r.experience[1].organisation == "Contoso"
    assert r.years == 7.0  # 5 + 2
    assert any("Age: 31" in p for p in r.personal)


def test_present_counts_to_the_reference_year() -> None:
    text = "# X Y\n## Experience\nLead - Acme (2020 - present)\n- Led.\n"
    assert parse_resume(_doc(text, "markdown"), reference_year=2026).years == 6.0


def test_a_job_with_its_years_requirement() -> None:
    job = parse_job(_doc(JOB, "markdown", "job", "jobs/de.md"))
    assert (job.id, job.title, job.location) == ("de", "Data Engineer", "Remote")
    assert job.requirements[1:] == ("Experience with Spark", "Strong SQL skills")
    assert job.responsibilities == ("Build and operate pipelines",)
    assert job.min_years == 4.0


@pytest.mark.parametrize(("text", "fmt", "message"), [
    ("# Job\n## About\nNothing asked.\n", "markdown", "lists no requirements"),
    ('{"title": "Job", "requirements": []}', "json", "lists no requirements"),
    ("[1, 2]", "json", "must be an object"),
    ("{not json", "json", "not valid JSON"),
])
def test_bad_jobs_are_rejected_by_name(text: str, fmt: str, message: str) -> None:
    parsed = parse_documents((_doc(text, fmt, "job", "jobs/bad.x"),))
    assert not parsed.jobs
    assert parsed.rejected[0].source == "jobs/bad.x"
    assert message in parsed.rejected[0].reason


def test_a_resume_with_neither_skills_nor_experience_is_rejected() -> None:
    with pytest.raises(DocumentError, match="no skills or experience"):
        parse_resume(_doc("# Ana Souza\nI am great.\n", "markdown", source="cv.md"))


# -- files -------------------------------------------------------------------------------


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "good.md").write_text(MD)
    (tmp_path / "good.json").write_text(json.dumps([json.loads(JSN), json.loads(JSN)]))
    (tmp_path / "empty.txt").write_text("  \n\n")
    (tmp_path / "scan.pdf").write_bytes(b"%PDF-1.4")
    (tmp_path / "latin1.txt").write_bytes("Jos\xe9 Garc\xeda\nSKILLS\nSQL".encode("latin-1"))
    with open(tmp_path / "huge.md", "wb") as f:  # 10 MB, sparse: stat says so, nothing read
        f.truncate(10 * 1024 * 1024)
    (tmp_path / "broken.json").write_text('{"name": ')
    (tmp_path / ".hidden.md").write_text(MD)
    return tmp_path


def test_a_folder_is_read_and_each_bad_file_named(folder: Path) -> None:
    loaded = load_documents(folder, "resume")
    assert sorted(os.path.basename(d.source) for d in loaded.documents) == [
        "good.json#0", "good.json#1", "good.md"]
    reasons = {os.path.basename(r.source): r.reason for r in loaded.rejected}
    assert set(reasons) == {"empty.txt", "scan.pdf", "latin1.txt", "huge.md", "broken.json"}
    assert "empty" in reasons["empty.txt"]
    assert "unknown format '.pdf'" in reasons["scan.pdf"]
    assert "not UTF-8" in reasons["latin1.txt"] and "offset 3" in reasons["latin1.txt"]
    assert "10.5 MB, over the limit" in reasons["huge.md"]
    assert "not valid JSON" in reasons["broken.json"]


def test_a_missing_path_is_a_config_error(tmp_path: Path) -> None:
    from actors import ConfigError

    with pytest.raises(ConfigError, match="no such file"):
        load_documents(tmp_path / "nope", "resume")


# -- properties over generated documents --------------------------------------------------

GENERATED = generate(3, jobs=2, resumes=48).people


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(person=st.sampled_from(GENERATED), fmt=st.sampled_from(["markdown", "text", "json"]))
def test_every_format_of_a_generated_resume_parses_alike(person, fmt) -> None:
    person = dataclasses.replace(person, extra={**person.extra, "format": fmt})
    r = parse_resume(render_resume(person), reference_year=2025)
    assert r.name.lower() == person.name.lower()
    assert [s.lower() for s in r.skills] == [s.lower() for s in person.skills]
    assert r.years == person.years


@settings(max_examples=30, deadline=None)
@given(person=st.sampled_from(GENERATED), fmt=st.sampled_from(["markdown", "text", "json"]))
def test_counterfactual_copies_redact_to_the_same_resume(person, fmt) -> None:
    person = dataclasses.replace(person, extra={**person.extra, "format": fmt})
    doc = render_resume(person)
    original = parse_resume(doc, reference_year=2025)
    base = redact(original).resume
    made = variants(doc, original)
    assert {v.name for v in made} >= {"gender", "age"} or not original.education
    for v in made:
        assert v.document.text != doc.text
        copy = redact(dataclasses.replace(parse_resume(v.document, reference_year=2025),
                                          id=original.id, source=original.source))
        assert evidence_units(copy.resume) == evidence_units(base), v.name
        assert whole_text(copy.resume) == whole_text(base), v.name
        assert copy.resume.years == base.years


@settings(max_examples=200, deadline=None)
@given(text=st.text(max_size=400), fmt=st.sampled_from(["markdown", "text", "json"]),
       kind=st.sampled_from(["resume", "job"]))
def test_any_text_is_parsed_or_rejected_by_name(text: str, fmt: str, kind: str) -> None:
    parsed = parse_documents((_doc(text, fmt, kind, "any.doc"),))
    assert len(parsed.resumes) + len(parsed.jobs) + len(parsed.rejected) == 1
    for r in parsed.rejected:
        assert r.source == "any.doc" and r.reason
