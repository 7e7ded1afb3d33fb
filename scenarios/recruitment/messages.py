"""The records and messages of the recruitment scenario (kinds ``recruit.*``).

Records (``Document``, ``Resume``, ``Job``, ``Candidate``, ``CandidateScore``, ``Result``)
are plain frozen dataclasses carried inside messages; messages are registered with
``@message``. Everything here is small and picklable: a message is at most a batch of a
few hundred resumes, well under the runtime's 1 MiB limit.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from actors import message

FORMATS = ("text", "markdown", "json")


@dataclass(frozen=True, kw_only=True)
class Document:
    """One file's content as read by the driver.

    Attributes:
        source: The file it came from (``file.json#3`` for the 4th entry of a JSON list).
        format: ``text``, ``markdown`` or ``json``.
        kind: ``resume`` or ``job``.
        text: The decoded content.
    """

    source: str
    format: str
    kind: str
    text: str


@dataclass(frozen=True, kw_only=True)
class Rejected:
    """A document that could not be used, and why (the message names the file)."""

    source: str
    reason: str

    def __str__(self) -> str:
        return f"{self.source}: {self.reason}"


@dataclass(frozen=True, kw_only=True)
class Experience:
    """One role: title, organisation, its length in years and what was done."""

    title: str
    organisation: str = ""
    years: float = 0.0
    period: str = ""
    text: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class Education:
    """One degree or course line."""

    text: str
    year: int | None = None


@dataclass(frozen=True, kw_only=True)
class Resume:
    """A parsed resume: typed sections plus the lines that fit no section.

    ``personal`` keeps header lines (contact, age, nationality...) so the redactor can
    record what it masks; the scorer never reads them.
    """

    id: str
    source: str
    name: str = ""
    summary: str = ""
    skills: tuple[str, ...] = ()
    experience: tuple[Experience, ...] = ()
    education: tuple[Education, ...] = ()
    location: str = ""
    personal: tuple[str, ...] = ()

    @property
    def years(self) -> float:
        """Total years of experience over all roles."""
        return round(sum(e.years for e in self.experience), 1)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Resume:
        values = dict(data)
        values["skills"] = tuple(values.get("skills", ()))
        values["personal"] = tuple(values.get("personal", ()))
        values["experience"] = tuple(
            Experience(**{**e, "text": tuple(e.get("text", ()))})
            for e in values.get("experience", ()))
        values["education"] = tuple(Education(**e) for e in values.get("education", ()))
        return cls(**values)


@dataclass(frozen=True, kw_only=True)
class Job:
    """A parsed job description. ``min_years`` comes from a requirement like "5+ years"."""

    id: str
    source: str
    title: str
    summary: str = ""
    requirements: tuple[str, ...] = ()
    responsibilities: tuple[str, ...] = ()
    location: str = ""
    min_years: float | None = None


@dataclass(frozen=True, kw_only=True)
class Mask:
    """One masked span: its category, where it was, what it was and what replaced it."""

    category: str
    field: str
    original: str
    replacement: str


@dataclass(frozen=True, kw_only=True)
class Candidate:
    """A redacted resume ready to score, with the original text kept for ``raw_score``."""

    id: str
    source: str
    resume: Resume
    raw_text: str
    masks: tuple[Mask, ...] = ()


@dataclass(frozen=True, kw_only=True)
class Evidence:
    """A requirement and the resume sentence that best supports it."""

    requirement: str
    sentence: str
    similarity: float


@dataclass(frozen=True, kw_only=True)
class CandidateScore:
    """The scorer's verdict on one candidate for one job.

    Attributes:
        raw_score: Cosine of the job text and the *unredacted* resume text (audit only).
        adjusted_score: The weighted multi-field score of the redacted resume.
        fields: Each field's score (``requirements``, ``skills``, ``experience``,
            ``whole``, ``years``).
        matched: Requirements met, each with its evidence sentence.
        missing: Requirements not met, each with the closest sentence found.
    """

    candidate_id: str
    raw_score: float
    adjusted_score: float
    fields: dict[str, float]
    matched: tuple[Evidence, ...] = ()
    missing: tuple[Evidence, ...] = ()


@dataclass(frozen=True, kw_only=True)
class Result:
    """One ranked candidate."""

    rank: int
    candidate_id: str
    source: str
    adjusted_score: float
    raw_score: float
    confidence: float
    fields: dict[str, float]
    matched: tuple[Evidence, ...] = ()
    missing: tuple[Evidence, ...] = ()


@message(kind="recruit.Parse")
@dataclass(frozen=True, kw_only=True)
class Parse:
    documents: tuple[Document, ...]


@message(kind="recruit.Parsed")
@dataclass(frozen=True, kw_only=True)
class Parsed:
    resumes: tuple[Resume, ...] = ()
    jobs: tuple[Job, ...] = ()
    rejected: tuple[Rejected, ...] = ()


@message(kind="recruit.Redact")
@dataclass(frozen=True, kw_only=True)
class Redact:
    resumes: tuple[Resume, ...]


@message(kind="recruit.Redacted")
@dataclass(frozen=True, kw_only=True)
class Redacted:
    candidates: tuple[Candidate, ...]


@message(kind="recruit.Score")
@dataclass(frozen=True, kw_only=True)
class Score:
    job: Job
    candidates: tuple[Candidate, ...]


@message(kind="recruit.Scores")
@dataclass(frozen=True, kw_only=True)
class Scores:
    scores: tuple[CandidateScore, ...]


@message(kind="recruit.AddCandidates")
@dataclass(frozen=True, kw_only=True)
class AddCandidates:
    """Parse, redact and store resumes in the pool's memory namespace."""

    pool: str
    documents: tuple[Document, ...]


@message(kind="recruit.Added")
@dataclass(frozen=True, kw_only=True)
class Added:
    ids: tuple[str, ...] = ()
    rejected: tuple[Rejected, ...] = ()
    masked: dict[str, int] = dataclasses.field(default_factory=dict)


@message(kind="recruit.RankJob")
@dataclass(frozen=True, kw_only=True)
class RankJob:
    """Match one job against a pool: hybrid search for ``top_n``, then full scoring."""

    pool: str
    job: Document
    top_n: int | None = None
    review: Review | None = None  # wait for a recruiter's approval of the shortlist


@dataclass(frozen=True, kw_only=True)
class Review:
    """How a shortlist waits for a recruiter (``input.approval`` of the spec)."""

    shortlist: int = 5
    timeout_s: float | None = 3600.0
    on_timeout: str = "fail"  # or "approve" / "reject": the default answer


@dataclass(frozen=True, kw_only=True)
class ShortlistReview:
    """What the recruiter is shown: the job and its shortlist, best first."""

    job_id: str
    title: str
    shortlist: tuple[tuple[str, float], ...]  # (candidate id, adjusted score)


@message(kind="recruit.Ranking")
@dataclass(frozen=True, kw_only=True)
class Ranking:
    """A job's ranked candidates (best first), or why the job could not be ranked."""

    pool: str
    job: Job | None
    source: str
    results: tuple[Result, ...] = ()
    retrieved: int = 0
    pool_size: int = 0
    rejected: Rejected | None = None
    search_ms: float = 0.0
    score_ms: float = 0.0
    review: str | None = None  # the recruiter's answer, when the run asked for one


@message(kind="recruit.Audit")
@dataclass(frozen=True, kw_only=True)
class Audit:
    """Counterfactual audit of a ranking: swap demographic signals, re-score, compare."""

    ranking: Ranking


@dataclass(frozen=True, kw_only=True)
class Counterfactual:
    """One counterfactual copy of a candidate and how its score and rank moved."""

    candidate_id: str
    variant: str
    score_delta: float
    rank_change: int
    raw_delta: float


@message(kind="recruit.AuditReport")
@dataclass(frozen=True, kw_only=True)
class AuditReport:
    """The largest changes over every candidate's counterfactual copies."""

    job_id: str
    variants: int = 0
    max_score_delta: float = 0.0
    max_rank_change: int = 0
    max_raw_delta: float = 0.0
    worst: tuple[Counterfactual, ...] = ()
    errors: tuple[str, ...] = ()
