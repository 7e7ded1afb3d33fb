"""Splitting long texts into overlapping chunks for embedding.

Sentence-transformer models read a bounded number of word pieces (256 for MiniLM, roughly
1,000 characters of English), so long documents are cut into windows of about ``size``
characters. Cuts prefer the last paragraph break, then sentence end, then whitespace in the
second half of a window, so chunks rarely split a word; consecutive chunks share about
``overlap`` characters so that a passage straddling a cut is still whole in one of them.
"""

from __future__ import annotations

import re

from actors._errors import ConfigError

_BREAKS = (re.compile(r"\n\s*\n"), re.compile(r"[.!?]\s"), re.compile(r"\s"))


def _cut(text: str, start: int, end: int) -> int:
    """Return the best cut position in ``text[start:end]``, searching its second half."""
    lo = start + (end - start) // 2
    for pattern in _BREAKS:
        last = None
        for m in pattern.finditer(text, lo, end):
            last = m
        if last is not None:
            return last.end()
    return end


def chunk_text(text: str, size: int = 1000, overlap: int = 200) -> list[str]:
    """Split text into overlapping chunks of at most ``size`` characters.

    Args:
        text: The text to split.
        size: Maximum chunk length in characters (>= 1).
        overlap: Characters shared by consecutive chunks, in ``[0, size)``.

    Returns:
        The non-blank chunks, stripped, in order; ``[]`` for blank text, ``[text.strip()]``
        when it fits in one chunk.

    Raises:
        ConfigError: If ``size`` or ``overlap`` is out of range.
    """
    if not isinstance(size, int) or size < 1:
        raise ConfigError(f"must be an integer >= 1, got {size!r}", field="chunk size")
    if not isinstance(overlap, int) or not 0 <= overlap < size:
        raise ConfigError(f"must be an integer in [0, size), got {overlap!r}", field="overlap")
    text = text.strip()
    if len(text) <= size:
        return [text] if text else []
    chunks: list[str] = []
    start = 0
    n = len(text)
    while start < n:
        end = min(start + size, n)
        if end < n:
            end = _cut(text, start, end)
        piece = text[start:end].strip()
        if piece:
            chunks.append(piece)
        if end >= n:
            break
        nxt = max(end - overlap, start + 1)
        # Start the next chunk at a word boundary rather than mid-word.
        if 0 < nxt < end and not text[nxt - 1].isspace():
            m = re.compile(r"\s").search(text, nxt, end)
            nxt = m.end() if m else nxt
        start = nxt
    return chunks
