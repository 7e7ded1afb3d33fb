"""Reading documents from files for ingestion (``raygent memory ingest``).

Supported inputs:

* ``.txt`` and ``.md`` — one record per file, or per chunk when ``chunk_size`` is given. A
  Markdown file's first ``# heading`` becomes the ``title`` metadata field.
* ``.jsonl`` — one record per non-blank line, each a JSON object with ``text`` and optionally
  ``id``, ``metadata``, ``namespace`` and ``created_at``.

Directories are walked recursively for those suffixes (hidden entries skipped). Ids are
derived from the path so that re-ingesting a file upserts the same records.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from actors._errors import InvalidRecordError
from memory._chunk import chunk_text
from memory._records import DEFAULT_NAMESPACE, Record

SUFFIXES = frozenset({".txt", ".md", ".jsonl"})


def _expand(paths: Iterable[str | os.PathLike[str]]) -> list[Path]:
    files: list[Path] = []
    for raw in paths:
        p = Path(raw).expanduser()
        if p.is_dir():
            for sub in sorted(p.rglob("*")):
                rel = sub.relative_to(p)
                if (
                    sub.is_file()
                    and sub.suffix.lower() in SUFFIXES
                    and not any(part.startswith(".") for part in rel.parts)
                ):
                    files.append(sub)
        elif p.is_file():
            if p.suffix.lower() not in SUFFIXES:
                raise InvalidRecordError(
                    f"{p}: unsupported file type {p.suffix!r}; use .txt, .md or .jsonl"
                )
            files.append(p)
        else:
            raise InvalidRecordError(f"{p}: no such file or directory")
    return files


def _title(text: str) -> str | None:
    for line in text.splitlines():
        if line.startswith("# "):
            return line[2:].strip() or None
    return None


def load_documents(
    paths: Iterable[str | os.PathLike[str]],
    *,
    chunk_size: int | None = None,
    overlap: int = 200,
    namespace: str = DEFAULT_NAMESPACE,
    read: Callable[[Path], str] | None = None,
) -> list[Record]:
    """Read files into records ready for ``MemoryService.upsert``.

    Args:
        paths: Files and/or directories.
        chunk_size: Split texts into chunks of this many characters (see
            :func:`memory.chunk_text`); ``None`` keeps one record per document.
        overlap: Characters shared by consecutive chunks.
        namespace: Namespace for records that do not name their own.
        read: Reads one file's text; ``None`` reads it whole as UTF-8. The memory service
            passes its checked reader (``memory._ingest``).

    Returns:
        The records, in file order.

    Raises:
        InvalidRecordError: For a missing or unsupported path, undecodable text or a
            malformed JSONL line (with file and line number).
    """
    records: list[Record] = []
    for path in _expand(paths):
        try:
            content = read(path) if read is not None else path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise InvalidRecordError(f"{path}: cannot read as UTF-8 text: {exc}") from exc
        source = str(path)
        suffix = path.suffix.lower()
        if suffix == ".jsonl":
            for lineno, line in enumerate(content.splitlines(), start=1):
                if not line.strip():
                    continue
                try:
                    obj: Any = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise InvalidRecordError(f"{path}:{lineno}: invalid JSON: {exc}") from exc
                if not isinstance(obj, dict) or not isinstance(obj.get("text"), str):
                    raise InvalidRecordError(
                        f"{path}:{lineno}: each line must be an object with a 'text' string"
                    )
                meta: dict[str, Any] = obj.get("metadata") or {}
                if not isinstance(meta, dict):
                    raise InvalidRecordError(f"{path}:{lineno}: 'metadata' must be an object")
                base_id = str(obj.get("id") or f"{source}:{lineno}")
                meta = {**meta, "source": meta.get("source", source)}
                records.extend(
                    _pieces(
                        obj["text"],
                        base_id,
                        meta,
                        obj.get("namespace") or namespace,
                        obj.get("created_at"),
                        chunk_size,
                        overlap,
                    )
                )
        else:
            meta = {"source": source, "format": suffix[1:]}
            title = _title(content) if suffix == ".md" else None
            if title:
                meta["title"] = title
            records.extend(_pieces(content, source, meta, namespace, None, chunk_size, overlap))
    return records


def _pieces(
    text: str,
    base_id: str,
    meta: dict[str, Any],
    namespace: str,
    created_at: Any,
    chunk_size: int | None,
    overlap: int,
) -> list[Record]:
    if chunk_size is None:
        if not text.strip():
            return []
        return [
            Record(
                id=base_id,
                text=text,
                metadata=meta,
                namespace=namespace,
                created_at=created_at,
            )
        ]
    chunks = chunk_text(text, chunk_size, overlap)
    return [
        Record(
            id=f"{base_id}#{i}",
            text=chunk,
            metadata={**meta, "chunk": i, "chunks": len(chunks)},
            namespace=namespace,
            created_at=created_at,
        )
        for i, chunk in enumerate(chunks)
    ]
