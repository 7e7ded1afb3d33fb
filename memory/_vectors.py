"""Exact vector top-k over the slot matrix, with a bfloat16 first pass where that is faster.

The product ``vectors @ query`` reads the whole matrix for every query (150 MB at
100k x 384 float32), so its cost is memory bandwidth. A bfloat16 copy halves that: on this
project's 2-core machine (AVX512-BF16) one 100k product takes 5.5 ms instead of 13.7 ms on
one thread. bfloat16 keeps 8 bits of mantissa, so the first pass is only a filter: it keeps
the best ``4k + 64`` slots, which are then re-scored exactly in float32. The result is the
float32 result, not an approximation: with unit vectors a bfloat16 score is within
``BF16_ERROR`` of the exact one, and when even the best slot the filter dropped could not
reach the k-th exact score within that bound (the usual case by a wide margin), nothing it
dropped can belong in the top k; otherwise the query falls back to a float32 scan.

``auto`` times both products once on the store's own matrix (at 4,096 slots and again when
the store has grown 8-fold) and keeps the faster: CPUs without native bfloat16 convert and
lose, and then float32 stays.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import numpy as np

#: Bound on |bfloat16 score - float32 score| for unit vectors: both operands rounded to
#: 8 significant bits (2 * 2^-8, summed over a unit-norm product) plus the rounding of the
#: result (2^-8), doubled for margin.
BF16_ERROR = 2 * (2 * 2.0**-8 + 2.0**-8)
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
    """Best ``k`` by score, ties by ascending slot."""
    if scores.shape[0] > k:
        part = np.argpartition(-scores, k - 1)[:k]
    else:
        part = np.arange(scores.shape[0])
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
        self._choice: str | None = None if precision == "auto" else precision
        self._chosen_at = 0
        self.fallbacks = 0

    def invalidate(self) -> None:
        """Forget the shadow copy (after compaction renumbered the slots)."""
        with self._lock:
            self._shadow, self._rows = None, 0

    def _shadow_rows(self, torch: Any, vectors: np.ndarray, n: int) -> Any:
        with self._lock:
            if self._shadow is None or self._shadow.shape[0] < n:
                grown = torch.empty((max(n, 2 * self._rows, MIN_SLOTS), vectors.shape[1]),
                                    dtype=torch.bfloat16)
                if self._rows:
                    grown[: self._rows] = self._shadow[: self._rows]
                self._shadow = grown
            if self._rows < n:
                self._shadow[self._rows:n] = torch.from_numpy(vectors[self._rows:n])
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
        keep = 4 * k + 64
        if (torch is None or self.precision == "float32" or n < MIN_SLOTS or keep * 4 > n
                or self._mode(torch, vectors, qvec, n) == "float32"):
            return self._exact(vectors, qvec, k, mask, n)
        shadow = self._shadow_rows(torch, vectors, n)
        with torch.inference_mode():
            q16 = torch.from_numpy(np.array(qvec, np.float32)).to(torch.bfloat16)
            rough = torch.mv(shadow, q16).float().numpy()
        if mask is not None:
            rough = np.where(mask[:n], rough, -np.inf)
        part = np.argpartition(-rough, keep)
        cand, dropped = part[:keep], part[keep:]
        cand = cand[np.isfinite(rough[cand])]
        exact = vectors[cand] @ np.asarray(qvec, np.float32)
        found = _top(cand, exact, k)
        best_dropped = float(rough[dropped].max()) if dropped.size else -np.inf
        if len(found) == k and best_dropped + BF16_ERROR < found[-1][1]:
            return found
        if len(found) < k and not np.isfinite(best_dropped):
            return found  # every eligible slot was a candidate
        self.fallbacks += 1
        return self._exact(vectors, qvec, k, mask, n)

    @staticmethod
    def _exact(vectors: np.ndarray, qvec: np.ndarray, k: int, mask: np.ndarray | None,
               n: int) -> Ranking:
        scores = exact_scores(vectors[:n], qvec)
        if mask is not None:
            slots = np.flatnonzero(mask[:n])
            return _top(slots, scores[slots], k)
        return _top(np.arange(n), scores, k)
