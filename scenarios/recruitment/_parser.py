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
import json
import re
from pathlib import Path
from typing import Any

from actors import Agent, MessageContext, handles
from scenarios.recruitment._errors import DocumentError
from scenarios.recruitment.messages import (
    Document,
    Education,
    Experience,
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

_BULLET = re.compile(r"^\s*(?:[-*•·]|\d+[.)])\s+")
_MD_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_MONTH = r"(?:[A-Za-z]{3,9}\.?\s+)?"
_PERIOD = re.compile(
    rf"\(?\s*{_MONTH}((?:19|20)\d{{2}})\s*(?:-|\u2013|\u2014|to|until)\s*"
    rf"(?:{_MONTH}((?:19|20)\d{{2}})|(present|current|now|today))\s*\)?", re.I)
_DURATION = re.compile(r"\(?\s*(\d+(?:\.\d+)?)\s*(?:years?|yrs?)\s*\)?", re.I)
_YEAR = re.compile(r"\b(?:19|20)\d{2}\b")
_MIN_YEARS = re.compile(r"(\d+)\s*\+?\s*(?:-\s*\d+\s*)?(?:years?|yrs?)\b", re.I)
_SPLIT_ENTRY = re.compile(r"\s+(?:-|\u2013|\u2014|\||at|@)\s+|,\s+")
_SPLIT_SKILLS = re.compile(r"[,;|•·\n]")
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


def _unbullet(line: str) -> str:
    return _BULLET.sub("", line.strip().lstrip("#").strip()).strip()


def _years(start: int, end: int | None, reference_year: int) -> float:
    return float(max(0, (end if end is not None else reference_year) - start))


def parse_period(text: str, reference_year: int) -> tuple[float, str, str]:
    """``(years, period text, text without the period)`` of an experience header."""
    m = _PERIOD.search(text)
    if m:
        end = int(m.group(2)) if m.group(2) else None
        rest = (text[:m.start()] + text[m.end():]).strip(" ,-\u2013\u2014|()")
        return _years(int(m.group(1)), end, reference_year), m.group(0).strip(" ()"), rest
    d = _DURATION.search(text)
    if d:
        rest = (text[:d.start()] + text[d.end():]).strip(" ,-\u2013\u2014|()")
        return float(d.group(1)), d.group(0).strip(" ()"), rest
    return 0.0, "", text.strip()


def _entry(header: str, bullets: list[str], reference_year: int) -> Experience:
    years, period, rest = parse_period(_unbullet(header), reference_year)
    parts = [p.strip() for p in _SPLIT_ENTRY.split(rest, maxsplit=1) if p.strip()]
    title = parts[0] if parts else rest
    organisation = parts[1] if len(parts) > 1 else ""
    return Experience(title=title, organisation=organisation, years=years, period=period,
                      text=tuple(bullets))


def parse_experience(lines: list[str], reference_year: int) -> tuple[Experience, ...]:
    """Entries: a non-bullet line opens one, the bullet lines under it describe it."""
    entries: list[Experience] = []
    header: str | None = None
    bullets: list[str] = []
    for line in lines:
        is_bullet = bool(_BULLET.match(line)) and not line.lstrip().startswith("#")
        if is_bullet or (header is not None and not _PERIOD.search(line)
                         and not _DURATION.search(line) and len(line) > 120):
            if header is None:
                header = ""
            bullets.append(_unbullet(line))
            continue
        if header is not None:
            entries.append(_entry(header, bullets, reference_year))
        header, bullets = line, []
    if header is not None:
        entries.append(_entry(header, bullets, reference_year))
    return tuple(e for e in entries if e.title or e.text)


def parse_skills(lines: list[str]) -> tuple[str, ...]:
    items: list[str] = []
    for line in lines:
        for part in _SPLIT_SKILLS.split(_unbullet(line)):
            item = part.strip().strip(".")
            if item and item.lower() not in (i.lower() for i in items):
                items.append(item)
    return tuple(items)


def parse_education(lines: list[str]) -> tuple[Education, ...]:
    out = []
    for line in lines:
        text = _unbullet(line)
        if text:
            years = _YEAR.findall(text)
            out.append(Education(text=text, year=int(years[-1]) if years else None))
    return tuple(out)


def doc_id(source: str) -> str:
    """A stable id from a file name: ``resumes/r007.md`` → ``r007``, ``a.json#2`` → ``a-2``."""
    path, _, index = source.partition("#")
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "-", Path(path).stem).strip("-") or "doc"
    return f"{stem}-{index}" if index else stem


def min_years(requirements: tuple[str, ...]) -> float | None:
    for req in requirements:
        m = _MIN_YEARS.search(req)
        if m:
            return float(m.group(1))
    return None


# -- JSON ---------------------------------------------------------------------------------

def _pick(data: dict[str, Any], *names: str) -> Any:
    lowered = {str(k).lower(): v for k, v in data.items()}
    for name in names:
        if name in lowered and lowered[name] not in (None, "", [], {}):
            return lowered[name]
    return None


def _as_lines(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [v for v in value.splitlines() if v.strip()]
    if isinstance(value, list):
        return [str(v) for v in value if str(v).strip()]
    return [str(value)]


_RESUME_KEYS = {"id", "name", "full_name", "summary", "profile", "about", "objective",
                "skills", "experience", "work", "employment", "education", "location", "city"}


def _json_experience(items: Any, reference_year: int) -> tuple[Experience, ...]:
    out: list[Experience] = []
    for item in items if isinstance(items, list) else [items]:
        if isinstance(item, str):
            out.extend(parse_experience([item], reference_year))
            continue
        if not isinstance(item, dict):
            continue
        title = str(_pick(item, "title", "role", "position") or "")
        org = str(_pick(item, "organisation", "organization", "company", "employer") or "")
        start, end = _pick(item, "start", "from"), _pick(item, "end", "to", "until")
        years = _pick(item, "years", "duration")
        period = ""
        if isinstance(start, int | str) and str(start)[:4].isdigit():
            period = f"{start} - {end or 'present'}"
            y, period, _ = parse_period(period, reference_year)
        else:
            y = 0.0
        if isinstance(years, int | float):
            y = float(years)
        text = tuple(_as_lines(_pick(item, "highlights", "description", "summary", "duties")))
        out.append(Experience(title=title, organisation=org, years=y, period=period,
                              text=text))
    return tuple(out)


def _json_education(items: Any) -> tuple[Education, ...]:
    out: list[Education] = []
    for item in items if isinstance(items, list) else [items]:
        if isinstance(item, dict):
            parts = [str(_pick(item, "degree", "title") or ""),
                     str(_pick(item, "institution", "school", "university") or "")]
            year = _pick(item, "year", "graduation_year", "graduated")
            text = ", ".join(p for p in parts if p)
            if year is not None:
                text = f"{text}, {year}"
            out.extend(parse_education([text]))
        elif item is not None:
            out.extend(parse_education([str(item)]))
    return tuple(out)


def _json_object(doc: Document) -> dict[str, Any]:
    try:
        data = json.loads(doc.text)
    except json.JSONDecodeError as exc:
        raise DocumentError(doc.source, f"not valid JSON (line {exc.lineno}, column "
                                        f"{exc.colno}: {exc.msg})") from None
    if not isinstance(data, dict):
        raise DocumentError(doc.source, f"a JSON {doc.kind} must be an object (got "
                                        f"{type(data).__name__}) with keys such as "
                                        + ("title, requirements" if doc.kind == "job"
                                           else "name, skills, experience"))
    return data


def _json_personal(data: dict[str, Any], prefix: str = "") -> list[str]:
    lines = []
    for key, value in data.items():
        if prefix == "" and key.lower() in _RESUME_KEYS:
            continue
        label = f"{prefix}{key}".replace("_", " ")
        if isinstance(value, dict):
            lines.extend(_json_personal(value, f"{label} "))
        elif isinstance(value, list):
            lines.append(f"{label}: {', '.join(str(v) for v in value)}")
        elif value not in (None, ""):
            lines.append(f"{label}: {value}")
    return lines


# -- entry points ---------------------------------------------------------------------------

def parse_resume(doc: Document, *, reference_year: int | None = None) -> Resume:
    """Parse one resume.

    Raises:
        DocumentError: Naming the file, when it is malformed or has neither skills nor
            experience.
    """
    year = reference_year or datetime.date.today().year
    if doc.format == "json":
        data = _json_object(doc)
        rid = str(_pick(data, "id") or doc_id(doc.source))
        resume = Resume(
            id=rid, source=doc.source, name=str(_pick(data, "name", "full_name") or ""),
            summary=" ".join(_as_lines(_pick(data, "summary", "profile", "about",
                                             "objective"))),
            skills=parse_skills(_as_lines(_pick(data, "skills"))),
            experience=_json_experience(_pick(data, "experience", "work", "employment") or [],
                                        year),
            education=_json_education(_pick(data, "education") or []),
            location=str(_pick(data, "location", "city") or ""),
            personal=tuple(_json_personal(data)))
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
            personal.append(_unbullet(line))
        resume = Resume(
            id=doc_id(doc.source), source=doc.source, name=name,
            summary=" ".join(_unbullet(x) for x in sections.get("summary", [])),
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
        data = _json_object(doc)
        title = str(_pick(data, "title", "name", "role") or "")
        requirements = tuple(_as_lines(_pick(data, "requirements", "qualifications",
                                             "must_have", "skills")))
        responsibilities = tuple(_as_lines(_pick(data, "responsibilities", "duties")))
        summary = " ".join(_as_lines(_pick(data, "summary", "description", "about")))
        location = str(_pick(data, "location") or "")
        jid = str(_pick(data, "id") or doc_id(doc.source))
        years = _pick(data, "min_years", "years")
    else:
        title, header, sections = _split_sections(doc.text, "job")
        requirements = tuple(_unbullet(x) for x in sections.get("requirements", []))
        responsibilities = tuple(_unbullet(x) for x in sections.get("responsibilities", []))
        summary = " ".join(_unbullet(x) for x in sections.get("summary", []))
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
