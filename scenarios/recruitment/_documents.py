"""Reading resume and job files into :class:`Document` records, on the driver's side.

A path is a file or a directory (read recursively, hidden files skipped, sorted). Each file
is checked before its content is used: a known extension (``.txt``, ``.md``/``.markdown``,
``.json``), at most ``max_bytes`` (checked with ``stat``, so a 10 MB file is never read),
UTF-8 text, not empty. A ``.json`` file may hold one object or a list of them. A file that
fails a check becomes a :class:`Rejected` entry naming it; the other files are still read.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from actors import ConfigError
from scenarios.recruitment._errors import DocumentError
from scenarios.recruitment.messages import Document, Rejected

EXTENSIONS = {".txt": "text", ".text": "text", ".md": "markdown", ".markdown": "markdown",
              ".json": "json"}
#: One document larger than this is refused (a resume is a few kB).
MAX_BYTES = 1_000_000


@dataclass(kw_only=True)
class Loaded:
    """What a path held: usable documents and the files refused."""

    documents: list[Document] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)


def _size(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 100_000 else f"{n} bytes"


def decode(source: str, data: bytes) -> str:
    """UTF-8 text of a file's bytes (a leading BOM is dropped).

    Raises:
        DocumentError: If the bytes are not UTF-8 or hold only whitespace.
    """
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DocumentError(
            source, f"not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start}): "
                    "save the file as UTF-8") from None
    if not text.strip():
        raise DocumentError(source, "the file is empty: nothing to parse")
    if "\x00" in text:
        raise DocumentError(source, "the file holds NUL bytes (a binary file?): give text, "
                                    "Markdown or JSON")
    return text


def read_file(path: Path, kind: str, *, max_bytes: int = MAX_BYTES) -> list[Document]:
    """Check and read one file.

    Returns:
        One document, or one per entry of a JSON list.

    Raises:
        DocumentError: Naming the file: unknown format, too large, not UTF-8, empty,
            invalid JSON.
    """
    source = str(path)
    fmt = EXTENSIONS.get(path.suffix.lower())
    if fmt is None:
        known = ", ".join(sorted(EXTENSIONS))
        raise DocumentError(source, f"unknown format {path.suffix or '(no extension)'!r}: "
                                    f"give plain text, Markdown or JSON ({known})")
    size = path.stat().st_size
    if size > max_bytes:
        raise DocumentError(source, f"the file is {_size(size)}, over the limit of "
                                    f"{_size(max_bytes)} for one {kind}: is it the right "
                                    "file? (raise input.max_file_bytes to allow it)")
    text = decode(source, path.read_bytes())
    if fmt != "json":
        return [Document(source=source, format=fmt, kind=kind, text=text)]
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DocumentError(source, f"not valid JSON (line {exc.lineno}, column {exc.colno}: "
                                    f"{exc.msg})") from None
    items = data if isinstance(data, list) else [data]
    if not items:
        raise DocumentError(source, "the JSON list is empty: nothing to parse")
    docs = []
    for i, item in enumerate(items):
        where = source if len(items) == 1 else f"{source}#{i}"
        # Each entry travels on as its own JSON text; the parser checks its shape.
        docs.append(Document(source=where, format="json", kind=kind,
                             text=json.dumps(item, ensure_ascii=False)))
    return docs


def load_documents(path: str | os.PathLike[str], kind: str, *,
                   max_bytes: int = MAX_BYTES) -> Loaded:
    """Read every document under ``path`` (a file or a directory).

    Args:
        path: A file or a directory.
        kind: ``resume`` or ``job``.
        max_bytes: The largest file accepted.

    Returns:
        The documents read, and a :class:`Rejected` entry for each file refused.

    Raises:
        ConfigError: If ``path`` does not exist (nothing could be read at all).
    """
    root = Path(os.path.expanduser(os.fspath(path)))
    if not root.exists():
        raise ConfigError(f"no such file or directory: {root}", field=f"--{kind}s")
    if root.is_file():
        files = [root]
    else:
        files = sorted(p for p in root.rglob("*") if p.is_file()
                       and not any(part.startswith(".") for part in p.relative_to(root).parts))
    out = Loaded()
    for file in files:
        try:
            out.documents.extend(read_file(file, kind, max_bytes=max_bytes))
        except DocumentError as exc:
            out.rejected.append(Rejected(source=exc.source, reason=exc.reason))
        except OSError as exc:
            out.rejected.append(Rejected(source=str(file),
                                         reason=f"cannot read it ({exc.strerror or exc})"))
    return out
