"""The parser: resumes and job descriptions (plain text, Markdown, JSON) → typed records.

Text and Markdown are read line by line. A section starts at a Markdown heading or at a
line holding only a known section name (``SKILLS``, ``Experience:``); ``Label: content``
on one line opens the section and fills it. The first line names the candidate (or the
job title); other lines before the first section are personal and contact details.
Experience entries are the non-bullet lines of the experience section, with their period
(``2016 - 2024``, ``Mar 2019 - present``, ``(5 years)``) turned into years; the bullet
lines under an entry are what was done. JSON accepts the same sections under common key
names (``skills``, ``experience``/``work``, ``education``, ...).

A resume needs skills or experience; a job needs requirements. Anything else wrong is a
:class:`DocumentError` naming the file, which the agent turns into a rejection.
"""

from __future__ import annotations

import datetime
import re

from actors import Agent, MessageContext, handles
from scenarios.recruitment._errors import DocumentError
from scenarios.recruitment._fields import (
    doc_id,
    min_years,
    parse_education,
    parse_experience,
    parse_skills,
    unbullet,
)
from scenarios.recruitment._json_doc import (
    as_lines,
    json_education,
    json_experience,
    json_object,
    json_personal,
    pick,
)
from scenarios.recruitment.messages import (
    Document,
    Job,
    Parse,
    Parsed,
    Rejected,
    Resume,
)

RESUME_SECTIONS = {
    "summary": ("summary", "profile", "about", "about me", "objective", "overview",
                "professional summary"),
    "skills": ("skills", "technical skills", "key skills", "competencies", "expertise",
               "core competencies", "tools"),
    "experience": ("experience", "work experience", "professional experience", "employment",
                   "employment history", "work history", "career history"),
    "education": ("education", "qualifications", "education and training", "certifications"),
    "location": ("location",),
    "personal": ("personal", "personal details", "personal information", "contact",
                 "contact details"),
}
JOB_SECTIONS = {
    "summary": ("summary", "about", "about the role", "overview", "the role", "description"),
    "requirements": ("requirements", "qualifications", "must have", "must-haves",
                     "what you bring", "what we're looking for", "required skills", "skills"),
    "responsibilities": ("responsibilities", "duties", "what you'll do", "what you will do",
                         "your role"),
    "location": ("location",),
}
_LOOKUP = {kind: {name: section for section, names in table.items() for name in names}
           for kind, table in (("resume", RESUME_SECTIONS), ("job", JOB_SECTIONS))}

_MD_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
MAX_CHARS = 200_000


def _strip_marks(line: str) -> str:
    return line.strip().strip("*_").strip()


def _heading(line: str, kind: str) -> tuple[str, str] | None:
    """``(section, inline content)`` when the line opens a known section."""
    lookup = _LOOKUP[kind]
    text = _strip_marks(line)
    md = _MD_HEADING.match(line.strip())
    if md:
        text = _strip_marks(md.group(2))
    label, sep, rest = text.partition(":")
    key = label.strip().lower()
    if key in lookup and (md or sep or text.lower() == key):
        return lookup[key], rest.strip()
    return None


def _split_sections(text: str, kind: str) -> tuple[str, list[str], dict[str, list[str]]]:
    """The first line (name or title), the other header lines, and the sections' lines."""
    first = ""
    header: list[str] = []
    sections: dict[str, list[str]] = {}
    current: str | None = None
    for raw in text.splitlines():
        line = raw.rstrip()
        if not line.strip():
            continue
        opened = _heading(line, kind)
        if opened is not None:
            section, inline = opened
            sections.setdefault(section, [])
            if inline:
                sections[section].append(inline)
            # "Location: Berlin" is one value, not the start of a section.
            if not (inline and section == "location"):
                current = section
            continue
        if current is None:
            md = _MD_HEADING.match(line.strip())
            value = _strip_marks(md.group(2) if md else line)
            opening = not first and not header
            if opening and (_looks_like_name(value) if kind == "resume"
                            else not _looks_labelled(value)):
                first = value
            else:
                header.append(value)
            continue
        sections[current].append(line)
    return first, header, sections


_NAME_WORD = re.compile(r"^[A-Z][\w'.-]*$")
_NOT_NAME = {"resume", "cv", "curriculum", "vitae", "engineer", "developer", "manager",
             "designer", "nurse", "teacher", "accountant", "analyst", "scientist"}


def _looks_like_name(line: str) -> bool:
    words = line.split()
    return (1 <= len(words) <= 4 and all(_NAME_WORD.match(w) for w in words)
            and not any(c.isdigit() for c in line)
            and not {w.lower().strip(".") for w in words} & _NOT_NAME)


def _looks_labelled(line: str) -> bool:
    label, sep, _ = line.partition(":")
    return bool(sep) and len(label.split()) <= 3 and "http" not in label.lower()


# -- entry points ---------------------------------------------------------------------------

def parse_resume(doc: Document, *, reference_year: int | None = None) -> Resume:
    """Parse one resume.

    Raises:
        DocumentError: Naming the file, when it is malformed or has neither skills nor
            experience.
    """
    year = reference_year or datetime.date.today().year
    if doc.format == "json":
        data = json_object(doc)
        rid = str(pick(data, "id") or doc_id(doc.source))
        resume = Resume(
            id=rid, source=doc.source, name=str(pick(data, "name", "full_name") or ""),
            summary=" ".join(as_lines(pick(data, "summary", "profile", "about",
                                             "objective"))),
            skills=parse_skills(as_lines(pick(data, "skills"))),
            experience=json_experience(pick(data, "experience", "work", "employment") or [],
                                        year),
            education=json_education(pick(data, "education") or []),
            location=str(pick(data, "location", "city") or ""),
            personal=tuple(json_personal(data)))
    else:
        first, header, sections = _split_sections(doc.text, "resume")
        name = first
        location = " ".join(sections.get("location", []))
        personal = []
        for line in header + sections.get("personal", []):
            label, sep, value = line.partition(":")
            if sep and label.strip().lower() == "name":
                name = value.strip()
            elif sep and label.strip().lower() in ("location", "city") and not location:
                location = value.strip()
            personal.append(unbullet(line))
        resume = Resume(
            id=doc_id(doc.source), source=doc.source, name=name,
            summary=" ".join(unbullet(x) for x in sections.get("summary", [])),
            skills=parse_skills(sections.get("skills", [])),
            experience=parse_experience(sections.get("experience", []), year),
            education=parse_education(sections.get("education", [])),
            location=location.strip(), personal=tuple(personal))
    if not resume.skills and not resume.experience:
        raise DocumentError(doc.source, "no skills or experience found: give the resume a "
                                        "'Skills' or 'Experience' section")
    return resume


def parse_job(doc: Document) -> Job:
    """Parse one job description.

    Raises:
        DocumentError: Naming the file, when it is malformed or lists no requirements.
    """
    if doc.format == "json":
        data = json_object(doc)
        title = str(pick(data, "title", "name", "role") or "")
        requirements = tuple(as_lines(pick(data, "requirements", "qualifications",
                                             "must_have", "skills")))
        responsibilities = tuple(as_lines(pick(data, "responsibilities", "duties")))
        summary = " ".join(as_lines(pick(data, "summary", "description", "about")))
        location = str(pick(data, "location") or "")
        jid = str(pick(data, "id") or doc_id(doc.source))
        years = pick(data, "min_years", "years")
    else:
        title, header, sections = _split_sections(doc.text, "job")
        requirements = tuple(unbullet(x) for x in sections.get("requirements", []))
        responsibilities = tuple(unbullet(x) for x in sections.get("responsibilities", []))
        summary = " ".join(unbullet(x) for x in sections.get("summary", []))
        location = " ".join(sections.get("location", []))
        for line in header:
            label, sep, value = line.partition(":")
            if sep and label.strip().lower() in ("title", "job title", "role"):
                title = value.strip()
            elif sep and label.strip().lower() == "location" and not location:
                location = value.strip()
        jid, years = doc_id(doc.source), None
    requirements = tuple(r.strip() for r in requirements if r.strip())
    if not requirements:
        raise DocumentError(doc.source, "the job lists no requirements, so no candidate can "
                                        "be matched: add a 'Requirements' section with one "
                                        "requirement per line")
    floor = float(years) if isinstance(years, int | float) else min_years(requirements)
    return Job(id=jid, source=doc.source, title=title or doc_id(doc.source), summary=summary,
               requirements=requirements, responsibilities=tuple(responsibilities),
               location=location.strip(), min_years=floor)


def parse_documents(documents: tuple[Document, ...], *, reference_year: int | None = None,
                    max_chars: int = MAX_CHARS) -> Parsed:
    """Parse a batch; a bad document becomes a :class:`Rejected` entry, the rest go on."""
    resumes: list[Resume] = []
    jobs: list[Job] = []
    rejected: list[Rejected] = []
    for doc in documents:
        try:
            if not doc.text.strip():
                raise DocumentError(doc.source, "the document is empty: nothing to parse")
            if len(doc.text) > max_chars:
                raise DocumentError(doc.source, f"{len(doc.text)} characters, over the "
                                                f"parser's limit of {max_chars}")
            if doc.format not in ("text", "markdown", "json"):
                raise DocumentError(doc.source, f"unknown format {doc.format!r}: use text, "
                                                "markdown or json")
            if doc.kind == "job":
                jobs.append(parse_job(doc))
            else:
                resumes.append(parse_resume(doc, reference_year=reference_year))
        except DocumentError as exc:
            rejected.append(Rejected(source=exc.source, reason=exc.reason))
    return Parsed(resumes=tuple(resumes), jobs=tuple(jobs), rejected=tuple(rejected))


class ParserAgent(Agent):
    """Turns documents into typed records. Config: ``reference_year`` (for "present"),
    ``max_chars``. Parsing is pure CPU work, so it runs in a worker thread."""

    @handles
    def on_parse(self, msg: Parse, ctx: MessageContext) -> Parsed:
        ref = self.config.get("reference_year")
        return parse_documents(msg.documents, reference_year=int(ref) if ref else None,
                               max_chars=int(self.config.get("max_chars", MAX_CHARS)))
