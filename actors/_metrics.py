"""Runtime metrics, recorded through a small protocol so the core stays free of Ray.

On Ray the supervisor and agents record with ``ray.util.metrics`` (exported on each node's
metrics endpoint for Prometheus/Grafana and the dashboard); tests and local use get the
no-op. Counters move by whole batches, so metrics cost per batch, not per message.
"""

from __future__ import annotations

from typing import Protocol

# Metric names, all prefixed so they group together in Prometheus (Ray adds "ray_").
ROUTED = "raygent_messages_routed"
HANDLED = "raygent_messages_handled"
FAILED = "raygent_messages_failed"
RETRIES = "raygent_retries"
RESTARTS = "raygent_restarts"
DEAD_LETTERS = "raygent_dead_letters"
DLQ_SIZE = "raygent_dlq_size"
MAILBOX_DEPTH = "raygent_mailbox_depth"
BATCH_LATENCY = "raygent_batch_latency_seconds"
MEMORY_SEARCH_LATENCY = "raygent_memory_search_latency_seconds"
HANDLER_LATENCY = "raygent_handler_latency_seconds"
JOURNAL_PENDING = "raygent_journal_pending_writes"
JOURNAL_COMMIT_LATENCY = "raygent_journal_commit_latency_seconds"

COUNTERS = (ROUTED, HANDLED, FAILED, RETRIES, RESTARTS, DEAD_LETTERS)
GAUGES = (DLQ_SIZE, MAILBOX_DEPTH, JOURNAL_PENDING)
HISTOGRAMS = (BATCH_LATENCY, MEMORY_SEARCH_LATENCY, HANDLER_LATENCY, JOURNAL_COMMIT_LATENCY)
ALL = COUNTERS + GAUGES + HISTOGRAMS


def exported(name: str) -> tuple[str, ...]:
    """The series Ray's Prometheus endpoint shows for one of ours (checked by scraping,
    Ray 2.60): a ``ray_`` prefix, ``_total`` on counters, histograms as three series."""
    if name in COUNTERS:
        return (f"ray_{name}_total",)
    if name in HISTOGRAMS:
        return tuple(f"ray_{name}_{s}" for s in ("bucket", "sum", "count"))
    return (f"ray_{name}",)


class Metrics(Protocol):
    def count(self, name: str, value: float, agent: str) -> None: ...
    def gauge(self, name: str, value: float, agent: str) -> None: ...
    def observe(self, name: str, value: float, agent: str, kind: str = "") -> None: ...


class NullMetrics:
    """Records nothing."""

    def count(self, name: str, value: float, agent: str) -> None:
        return None

    def gauge(self, name: str, value: float, agent: str) -> None:
        return None

    def observe(self, name: str, value: float, agent: str, kind: str = "") -> None:
        return None


_DESCRIPTIONS = {
    ROUTED: "Messages accepted into an agent's mailbox.",
    HANDLED: "Messages an agent handled successfully.",
    FAILED: "Handler failures and crashed deliveries.",
    RETRIES: "Deliveries retried after a failure.",
    RESTARTS: "Agent restarts by the supervisor.",
    DEAD_LETTERS: "Messages moved to the dead-letter queue.",
    DLQ_SIZE: "Messages waiting in the dead-letter queue.",
    MAILBOX_DEPTH: "Messages waiting in an agent's mailbox.",
    BATCH_LATENCY: "Seconds from handing a batch to an agent to its results.",
    MEMORY_SEARCH_LATENCY: "Seconds per memory search, embedding included (kind = mode).",
    HANDLER_LATENCY: "Seconds one handler ran, per agent and message kind.",
    JOURNAL_PENDING: "Journal writes queued and not yet committed (sampled).",
    JOURNAL_COMMIT_LATENCY: "Seconds per journal group commit (one transaction, one fsync).",
}
_BOUNDARIES = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0]


class RayMetrics:
    """``ray.util.metrics`` tagged ``agent``, ``system`` (the namespace), ``scenario``;
    histograms also ``kind`` (message kind, or search mode)."""

    def __init__(self, system: str, scenario: str = "") -> None:
        from ray.util import metrics

        tags = ("agent", "system", "scenario")
        self._default = {"system": system, "scenario": scenario}
        self._counters = {n: metrics.Counter(n, _DESCRIPTIONS[n], tag_keys=tags)
                          for n in COUNTERS}
        self._gauges = {n: metrics.Gauge(n, _DESCRIPTIONS[n], tag_keys=tags) for n in GAUGES}
        self._hists = {n: metrics.Histogram(n, _DESCRIPTIONS[n], boundaries=_BOUNDARIES,
                                            tag_keys=(*tags, "kind"))
                       for n in HISTOGRAMS}

    def _tags(self, agent: str) -> dict[str, str]:
        return {"agent": agent, **self._default}

    def count(self, name: str, value: float, agent: str) -> None:
        if value:
            self._counters[name].inc(value, tags=self._tags(agent))

    def gauge(self, name: str, value: float, agent: str) -> None:
        self._gauges[name].set(value, tags=self._tags(agent))

    def observe(self, name: str, value: float, agent: str, kind: str = "") -> None:
        self._hists[name].observe(value, tags={**self._tags(agent), "kind": kind})


_process: Metrics | None = None


def process_metrics(system: str = "") -> Metrics:
    """This process's recorder for code outside the supervisor (the memory agent): Ray's
    when this process is part of a Ray cluster, else the no-op. Made once per process."""
    global _process
    if _process is None:
        import ray

        _process = RayMetrics(system) if ray.is_initialized() else NullMetrics()
    return _process
