"""The redactor masks each demographic category, records what it masked, keeps skills."""

from __future__ import annotations

import pickle

import pytest

from scenarios.recruitment import DocumentError, redact
from scenarios.recruitment._parser import parse_resume
from scenarios.recruitment._text import whole_text
from scenarios.recruitment.messages import Document, Resume

SKILLS = ("Python", "Go", "Swift", "Julia", "R", "Kubernetes", "Spanish", "Black-box testing",
          "MS Project", "Women's health nursing")


def _resume(**fields: object) -> Resume:
    base: dict[str, object] = {"id": "c1", "source": "c1.md", "name": "Julia Chen",
                               "skills": SKILLS}
    base.update(fields)
    return Resume(**base)  # type: ignore[arg-type]


def _masked(resume: Resume, category: str) -> list[str]:
    return [m.original for m in redact(resume).masks if m.category == category]


def _all_text(resume: Resume) -> str:
    r = redact(resume).resume
    return "\n".join([r.name, r.summary, *r.personal, whole_text(r)])


def test_names_are_masked_everywhere_and_recorded() -> None:
    resume = _resume(summary="Julia Chen led the migration; Chen's team shipped it. "
                             "Referee: Maria Lopez, and thanks to Kwame Mensah.",
                     personal=("Name: Julia Chen",))
    masked = _masked(resume, "name")
    text = _all_text(resume)
    for name in ("Julia", "Chen", "Maria", "Lopez", "Kwame", "Mensah"):
        assert name not in text.replace("Julia,", ""), text  # "Julia" survives as a skill only
    assert "Julia Chen" in masked and "Kwame Mensah" in masked
    assert redact(resume).resume.name == "[NAME]"


def test_pronouns_and_gendered_words_become_neutral() -> None:
    resume = _resume(summary="She is a chairwoman of the board. Colleagues describe her as "
                             "calm; her team grew. Mr. Smith hired her. A proud mother.",
                     personal=("Gender: Female",))
    text = redact(resume).resume.summary
    assert text == ("They are a chair of the board. Colleagues describe them as calm; their "
                    "team grew. Smith hired them. A proud parent.")
    masked = _masked(resume, "gender")
    assert {"She is", "chairwoman", "her", "Mr. ", "mother", "Female"} <= set(masked)
    assert "[GENDER]" in redact(resume).resume.personal[0]


def test_ages_birth_dates_and_graduation_years_are_masked() -> None:
    doc = Document(source="a.md", format="markdown", kind="resume", text=(
        "# Julia Chen\nAge: 34 | Date of birth: 12 May 1990\n\n## Summary\n"
        "A 34 years old engineer, born in 1990, class of 2012.\n\n## Skills\n- Python\n\n"
        "## Experience\n### Engineer, Acme (2016 - 2024)\n- Built things in 2019.\n\n"
        "## Education\n- B.Sc. Computer Science, Lakeview Institute, 2012\n"))
    resume = parse_resume(doc, reference_year=2025)
    out = redact(resume)
    text = _all_text(resume)
    for token in ("34", "1990", "2012", "2016", "2019", "2024"):
        assert token not in text, (token, text)
    assert out.resume.experience[0].period == "8 years"  # the length stays, the dates go
    assert out.resume.experience[0].years == 8.0
    assert out.resume.education[0].year is None
    assert {"34", "2016 - 2024", "2012"} <= set(_masked(resume, "age")) | {
        m.original.split(": ")[-1] for m in out.masks}


def test_photos_and_profile_links_are_masked() -> None:
    resume = _resume(personal=("![photo](me/julia.jpg)", "LinkedIn: https://linkedin.com/in/jc",
                               "Portfolio: www.juliachen.dev", "github.com/juliac"))
    text = _all_text(resume)
    for gone in ("julia.jpg", "linkedin.com", "juliachen.dev", "github.com"):
        assert gone not in text
    assert len(_masked(resume, "photo_link")) == 4


def test_contact_details_are_masked() -> None:
    resume = _resume(personal=("julia.chen@example.com | +1 555 010 2345",))
    assert _masked(resume, "contact") == ["julia.chen@example.com", "+1 555 010 2345"]


def test_addresses_are_masked() -> None:
    resume = _resume(personal=("Address: 12 Elm Street, Springfield",),
                     summary="Lives at 48 Oak Avenue, Apt 4B near SW1A 1AA, moving to CA 94110.")
    text = _all_text(resume)
    for gone in ("Elm Street", "Oak Avenue", "Apt 4B", "SW1A 1AA", "94110"):
        assert gone not in text, text
    assert len(_masked(resume, "address")) == 4


def test_nationality_and_ethnicity_terms_are_masked() -> None:
    resume = _resume(summary="Nigerian citizen, born in Ghana, a proud Black woman and "
                             "African American engineer; ran black-box testing.",
                     personal=("Nationality: Canadian", "Religion: Buddhist"))
    text = _all_text(resume)
    for gone in ("Nigerian", "Ghana", "Black woman", "African American", "Canadian",
                 "Buddhist"):
        assert gone not in text, text
    assert "black-box testing" in text  # a colour word is an ethnicity only by a person noun


def test_marital_status_and_children_are_masked() -> None:
    resume = _resume(summary="Married, mother of two; my husband and I have 3 kids.",
                     personal=("Marital status: Single",))
    text = _all_text(resume)
    for gone in ("Married", "mother of two", "husband", "3 kids", "Single"):
        assert gone not in text, text
    assert len(_masked(resume, "marital")) >= 4


def test_skills_are_left_intact() -> None:
    out = redact(_resume(summary="She speaks Spanish.", personal=("Age: 40",)))
    assert out.resume.skills == SKILLS
    assert "Skills: " + ", ".join(SKILLS) in whole_text(out.resume)


def test_the_unredacted_text_is_kept_for_the_raw_score() -> None:
    out = redact(_resume(summary="She is great.", personal=("Age: 40",)))
    assert "Julia Chen" in out.raw_text and "Age: 40" in out.raw_text
    assert "She is great." in out.raw_text


def test_a_resume_without_demographics_is_unchanged() -> None:
    resume = _resume(name="", summary="Backend engineer who ships reliable services.")
    out = redact(resume)
    assert out.masks == () and out.resume == resume


def test_document_errors_pickle_with_their_fields() -> None:
    err = pickle.loads(pickle.dumps(DocumentError("cv.pdf", "unknown format")))
    assert (err.source, err.reason, str(err)) == ("cv.pdf", "unknown format",
                                                  "cv.pdf: unknown format")


@pytest.mark.parametrize("word", ["he", "she", "his", "hers", "himself", "herself"])
def test_no_pronoun_survives(word: str) -> None:
    resume = _resume(summary=f"Everyone knew {word} work.")
    assert f" {word} " not in f" {redact(resume).resume.summary.lower()} "
