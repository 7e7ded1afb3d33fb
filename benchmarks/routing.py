"""Routing through the supervisor versus direct Ray actor calls, side by side in one run.

    python benchmarks/routing.py [--quick]

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
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import ray

from actors import MailboxConfig, Runtime, RuntimeConfig
from actors._config import JournalConfig, TracingConfig
from actors.messages import Echo
from benchmarks._agents import DirectActor, WorkAgent
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
    try:
        rt.spawn(WorkAgent, name="work")
        traced.spawn(WorkAgent, name="work")
        volatile.spawn(WorkAgent, name="work")
        traced.ask("work", Echo(text="warm"))
        volatile.ask("work", Echo(text="warm"))
        direct = ray.remote(DirectActor).remote()
        ray.get(direct.handle.remote(Echo(text="warm")))
        rt.ask("work", Echo(text="warm"))

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
            "recovery_max_s": round(max(recoveries), 3),
            "n": n,
            "quick": args.quick,
        }
    finally:
        volatile.stop()
        traced.stop()
        rt.stop()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
