"""JSON resumes and jobs: the same sections under the key names people use."""

from __future__ import annotations

import json
from typing import Any

from scenarios.recruitment._errors import DocumentError
from scenarios.recruitment._fields import parse_education, parse_experience, parse_period
from scenarios.recruitment.messages import Document, Education, Experience


def pick(data: dict[str, Any], *names: str) -> Any:
    lowered = {str(k).lower(): v for k, v in data.items()}
    for name in names:
        if name in lowered and lowered[name] not in (None, "", [], {}):
            return lowered[name]
    return None


def as_lines(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [v for v in value.splitlines() if v.strip()]
    if isinstance(value, list):
        return [str(v) for v in value if str(v).strip()]
    return [str(value)]


_RESUME_KEYS = {"id", "name", "full_name", "summary", "profile", "about", "objective",
                "skills", "experience", "work", "employment", "education", "location", "city"}


def json_experience(items: Any, reference_year: int) -> tuple[Experience, ...]:
    out: list[Experience] = []
    for item in items if isinstance(items, list) else [items]:
        if isinstance(item, str):
            out.extend(parse_experience([item], reference_year))
            continue
        if not isinstance(item, dict):
            continue
        title = str(pick(item, "title", "role", "position") or "")
        org = str(pick(item, "organisation", "organization", "company", "employer") or "")
        start, end = pick(item, "start", "from"), pick(item, "end", "to", "until")
        years = pick(item, "years", "duration")
        period = ""
        if isinstance(start, int | str) and str(start)[:4].isdigit():
            period = f"{start} - {end or 'present'}"
            y, period, _ = parse_period(period, reference_year)
        else:
            y = 0.0
        if isinstance(years, int | float):
            y = float(years)
        text = tuple(as_lines(pick(item, "highlights", "description", "summary", "duties")))
        out.append(Experience(title=title, organisation=org, years=y, period=period,
                              text=text))
    return tuple(out)


def json_education(items: Any) -> tuple[Education, ...]:
    out: list[Education] = []
    for item in items if isinstance(items, list) else [items]:
        if isinstance(item, dict):
            parts = [str(pick(item, "degree", "title") or ""),
                     str(pick(item, "institution", "school", "university") or "")]
            year = pick(item, "year", "graduation_year", "graduated")
            text = ", ".join(p for p in parts if p)
            if year is not None:
                text = f"{text}, {year}"
            out.extend(parse_education([text]))
        elif item is not None:
            out.extend(parse_education([str(item)]))
    return tuple(out)


def json_object(doc: Document) -> dict[str, Any]:
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


def json_personal(data: dict[str, Any], prefix: str = "") -> list[str]:
    lines = []
    for key, value in data.items():
        if prefix == "" and key.lower() in _RESUME_KEYS:
            continue
        label = f"{prefix}{key}".replace("_", " ")
        if isinstance(value, dict):
            lines.extend(json_personal(value, f"{label} "))
        elif isinstance(value, list):
            lines.append(f"{label}: {', '.join(str(v) for v in value)}")
        elif value not in (None, ""):
            lines.append(f"{label}: {value}")
    return lines
