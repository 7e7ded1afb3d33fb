"""The Ray dashboard and metrics of a running system, over HTTP, with token auth on.

Starts its own Ray with the dashboard (bound to 127.0.0.1), so it runs in the separate
``pytest -m cluster`` process. A small scenario (three agents, one asking another through
the supervisor) runs first; the tests then read the dashboard's state API with the token,
check that requests without it are refused, and scrape the node's Prometheus endpoint for
raygent's metrics.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import ray

from actors import Runtime, RuntimeConfig
from actors._config import TracingConfig
from actors.messages import Echo
from tests.agents import EchoAgent, LogAgent, Record, Relay, RelayAgent
from tests.cluster_agents import isolated_ray_env
from tests.conftest import ROOT, wait_for

pytestmark = pytest.mark.cluster

AGENTS = {"echo": "EchoAgent", "log": "LogAgent", "relay": "RelayAgent"}
ASKS, RECORDS, RELAYS = 5, 7, 2


@dataclass
class Dash:
    runtime: Runtime
    url: str  # http://127.0.0.1:PORT
    token: str
    token_path: str
    node_ip: str
    metrics_port: int

    @property
    def namespace(self) -> str:
        return self.runtime.config.namespace

    def get(self, path: str, *, token: str | None = None, **params: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
        return httpx.get(self.url + path, params=params, headers=headers, timeout=30)


@pytest.fixture(scope="module")
def dash() -> Iterator[Dash]:
    with isolated_ray_env("rgd-") as env:
        info = ray.init(
            num_cpus=2,
            include_dashboard=True,
            dashboard_host="127.0.0.1",
            namespace="raygent-dashboard-tests",
            runtime_env={"env_vars": {"PYTHONPATH": ROOT, "HF_HUB_OFFLINE": "1"}},
            logging_level="WARNING",
            log_to_driver=False,
            # Metrics are pushed to the node's exporter every second instead of every 10.
            _system_config={"metrics_report_interval_ms": 1000},
        )
        config = RuntimeConfig(
            namespace=f"raygent-dash-{uuid.uuid4().hex[:8]}",
            scenario="dashboard-test",
            tracing=TracingConfig(exporter="none"),
        )
        runtime = Runtime(config=config)  # joins the Ray this process just started
        try:
            runtime.start()
            # The scenario: direct asks, sends, and an agent asking another one.
            for name, cls in (("echo", EchoAgent), ("log", LogAgent), ("relay", RelayAgent)):
                runtime.spawn(cls, name=name)
            for i in range(ASKS):
                assert runtime.ask("echo", Echo(text=str(i))).text == str(i)
            runtime.send_many([("log", Record(n=i)) for i in range(RECORDS)])
            for i in range(RELAYS):
                runtime.ask("relay", Relay(to="echo", text=f"r{i}"))
            node = next(n for n in ray.nodes() if n["Alive"])
            with open(env["RAY_AUTH_TOKEN_PATH"]) as f:
                token = f.read().strip()
            yield Dash(
                runtime=runtime,
                url="http://" + info.dashboard_url,
                token=token,
                token_path=env["RAY_AUTH_TOKEN_PATH"],
                node_ip=node["NodeManagerAddress"],
                metrics_port=int(node["MetricsExportPort"]),
            )
        finally:
            runtime.stop(timeout_s=5.0)
            ray.shutdown()


def _actors(dash: Dash) -> httpx.Response:
    return dash.get(
        "/api/v0/actors",
        token=dash.token,
        limit=1000,
        detail="false",
        filter_keys="ray_namespace",
        filter_predicates="=",
        filter_values=dash.namespace,
    )


def test_the_cli_prints_the_token_the_cluster_checks(dash):
    """What an operator runs on the head to hand the token to clients."""
    ray_cli = os.path.join(os.path.dirname(sys.executable), "ray")
    out = subprocess.run(
        [ray_cli, "get-auth-token"],
        capture_output=True,
        text=True,
        timeout=60,
        env=dict(os.environ),
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == dash.token


def test_requests_without_the_token_are_refused(dash):
    assert dash.get("/api/v0/actors").status_code == 401
    assert dash.get("/api/v0/actors", token="not-the-token").status_code == 403
    assert dash.get("/api/v0/nodes").status_code == 401
    assert _actors(dash).status_code == 200
    # Health checks stay public, for load balancers and Kubernetes probes.
    assert dash.get("/api/gcs_healthz").status_code == 200


def test_dashboard_listens_on_loopback_only(dash):
    assert dash.url.startswith("http://127.0.0.1:")
    if dash.node_ip.startswith("127."):
        pytest.skip("this machine's node address is itself a loopback address")
    port = dash.url.rsplit(":", 1)[1]
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://{dash.node_ip}:{port}/api/gcs_healthz", timeout=5)


def test_state_api_lists_every_agent_by_name(dash):
    reply = _actors(dash)
    assert reply.status_code == 200
    actors = {a["name"]: a for a in reply.json()["data"]["result"]["result"]}
    assert set(actors) == {*AGENTS, "supervisor"}
    status = {a.name: a for a in dash.runtime.status().agents}
    for name, cls in AGENTS.items():
        actor = actors[name]
        assert actor["class_name"] == cls and actor["state"] == "ALIVE"
        assert actor["ray_namespace"] == dash.namespace
        assert actor["node_id"] == status[name].node_id and actor["pid"] == status[name].pid
    assert actors["supervisor"]["class_name"] == "SupervisorActor"
    # raygent status names the dashboard and where the supervisor runs.
    view = dash.runtime.status()
    assert view.dashboard_url == dash.url
    assert view.supervisor_pid == actors["supervisor"]["pid"]


def _scrape(dash: Dash) -> dict[tuple[str, str], float]:
    """raygent samples of this system on the node's metrics endpoint: (name, agent) -> value."""
    from prometheus_client.parser import text_string_to_metric_families

    text = httpx.get(f"http://{dash.node_ip}:{dash.metrics_port}/metrics", timeout=30).text
    out: dict[tuple[str, str], float] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name.startswith("ray_raygent_") and s.labels.get("system") == dash.namespace:
                key = (s.name, s.labels.get("agent", ""))
                out[key] = out.get(key, 0.0) + s.value  # summed over reporting processes
    return out


def test_metrics_endpoint_exports_raygent_metrics(dash):
    routed = "ray_raygent_messages_routed_total"
    handled = "ray_raygent_messages_handled_total"
    expected = {"echo": ASKS + RELAYS, "log": RECORDS, "relay": RELAYS}

    def complete() -> dict[tuple[str, str], float] | None:
        samples = _scrape(dash)
        done = all(
            samples.get((m, agent)) == n for agent, n in expected.items() for m in (routed, handled)
        )
        return samples if done else None

    # Counters reach the exporter with the next periodic report (every second here).
    samples = wait_for(
        complete, timeout_s=60, interval_s=0.5, message="raygent counters on the metrics endpoint"
    )
    for agent in AGENTS:
        assert samples[("ray_raygent_batch_latency_seconds_count", agent)] >= 1
        assert ("ray_raygent_mailbox_depth", agent) in samples
    # Every sample carries the scenario tag of the run.
    from prometheus_client.parser import text_string_to_metric_families

    text = httpx.get(f"http://{dash.node_ip}:{dash.metrics_port}/metrics", timeout=30).text
    scenarios = {
        s.labels.get("scenario")
        for f in text_string_to_metric_families(text)
        for s in f.samples
        if s.labels.get("system") == dash.namespace
    }
    assert scenarios == {"dashboard-test"}
