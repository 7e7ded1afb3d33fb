"""Routed throughput as nodes and agents grow, and where one supervisor saturates.

    python benchmarks/scale.py [--quick] [--nodes 1,2,4] [--agents 1,4,16,64] [-n N]

For each node count a fresh local cluster is built with ``ray.cluster_utils.Cluster`` (a
head plus N-1 worker nodes, each a full raylet with its own worker processes, token
authentication on). The system's supervisor is started on the head, and agents are
spawned with the ``SPREAD`` strategy, growing 1 -> 4 -> 16 -> 64. For every (nodes,
agents) pair the driver sends ``n`` requests round-robin over the agents as ``ask_many``
chunks of 500, all in flight at once (as ``benchmarks/routing.py`` does), and waits for
every reply. Over the same interval it reads, with psutil, the CPU time of the
supervisor's process (its pid comes from the supervisor) and of that process's busiest
thread, which is the supervisor's event loop: one asyncio loop does all routing, so the
supervisor saturates when that thread is busy 100% of the time. From the loop's CPU per
routed message follows the rate at which it would be: the supervisor's ceiling.

All "nodes" share this machine's cores (and whatever else runs on it), so more nodes add
no compute here: measured rates stop where the machine does, while the ceiling says where
one supervisor would stop on real nodes.

Prints a table and a closing note, then one JSON object as the last line:

- ``nodes_<N>_agents_<K>_per_s``: routed requests per second (median of the rounds).
- ``nodes_<N>_agents_<K>_supervisor_cpu_pct``: the supervisor's process, % of one core.
- ``nodes_<N>_agents_<K>_supervisor_loop_cpu_pct``: its event-loop thread, % of one core.
- ``nodes_<N>_agents_<K>_supervisor_us_per_msg``: loop CPU microseconds per routed request.
- ``nodes_<N>_agents_<K>_supervisor_ceiling_per_s``: requests/s at which the loop would be
  100% busy (1e6 / us_per_msg): an upper bound, as the loop shares the GIL with the
  process's other Python threads.
- ``nodes_<N>_agents_<K>_supervisor_ceiling_low_per_s``: the same from the whole process's
  CPU, as if every thread of it ran serially: a lower bound.
- ``nodes_<N>_agents_<K>_agents_cpu_pct``: all agent processes together, % of one core.
- ``nodes_<N>_agents_<K>_driver_cpu_pct``: the sending driver (this process).
- ``nodes_<N>_agents_<K>_machine_cpu_pct``: the whole machine, % of one core (at most
  100 x cores).
- ``nodes_<N>_agents_<K>_nodes_used``: distinct nodes the K agents were placed on.
- ``agents_<K>_supervisor_ceiling_per_s``, ``agents_<K>_supervisor_ceiling_low_per_s``:
  medians over the node counts: where one supervisor saturates with K agents.
- ``supervisor_cpu_pct_max``, ``supervisor_loop_cpu_pct_max``: highest figures of the run.
- ``peak_per_s``, ``peak_nodes``, ``peak_agents``: the best measured configuration.
- ``supervisor_saturated``: True when the loop was >= 85% busy at the peak.
- ``bottleneck``: what bounded the peak: ``supervisor``, ``machine`` (all cores busy),
  ``driver`` or ``none``.
- ``n`` (requests per measurement), ``rounds``, ``machine_cpus``, ``quick``.

``--quick`` (1 and 2 nodes, 1 and 4 agents, fewer requests) finishes in under a minute.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import sys
import time
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import psutil

from actors.testing import isolated_ray_env

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CHUNK = 500
SATURATED_PCT = 85.0
CPUS = psutil.cpu_count() or 1


def _cpu_s(proc: psutil.Process) -> float:
    t = proc.cpu_times()
    return float(t.user + t.system)


def _threads_s(proc: psutil.Process) -> dict[int, float]:
    return {t.id: t.user_time + t.system_time for t in proc.threads()}


def _procs(pids: list[int]) -> list[psutil.Process]:
    out = []
    for pid in pids:
        with contextlib.suppress(psutil.Error):
            out.append(psutil.Process(pid))
    return out


def _machine_busy_s() -> float:
    t = psutil.cpu_times()
    return float(sum(t) - t.idle - getattr(t, "iowait", 0.0))


def measure(
    rt: Any, names: list[str], n: int, sup: psutil.Process, agents: list[psutil.Process]
) -> dict[str, float]:
    """Route ``n`` requests round-robin over ``names``; return the rate and CPU shares.

    CPU figures are % of one core over the interval: the supervisor's process and its
    busiest thread, all agent processes together, this driver, and the whole machine.
    """
    import ray

    from actors.messages import Echo

    items = [(names[i % len(names)], Echo(text=str(i))) for i in range(n)]
    me = psutil.Process()
    threads0 = _threads_s(sup)
    sup0, ag0, me0, m0 = (
        _cpu_s(sup),
        sum(_cpu_s(p) for p in agents),
        _cpu_s(me),
        _machine_busy_s(),
    )
    t0 = time.perf_counter()
    refs = [rt.ask_many_ref(items[s : s + CHUNK], timeout_s=120) for s in range(0, n, CHUNK)]
    results = [rt.replies(batch) for batch in ray.get(refs)]
    elapsed = time.perf_counter() - t0
    threads1 = _threads_s(sup)
    errors = [r for batch in results for r in batch if isinstance(r, Exception)]
    if errors:
        raise SystemExit(f"{len(errors)} requests failed, first: {errors[0]!r}")
    loop_s = max(t - threads0.get(tid, 0.0) for tid, t in threads1.items())
    return {
        "per_s": n / elapsed,
        "supervisor_cpu_pct": 100 * (_cpu_s(sup) - sup0) / elapsed,
        "supervisor_loop_cpu_pct": 100 * loop_s / elapsed,
        "supervisor_us_per_msg": 1e6 * loop_s / n,
        "agents_cpu_pct": 100 * (sum(_cpu_s(p) for p in agents) - ag0) / elapsed,
        "driver_cpu_pct": 100 * (_cpu_s(me) - me0) / elapsed,
        "machine_cpu_pct": 100 * (_machine_busy_s() - m0) / elapsed,
    }


async def _spawn_all(rt: Any, names: list[str]) -> None:
    from actors import Resources
    from benchmarks._agents import WorkAgent

    spread = Resources(scheduling_strategy="SPREAD")
    await asyncio.gather(
        *(rt.spawn_async(WorkAgent, name=name, resources=spread) for name in names)
    )


def run_nodes(
    nodes: int, agent_counts: list[int], n: int, rounds: int
) -> dict[int, dict[str, float]]:
    """Build a cluster of ``nodes`` nodes and measure each agent count on it."""
    import ray
    from ray.cluster_utils import Cluster

    from actors import MailboxConfig, Runtime, RuntimeConfig
    from actors._config import TracingConfig
    from actors.messages import Echo

    cluster = Cluster(
        initialize_head=True, head_node_args={"num_cpus": 2, "include_dashboard": False}
    )
    config = RuntimeConfig(
        namespace=f"raygent-scale-{nodes}",
        health_interval_s=5.0,
        mailbox=MailboxConfig(capacity=n + 1000),
        tracing=TracingConfig(exporter="none"),
    )
    rt = Runtime(
        cluster.address,
        config=config,
        init_kwargs={
            "runtime_env": {"env_vars": {"PYTHONPATH": ROOT}},
            "logging_level": "WARNING",
            "log_to_driver": False,
        },
    )
    out: dict[int, dict[str, float]] = {}
    try:
        # The supervisor is created while the head is the only node, so it lives there.
        rt.start()
        sup_pid = int(ray.get(rt.supervisor.ready.remote())["pid"])
        for _ in range(nodes - 1):
            cluster.add_node(num_cpus=2)
        cluster.wait_for_nodes()
        sup = psutil.Process(sup_pid)
        names: list[str] = []
        for k in agent_counts:
            new = [f"work{i}" for i in range(len(names), k)]
            asyncio.run(_spawn_all(rt, new))
            names += new
            rt.ask_many([(name, Echo(text="warm")) for name in names])
            status = {a.name: a for a in rt.status().agents}
            agents = _procs([status[name].pid for name in names if status[name].pid])
            used = len({status[name].node_id for name in names})
            runs = [measure(rt, names, n, sup, agents) for _ in range(rounds)]
            per_s = statistics.median(r["per_s"] for r in runs)
            # CPU figures of the median round, so they describe the reported rate.
            fig = dict(min(runs, key=lambda r: abs(r["per_s"] - per_s)))
            # Ceilings: the rate of that round scaled to a fully busy loop / process.
            loop_busy = max(fig["supervisor_loop_cpu_pct"], 1e-3) / 100
            process_busy = max(fig["supervisor_cpu_pct"], 1e-3) / 100
            fig["supervisor_ceiling_per_s"] = fig["per_s"] / loop_busy
            fig["supervisor_ceiling_low_per_s"] = fig["per_s"] / process_busy
            fig.update(per_s=per_s, nodes_used=used)
            out[k] = fig
            print(
                f"nodes {nodes}  agents {k:3d}  on {used} node(s)  {per_s:7.0f} msg/s  "
                f"supervisor {fig['supervisor_cpu_pct']:3.0f}% (loop "
                f"{fig['supervisor_loop_cpu_pct']:3.0f}%, {fig['supervisor_us_per_msg']:4.0f} "
                f"us/msg, ceiling {fig['supervisor_ceiling_per_s']:6.0f}/s)  agents "
                f"{fig['agents_cpu_pct']:3.0f}%  driver {fig['driver_cpu_pct']:3.0f}%  "
                f"machine {fig['machine_cpu_pct']:3.0f}%",
                flush=True,
            )
    finally:
        rt.disconnect()
        cluster.shutdown()
    return out


NOTES = {
    "supervisor": "The supervisor's event loop was saturated at the peak: more agents or "
    "nodes add no routed throughput; shard agents into several systems (namespaces), each "
    "with its own supervisor.",
    "machine": "The measured rates stopped where this machine's cores did (every simulated "
    "node shares them), not at the supervisor.",
    "driver": "The sending driver was the limit (it builds and pickles every envelope); "
    "send from several drivers or agents to load the supervisor further.",
    "none": "No process was saturated: latency, not CPU, bounded the rate.",
}


def limit(fig: dict[str, float]) -> str:
    """Which resource bounded a measurement: supervisor, machine, driver or none."""
    if fig["supervisor_loop_cpu_pct"] >= SATURATED_PCT:
        return "supervisor"
    if fig["machine_cpu_pct"] >= 0.9 * 100 * CPUS:
        return "machine"
    if fig["driver_cpu_pct"] >= SATURATED_PCT:
        return "driver"
    return "none"


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--quick", action="store_true", help="small run, under a minute")
    ap.add_argument("--nodes", default=None, help="node counts, e.g. 1,2,4")
    ap.add_argument("--agents", default=None, help="agent counts, e.g. 1,4,16,64")
    ap.add_argument("-n", type=int, default=None, help="requests per measurement")
    args = ap.parse_args()
    node_counts = [int(x) for x in (args.nodes or ("1,2" if args.quick else "1,2,4")).split(",")]
    agent_counts = sorted(
        int(x) for x in (args.agents or ("1,4" if args.quick else "1,4,16,64")).split(",")
    )
    n = args.n or (4000 if args.quick else 10000)
    rounds = 1 if args.quick else 3

    started = time.perf_counter()
    table: dict[int, dict[int, dict[str, float]]] = {}
    with isolated_ray_env("rgs-"):
        for nodes in node_counts:
            table[nodes] = run_nodes(nodes, agent_counts, n, rounds)

    result: dict[str, Any] = {}
    for nodes, row in table.items():
        for k, fig in row.items():
            key = f"nodes_{nodes}_agents_{k}"
            result[f"{key}_per_s"] = round(fig["per_s"], 1)
            for name in (
                "supervisor_cpu_pct",
                "supervisor_loop_cpu_pct",
                "supervisor_us_per_msg",
                "supervisor_ceiling_per_s",
                "supervisor_ceiling_low_per_s",
                "agents_cpu_pct",
                "driver_cpu_pct",
                "machine_cpu_pct",
            ):
                result[f"{key}_{name}"] = round(fig[name], 1)
            result[f"{key}_nodes_used"] = int(fig["nodes_used"])
    ceilings = {
        k: {
            bound: statistics.median(table[nd][k][f"supervisor_{bound}_per_s"] for nd in table)
            for bound in ("ceiling", "ceiling_low")
        }
        for k in agent_counts
    }
    for k, c in ceilings.items():
        result[f"agents_{k}_supervisor_ceiling_per_s"] = round(c["ceiling"], 1)
        result[f"agents_{k}_supervisor_ceiling_low_per_s"] = round(c["ceiling_low"], 1)
    peak_nodes, peak_agents = max(
        ((nd, k) for nd, row in table.items() for k in row),
        key=lambda p: table[p[0]][p[1]]["per_s"],
    )
    peak = table[peak_nodes][peak_agents]
    figs = [fig for row in table.values() for fig in row.values()]
    bottleneck = limit(peak)
    result.update(
        {
            "supervisor_cpu_pct_max": round(max(f["supervisor_cpu_pct"] for f in figs), 1),
            "supervisor_loop_cpu_pct_max": round(
                max(f["supervisor_loop_cpu_pct"] for f in figs), 1
            ),
            "peak_per_s": round(peak["per_s"], 1),
            "peak_nodes": peak_nodes,
            "peak_agents": peak_agents,
            "supervisor_saturated": bottleneck == "supervisor",
            "bottleneck": bottleneck,
            "n": n,
            "rounds": rounds,
            "machine_cpus": CPUS,
            "quick": args.quick,
        }
    )
    lo, hi = min(agent_counts), max(agent_counts)

    def span(k: int) -> str:
        return f"{ceilings[k]['ceiling_low']:.0f}-{ceilings[k]['ceiling']:.0f} msg/s"

    print(
        f"peak {peak['per_s']:.0f} msg/s with {peak_agents} agent(s) on {peak_nodes} "
        f"node(s), the supervisor's loop {peak['supervisor_loop_cpu_pct']:.0f}% busy. "
        f"{NOTES[bottleneck]} One supervisor saturates at about {span(lo)} with {lo} "
        f"agent(s) and {span(hi)} with {hi} (whole process - event loop alone). "
        f"({time.perf_counter() - started:.0f} s on {CPUS} cores)"
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
