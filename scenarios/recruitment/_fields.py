"""Line-level parsing shared by every format: employment periods, experience entries,
skills lists, education lines, ids from file names, the years a job asks for."""

from __future__ import annotations

import re
from pathlib import Path

from scenarios.recruitment.messages import Education, Experience

_BULLET = re.compile(r"^\s*(?:[-*•·]|\d+[.)])\s+")
_MONTH = r"(?:[A-Za-z]{3,9}\.?\s+)?"
_PERIOD = re.compile(
    rf"\(?\s*{_MONTH}((?:19|20)\d{{2}})\s*(?:-|\u2013|\u2014|to|until)\s*"
    rf"(?:{_MONTH}((?:19|20)\d{{2}})|(present|current|now|today))\s*\)?", re.I)
_DURATION = re.compile(r"\(?\s*(\d+(?:\.\d+)?)\s*(?:years?|yrs?)\s*\)?", re.I)
_YEAR = re.compile(r"\b(?:19|20)\d{2}\b")
_MIN_YEARS = re.compile(r"(\d+)\s*\+?\s*(?:-\s*\d+\s*)?(?:years?|yrs?)\b", re.I)
_SPLIT_ENTRY = re.compile(r"\s+(?:-|\u2013|\u2014|\||at|@)\s+|,\s+")
_SPLIT_SKILLS = re.compile(r"[,;|•·\n]")


def unbullet(line: str) -> str:
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
    years, period, rest = parse_period(unbullet(header), reference_year)
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
            bullets.append(unbullet(line))
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
        for part in _SPLIT_SKILLS.split(unbullet(line)):
            item = part.strip().strip(".")
            if item and item.lower() not in (i.lower() for i in items):
                items.append(item)
    return tuple(items)


def parse_education(lines: list[str]) -> tuple[Education, ...]:
    out = []
    for line in lines:
        text = unbullet(line)
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
