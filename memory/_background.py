"""Background upkeep of a store's LanceDB table: compaction and the optional ANN index.

Every write is one LanceDB commit, and commits pile up files; after a few hundred the
table is optimised (compacted, old versions dropped) by a daemon thread, holding the
store's writer mutex so it never races a commit.

With ``MemoryConfig.ann_threshold`` set, the same thread builds a LanceDB IVF_PQ index once
the table is that large, never holding the writer mutex, so ingestion never waits for it.
The store's own searches stay exact regardless (see ``memory._search``): the index serves
other LanceDB readers of the table and a future out-of-core mode. It is off by default: up
to a few million vectors the exact product is fast and costs no recall.
"""

from __future__ import annotations

import logging
import math
import threading
import time
import warnings
from collections.abc import Callable
from datetime import timedelta
from typing import Any

log = logging.getLogger("raygent.memory")

#: Commits between two table optimisations.
OPTIMIZE_EVERY = 256


class Maintenance:
    """The maintenance thread of one store.

    Args:
        table: The LanceDB table.
        writer: The store's writer mutex.
        closed: Whether the store is closed.
        rows: The store's current record count.
        dim: Vector dimension.
        ann_threshold: Row count that triggers the ANN build, or ``None`` for never.
    """

    def __init__(self, table: Any, writer: threading.Lock, closed: Callable[[], bool],
                 rows: Callable[[], int], dim: int, ann_threshold: int | None) -> None:
        self._table = table
        self._writer = writer
        self._closed = closed
        self._rows = rows
        self._dim = dim
        self._threshold = ann_threshold
        self.commits_since_optimize = 0
        self.ann_state = "off" if ann_threshold is None else "pending"
        self._ann_rows = 0
        self._ann_retry_at = 0.0
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="raygent-memory-maint",
                                        daemon=True)

    def start(self) -> None:
        """Start the thread."""
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread and wait (up to a minute) for work in progress."""
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout=60)

    def committed(self) -> None:
        """Count one LanceDB commit; wakes the thread when there is work."""
        self.commits_since_optimize += 1
        if self.commits_since_optimize >= OPTIMIZE_EVERY or self.ann_state == "pending":
            self._wake.set()

    def optimize(self) -> None:
        """Compact the table now (the caller holds the writer mutex)."""
        # This process holds the directory lock, so no other reader needs old versions;
        # LanceDB warns about that case, which cannot happen here.
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*cleanup_older_than.*")
            self._table.optimize(cleanup_older_than=timedelta(seconds=0))
        self.commits_since_optimize = 0

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(timeout=30.0)
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                if self.commits_since_optimize >= OPTIMIZE_EVERY:
                    with self._writer:
                        if not self._closed():
                            self.optimize()
                self._maybe_build_ann()
            except Exception:  # keep the thread alive; the next wake retries
                log.exception("memory store maintenance failed")

    def _maybe_build_ann(self) -> None:
        if self._threshold is None or self._closed():
            return
        rows = self._rows()
        # Rebuild when the table has doubled since the last build: IVF centroids drift.
        if (
            rows < self._threshold
            or (self._ann_rows and rows < 2 * self._ann_rows)
            or time.monotonic() < self._ann_retry_at
        ):
            return
        self.ann_state = "building"
        started = time.perf_counter()
        try:
            # Deliberately outside the writer mutex: LanceDB commits the index as its own
            # version and rebases it over appends made meanwhile.
            from lancedb.index import IvfPq

            # With ``config`` given, LanceDB reads the first argument as the column name.
            self._table.create_index(
                "vector",
                replace=True,
                config=IvfPq(
                    distance_type="cosine",
                    num_partitions=max(1, int(math.sqrt(rows))),
                    num_sub_vectors=max(1, self._dim // 16),
                ),
            )
        except Exception as exc:
            # A conflicting concurrent write can abort the build; try again later, not at
            # every commit.
            self.ann_state = f"failed: {exc}"
            self._ann_retry_at = time.monotonic() + 600.0
            log.warning("building the LanceDB ANN index failed: %s", exc)
            return
        self._ann_rows = rows
        self.ann_state = "ready"
        log.info("LanceDB ANN index built over %d rows in %.1fs", rows,
                 time.perf_counter() - started)
