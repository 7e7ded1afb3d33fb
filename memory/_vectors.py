"""Exact vector top-k over the slot matrix, with a bfloat16 first pass where that is faster.

The product ``vectors @ query`` reads the whole matrix for every query (150 MB at
100k x 384 float32), so its cost is memory bandwidth. A bfloat16 copy halves that: on this
project's 2-core machine (AVX512-BF16) one 100k product takes 5.5 ms instead of 13.7 ms on
one thread. bfloat16 keeps 8 significant bits, so the first pass is only a filter, and the result is
still the float32 result, not an approximation. A bfloat16 score is within
``e = BF16_ERROR * max|row| * |query|`` of the exact one (both operands rounded, float32
accumulation, the result rounded). If ``R`` is the k-th best rough score, the k slots
above it have exact scores of at least ``R - e``, so the k-th exact score is at least
``R - e``, and every slot of the exact top k has a rough score of at least ``R - 2e``. The
filter keeps exactly those slots and re-scores them in float32. Only when that set is a
large part of the matrix (scores bunched within ``2e``) is a plain float32 scan cheaper,
and then it runs instead.

``auto`` times both products once on the store's own matrix (at 4,096 slots and again when
the store has grown 8-fold) and keeps the faster: CPUs without native bfloat16 convert and
lose, and then float32 stays.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import numpy as np

from memory._topk import first_k

#: Bound on |bfloat16 score - float32 score| / (|row| * |query|): both operands rounded to
#: 8 significant bits (2 u with u = 2^-8, summed over the product: sum |a_i b_i| <= |a||b|),
#: the result rounded (u), and one more u of margin for the float32 accumulation.
BF16_ERROR = 4 * 2.0**-8
#: Below this many slots the float32 product is cheap enough on its own.
MIN_SLOTS = 4096

Ranking = list[tuple[int, float]]


def _torch() -> Any:
    try:
        import torch
    except ImportError:  # the default embedder needs torch, a custom one may not
        return None
    return torch


def exact_scores(matrix: np.ndarray, vector: np.ndarray) -> np.ndarray:
    """``matrix @ vector`` in float32.

    Computed with torch when available: the query embedding just ran on torch's OpenMP
    threads, and handing the product to numpy's OpenBLAS pool instead makes the two pools
    spin against each other on small machines (measured on 2 cores: 118 ms vs 14 ms p50 for
    embed + product at 10k vectors).
    """
    torch = _torch()
    if torch is None:
        return matrix @ vector
    with torch.inference_mode():
        out = torch.mv(torch.from_numpy(matrix), torch.from_numpy(np.array(vector, np.float32)))
    return out.numpy()


def _top(slots: np.ndarray, scores: np.ndarray, k: int) -> Ranking:
    """Best ``k`` by score, ties by ascending slot (``slots`` must be ascending)."""
    part = first_k(scores, k) if scores.shape[0] > k else np.arange(scores.shape[0])
    order = part[np.lexsort((slots[part], -scores[part]))]
    return list(zip(slots[order].tolist(), scores[order].astype(np.float64).tolist(),
                    strict=True))


class VectorScan:
    """Top-k search over a growing float32 matrix, keeping a bfloat16 shadow copy.

    Args:
        precision: ``"auto"``, ``"float32"`` or ``"bfloat16"`` for the first pass.

    Thread safety: any number of searches may run at once; the shadow copy is extended
    under an internal lock. The owner calls :meth:`invalidate` when slots are renumbered.
    """

    def __init__(self, precision: str = "auto") -> None:
        self.precision = precision
        self._lock = threading.Lock()
        self._shadow: Any = None  # torch bfloat16 tensor, grown by doubling
        self._rows = 0  # rows of the shadow that mirror the matrix
        self._max_norm = 0.0  # largest row norm among them
        self._choice: str | None = None if precision == "auto" else precision
        self._chosen_at = 0
        self.fallbacks = 0

    def invalidate(self) -> None:
        """Forget the shadow copy (after compaction renumbered the slots)."""
        with self._lock:
            self._shadow, self._rows, self._max_norm = None, 0, 0.0

    def _shadow_rows(self, torch: Any, vectors: np.ndarray, n: int) -> Any:
        with self._lock:
            if self._shadow is None or self._shadow.shape[0] < n:
                grown = torch.empty((max(n, 2 * self._rows, MIN_SLOTS), vectors.shape[1]),
                                    dtype=torch.bfloat16)
                if self._rows:
                    grown[: self._rows] = self._shadow[: self._rows]
                self._shadow = grown
            if self._rows < n:
                new = vectors[self._rows:n]
                self._shadow[self._rows:n] = torch.from_numpy(new)
                self._max_norm = max(self._max_norm, float(np.linalg.norm(new, axis=1).max()))
                self._rows = n
            return self._shadow[:n]

    def _mode(self, torch: Any, vectors: np.ndarray, qvec: np.ndarray, n: int) -> str:
        if self._choice is not None and (self.precision != "auto" or n < 8 * self._chosen_at):
            return self._choice
        shadow = self._shadow_rows(torch, vectors, n)
        q16 = torch.from_numpy(np.array(qvec, np.float32)).to(torch.bfloat16)
        times = {}
        for name, run in (("float32", lambda: exact_scores(vectors[:n], qvec)),
                          ("bfloat16", lambda: torch.mv(shadow, q16))):
            best = float("inf")
            for _ in range(3):
                t = time.perf_counter()
                with torch.inference_mode():
                    run()
                best = min(best, time.perf_counter() - t)
            times[name] = best
        self._choice = min(times, key=lambda name: times[name])
        self._chosen_at = n
        return self._choice

    def top(self, vectors: np.ndarray, qvec: np.ndarray, k: int, mask: np.ndarray | None,
            n: int) -> Ranking:
        """The ``k`` most similar slots among the first ``n`` (ties by ascending slot).

        Args:
            vectors: The float32 slot matrix (at least ``n`` rows).
            qvec: The query vector (unit length).
            k: How many.
            mask: Eligible slots, or ``None`` for all.
            n: Slots in use.

        Returns:
            ``(slot, score)`` pairs with exact float32 scores, best first.
        """
        if n == 0 or k <= 0:
            return []
        torch = _torch()
        if (torch is None or self.precision == "float32" or n < MIN_SLOTS or k * 16 > n
                or self._mode(torch, vectors, qvec, n) == "float32"):
            return self._exact(vectors, qvec, k, mask, n)
        shadow = self._shadow_rows(torch, vectors, n)
        q32 = np.asarray(qvec, np.float32)
        with torch.inference_mode():
            rough = torch.mv(shadow, torch.from_numpy(np.array(q32)).to(torch.bfloat16))
            rough = rough.float().numpy()
        if mask is not None:
            rough = np.where(mask[:n], rough, -np.inf)
        kth = float(-np.partition(-rough, k - 1)[k - 1])
        if not np.isfinite(kth):  # fewer than k eligible slots: re-score them all
            cand = np.flatnonzero(np.isfinite(rough))
        else:
            error = BF16_ERROR * self._max_norm * float(np.linalg.norm(q32))
            cand = np.flatnonzero(rough >= kth - 2 * error)
        if cand.size * 4 > n:
            self.fallbacks += 1
            return self._exact(vectors, qvec, k, mask, n)
        return _top(cand, vectors[cand] @ q32, k)

    @staticmethod
    def _exact(vectors: np.ndarray, qvec: np.ndarray, k: int, mask: np.ndarray | None,
               n: int) -> Ranking:
        scores = exact_scores(vectors[:n], qvec)
        if mask is not None:
            slots = np.flatnonzero(mask[:n])
            return _top(slots, scores[slots], k)
        return _top(np.arange(n), scores, k)
