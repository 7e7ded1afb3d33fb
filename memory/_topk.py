"""Deterministic top-k selection shared by both retrievers."""

from __future__ import annotations

import numpy as np


def first_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Positions of the ``k`` highest scores; among scores tied at the cut, the first ones.

    ``argpartition`` alone picks an arbitrary subset of the tied scores at the cut, so the
    top 10 would not be the first 10 of the top 100; BM25 ties are common (short documents
    sharing the query's only matching term).

    Args:
        scores: Scores in slot order (``len(scores) > k``).
        k: How many.

    Returns:
        Positions into ``scores``, in no particular order.
    """
    cut = scores[np.argpartition(-scores, k - 1)[k - 1]]
    above = np.flatnonzero(scores > cut)
    tied = np.flatnonzero(scores == cut)
    return np.concatenate((above, tied[: k - above.size]))
