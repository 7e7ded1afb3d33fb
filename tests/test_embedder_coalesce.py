"""Concurrent embedding calls are coalesced into one model run, with unchanged results.

The runs are held at a gate while other callers queue, so what gets batched together is
decided by the test, not by thread timing.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

import numpy as np
import pytest

from memory import Embedder, MemoryConfig
from memory._coalesce import Coalescer
from tests.conftest import wait_for


class _Gated:
    """Wraps a model run: records every run's texts; the first run waits for ``open``."""

    def __init__(self, run: Callable[[list[str]], np.ndarray]) -> None:
        self._run = run
        self.open = threading.Event()
        self.entered = threading.Event()
        self.batches: list[list[str]] = []

    def __call__(self, texts: list[str]) -> np.ndarray:
        self.batches.append(list(texts))
        if len(self.batches) == 1:
            self.entered.set()
            self.open.wait(timeout=60)
        return self._run(texts)


def _call_all(fn: Callable[[Sequence[str]], np.ndarray], requests: list[list[str]],
              results: dict[int, np.ndarray], errors: dict[int, BaseException]
              ) -> list[threading.Thread]:
    def work(i: int) -> None:
        try:
            results[i] = np.array(fn(requests[i]))
        except BaseException as exc:
            errors[i] = exc

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(requests))]
    for t in threads:
        t.start()
    return threads


def _lengths(texts: list[str]) -> np.ndarray:
    return np.array([[len(t), i] for i, t in enumerate(texts)], dtype=np.float32)


def test_callers_that_overlap_a_run_share_the_next_one() -> None:
    gated = _Gated(_lengths)
    co = Coalescer(gated, max_items=100)
    results: dict[int, np.ndarray] = {}
    errors: dict[int, BaseException] = {}
    first = _call_all(co, [["lone caller"]], results, errors)
    assert gated.entered.wait(timeout=30)
    requests = [[f"q{i}" * (i + 1)] for i in range(6)] + [["a", "bb", "ccc"]]
    others = _call_all(co, requests, {}, errors)
    wait_for(lambda: len(co._queue) == len(requests), message="callers queued")
    gated.open.set()
    for t in first + others:
        t.join(timeout=30)
    assert not errors
    # One run for the lone caller (it paid nothing extra), one for all seven that overlapped.
    assert co.runs == 2 and co.calls == 8
    assert len(gated.batches[1]) == 9
    np.testing.assert_array_equal(results[0], [[len("lone caller"), 0]])


def test_each_caller_gets_its_own_rows() -> None:
    gated = _Gated(_lengths)
    co = Coalescer(gated, max_items=100)
    results: dict[int, np.ndarray] = {}
    errors: dict[int, BaseException] = {}
    threads = _call_all(co, [["hold"]], {}, errors)
    assert gated.entered.wait(timeout=30)
    requests = [["x" * (i + 1)] * (i % 3 + 1) for i in range(8)]
    threads += _call_all(co, requests, results, errors)
    wait_for(lambda: len(co._queue) == len(requests), message="callers queued")
    gated.open.set()
    for t in threads:
        t.join(timeout=30)
    assert not errors
    for i, texts in enumerate(requests):
        assert results[i][:, 0].tolist() == [len(t) for t in texts]


def test_a_run_never_exceeds_max_items() -> None:
    gated = _Gated(_lengths)
    co = Coalescer(gated, max_items=5)
    errors: dict[int, BaseException] = {}
    threads = _call_all(co, [["hold"]], {}, errors)
    assert gated.entered.wait(timeout=30)
    requests = [["t"] * 2 for _ in range(6)] + [["big"] * 9]  # larger than a run: alone
    threads += _call_all(co, requests, {}, errors)
    wait_for(lambda: len(co._queue) == len(requests), message="callers queued")
    gated.open.set()
    for t in threads:
        t.join(timeout=30)
    assert not errors
    sizes = [len(b) for b in gated.batches[1:]]
    assert sum(sizes) == 21 and all(s <= 5 for s in sizes if s != 9) and 9 in sizes
    assert co.calls == 8 and co.runs == len(gated.batches) < 8


def test_a_failed_run_fails_its_callers_and_the_next_run_works() -> None:
    state = {"fail": True}

    def flaky(texts: list[str]) -> np.ndarray:
        if state["fail"]:
            raise RuntimeError("model crashed")
        return _lengths(texts)

    gated = _Gated(flaky)
    co = Coalescer(gated, max_items=100)
    errors: dict[int, BaseException] = {}
    threads = _call_all(co, [["hold"]], {}, errors)
    assert gated.entered.wait(timeout=30)
    gated.open.set()
    for t in threads:
        t.join(timeout=30)
    assert isinstance(errors[0], RuntimeError)
    state["fail"] = False
    np.testing.assert_array_equal(co(["ok"]), [[2, 0]])
    assert not co._busy


@pytest.mark.parametrize("backend", ["onnx", "torch"])
def test_coalesced_real_model_matches_one_call_at_a_time(backend: str) -> None:
    emb = Embedder(MemoryConfig(embed_backend=backend, query_cache_size=0))
    queries = [f"question {i}: how do agents share {w}?"
               for i, w in enumerate(["memory", "a mailbox", "state", "vectors", "time",
                                      "errors", "a journal", "traces"])]
    alone = np.stack([emb.encode([q])[0] for q in queries])
    gated = _Gated(lambda texts: emb._load().encode(texts, 64))
    co = Coalescer(gated, max_items=256)
    results: dict[int, np.ndarray] = {}
    errors: dict[int, BaseException] = {}
    threads = _call_all(co, [["warm the gate"]], {}, errors)
    assert gated.entered.wait(timeout=30)
    threads += _call_all(co, [[q] for q in queries], results, errors)
    wait_for(lambda: len(co._queue) == len(queries), message="queries queued")
    gated.open.set()
    for t in threads:
        t.join(timeout=120)
    assert not errors
    assert co.runs == 2 and len(gated.batches[1]) == len(queries)
    batched = np.concatenate([results[i] for i in range(len(queries))])
    batched /= np.linalg.norm(batched, axis=1, keepdims=True)
    np.testing.assert_allclose(batched, alone, atol=2e-5)


def test_the_embedder_coalesces_concurrent_queries() -> None:
    """Through the public API: while a bulk encode holds the model, queries pile up."""
    emb = Embedder(MemoryConfig(embed_backend="onnx", query_cache_size=0))
    emb.encode(["load the model"])
    queries = [f"concurrent query number {i}" for i in range(8)]
    alone = np.stack([emb.encode_query(q) for q in queries])
    gate = threading.Event()
    real_run = emb._coalescer._run
    started = threading.Event()

    def held(texts: list[str]) -> np.ndarray:
        if texts == ["hold"]:
            started.set()
            gate.wait(timeout=60)
        return real_run(texts)

    emb._coalescer._run = held
    results: dict[int, np.ndarray] = {}
    errors: dict[int, BaseException] = {}
    threads = _call_all(emb.encode, [["hold"]], {}, errors)
    assert started.wait(timeout=30)
    runs = emb.model_runs
    threads += _call_all(lambda t: emb.encode_query(t[0])[None, :], [[q] for q in queries],
                         results, errors)
    wait_for(lambda: len(emb._coalescer._queue) == len(queries), message="queries queued")
    gate.set()
    for t in threads:
        t.join(timeout=120)
    assert not errors
    assert emb.model_runs - runs == 2  # the held run, then all eight queries in one
    got = np.concatenate([results[i] for i in range(len(queries))])
    np.testing.assert_allclose(got, alone, atol=2e-5)
