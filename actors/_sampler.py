"""Periodic sampling of gauges that only change on events.

Mailbox depth is set after each batch and DLQ size when a letter moves, so a quiet system
would show stale values forever. The supervisor actor runs :func:`sample_forever` so every
Prometheus scrape sees current ones. It also wires the journal's group commit to the
commit-latency histogram.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from actors import _metrics as mx
from actors._group_commit import GroupCommit
from actors._metrics import Metrics

log = logging.getLogger(__name__)

SUPERVISOR = "supervisor"  # the agent tag of system-wide gauges (DLQ, journal)


@dataclass(frozen=True)
class Sample:
    """One reading: waiting messages per agent, dead letters, uncommitted journal writes."""

    depths: dict[str, int] = field(default_factory=dict)
    dead: int = 0
    pending_writes: int = 0


def record(metrics: Metrics, sample: Sample) -> None:
    """Set every sampled gauge from one reading."""
    for agent, depth in sample.depths.items():
        metrics.gauge(mx.MAILBOX_DEPTH, depth, agent)
    metrics.gauge(mx.DLQ_SIZE, sample.dead, SUPERVISOR)
    metrics.gauge(mx.JOURNAL_PENDING, sample.pending_writes, SUPERVISOR)


def time_commits(gc: GroupCommit, metrics: Metrics) -> None:
    """Record the seconds of each group commit of ``gc``."""
    gc.on_timed = lambda s: metrics.observe(mx.JOURNAL_COMMIT_LATENCY, s, SUPERVISOR)


async def sample_forever(read: Callable[[], Sample], metrics: Metrics,
                         interval_s: float = 2.0) -> None:
    """Record ``read()`` every ``interval_s`` until cancelled."""
    while True:
        try:
            record(metrics, read())
        except Exception:  # a bad reading must not end the loop (or the supervisor)
            log.exception("metrics sample failed")
        await asyncio.sleep(interval_s)
