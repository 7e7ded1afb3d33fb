"""A raygent system on a multi-node Ray cluster: placement, a second driver, node loss.

The module builds one ``ray.cluster_utils.Cluster`` (a head and two worker nodes, token
authentication on) and runs in its own pytest process (``pytest -m cluster``), never in
the one that shares the session's local Ray. The node-loss test runs last: it removes a
worker node.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import yaml

from actors import Resources, RestartPolicy, RetryPolicy, Runtime, RuntimeConfig
from actors._config import TracingConfig
from tests.cluster_agents import GetNotes, NodeLogAgent, Note, Where, isolated_ray_env
from tests.conftest import ROOT, wait_for

pytestmark = pytest.mark.cluster

SPREAD_AGENTS = [f"spread{i}" for i in range(4)]


@dataclass
class System:
    cluster: Any
    runtime: Runtime
    head: str  # node ids
    worker_a: Any  # ray._private.node.Node
    worker_b: Any

    def node_of(self, node_id: str) -> Any:
        return next(n for n in (self.worker_a, self.worker_b) if n.node_id == node_id)


@pytest.fixture(scope="module")
def system() -> Iterator[System]:
    from ray.cluster_utils import Cluster

    with isolated_ray_env("rgc-"):
        cluster = Cluster(
            initialize_head=True,
            head_node_args={
                "num_cpus": 1,
                "include_dashboard": True,
                "dashboard_host": "127.0.0.1",
            },
        )
        config = RuntimeConfig(
            namespace=f"raygent-cluster-{uuid.uuid4().hex[:8]}",
            batch_size=8,  # several batches in flight over a test's messages
            health_interval_s=0.5,
            health_timeout_s=5.0,
            start_timeout_s=20.0,
            retry=RetryPolicy(max_attempts=3, backoff_s=0.01, max_backoff_s=0.05),
            restart=RestartPolicy(max_restarts=5, within_s=60),
            tracing=TracingConfig(exporter="none"),
        )
        runtime = Runtime(
            cluster.address,
            config=config,
            init_kwargs={
                "runtime_env": {"env_vars": {"PYTHONPATH": ROOT}},
                "logging_level": "WARNING",
                "log_to_driver": False,
            },
        )
        try:
            # The supervisor is created while the head is the only node, so it lives there:
            # it is not restarted by anyone, so it must not sit on a node that can go away.
            runtime.start()
            worker_a = cluster.add_node(num_cpus=2, resources={"worker": 100, "worker_a": 100})
            worker_b = cluster.add_node(num_cpus=2, resources={"worker": 100, "worker_b": 100})
            cluster.wait_for_nodes()
            yield System(
                cluster=cluster,
                runtime=runtime,
                head=cluster.head_node.node_id,
                worker_a=worker_a,
                worker_b=worker_b,
            )
        finally:
            runtime.stop(timeout_s=5.0)
            cluster.shutdown()


@pytest.fixture(scope="module")
def placed(system: System) -> dict[str, str]:
    """Spread agents plus one agent pinned to each worker; returns name -> node id."""
    rt = system.runtime

    async def spawn_all() -> None:
        await asyncio.gather(
            *(
                rt.spawn_async(
                    NodeLogAgent, name=name, resources=Resources(scheduling_strategy="SPREAD")
                )
                for name in SPREAD_AGENTS
            ),
            rt.spawn_async(
                NodeLogAgent, name="pinned_a", resources=Resources(custom={"worker_a": 1})
            ),
            rt.spawn_async(
                NodeLogAgent, name="pinned_b", resources=Resources(custom={"worker_b": 1})
            ),
        )

    asyncio.run(spawn_all())
    return {a.name: a.node_id for a in rt.status().agents}


def _actors(namespace: str) -> dict[str, Any]:
    from ray.util.state import list_actors

    return {
        a.name: a
        for a in list_actors(filters=[("ray_namespace", "=", namespace)], limit=1000)
        if a.state == "ALIVE"
    }


# -- the cluster-launcher config ---------------------------------------------------------


def _load(name: str) -> Any:
    with open(os.path.join(ROOT, name)) as f:
        return yaml.safe_load(f)


def test_ray_cluster_yaml_is_a_complete_launcher_config():
    cfg = _load("ray_cluster.yaml")
    for key in (
        "cluster_name",
        "provider",
        "auth",
        "available_node_types",
        "head_node_type",
        "max_workers",
        "setup_commands",
        "head_start_ray_commands",
        "worker_start_ray_commands",
        "file_mounts",
    ):
        assert cfg.get(key), f"ray_cluster.yaml lacks {key}"
    types = cfg["available_node_types"]
    head = cfg["head_node_type"]
    assert head in types and len(types) >= 2, "a head type and at least one worker type"
    workers = {name: t for name, t in types.items() if name != head}
    assert sum(t.get("min_workers", 0) for t in workers.values()) <= cfg["max_workers"]
    assert all(t["max_workers"] <= cfg["max_workers"] for t in workers.values())
    assert any(t["max_workers"] > t.get("min_workers", 0) for t in workers.values()), (
        "some worker type must be able to autoscale"
    )
    memory_types = [n for n, t in types.items() if "memory_node" in t.get("resources", {})]
    assert len(memory_types) == 1 and types[memory_types[0]]["resources"]["memory_node"] == 1

    setup = "\n".join(cfg["setup_commands"])
    assert "torch==2.13.0" in setup and "download.pytorch.org/whl/cpu" in setup
    assert "raygent" in setup
    head_start = "\n".join(cfg["head_start_ray_commands"])
    assert "ray start --head" in head_start and "--dashboard-host=127.0.0.1" in head_start
    worker_start = "\n".join(cfg["worker_start_ray_commands"])
    assert "ray start --address=$RAY_HEAD_IP:6379" in worker_start
    for start in (head_start, worker_start):  # token auth on every node, never off
        assert "RAY_AUTH_MODE=token" in start and "RAY_AUTH_MODE=disabled" not in start
    assert "~/.ray/auth_token" in cfg["file_mounts"], "workers need the cluster's token"


def test_ray_cluster_yaml_passes_the_launchers_own_validation():
    """What ``ray up`` runs on the file before it contacts the cloud."""
    from ray.autoscaler._private.util import prepare_config, validate_config

    cfg = prepare_config(_load("ray_cluster.yaml"))
    validate_config(cfg)
    assert cfg["head_node_type"] in cfg["available_node_types"]


def test_kuberay_manifest_matches_the_launcher_config():
    with open(os.path.join(ROOT, "ray_cluster.kuberay.yaml")) as f:
        docs = [d for d in yaml.safe_load_all(f) if d]
    cluster = next(d for d in docs if d["kind"] == "RayCluster")
    spec = cluster["spec"]
    head = spec["headGroupSpec"]
    assert head["rayStartParams"]["dashboard-host"] == "127.0.0.1"
    envs = [e for c in head["template"]["spec"]["containers"] for e in c.get("env", [])]
    assert {"name": "RAY_AUTH_MODE", "value": "token"} in envs
    assert any(
        e["name"] == "RAY_AUTH_TOKEN" and "secretKeyRef" in e.get("valueFrom", {}) for e in envs
    )
    groups = {g["groupName"]: g for g in spec["workerGroupSpecs"]}
    memory = [
        g for g in groups.values() if "memory_node" in g["rayStartParams"].get("resources", "")
    ]
    assert len(memory) == 1 and memory[0]["maxReplicas"] == 1
    assert any(g["maxReplicas"] > g["minReplicas"] for g in groups.values())


# -- placement ---------------------------------------------------------------------------


def test_supervisor_lives_on_the_head(system):
    actors = _actors(system.runtime.config.namespace)
    assert actors["supervisor"].node_id == system.head


def test_agents_are_spread_and_pinned_across_nodes(system, placed):
    rt = system.runtime
    actors = _actors(rt.config.namespace)
    # The state API (the dashboard's /api/v0/actors) and the supervisor agree.
    for name, node_id in placed.items():
        assert actors[name].node_id == node_id
        assert actors[name].class_name == "NodeLogAgent"
        assert rt.ask(name, Where()).node_id == node_id  # and so does the agent itself
    spread = {placed[name] for name in SPREAD_AGENTS}
    assert len(spread) >= 2, f"SPREAD put every agent on one node: {placed}"
    assert placed["pinned_a"] == system.worker_a.node_id
    assert placed["pinned_b"] == system.worker_b.node_id


# -- a second driver -----------------------------------------------------------------------

SECOND_DRIVER = """
import json, sys
from actors import Runtime
from tests.cluster_agents import GetNotes, Note, Where
address, namespace = sys.argv[1], sys.argv[2]
rt = Runtime(address, namespace=namespace).attach()
out = {name: rt.ask(name, Where()).node_id for name in ("pinned_a", "pinned_b")}
rt.send_many([("pinned_b", Note(n=n)) for n in (100, 101, 102)])
out["notes"] = rt.ask("pinned_b", GetNotes()).items
out["agents"] = sorted(a.name for a in rt.status().agents)
rt.disconnect()
print(json.dumps(out))
"""


def _driver(
    system: System, env: dict[str, str], timeout_s: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-c",
            SECOND_DRIVER,
            system.cluster.address,
            system.runtime.config.namespace,
        ],
        capture_output=True,
        text=True,
        timeout=timeout_s,
        cwd=ROOT,
        env={**env, "PYTHONPATH": ROOT},
    )


def test_second_driver_attaches_with_the_token_and_talks_to_agents(system, placed):
    out = _driver(system, dict(os.environ))  # RAY_AUTH_MODE and RAY_AUTH_TOKEN_PATH set
    assert out.returncode == 0, out.stderr[-3000:]
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["pinned_a"] == system.worker_a.node_id
    assert got["pinned_b"] == system.worker_b.node_id
    assert got["notes"] == [100, 101, 102]
    assert set(placed) <= set(got["agents"])
    # The first driver sees what the second one sent.
    assert system.runtime.ask("pinned_b", GetNotes()).items == [100, 101, 102]


def test_a_driver_with_the_wrong_token_is_refused(system):
    env = {k: v for k, v in os.environ.items() if k != "RAY_AUTH_TOKEN_PATH"}
    env.update(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN="not-the-cluster-token")
    env["RAY_gcs_server_port_wait_time_s"] = "2"  # give up after 2 tries, not 20
    out = _driver(system, env, timeout_s=60)
    tail = out.stderr[-3000:]
    assert out.returncode != 0, tail
    assert "InvalidAuthToken" in out.stderr or "AuthenticationError" in out.stderr, tail


# -- losing a node -------------------------------------------------------------------------


def test_agents_on_a_lost_node_come_back_elsewhere_with_every_message(system, placed):
    rt = system.runtime
    # An agent that may run on either worker: it holds a resource both of them offer.
    rt.spawn(NodeLogAgent, name="victim", resources=Resources(custom={"worker": 1}))
    before = {a.name: a for a in rt.status().agents}
    lost = before["victim"].node_id
    assert lost in (system.worker_a.node_id, system.worker_b.node_id)
    survivor = next(n.node_id for n in (system.worker_a, system.worker_b) if n.node_id != lost)
    pinned_lost, pinned_kept = (
        ("pinned_a", "pinned_b") if lost == system.worker_a.node_id else ("pinned_b", "pinned_a")
    )
    # Everything else that ran on the lost node must come back elsewhere.
    movable = [
        a.name
        for a in before.values()
        if a.node_id == lost and a.name not in (pinned_lost, "victim")
    ]

    n = 120
    rt.send_many([("victim", Note(n=i, sleep_s=0.02)) for i in range(n)])
    wait_for(
        lambda: rt.status().agent("victim").handled >= 16,
        timeout_s=30,
        message="the victim handles its first batches",
    )
    system.cluster.remove_node(system.node_of(lost))
    # Messages sent while the agent is down wait in the supervisor's mailbox.
    rt.send_many([("victim", Note(n=i)) for i in range(n, n + 10)])

    def back(name: str) -> bool:
        st = rt.status().agent(name)
        return st.state == "running" and st.restarts >= 1 and st.node_id != lost

    wait_for(
        lambda: all(back(name) for name in ["victim", *movable]),
        timeout_s=60,
        message=f"{['victim', *movable]} restarted on the remaining nodes",
    )
    after = {a.name: a for a in rt.status().agents}
    alive = {system.head, survivor}
    for name in ["victim", *movable]:
        assert after[name].node_id in alive
        assert after[name].pid != before[name].pid
    assert after["victim"].node_id == survivor  # the only other node offering "worker"
    assert after[pinned_kept].state == "running" and after[pinned_kept].restarts == 0

    got = wait_for(
        lambda: (
            set((r := rt.ask("victim", GetNotes(), timeout_s=20)).items) >= set(range(n + 10)) and r
        ),
        timeout_s=60,
        message="every note delivered",
    )
    # Nothing lost; a batch in flight when the node died is redelivered, never reordered.
    assert sorted(set(got.items)) == list(range(n + 10))
    assert got.items == sorted(got.items)
    assert set(got.nodes) == {lost, survivor}  # handled on both sides of the move
    assert got.nodes[-1] == survivor
    assert not [d for d in rt.dead_letters() if d.envelope.recipient == "victim"]
    events = [e for e in rt.events() if e.agent == "victim"]
    assert [e.event for e in events if e.event in ("crashed", "restarted")] == [
        "crashed",
        "restarted",
    ]

    # The agent pinned to the lost node cannot be placed anywhere: after start_timeout_s
    # the supervisor gives up and marks it failed ...
    wait_for(
        lambda: rt.status().agent(pinned_lost).state == "failed",
        timeout_s=60,
        message=f"{pinned_lost} marked failed",
    )
    assert "restart failed" in (rt.status().agent(pinned_lost).last_error or "")
    # ... until a node offering its resource joins and it is restarted by hand.
    resource = "worker_a" if pinned_lost == "pinned_a" else "worker_b"
    fresh = system.cluster.add_node(num_cpus=2, resources={"worker": 100, resource: 100})
    system.cluster.wait_for_nodes()
    st = rt.restart(pinned_lost)
    assert st.state == "running" and st.node_id == fresh.node_id
    assert rt.ask(pinned_lost, Where()).node_id == fresh.node_id
