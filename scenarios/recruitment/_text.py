"""The texts made from records: what is embedded, searched and shown.

One place decides which parts of a resume each score sees, so the scorer, the memory
records and the in-process benchmark agree. Name, personal lines and location are left
out of every scored text: they are not qualifications.
"""

from __future__ import annotations

import re

from scenarios.recruitment.messages import Job, Resume

#: An employment period: "2016 - 2024", "2019 \u2013 present".
PERIOD = re.compile(r"\b(?:19|20)\d{2}\s*(?:-|\u2013|\u2014|to|until)\s*(?:(?:19|20)\d{2}|"
                    r"present|current|now|today)\b", re.I)
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z\[])")


def sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE.split(text) if len(s.strip()) > 2]


def render_resume(r: Resume) -> str:
    """The whole resume as one text (used for the unredacted ``raw_score``)."""
    lines = [r.name, *r.personal]
    if r.location:
        lines.append(f"Location: {r.location}")
    lines.append(whole_text(r))
    return "\n".join(x for x in lines if x)


def whole_text(r: Resume) -> str:
    """Summary, skills, experience and education: the resume's qualifications."""
    parts = []
    if r.summary:
        parts.append(r.summary)
    if r.skills:
        parts.append("Skills: " + ", ".join(r.skills) + ".")
    for e in r.experience:
        parts.append(_role(e.title, e.organisation, e.period) + " " + " ".join(e.text))
    parts.extend(e.text for e in r.education)
    return "\n".join(p.strip() for p in parts if p.strip())


def _role(title: str, organisation: str, period: str) -> str:
    head = f"{title}, {organisation}" if organisation else title
    return f"{head} ({period})." if period else f"{head}."


def profile_text(r: Resume) -> str:
    """The short text stored in memory for retrieval: roles and skills."""
    titles = "; ".join(dict.fromkeys(e.title for e in r.experience if e.title))
    parts = [f"Roles: {titles}." if titles else "",
             "Skills: " + ", ".join(r.skills) + "." if r.skills else ""]
    return " ".join(p for p in parts if p) or whole_text(r)[:500]


def skills_text(r: Resume) -> str:
    return ", ".join(r.skills)


def experience_text(r: Resume) -> str:
    return " ".join(f"{e.title}. {' '.join(e.text)}".strip() for e in r.experience)


def evidence_units(r: Resume) -> list[str]:
    """The sentences a requirement can be matched against, each quotable as evidence."""
    units: list[str] = list(r.skills)
    units.extend(sentences(r.summary))
    for e in r.experience:
        units.append(_role(e.title, e.organisation, e.period))
        units.extend(e.text)
    units.extend(e.text for e in r.education)
    return list(dict.fromkeys(u for u in units if u.strip()))


def job_text(j: Job) -> str:
    parts = [j.title, j.summary, "Requirements: " + "; ".join(j.requirements) + ".",
             "Responsibilities: " + "; ".join(j.responsibilities) + "."
             if j.responsibilities else ""]
    return "\n".join(p for p in parts if p)


def job_query(j: Job) -> str:
    """What the pool is searched with: the title and the requirements."""
    return f"{j.title}. " + " ".join(j.requirements)


#: Words that only frame a requirement ("Strong ... skills", "Hands-on ..."): what is
#: left are the terms a resume must contain.
FRAMING = frozenset((
    "a", "an", "and", "at", "least", "of", "in", "with", "strong", "skills", "skill", "hands",
    "on", "hands-on", "solid", "knowledge", "experience", "experienced", "professional",
    "setting", "years", "year", "plus", "the", "to", "for", "good", "excellent", "proven",
    "ability", "working", "familiarity", "familiar", "understanding", "deep", "must", "have",
    "nice", "required", "preferred", "or", "as",
))
YEARS_REQUIREMENT = re.compile(r"\b\d+\s*\+?\s*(?:-\s*\d+\s*)?(?:years?|yrs?)\b", re.I)


def requirement_terms(j: Job) -> str:
    """The key terms of the requirements (framing words and the years requirement left
    out): what the keyword search looks for."""
    words = [w for r in j.requirements if not YEARS_REQUIREMENT.search(r)
             for w in re.findall(r"[\w+#./&-]+", r) if w.lower() not in FRAMING]
    return " ".join(dict.fromkeys(words))


def requirements_text(j: Job) -> str:
    return "; ".join(j.requirements)


def responsibilities_text(j: Job) -> str:
    return "; ".join(j.responsibilities) or j.summary or j.title
