"""The bundled retrieval evaluation set: an invented world, seeded, with graded labels.

Example::

    from memory.evalset import load_eval_set

    es = load_eval_set()
    len(es.corpus), len(es.queries)      # documents (record dicts), labelled queries
    es.qrels["q-0001"]                   # {doc_id: grade}, 2 = answers, 1 = related

The files are written by ``python -m memory.evalset._generate`` (see that module for how
documents and queries are made); ``memory.evaluate`` scores a search function on them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from actors._errors import ConfigError

DATA_DIR = Path(__file__).resolve().parent
CORPUS_FILE = "corpus.jsonl"
QUERIES_FILE = "queries.jsonl"


@dataclass(frozen=True, kw_only=True)
class EvalQuery:
    """One labelled query.

    Attributes:
        id: Query id.
        text: The query.
        kind: ``mixed``, ``keyword`` or ``paraphrase`` (see ``memory.evalset._generate``).
        domain: Which part of the invented world it asks about.
        relevant: Graded labels: document id -> 2 (answers) or 1 (related).
    """

    id: str
    text: str
    kind: str
    domain: str
    relevant: dict[str, int]


@dataclass(frozen=True, kw_only=True)
class EvalSet:
    """Documents and labelled queries.

    Attributes:
        corpus: Record dicts (``id``, ``text``, ``metadata``) ready for ``add``.
        queries: The labelled queries.
    """

    corpus: list[dict[str, Any]]
    queries: list[EvalQuery]

    @property
    def qrels(self) -> dict[str, dict[str, int]]:
        """Labels by query id."""
        return {q.id: q.relevant for q in self.queries}


def _read(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        raise ConfigError(f"{path} is missing: regenerate it with "
                          "`python -m memory.evalset._generate`", field="evalset")
    rows = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except ValueError as exc:
                raise ConfigError(f"{path}:{n}: not JSON ({exc})", field="evalset") from None
    return rows


@cache
def _load(data_dir: Path) -> EvalSet:
    corpus = _read(data_dir / CORPUS_FILE)
    queries = [EvalQuery(**row) for row in _read(data_dir / QUERIES_FILE)]
    ids = {d["id"] for d in corpus}
    for q in queries:
        unknown = set(q.relevant) - ids
        if unknown:
            raise ConfigError(f"query {q.id} labels unknown documents {sorted(unknown)[:3]}",
                              field="evalset")
    return EvalSet(corpus=corpus, queries=queries)


def load_eval_set(data_dir: str | Path | None = None) -> EvalSet:
    """Load the bundled evaluation set (or one in the same format elsewhere).

    Args:
        data_dir: Directory holding ``corpus.jsonl`` and ``queries.jsonl``; ``None`` means
            the bundled set.

    Returns:
        The set (cached: callers must not modify it).

    Raises:
        ConfigError: If a file is missing or malformed.
    """
    return _load(Path(data_dir).resolve() if data_dir is not None else DATA_DIR)


__all__ = ["EvalQuery", "EvalSet", "load_eval_set"]
