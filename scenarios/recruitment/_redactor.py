"""The redactor: masks demographic signals in a parsed resume before anything scores it.

Categories (each mask is recorded as a :class:`Mask` with its category, field, original
text and replacement):

- ``name``: the candidate's own name wherever it appears (whole and each part), labelled
  names (``Name:``, ``Referee:``), and listed first names followed by a surname;
- ``gender``: pronouns and gendered words become neutral (``she is`` → ``they are``,
  ``chairwoman`` → ``chair``), honorifics are dropped, ``Gender:`` lines masked;
- ``age``: ages, birth dates and years, graduation years, any year in the text; an
  employment period (``2016 - 2024``) becomes its length (``8 years``), which is what
  the job asks for, without the start year that gives the age away;
- ``photo_link``: photos and image files, profile and web links;
- ``contact``: e-mail addresses and phone numbers (they spell names and places);
- ``address``: address lines, street addresses, postcodes;
- ``nationality``: nationality, citizenship, ethnicity, race, religion and origin words;
- ``marital``: marital status, spouses, children.

Skills are never touched: they are what the candidate is matched on.
"""

from __future__ import annotations

import dataclasses
import re
from collections import Counter
from collections.abc import Callable, Iterable

from actors import Agent, MessageContext, handles
from scenarios.recruitment import _lexicon as lex
from scenarios.recruitment._text import PERIOD, render_resume
from scenarios.recruitment.messages import (
    Candidate,
    Education,
    Experience,
    Mask,
    Redact,
    Redacted,
    Resume,
)

CATEGORIES = ("name", "gender", "age", "photo_link", "contact", "address", "nationality",
              "marital")
PLACEHOLDER = {"name": "[NAME]", "gender": "[GENDER]", "age": "[AGE]",
               "photo_link": "[LINK]", "contact": "[CONTACT]", "address": "[ADDRESS]",
               "nationality": "[ORIGIN]", "marital": "[FAMILY]"}
_LABELS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("name", ("name", "full name", "reference", "references", "referee", "referees")),
    ("age", ("age", "date of birth", "dob", "birth date", "birthday", "born",
             "year of birth", "birth year")),
    ("gender", ("gender", "sex", "pronouns", "honorific")),
    ("nationality", ("nationality", "citizenship", "ethnicity", "race", "religion",
                     "origin", "country of birth", "place of birth", "heritage")),
    ("marital", ("marital status", "family status", "children", "dependents", "spouse",
                 "family")),
    ("address", ("address", "home address", "street", "postcode", "zip", "zip code",
                 "residence")),
    ("photo_link", ("photo", "picture", "headshot", "image", "linkedin", "github",
                    "website", "portfolio", "twitter", "facebook", "instagram", "url")),
    ("contact", ("email", "e-mail", "phone", "mobile", "tel", "telephone", "contact")),
)
_SEGMENTS = re.compile(r"\s+\|\s+|\s+·\s+|\s{3,}")
_IMAGE = re.compile(r"!\[[^\]]*\]\([^)]*\)|\b[\w./-]+\.(?:jpe?g|png|gif|webp|heic)\b", re.I)
_URL = re.compile(r"https?://\S+|\bwww\.\S+|\b(?:linkedin|github|gitlab|twitter|x|facebook|"
                  r"instagram|behance|dribbble)\.com/\S*", re.I)
_EMAIL = re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b")
_PHONE = re.compile(r"(?<![\w-])\+?\(?\d[\d\s().-]{7,}\d(?![\w-])")
_AGE = re.compile(r"\b\d{2}\s*(?:years?[ -]old|y/o|yrs? old)\b|\baged\s+\d{2}\b(?!\s*[-\u2013])|"
                  r"\bborn\s+(?:in\s+|on\s+)?(?:\w+\s+)?(?:\d{1,2},?\s+)?(?:19|20)\d{2}\b|"
                  r"\b(?:class of|graduated(?: in)?)\s+(?:19|20)\d{2}\b", re.I)
_YEAR = re.compile(r"(?<![\w-])(?:19|20)\d{2}(?![\w-])")
_STREET = re.compile(
    r"\b\d{1,5}\s+(?:[A-Z][a-z]+\s){1,3}(?:Street|St|Avenue|Ave|Road|Rd|Lane|Ln|Boulevard|"
    r"Blvd|Drive|Dr|Way|Court|Ct|Place|Pl|Terrace|Close|Crescent)\b\.?"
    r"(?:,?\s*(?:Apt|Apartment|Suite|Unit|Flat)\.?\s*\w+)?")
_POSTCODE = re.compile(r"\b[A-Z]{1,2}\d[A-Z\d]?\s+\d[A-Z]{2}\b|\b[A-Z]{2}\s+\d{5}(?:-\d{4})?\b")
_ORIGIN_PHRASE = re.compile(r"\b(?i:born in|originally from|native of|citizen of|"
                            r"immigrated from|grew up in)\s+(?:the\s+)?[A-Z][\w-]*(?:\s+[A-Z]"
                            r"[\w-]*)?")
_CHILDREN = re.compile(r"\b(?:parent|mother|father|mom|dad)\s+of\s+(?:one|two|three|four|"
                       r"five|\d)\b|\b(?:have|has|with)\s+(?:one|two|three|four|five|\d)\s+"
                       r"(?:children|kids|sons|daughters)\b|\bsingle\s+(?:mother|father|"
                       r"parent|mom|dad)\b", re.I)


def _words(words: Iterable[str]) -> re.Pattern[str]:
    alts = sorted((re.escape(w) for w in words if w), key=len, reverse=True)
    return re.compile(r"(?<![\w\[])(?:" + "|".join(alts) + r")(?![\w\]])", re.I)


_NATIONALITY = re.compile(r"(?<![\w\[])(?:" + "|".join(
    sorted((re.escape(n) for n in (*lex.all_nationalities(), *lex.ETHNICITIES)),
           key=len, reverse=True)) + r")(?![\w\]])")
_COLOUR = re.compile(r"\b(?:" + "|".join(lex.COLOUR_TERMS) + r")(?=\s+(?:"
                     + "|".join(lex.PERSON_NOUNS) + r")\b)")
_MARITAL = _words(lex.MARITAL_WORDS)
_PRONOUN_VERB = re.compile(r"\b(he|she)\s+(" + "|".join(lex.PRONOUN_VERBS) + r")\b", re.I)
_HONORIFIC = re.compile(r"\b(?:Mr|Mrs|Ms|Miss|Mx|Sir|Madam)\b\.?\s+(?=[A-Z][a-z])")
# "her" is "them" where "him" would stand (before a preposition, a conjunction or the end
# of a clause) and "their" before a noun, where "his" would: so both genders read alike.
_HER_OBJECT = re.compile(r"\bher\b(?=\s*(?:[.,;:!?)]|$|\s(?:as|to|and|or|but|for|with|in|on|"
                         r"at|from|by|that|when|because|about|the|a|an|into|over|up|out)\b))",
                         re.I)
_GENDERED = _words(w for w, n in lex.NEUTRAL.items() if n)
_FIRST_NAMES = re.compile(r"\b(?:" + "|".join(sorted(lex.all_first_names(), key=len,
                                                       reverse=True))
                          + r")\s+[A-Z][a-z]+(?:-[A-Z][a-z]+)?\b")


def _same_case(original: str, replacement: str) -> str:
    if original[:1].isupper() and replacement:
        return replacement[:1].upper() + replacement[1:]
    return replacement


class Masker:
    """Applies the rules to one resume's text fields and records each mask."""

    def __init__(self, name: str) -> None:
        self.masks: list[Mask] = []
        parts = [p for p in re.split(r"[\s,]+", name) if len(p.strip(".")) >= 2]
        self.own_name = _words([name.strip(), *parts]) if parts else None

    def sub(self, pattern: re.Pattern[str], category: str, text: str, where: str,
            repl: str | Callable[[re.Match[str]], str] | None = None) -> str:
        def replace(m: re.Match[str]) -> str:
            new = PLACEHOLDER[category] if repl is None else (
                repl if isinstance(repl, str) else repl(m))
            if m.group(0) != new:
                self.masks.append(Mask(category=category, field=where,
                                       original=m.group(0), replacement=new))
            return new

        return pattern.sub(replace, text)

    def labelled(self, text: str, where: str) -> str:
        """``Label: value`` segments whose label is demographic: the value is masked."""
        out = []
        for segment in _SEGMENTS.split(text):
            label, sep, value = segment.partition(":")
            key = label.strip().lower()
            short = len(key.split()) <= 4  # a label, not a sentence that has a colon
            category = next((c for c, names in _LABELS
                             if sep and short and value.strip() and any(
                                 key == n or key.endswith(" " + n) for n in names)), None)
            if category is not None and "[" not in value:
                new = PLACEHOLDER[category]
                self.masks.append(Mask(category=category, field=where,
                                       original=value.strip(), replacement=new))
                segment = f"{label}: {new}"
            out.append(segment)
        return " | ".join(out)

    def text(self, text: str, where: str) -> str:
        if not text:
            return text
        text = self.labelled(text, where)
        text = self.sub(_IMAGE, "photo_link", text, where)
        text = self.sub(_URL, "photo_link", text, where)
        text = self.sub(_EMAIL, "contact", text, where)
        text = self.sub(_PHONE, "contact", text, where,
                        repl=lambda m: m.group(0) if PERIOD.fullmatch(m.group(0).strip())
                        or sum(c.isdigit() for c in m.group(0)) < 8 else "[CONTACT]")
        text = self.sub(_STREET, "address", text, where)
        text = self.sub(_POSTCODE, "address", text, where)
        if self.own_name is not None:
            text = self.sub(self.own_name, "name", text, where)
        text = self.sub(_FIRST_NAMES, "name", text, where)
        text = self.sub(_AGE, "age", text, where)
        text = self.sub(_YEAR, "age", text, where, repl="[YEAR]")
        text = self.sub(_ORIGIN_PHRASE, "nationality", text, where,
                        repl=lambda m: m.group(0).split()[0] + " " + PLACEHOLDER["nationality"])
        text = self.sub(_NATIONALITY, "nationality", text, where)
        text = self.sub(_COLOUR, "nationality", text, where)
        text = self.sub(_CHILDREN, "marital", text, where)
        text = self.sub(_MARITAL, "marital", text, where)
        text = self.sub(_PRONOUN_VERB, "gender", text, where,
                        repl=lambda m: _same_case(m.group(1), "they") + " "
                        + lex.PRONOUN_VERBS[m.group(2).lower()])
        text = self.sub(_HONORIFIC, "gender", text, where, repl="")
        text = self.sub(_HER_OBJECT, "gender", text, where,
                        repl=lambda m: _same_case(m.group(0), "them"))
        text = self.sub(_GENDERED, "gender", text, where,
                        repl=lambda m: _same_case(m.group(0), lex.NEUTRAL[m.group(0).lower()]))
        return text


def _period(e: Experience, masker: Masker, where: str) -> str:
    """An employment period becomes its length; the dates themselves reveal age."""
    if not e.period:
        return ""
    length = f"{e.years:g} years" if e.years != 1 else "1 year"
    if e.period != length:
        masker.masks.append(Mask(category="age", field=where, original=e.period,
                                 replacement=length))
    return length


def redact(resume: Resume) -> Candidate:
    """Mask one resume; the original is kept as text for the audit's ``raw_score``."""
    m = Masker(resume.name)
    experience = tuple(
        dataclasses.replace(
            e, title=m.text(e.title, f"experience[{i}].title"),
            organisation=m.text(e.organisation, f"experience[{i}].organisation"),
            period=_period(e, m, f"experience[{i}].period"),
            text=tuple(m.text(t, f"experience[{i}].text") for t in e.text))
        for i, e in enumerate(resume.experience))
    education = tuple(Education(text=m.text(e.text, f"education[{i}]"), year=None)
                      for i, e in enumerate(resume.education))
    name = ""
    if resume.name:
        name = PLACEHOLDER["name"]
        m.masks.append(Mask(category="name", field="name", original=resume.name,
                            replacement=name))
    redacted = dataclasses.replace(
        resume, name=name, summary=m.text(resume.summary, "summary"),
        experience=experience, education=education,
        personal=tuple(m.text(p, f"personal[{i}]") for i, p in enumerate(resume.personal)))
    return Candidate(id=resume.id, source=resume.source, resume=redacted,
                     raw_text=render_resume(resume), masks=tuple(m.masks))


def mask_counts(candidates: Iterable[Candidate]) -> dict[str, int]:
    """How many spans of each category were masked."""
    counts: Counter[str] = Counter()
    for c in candidates:
        counts.update(mask.category for mask in c.masks)
    return dict(counts)


class RedactorAgent(Agent):
    """Masks demographic signals in parsed resumes (CPU work, in a worker thread)."""

    @handles
    def on_redact(self, msg: Redact, ctx: MessageContext) -> Redacted:
        return Redacted(candidates=tuple(redact(r) for r in msg.resumes))
