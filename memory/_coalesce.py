"""Coalescing of concurrent embedding calls into one model run (group commit).

Many agents share one embedder per process (``memory.shared_embedder``), and the memory
agent serves each search on a worker thread, so queries arrive concurrently. A model run on
a batch of 16 short texts costs little more than a run on one, so calls that overlap are
gathered:

* a caller that finds the model idle runs at once with its own texts: a lone caller pays
  nothing (no timer, no hand-off to another thread);
* callers that arrive while the model runs queue up; when the run ends, the first of them
  runs the model once for the whole queue (up to ``max_items`` texts) and hands every caller
  its rows;
* while calls keep overlapping, that next leader may also wait up to ``window_s`` for more
  callers before it runs (the window is skipped whenever the previous run had no company).

Only the leader touches the model, so the model needs no lock of its own, and callers that
are served never wait longer than one run plus the run they were part of.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(eq=False)
class _Request:
    texts: Sequence[str]
    result: np.ndarray | None = None
    error: BaseException | None = None
    done: bool = False


class Coalescer:
    """Runs ``run`` on the union of concurrent calls' texts.

    Args:
        run: Embeds a list of texts into an ``(n, dim)`` array, in order; called by one
            thread at a time.
        max_items: Most texts gathered into one run (a call larger than this runs alone).
        window_s: Longest extra wait for more callers while calls overlap; 0 disables it.
    """

    def __init__(self, run: Callable[[list[str]], np.ndarray], *, max_items: int,
                 window_s: float = 0.0) -> None:
        self._run = run
        self._max_items = max_items
        self._window_s = window_s
        self._cond = threading.Condition()
        self._queue: deque[_Request] = deque()
        self._busy = False
        self._overlap = False
        self._gathering = False
        #: Model runs made and calls served; ``calls / runs`` is the mean coalescing factor.
        self.runs = 0
        self.calls = 0

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        """Embed ``texts`` (possibly together with other threads' texts).

        Returns:
            ``(len(texts), dim)`` rows, in order (a view of the shared run's output).

        Raises:
            Exception: Whatever the model run raised, for every call in that run.
        """
        req = _Request(texts)
        with self._cond:
            self._queue.append(req)
            if self._gathering:
                self._cond.notify_all()  # the leader waiting in its window counts texts
            while not req.done and (self._busy or self._queue[0] is not req):
                self._cond.wait()
            if not req.done:
                self._busy = True
                batch = self._gather()
        if req.done:
            return self._result(req)
        self._lead(batch)
        return self._result(req)

    def _gather(self) -> list[_Request]:
        """Take the head of the queue and whatever fits behind it (lock held)."""
        if self._window_s > 0 and self._overlap:
            deadline = time.monotonic() + self._window_s
            self._gathering = True
            while self._pending_items() < self._max_items:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(left)
            self._gathering = False
        batch = [self._queue.popleft()]
        total = len(batch[0].texts)
        while self._queue and total + len(self._queue[0].texts) <= self._max_items:
            total += len(self._queue[0].texts)
            batch.append(self._queue.popleft())
        return batch

    def _pending_items(self) -> int:
        return sum(len(r.texts) for r in self._queue)

    def _lead(self, batch: list[_Request]) -> None:
        """Run the model once for ``batch`` and hand out the rows."""
        texts = [t for r in batch for t in r.texts]
        error: BaseException | None = None
        out: np.ndarray | None = None
        try:
            out = self._run(texts)
        except BaseException as exc:  # handed to every caller of the run, then re-raised
            error = exc
        with self._cond:
            start = 0
            for r in batch:
                if out is not None:
                    r.result = out[start:start + len(r.texts)]
                    start += len(r.texts)
                r.error = error
                r.done = True
            self.runs += 1
            self.calls += len(batch)
            self._overlap = len(batch) > 1 or bool(self._queue)
            self._busy = False
            self._cond.notify_all()

    @staticmethod
    def _result(req: _Request) -> np.ndarray:
        if req.error is not None:
            raise req.error
        assert req.result is not None
        return req.result
