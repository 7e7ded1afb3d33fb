"""Every raygent metric reaches Ray's Prometheus endpoint after a scenario run.

Its own Ray (``pytest -m cluster``), started with a known metrics export port and a short
report interval; an echo exchange, a failing message and memory searches in each mode, then
the node's ``/metrics`` is scraped over loopback until each metric shows up."""

from __future__ import annotations

import re
import socket
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from actors import RetryPolicy, Runtime, RuntimeConfig
from actors import _metrics as mx
from actors._config import TracingConfig
from actors._errors import RaygentError
from actors.testing import isolated_ray_env
from memory import MemoryAgent
from tests.agents import BadRequest, Flaky, LogAgent, Record
from tests.conftest import ROOT, wait_for

pytestmark = pytest.mark.cluster

_REPORT_INTERVAL = "RAY_metrics_report_interval_ms"  # Ray's flag, lower case as it reads it


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def scraped(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Runtime, int]]:
    import ray

    port = _free_port()
    with pytest.MonkeyPatch.context() as mp, isolated_ray_env("rgm-"):
        mp.setenv(_REPORT_INTERVAL, "500")  # inherited by every Ray process started here
        ray.init(num_cpus=2, include_dashboard=False, _metrics_export_port=port,
                 namespace="raygent-metrics",
                 runtime_env={"env_vars": {"PYTHONPATH": ROOT, "HF_HUB_OFFLINE": "1"}},
                 logging_level="WARNING", log_to_driver=False)
        rt = Runtime(config=RuntimeConfig(
            namespace=f"m-{uuid.uuid4().hex[:8]}", scenario="metrics-test",
            health_interval_s=0.3, health_timeout_s=10.0,
            retry=RetryPolicy(max_attempts=2, backoff_s=0.01, max_backoff_s=0.05),
            tracing=TracingConfig(exporter="none"))).start()
        try:
            yield rt, port
        finally:
            rt.stop(timeout_s=5.0)
            ray.shutdown()


def _scrape(port: int) -> str:
    return httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5.0).text


def _series(text: str, name: str) -> list[tuple[dict[str, str], float]]:
    """The samples of one exported series: (labels, value)."""
    out = []
    for line in text.splitlines():
        m = re.match(rf"^{re.escape(name)}\{{(.*)\}} (\S+)$", line)
        if m:
            labels = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(1)))
            out.append((labels, float(m.group(2))))
    return out


def test_each_metric_is_exported_with_its_tags(scraped: tuple[Runtime, int],
                                               tmp_path: Any) -> None:
    rt, port = scraped
    system = rt.config.namespace
    rt.spawn(LogAgent, name="log")
    rt.spawn(MemoryAgent, name="memory", config={"data_dir": str(tmp_path / "mem")})
    for n in range(5):
        assert rt.ask("log", Record(n=n)) == n
    with pytest.raises(RaygentError):
        rt.ask("log", BadRequest())  # failed, and dead-lettered
    assert rt.ask("log", Flaky(key="f", succeed_on=2)) == "f ok on attempt 2"  # retried
    rt.restart("log")
    rt.memory.add([{"id": "ray", "text": "Ray runs actors on a cluster."},
                   {"id": "bm25", "text": "BM25 ranks documents by keywords."}])
    for mode in ("vector", "keyword", "hybrid"):
        assert rt.memory.search("actors on a cluster", k=1, mode=mode)

    def mine(name: str, **want: str) -> list[tuple[dict[str, str], float]]:
        text = _scrape(port)
        series = mx.exported(name.removesuffix("_count"))
        series_name = series[-1] if name.endswith("_count") else series[0]
        return [(lab, v) for lab, v in _series(text, series_name)
                if all(lab.get(k) == v2 for k, v2 in want.items())]

    def routed() -> Any:
        got = mine(mx.ROUTED, agent="log", system=system)
        return got if got and got[0][1] >= 6 else None

    (labels, _), = wait_for(routed, timeout_s=60, message="routed never exported")
    assert labels["scenario"] == "metrics-test"
    wait_for(lambda: any(v >= 5 for _, v in mine(mx.HANDLED, agent="log", system=system)),
             timeout_s=30, message="handled never exported")
    for name in (mx.FAILED, mx.RETRIES, mx.DEAD_LETTERS, mx.RESTARTS):
        wait_for(lambda name=name: mine(name, agent="log", system=system), timeout_s=30,
                 message=f"{name} never exported")
    wait_for(lambda: [lab for lab, v in mine(f"{mx.HANDLER_LATENCY}_count", agent="log")
                      if lab["kind"].endswith("Record") and v >= 5],
             timeout_s=30, message="handler latency never exported")
    wait_for(lambda: mine(f"{mx.BATCH_LATENCY}_count", agent="log"), timeout_s=30)
    for mode in ("vector", "keyword", "hybrid"):
        wait_for(lambda mode=mode: mine(f"{mx.MEMORY_SEARCH_LATENCY}_count", kind=mode),
                 timeout_s=30, message=f"memory search latency ({mode}) never exported")
    wait_for(lambda: mine(mx.MAILBOX_DEPTH, agent="log", system=system), timeout_s=30)
    wait_for(lambda: mine(mx.DLQ_SIZE, system=system), timeout_s=30)
    wait_for(lambda: mine(mx.JOURNAL_PENDING, system=system), timeout_s=30)
    wait_for(lambda: mine(f"{mx.JOURNAL_COMMIT_LATENCY}_count", system=system),
             timeout_s=30, message="journal commit latency never exported")
