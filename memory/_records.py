"""Records going in, hits coming out, and the validation between them.

A batch is validated as a whole before anything is written, so a bad record anywhere in it
leaves the store untouched.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from actors._errors import InvalidRecordError

DEFAULT_NAMESPACE = "default"

#: Filter names that refer to record fields, so they cannot be metadata keys.
RESERVED_FIELDS: frozenset[str] = frozenset({"id", "namespace", "created_at", "updated_at"})

MAX_ID_CHARS = 512
MAX_NAMESPACE_CHARS = 128


@dataclass(frozen=True, kw_only=True)
class Record:
    """One stored memory item.

    Attributes:
        id: Unique key within the store (across namespaces), 1-512 characters.
        text: The content that is embedded and keyword-indexed; non-empty.
        metadata: JSON-compatible fields usable in search filters (top-level keys only).
        namespace: Partition name; searches can be limited to one.
        created_at: Seconds since the epoch; set by the store when ``None``. ``upsert`` keeps
            the original value unless a new one is given.
        updated_at: Seconds since the epoch of the last write; always set by the store.
    """

    id: str
    text: str
    metadata: dict[str, Any] = field(default_factory=dict)
    namespace: str = DEFAULT_NAMESPACE
    created_at: float | None = None
    updated_at: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return the record as a plain dict (the shape :func:`coerce_record` accepts)."""
        return {
            "id": self.id,
            "text": self.text,
            "metadata": dict(self.metadata),
            "namespace": self.namespace,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }


@dataclass(frozen=True, kw_only=True)
class Hit:
    """One search result.

    Attributes:
        id: Record id.
        text: Record text.
        metadata: Record metadata.
        namespace: Record namespace.
        score: The score the results are ordered by: the rerank score when the rerank stage
            ran, else the fused score in hybrid mode, else the single retriever's score.
        vector_score: Cosine similarity, or ``None`` when vector search did not return it.
        vector_rank: 1-based rank in the vector candidates, or ``None``.
        keyword_score: BM25 score, or ``None`` when keyword search did not return it.
        keyword_rank: 1-based rank in the keyword candidates, or ``None``.
        fused_score: The fused score (hybrid mode), or ``None``.
        rerank_score: The cross-encoder's score, or ``None`` when no rerank stage ran.
        created_at: Record creation time (epoch seconds).
        updated_at: Record last-write time (epoch seconds).
    """

    id: str
    text: str
    metadata: dict[str, Any]
    namespace: str
    score: float
    vector_score: float | None = None
    vector_rank: int | None = None
    keyword_score: float | None = None
    keyword_rank: int | None = None
    fused_score: float | None = None
    rerank_score: float | None = None
    created_at: float = 0.0
    updated_at: float = 0.0

    def explain(self) -> dict[str, float | int | None]:
        """Why the hit ranked where it did: each stage's score and rank, as plain data."""
        return {"score": self.score, "vector_score": self.vector_score,
                "vector_rank": self.vector_rank, "keyword_score": self.keyword_score,
                "keyword_rank": self.keyword_rank, "fused_score": self.fused_score,
                "rerank_score": self.rerank_score}


def to_epoch(value: Any, what: str) -> float:
    """Convert a timestamp given as epoch seconds or an aware/naive datetime.

    Args:
        value: ``int``/``float`` seconds or a ``datetime`` (naive means UTC).
        what: Name used in error messages.

    Returns:
        Epoch seconds.

    Raises:
        TypeError: If the value is neither.
        ValueError: If the number is not finite.
    """
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.timestamp()
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{what} must be epoch seconds or a datetime, got {type(value).__name__}")
    if not math.isfinite(value):
        raise ValueError(f"{what} must be finite")
    return float(value)


def _check_json(value: Any, path: str, depth: int = 0) -> None:
    """Reject values that would not survive a JSON round trip unchanged."""
    if depth > 16:
        raise InvalidRecordError(f"metadata {path} is nested too deeply")
    if value is None or isinstance(value, bool | str):
        return
    if isinstance(value, int | float):
        if isinstance(value, float) and not math.isfinite(value):
            raise InvalidRecordError(f"metadata {path} must be finite, got {value!r}")
        return
    if isinstance(value, list | tuple):
        for i, item in enumerate(value):
            _check_json(item, f"{path}[{i}]", depth + 1)
        return
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                raise InvalidRecordError(f"metadata {path} has a non-string key {key!r}")
            _check_json(item, f"{path}.{key}", depth + 1)
        return
    raise InvalidRecordError(
        f"metadata {path} has unsupported type {type(value).__name__}: use JSON types "
        "(str, int, float, bool, None, list, dict)"
    )


def coerce_record(item: Record | Mapping[str, Any], *, max_text_chars: int) -> Record:
    """Validate one record given as a :class:`Record` or a dict.

    Args:
        item: The record.
        max_text_chars: Longest accepted text.

    Returns:
        A normalised :class:`Record` (metadata copied via JSON so later caller mutations
        cannot reach the store).

    Raises:
        InvalidRecordError: On any problem, naming the field.
    """
    if isinstance(item, Record):
        data = item.to_dict()
    elif isinstance(item, Mapping):
        unknown = set(item) - {"id", "text", "metadata", "namespace", "created_at", "updated_at"}
        if unknown:
            raise InvalidRecordError(f"unknown record field(s): {', '.join(sorted(unknown))}")
        data = dict(item)
    else:
        raise InvalidRecordError(f"a record must be a Record or a dict, got {type(item).__name__}")
    rid = data.get("id")
    if not isinstance(rid, str) or not rid or len(rid) > MAX_ID_CHARS:
        raise InvalidRecordError(
            f"record id must be a non-empty string of at most {MAX_ID_CHARS} characters, "
            f"got {rid!r:.80}"
        )
    text = data.get("text")
    if not isinstance(text, str):
        raise InvalidRecordError(
            f"record {rid!r}: text must be a string, got {type(text).__name__}"
        )
    if not text.strip():
        raise InvalidRecordError(f"record {rid!r}: text is empty")
    if len(text) > max_text_chars:
        raise InvalidRecordError(
            f"record {rid!r}: text has {len(text)} characters, over the limit of "
            f"{max_text_chars}: split it with memory.chunk_text or raise "
            "MemoryConfig.max_text_chars"
        )
    namespace = data.get("namespace", DEFAULT_NAMESPACE)
    if namespace is None:
        namespace = DEFAULT_NAMESPACE
    if not isinstance(namespace, str) or not namespace or len(namespace) > MAX_NAMESPACE_CHARS:
        raise InvalidRecordError(
            f"record {rid!r}: namespace must be a non-empty string of at most "
            f"{MAX_NAMESPACE_CHARS} characters, got {namespace!r:.80}"
        )
    metadata = data.get("metadata")
    if metadata is None:
        metadata = {}
    if not isinstance(metadata, Mapping):
        raise InvalidRecordError(
            f"record {rid!r}: metadata must be a dict, got {type(metadata).__name__}"
        )
    _check_json(metadata, "")
    reserved = RESERVED_FIELDS & set(metadata)
    if reserved:
        raise InvalidRecordError(
            f"record {rid!r}: metadata key(s) {', '.join(sorted(reserved))} are reserved for "
            "record fields; rename them"
        )
    created_at = data.get("created_at")
    if created_at is not None:
        try:
            created_at = to_epoch(created_at, "created_at")
        except (TypeError, ValueError) as exc:
            raise InvalidRecordError(f"record {rid!r}: {exc}") from exc
    return Record(
        id=rid,
        text=text,
        metadata=json.loads(json.dumps(metadata)),
        namespace=namespace,
        created_at=created_at,
        updated_at=None,
    )


def coerce_records(
    items: Iterable[Record | Mapping[str, Any]], *, max_text_chars: int
) -> list[Record]:
    """Validate a whole batch before any of it is written.

    Args:
        items: Records or dicts. A single record or a string is rejected (a common mistake).
        max_text_chars: Longest accepted text.

    Returns:
        The validated records.

    Raises:
        InvalidRecordError: On the first bad record, with its position.
    """
    if isinstance(items, str | bytes | Mapping | Record):
        raise InvalidRecordError("expected a list of records, got a single value")
    out: list[Record] = []
    for i, item in enumerate(items):
        try:
            out.append(coerce_record(item, max_text_chars=max_text_chars))
        except InvalidRecordError as exc:
            raise InvalidRecordError(f"record #{i}: {exc.message}") from None
    return out
