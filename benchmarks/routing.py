"""Routing through the supervisor versus direct Ray actor calls, side by side in one run.

    python benchmarks/routing.py [--quick] [--quiet | --json]

Prints the figures, then one JSON object as the last line:
``routed_per_s``, ``direct_per_s``, ``ratio`` (routed/direct, many messages in flight),
``routed_p50_ms``, ``direct_p50_ms``, ``p99_ms``, ``latency_ratio`` (direct/routed p50,
one request at a time), ``fanout_per_s`` (1 sender to 8 agents), and with tracing on
(jsonl exporter) against off, same workload, same run: ``traced_per_s``,
``untraced_per_s``, ``tracing_ratio`` (traced/untraced). The routing figures above are
measured with tracing off; the traced system runs beside it in the same Ray.

Durability, same run: ``journaled_per_s`` (the default: every accepted message and every
outcome in the SQLite journal, ``synchronous=FULL``) against ``unjournaled_per_s`` (the
journal kept in the supervisor's memory), ``journal_ratio``; and ``recovery_s``: the
supervisor is killed, Ray restarts it, it recovers from its journal, and the first message
is delivered again (median of several kills; ``recovery_max_s`` the slowest).

Routed traffic is submitted with ``ask_many`` (one driver call carries a chunk of
requests, as a producer batches); ``routed_single_per_s`` also shows one ``ask`` per call.

One message per call, as most code sends: ``single_ratio`` is many coroutines of one
driver each awaiting ``rt.ask_async`` in a loop, against the same coroutines awaiting a
direct Ray call (``single_threads_ratio``: driver threads calling ``rt.ask``). Agent to
agent: ``a2a_ratio`` is an agent asking another with many asks in flight against a plain
async Ray actor calling a plain actor the same way, ``a2a_latency_ratio`` (direct p50 /
routed p50) the same one ask at a time. Footprint: ``agent_rss_mb`` (an idle plain agent)
and ``supervisor_rss_mb``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from concurrent.futures import ThreadPoolExecutor

import psutil
import ray

from actors import MailboxConfig, Runtime, RuntimeConfig
from actors._config import JournalConfig, TracingConfig
from actors.messages import Echo
from benchmarks._agents import Burst, ClientAgent, DirectActor, DirectClient, Probe, WorkAgent
from benchmarks._progress import Phases, add_flags, silenced
from benchmarks._stats import pct


def _rate(n: int, seconds: float) -> float:
    return n / seconds if seconds > 0 else float("inf")


def direct_throughput(actor: Any, n: int) -> float:
    t0 = time.perf_counter()
    refs = [actor.handle.remote(Echo(text=str(i))) for i in range(n)]
    ray.get(refs)
    return _rate(n, time.perf_counter() - t0)


def routed_throughput(rt: Runtime, name: str, n: int, chunk: int) -> float:
    t0 = time.perf_counter()
    refs = [
        rt.ask_many_ref([(name, Echo(text=str(i))) for i in range(s, min(n, s + chunk))])
        for s in range(0, n, chunk)
    ]
    results = [rt.replies(batch) for batch in ray.get(refs)]
    elapsed = time.perf_counter() - t0
    errors = [r for batch in results for r in batch if isinstance(r, Exception)]
    if errors:
        raise SystemExit(f"routed run had {len(errors)} errors, first: {errors[0]}")
    return _rate(n, elapsed)


def routed_single_throughput(rt: Runtime, name: str, n: int) -> float:
    from actors._transport import make_envelope

    t0 = time.perf_counter()
    refs = []
    for i in range(n):
        env = make_envelope(
            sender="driver",
            recipient=name,
            payload=Echo(text=str(i)),
            max_bytes=rt.config.max_message_bytes,
            expects_reply=True,
        )
        refs.append(rt.supervisor.ask.remote(env, 60.0))
    ray.get(refs)
    return _rate(n, time.perf_counter() - t0)


def concurrent_callers(call: Any, callers: int, per_caller: int) -> float:
    """Messages per second when ``callers`` coroutines each await ``call(i)`` in turn."""

    async def caller(c: int) -> None:
        for i in range(per_caller):
            await call(c * per_caller + i)

    async def run() -> float:
        t0 = time.perf_counter()
        await asyncio.gather(*(caller(c) for c in range(callers)))
        return _rate(callers * per_caller, time.perf_counter() - t0)

    return asyncio.run(run())


def thread_callers(call: Any, threads: int, per_thread: int) -> float:
    """Messages per second when ``threads`` driver threads each make blocking calls."""
    def caller(t: int) -> None:
        for i in range(per_thread):
            call(t * per_thread + i)

    t0 = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(caller, range(threads)))
    return _rate(threads * per_thread, time.perf_counter() - t0)


def recovery_seconds(rt: Runtime, name: str) -> float:
    """Kill the supervisor; seconds until a message is delivered again through it."""
    sup = ray.get_actor(rt.config.supervisor_name, namespace=rt.config.namespace)
    t0 = time.perf_counter()
    ray.kill(sup, no_restart=False)
    rt.ask(name, Echo(text="after the kill"), timeout_s=60)
    return time.perf_counter() - t0


def latencies(fn: Any, n: int) -> list[float]:
    out = []
    for i in range(n):
        t0 = time.perf_counter()
        fn(i)
        out.append((time.perf_counter() - t0) * 1000)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="small run, under a minute")
    ap.add_argument("--address", default=None, help="Ray address (default: start local)")
    add_flags(ap)
    args = ap.parse_args()
    n = 3000 if args.quick else 20000
    n_lat = 200 if args.quick else 1000
    rounds = 2 if args.quick else 3
    chunk = 500

    here = os.path.dirname(os.path.abspath(__file__))
    trace_root = tempfile.mkdtemp(prefix="raygent-bench-traces-")
    config = RuntimeConfig(namespace="raygent-bench",
                           mailbox=MailboxConfig(capacity=n + 1000), health_interval_s=5.0,
                           tracing=TracingConfig(exporter="none"))
    rt = Runtime(args.address, config=config, init_kwargs={
        "include_dashboard": False,
        "runtime_env": {"py_modules": [here]},
    }).start()
    traced = Runtime(config=config.evolve(
        namespace="raygent-bench-traced",
        tracing=TracingConfig(exporter="jsonl", runs_dir=trace_root))).start()
    volatile = Runtime(config=config.evolve(
        namespace="raygent-bench-nojournal", journal=JournalConfig(enabled=False))).start()
    phases = Phases(["throughput", "latency", "fan-out", "one per call", "agent to agent",
                     "recovery"], quiet=silenced(args), title="routing").open()
    try:
        rt.spawn(WorkAgent, name="work")
        traced.spawn(WorkAgent, name="work")
        volatile.spawn(WorkAgent, name="work")
        traced.ask("work", Echo(text="warm"))
        volatile.ask("work", Echo(text="warm"))
        direct = ray.remote(DirectActor).remote()
        ray.get(direct.handle.remote(Echo(text="warm")))
        rt.ask("work", Echo(text="warm"))

        phases.next("throughput")
        # Throughput, interleaved rounds so drift on a shared machine hits both alike.
        d_rates, r_rates, s_rates, t_rates, v_rates = [], [], [], [], []
        for _ in range(rounds):
            d_rates.append(direct_throughput(direct, n))
            r_rates.append(routed_throughput(rt, "work", n, chunk))
            t_rates.append(routed_throughput(traced, "work", n, chunk))
            v_rates.append(routed_throughput(volatile, "work", n, chunk))
            s_rates.append(routed_single_throughput(rt, "work", n // 2))
        direct_per_s = statistics.median(d_rates)
        routed_per_s = statistics.median(r_rates)
        single_per_s = statistics.median(s_rates)
        traced_per_s = statistics.median(t_rates)
        volatile_per_s = statistics.median(v_rates)
        print(f"journal     in memory {volatile_per_s:9.0f}/s   SQLite FULL (default) "
              f"{routed_per_s:9.0f}/s   journal_ratio {routed_per_s / volatile_per_s:.2f}")
        traced.flush_traces()
        print(f"tracing     untraced {routed_per_s:9.0f}/s   traced (jsonl) {traced_per_s:9.0f}/s"
              f"   tracing_ratio {traced_per_s / routed_per_s:.2f}   (spans in {trace_root})")
        print(
            f"throughput  direct {direct_per_s:9.0f}/s   routed {routed_per_s:9.0f}/s   "
            f"ratio {routed_per_s / direct_per_s:.2f}   (one ask per call: "
            f"{single_per_s:.0f}/s, ratio {single_per_s / direct_per_s:.2f})"
        )

        phases.next("latency")
        # Latency, one request at a time, interleaved.
        d_lat: list[float] = []
        r_lat: list[float] = []
        for _ in range(2):
            d_lat += latencies(
                lambda i: ray.get(direct.handle.remote(Echo(text=str(i)))), n_lat // 2
            )
            r_lat += latencies(lambda i: rt.ask("work", Echo(text=str(i))), n_lat // 2)
        d50, r50, r99 = pct(d_lat, 0.5), pct(r_lat, 0.5), pct(r_lat, 0.99)
        print(
            f"latency     direct p50 {d50:.2f} ms   routed p50 {r50:.2f} ms   "
            f"routed p99 {r99:.2f} ms   latency_ratio {d50 / r50:.2f}"
        )

        phases.next("fan-out")
        # Fan-out: one sender to 8 agents.
        names = [f"fan{i}" for i in range(8)]
        for name in names:
            rt.spawn(WorkAgent, name=name)
        m = n // 8
        t0 = time.perf_counter()
        refs = []
        for s in range(0, m, chunk // 8):
            items = [
                (name, Echo(text=str(i)))
                for i in range(s, min(m, s + chunk // 8))
                for name in names
            ]
            refs.append(rt.ask_many_ref(items))
        ray.get(refs)
        fanout_per_s = _rate(m * 8, time.perf_counter() - t0)
        print(f"fan-out     1 -> 8 agents {fanout_per_s:.0f} msg/s")

        phases.next("one per call")
        # One message per call, from many callers: coroutines, then threads.
        callers, per = (32, 40) if args.quick else (64, 120)
        s_r, s_d, t_r, t_d = [], [], [], []
        for _ in range(rounds):
            s_d.append(concurrent_callers(
                lambda i: direct.handle.remote(Echo(text=str(i))), callers, per))
            s_r.append(concurrent_callers(
                lambda i: rt.ask_async("work", Echo(text=str(i))), callers, per))
            t_d.append(thread_callers(
                lambda i: ray.get(direct.handle.remote(Echo(text=str(i)))), 16, per))
            t_r.append(thread_callers(lambda i: rt.ask("work", Echo(text=str(i))), 16, per))
        single_routed, single_direct = statistics.median(s_r), statistics.median(s_d)
        threads_routed, threads_direct = statistics.median(t_r), statistics.median(t_d)
        print(f"one per call {callers} coroutines: direct {single_direct:7.0f}/s  routed "
              f"{single_routed:7.0f}/s  single_ratio {single_routed / single_direct:.2f};"
              f"  16 threads: direct {threads_direct:.0f}/s  routed {threads_routed:.0f}/s"
              f"  ratio {threads_routed / threads_direct:.2f}")

        phases.next("agent to agent")
        # Agent to agent: many in flight, then one at a time.
        rt.spawn(ClientAgent, name="client")
        dclient = ray.remote(DirectClient).remote(direct)
        burst = 1000 if args.quick else 4000
        rt.ask("client", Burst(to="work", n=50))
        ray.get(dclient.burst.remote(50))
        a_r, a_d = [], []
        for _ in range(rounds):
            a_d.append(burst / ray.get(dclient.burst.remote(burst)))
            a_r.append(burst / rt.ask("client", Burst(to="work", n=burst), timeout_s=120))
        a2a_routed, a2a_direct = statistics.median(a_r), statistics.median(a_d)
        probes = 100 if args.quick else 300
        d_probe: list[float] = []
        r_probe: list[float] = []
        for _ in range(2):
            d_probe += ray.get(dclient.probe.remote(probes))
            r_probe += rt.ask("client", Probe(to="work", n=probes), timeout_s=120)
        a2a_d50, a2a_r50 = pct(d_probe, 0.5), pct(r_probe, 0.5)
        print(f"agent->agent many in flight: direct {a2a_direct:7.0f}/s  routed "
              f"{a2a_routed:7.0f}/s  a2a_ratio {a2a_routed / a2a_direct:.2f};  one at a "
              f"time: direct p50 {a2a_d50:.2f} ms  routed p50 {a2a_r50:.2f} ms  "
              f"a2a_latency_ratio {a2a_d50 / a2a_r50:.2f}")

        status = rt.status()
        agent_rss = float(ray.get(ray.get_actor("work", namespace=rt.config.namespace)
                                  .rss_mb.remote()))
        supervisor_rss = psutil.Process(status.supervisor_pid).memory_info().rss / (1 << 20)
        print(f"footprint   idle agent {agent_rss:.0f} MB   supervisor {supervisor_rss:.0f} MB")

        phases.next("recovery")
        # Recovery: kill the supervisor, time until a message goes through again.
        recoveries = [recovery_seconds(rt, "work") for _ in range(2 if args.quick else 5)]
        recovery_s = statistics.median(recoveries)
        print(f"recovery    supervisor killed -> delivering again: median {recovery_s:.2f} s, "
              f"max {max(recoveries):.2f} s over {len(recoveries)} kills")

        result = {
            "routed_per_s": round(routed_per_s, 1),
            "direct_per_s": round(direct_per_s, 1),
            "ratio": round(routed_per_s / direct_per_s, 3),
            "routed_single_per_s": round(single_per_s, 1),
            "routed_p50_ms": round(r50, 3),
            "direct_p50_ms": round(d50, 3),
            "p99_ms": round(r99, 3),
            "latency_ratio": round(d50 / r50, 3),
            "fanout_per_s": round(fanout_per_s, 1),
            "traced_per_s": round(traced_per_s, 1),
            "untraced_per_s": round(routed_per_s, 1),
            "tracing_ratio": round(traced_per_s / routed_per_s, 3),
            "journaled_per_s": round(routed_per_s, 1),
            "unjournaled_per_s": round(volatile_per_s, 1),
            "journal_ratio": round(routed_per_s / volatile_per_s, 3),
            "journal_synchronous": rt.config.journal.synchronous,
            "recovery_s": round(recovery_s, 3),
            "single_routed_per_s": round(single_routed, 1),
            "single_direct_per_s": round(single_direct, 1),
            "single_ratio": round(single_routed / single_direct, 3),
            "single_threads_ratio": round(threads_routed / threads_direct, 3),
            "a2a_routed_per_s": round(a2a_routed, 1),
            "a2a_direct_per_s": round(a2a_direct, 1),
            "a2a_ratio": round(a2a_routed / a2a_direct, 3),
            "a2a_routed_p50_ms": round(a2a_r50, 3),
            "a2a_direct_p50_ms": round(a2a_d50, 3),
            "a2a_latency_ratio": round(a2a_d50 / a2a_r50, 3),
            "agent_rss_mb": round(agent_rss, 1),
            "supervisor_rss_mb": round(supervisor_rss, 1),
            "recovery_max_s": round(max(recoveries), 3),
            "n": n,
            "quick": args.quick,
        }
    finally:
        phases.close()
        volatile.stop()
        traced.stop()
        rt.stop()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
