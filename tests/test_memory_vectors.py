"""The vector scan: a bfloat16 first pass must give exactly the float32 top k."""

from __future__ import annotations

import numpy as np
import pytest

from actors._errors import ConfigError
from memory import MemoryConfig
from memory._vectors import MIN_SLOTS, VectorScan, exact_scores


def _unit(rng: np.random.Generator, n: int, d: int = 64) -> np.ndarray:
    m = rng.normal(size=(n, d)).astype(np.float32)
    return m / np.linalg.norm(m, axis=1, keepdims=True)


def _reference(vectors: np.ndarray, q: np.ndarray, k: int, mask: np.ndarray | None,
               n: int) -> list[int]:
    scores = vectors[:n].astype(np.float64) @ q.astype(np.float64)
    slots = np.arange(n) if mask is None else np.flatnonzero(mask[:n])
    order = sorted(slots.tolist(), key=lambda s: (-scores[s], s))
    return order[:k]


@pytest.mark.parametrize("precision", ["bfloat16", "float32", "auto"])
def test_the_scan_returns_the_exact_top_k(precision: str) -> None:
    rng = np.random.default_rng(3)
    n = 3 * MIN_SLOTS
    vectors = _unit(rng, n + 100)  # spare rows beyond n must be ignored
    scan = VectorScan(precision)
    for trial in range(20):
        q = _unit(rng, 1)[0]
        mask = rng.random(n) < 0.3 if trial % 2 else None
        for k in (1, 10, 50):
            found = scan.top(vectors, q, k, mask, n)
            assert [s for s, _ in found] == _reference(vectors, q, k, mask, n)
            exact = vectors[[s for s, _ in found]] @ q
            assert np.allclose([x for _, x in found], exact, atol=1e-5)


def test_the_shadow_follows_appends_and_compaction() -> None:
    rng = np.random.default_rng(4)
    vectors = _unit(rng, 4 * MIN_SLOTS)
    scan = VectorScan("bfloat16")
    q = vectors[10]
    assert scan.top(vectors, q, 1, None, 2 * MIN_SLOTS)[0][0] == 10
    # Rows appended later are seen...
    q2 = vectors[3 * MIN_SLOTS]
    assert scan.top(vectors, q2, 1, None, 4 * MIN_SLOTS)[0][0] == 3 * MIN_SLOTS
    # ...and after a renumbering the owner invalidates the copy.
    vectors[: 2 * MIN_SLOTS] = vectors[2 * MIN_SLOTS:]
    scan.invalidate()
    assert scan.top(vectors, q2, 1, None, 2 * MIN_SLOTS)[0][0] == MIN_SLOTS


def test_near_ties_fall_back_to_float32() -> None:
    rng = np.random.default_rng(5)
    base = _unit(rng, 1)[0]
    # Thousands of vectors within bfloat16 error of each other (scores spread over ~1e-3):
    # the filter cannot prove its cut, so the scan falls back and still returns the exact
    # float32 order.
    noise = rng.normal(scale=1e-2, size=(2 * MIN_SLOTS, base.shape[0])).astype(np.float32)
    vectors = base + noise
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    scan = VectorScan("bfloat16")
    found = scan.top(vectors, base, 5, None, vectors.shape[0])
    assert found == VectorScan("float32").top(vectors, base, 5, None, vectors.shape[0])
    assert [s for s, _ in found] == _reference(vectors, base, 5, None, vectors.shape[0])
    assert scan.fallbacks == 1


def test_small_inputs_and_config() -> None:
    scan = VectorScan("bfloat16")
    assert scan.top(np.zeros((0, 4), np.float32), np.ones(4, np.float32), 3, None, 0) == []
    v = np.eye(4, dtype=np.float32)
    assert scan.top(v, v[2], 2, None, 4)[0][0] == 2
    assert np.allclose(exact_scores(v, v[1]), [0, 1, 0, 0])
    with pytest.raises(ConfigError, match="vector_scan"):
        MemoryConfig(vector_scan="int4")
    with pytest.raises(ConfigError, match="threads"):
        MemoryConfig(threads=0)
