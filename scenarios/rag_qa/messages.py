"""The messages of the rag-qa scenario (kinds ``rag.*``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from actors import message


@dataclass(frozen=True, kw_only=True)
class Source:
    """One retrieved passage and why it ranked."""

    id: str
    text: str
    score: float
    vector_score: float | None = None
    vector_rank: int | None = None
    keyword_score: float | None = None
    keyword_rank: int | None = None

    @classmethod
    def of(cls, hit: Any) -> Source:
        return cls(id=hit.id, text=hit.text, score=hit.score, vector_score=hit.vector_score,
                   vector_rank=hit.vector_rank, keyword_score=hit.keyword_score,
                   keyword_rank=hit.keyword_rank)


@message(kind="rag.Question")
@dataclass(frozen=True, kw_only=True)
class Question:
    text: str
    k: int | None = None
    mode: str | None = None


@message(kind="rag.Compose")
@dataclass(frozen=True, kw_only=True)
class Compose:
    question: str
    sources: tuple[Source, ...]


@message(kind="rag.Answer")
@dataclass(frozen=True, kw_only=True)
class Answer:
    """The reply: text, cited document ids (in citation order), sources, timings."""

    question: str
    text: str
    cited: tuple[str, ...] = ()
    sources: tuple[Source, ...] = ()
    error: str | None = None
    retrieval_ms: float = 0.0
    answer_ms: float = 0.0


@message(kind="rag.StreamQuestion")
@dataclass(frozen=True, kw_only=True)
class StreamQuestion(Question):
    """A :class:`Question` answered as a stream: text deltas, then the whole :class:`Answer`."""


@message(kind="rag.ComposeStream")
@dataclass(frozen=True, kw_only=True)
class ComposeStream(Compose):
    """A :class:`Compose` answered as the model's text deltas."""

