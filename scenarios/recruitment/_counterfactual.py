"""Counterfactual copies of a resume: the same document with its demographic signals swapped.

Each copy changes one thing in the *original* document text (any format), so it then goes
through the whole pipeline (parse → redact → score) like a real resume:

- ``origin:<group>``: the name becomes one typical of another origin group (same gender;
  first name, surname, their spellings in e-mail addresses, handles and file names), and a
  stated nationality one of that group's;
- ``gender``: the first name becomes one of the other gender (same origin), pronouns and
  gendered words their opposites (``she``/``he``, ``her``/``his``/``him``, ``mother``/
  ``father``...);
- ``age``: the stated age, birth year and graduation years move by 20 years (older when
  under 40, younger otherwise); employment periods stay, so qualifications do not change.

A copy identical to the original (nothing to swap) is not made.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from scenarios.recruitment import _lexicon as lex
from scenarios.recruitment._text import PERIOD
from scenarios.recruitment.messages import Document, Resume

_AGE_FIELD = re.compile(r"(?i)(\bage\"?\s*[:=]\s*\"?|\baged\s+)(\d{2})\b|"
                        r"\b(\d{2})(\s*years?[ -]old)")
_BIRTH_LINE = re.compile(r"(?i)[^\n]*\b(?:birth|born|dob)\b[^\n]*")
_YEAR = re.compile(r"(?:19|20)\d{2}")
_HER_OBJECT = re.compile(r"(?=\s*(?:[.,;:!?)]|$|\s(?:as|to|and|or|but|for|with|in|on|at|from|by|"
                         r"that|when|because|about|the|a|an|into|over|up|out)\b))", re.I)


# An honorific only before a name: "Ms. Chen", not "MS Project".
_HONORIFIC = re.compile(r"\b(Mr|Ms|Mrs)(\.?\s+)(?=[A-Z][a-z])")
_HONORIFIC_SWAP = {"Mr": "Ms", "Ms": "Mr", "Mrs": "Mr"}


@dataclass(frozen=True, kw_only=True)
class Variant:
    """One counterfactual copy: what was swapped, and the new document."""

    name: str
    document: Document


def _cased(original: str, new: str) -> str:
    if original.isupper() and len(original) > 1:
        return new.upper()
    if original.islower():
        return new.lower()
    return new


def _replace_word(text: str, old: str, new: str) -> str:
    """Replace ``old`` as a whole word (letters around it break the match), keeping case."""
    if not old or old.lower() == new.lower():
        return text
    pattern = re.compile(r"(?<![A-Za-z])" + re.escape(old) + r"(?![A-Za-z])", re.I)
    return pattern.sub(lambda m: _cased(m.group(0), new), text)


def swap_name(text: str, old: str, new: str) -> str:
    """Swap a full name, then each part, including run-together handles (``janedoe``)."""
    old_parts, new_parts = old.split(), new.split()
    if not old_parts:
        return text
    if len(old_parts) > 1 and len(new_parts) > 1:
        joined = re.compile(re.escape("".join(old_parts)), re.I)
        text = joined.sub(lambda m: _cased(m.group(0), "".join(new_parts)), text)
    text = _replace_word(text, old, new)
    for i, part in enumerate(old_parts):
        target = new_parts[min(i, len(new_parts) - 1)] if i < len(old_parts) - 1 else (
            new_parts[-1])
        text = _replace_word(text, part, target)
    return text


def swap_gender_words(text: str) -> str:
    """Pronouns and gendered words to their opposites; ``her`` by its role."""
    text = _HONORIFIC.sub(lambda m: _HONORIFIC_SWAP[m.group(1)] + m.group(2), text)
    words = sorted(lex.OPPOSITE, key=len, reverse=True)
    pattern = re.compile(r"(?<![A-Za-z])(" + "|".join(words) + r")(?![A-Za-z])", re.I)

    def flip(m: re.Match[str]) -> str:
        word = m.group(0)
        low = word.lower()
        if low == "her":
            new = "him" if _HER_OBJECT.match(text, m.end()) else "his"
        else:
            new = lex.OPPOSITE[low]
        return _cased(word, new) if not word[:1].isupper() or word.isupper() else (
            new[:1].upper() + new[1:])

    return pattern.sub(flip, text)


def _age_delta(ages: list[int], births: set[int], grads: set[int],
               reference_year: int) -> int | None:
    if ages:
        age = ages[0]
    elif births:
        age = reference_year - min(births)
    elif grads:
        age = reference_year - min(grads) + 22
    else:
        return None
    return 20 if age < 40 else -20


def _shift_ages(text: str, delta: int) -> str:
    return _AGE_FIELD.sub(lambda m: (m.group(1) + str(int(m.group(2)) + delta)) if m.group(1)
                          else str(int(m.group(3)) + delta) + m.group(4), text)


def shift_age(text: str, resume: Resume, reference_year: int) -> str:
    """Move the stated age, birth year and graduation years by 20 years (see module)."""
    ages = [int(m.group(2) or m.group(3)) for m in _AGE_FIELD.finditer(text)]
    births = {int(y) for line in _BIRTH_LINE.findall(text) for y in _YEAR.findall(line)}
    grads = {e.year for e in resume.education if e.year}
    delta = _age_delta(ages, births, grads, reference_year)
    if delta is None:
        return text
    text = _shift_ages(text, delta)
    years = {str(y): str(y - delta) for y in births | grads}
    pieces, last = [], 0
    # Employment periods keep their years: only dates that give the age away move.
    for m in PERIOD.finditer(text):
        pieces.append(_shift_years(text[last:m.start()], years))
        pieces.append(m.group(0))
        last = m.end()
    pieces.append(_shift_years(text[last:], years))
    return "".join(pieces)


def _shift_years(text: str, years: dict[str, str]) -> str:
    return re.sub(r"(?<!\d)(?:19|20)\d{2}(?!\d)", lambda m: years.get(m.group(0), m.group(0)),
                  text)


def _walk(value: Any, fn: Callable[[str, Any], Any], key: str = "") -> Any:
    """Rebuild JSON data with ``fn(key path, leaf)`` applied to every leaf."""
    if isinstance(value, dict):
        return {k: _walk(v, fn, f"{key}.{k}".lower()) for k, v in value.items()}
    if isinstance(value, list):
        return [_walk(v, fn, key) for v in value]
    return fn(key, value)


def _on_json(doc: Document, fn: Callable[[str, Any], Any]) -> str:
    data = json.loads(doc.text)
    indent = 2 if "\n" in doc.text.strip() else None
    return json.dumps(_walk(data, fn), ensure_ascii=False, indent=indent)


def _on_text(doc: Document, fn: Callable[[str], str]) -> str:
    """Apply a text swap to the document, or to each string of a JSON document."""
    if doc.format != "json":
        return fn(doc.text)
    return _on_json(doc, lambda key, v: fn(v) if isinstance(v, str) else v)


def shift_age_json(doc: Document, resume: Resume, reference_year: int) -> str:
    """:func:`shift_age` for JSON, guided by the keys: ages, birth dates and education
    move; employment (``experience``, ``work``...) keeps its years."""
    ages: list[int] = []
    births: set[int] = set()

    def look(key: str, v: Any) -> Any:
        last = key.rsplit(".", 1)[-1]
        if last == "age" and str(v).isdigit():
            ages.append(int(v))
        elif any(w in last for w in ("birth", "born", "dob")):
            births.update(int(y) for y in _YEAR.findall(str(v)))
        return v

    _on_json(doc, look)
    grads = {e.year for e in resume.education if e.year}
    delta = _age_delta(ages, births, grads, reference_year)
    if delta is None:
        return doc.text
    years = {str(y): str(y - delta) for y in births | grads}

    def move(key: str, v: Any) -> Any:
        top = key.split(".")[1] if key.count(".") else key
        last = key.rsplit(".", 1)[-1]
        if top in ("experience", "work", "employment"):
            return v
        if last == "age" and str(v).isdigit():
            return type(v)(int(v) + delta)
        if isinstance(v, int) and str(v) in years:
            return v - delta
        if isinstance(v, str):
            text = _shift_ages(v, delta)
            if "education" in key or any(w in last for w in ("birth", "born", "dob")):
                text = _shift_years(text, years)
            return text
        return v

    return _on_json(doc, move)


def identify(resume: Resume, text: str) -> tuple[str | None, str]:
    """The origin group and gender a resume's name (or pronouns) suggest."""
    names = lex.all_first_names()
    first = resume.name.split()[0].capitalize() if resume.name.split() else ""
    if first in names:
        return names[first]
    she = len(re.findall(r"(?i)\b(?:she|her|hers|herself)\b", text))
    he = len(re.findall(r"(?i)\b(?:he|him|his|himself)\b", text))
    return None, "female" if she > he else "male"


def variants(doc: Document, resume: Resume, *, origins: int = 3,
             reference_year: int = 2025) -> list[Variant]:
    """The counterfactual copies of one resume (see the module docstring).

    Args:
        doc: The original document.
        resume: Its parsed (unredacted) record, for the name and graduation years.
        origins: How many other origin groups to try the name of.
        reference_year: The year ages are counted from.
    """
    rng = random.Random(f"cf:{resume.id}")
    origin, gender = identify(resume, doc.text)
    other_gender = "male" if gender == "female" else "female"
    out: list[Variant] = []

    def add(name: str, text: str) -> None:
        if text != doc.text:
            out.append(Variant(name=name, document=Document(
                source=f"{doc.source}#cf:{name}", format=doc.format, kind=doc.kind,
                text=text)))

    others = [o for o in lex.ORIGINS if o != origin][:origins]
    for group in others:
        new = f"{rng.choice(lex.FIRST_NAMES[group][gender])} {rng.choice(lex.SURNAMES[group])}"
        demonym = rng.choice(lex.NATIONALITIES[group])

        def to_group(text: str, new: str = new, demonym: str = demonym) -> str:
            text = swap_name(text, resume.name, new) if resume.name else text
            for own in lex.NATIONALITIES.get(origin or "", ()):
                text = _replace_word(text, own, demonym)
            return text

        add(f"origin:{group}", _on_text(doc, to_group))
    new_first = rng.choice(lex.FIRST_NAMES[origin or "anglo"][other_gender])

    def to_gender(text: str) -> str:
        text = swap_gender_words(text)
        if resume.name:
            parts = resume.name.split()
            text = swap_name(text, resume.name, " ".join([new_first, *parts[1:]]))
        return text

    add("gender", _on_text(doc, to_gender))
    add("age", shift_age_json(doc, resume, reference_year) if doc.format == "json"
        else shift_age(doc.text, resume, reference_year))
    return out
