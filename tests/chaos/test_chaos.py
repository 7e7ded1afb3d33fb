"""Chaos: thousands of messages through a pipeline while agents, the memory actor and the
supervisor itself are killed at random. Nothing may be lost, nothing done twice, and each
stage's order must hold at the sink.

Sizes come from the environment: ``CHAOS_MESSAGES`` (2,000) and ``CHAOS_KILLS`` (22) in
``make test``; ``make chaos`` runs a longer one. It prints one line, e.g.
``chaos: sent=2000 delivered=2000 lost=0 duplicate_effects=0 kills=22 ...``.
"""

from __future__ import annotations

import os
import random
import threading
import time
from functools import partial
from typing import Any

import ray

from actors import RestartPolicy, RetryPolicy
from memory import MemoryAgent
from tests.chaos.agents import Item, Sink, Stage, Tally, ledger_rows
from tests.conftest import wait_for

MESSAGES = int(os.environ.get("CHAOS_MESSAGES", "2000"))
KILLS = int(os.environ.get("CHAOS_KILLS", "22"))
STAGES = ("stage-0", "stage-1")


def _incarnation(rt: Any, victim: str) -> int:
    status = rt.status()
    if victim == "supervisor":
        return int(status.supervisor_restarts)
    return int(status.agent(victim).restarts)


def _is_back(rt: Any, victim: str, before: int) -> bool:
    if _incarnation(rt, victim) <= before:
        return False
    return victim == "supervisor" or rt.status().agent(victim).state == "running"


def _schedule(kills: int, rng: random.Random) -> list[str]:
    """Who dies, in order: at least 2 supervisor kills and 1 memory kill, the rest agents."""
    special = ["supervisor"] * max(2, kills // 10) + ["memory"] * max(1, kills // 15)
    rest = [rng.choice([*STAGES, "sink"]) for _ in range(max(0, kills - len(special)))]
    plan = special + rest
    rng.shuffle(plan)
    return plan


def test_chaos_pipeline_loses_nothing_and_repeats_no_effect(make_runtime, tmp_path):
    rng = random.Random(int(os.environ.get("CHAOS_SEED", "7")))
    rt = make_runtime(
        health_interval_s=0.2, batch_size=32,
        retry=RetryPolicy(max_attempts=60, backoff_s=0.05, max_backoff_s=0.5),
        restart=RestartPolicy(max_restarts=1000, within_s=1.0))
    ledger = str(tmp_path / "ledger.sqlite3")
    rt.spawn(MemoryAgent, name="memory", config={"data_dir": str(tmp_path / "mem")})
    rt.spawn(Sink, name="sink", config={"ledger": ledger})
    for name in STAGES:
        rt.spawn(Stage, name=name)
    ns = rt.config.namespace
    plan = _schedule(KILLS, rng)
    done: list[str] = []
    errors: list[BaseException] = []
    sending = threading.Event()

    def killer() -> None:
        try:
            sending.wait(60)
            for victim in plan:
                time.sleep(rng.uniform(0.1, 0.6))  # chaos timing, not a wait for a condition
                name = rt.config.supervisor_name if victim == "supervisor" else victim
                before = _incarnation(rt, victim)
                ray.kill(ray.get_actor(name, namespace=ns), no_restart=victim != "supervisor")
                done.append(victim)
                # Each kill hits a live process: wait until the victim is back.
                wait_for(partial(_is_back, rt, victim, before), timeout_s=120)
        except BaseException as exc:  # surfaced by the assertion below
            errors.append(exc)

    thread = threading.Thread(target=killer, daemon=True)
    thread.start()
    started = time.monotonic()
    for seq in range(MESSAGES):
        if seq == 20:
            sending.set()
        rt.send(STAGES[seq % len(STAGES)], Item(seq=seq))
    thread.join(timeout=600)
    assert not errors, errors

    def tally() -> Any:
        return rt.ask("sink", Tally(), timeout_s=60)

    wait_for(lambda: len(tally().counts) >= MESSAGES, timeout_s=300, interval_s=0.5,
             message="every item reached the sink")
    reply = tally()
    lost = MESSAGES - len(reply.counts)
    duplicate_state = sum(c - 1 for c in reply.counts.values() if c > 1)
    seqs, runs = ledger_rows(ledger)
    duplicate_effects = len(seqs) - len(set(seqs))
    missing_effects = MESSAGES - len(set(seqs))
    remembered = rt.memory.count("chaos")
    status = rt.status()
    restarts = sum(a.restarts for a in status.agents)
    print(f"\nchaos: sent={MESSAGES} delivered={len(reply.counts)} lost={lost} "
          f"duplicate_effects={duplicate_effects} duplicate_state={duplicate_state} "
          f"order_violations={reply.order_violations} kills={len(done)} "
          f"supervisor_kills={done.count('supervisor')} memory_kills={done.count('memory')} "
          f"restarts={restarts} supervisor_restarts={status.supervisor_restarts} "
          f"effect_reruns={runs - len(seqs)} remembered={remembered} "
          f"dead_letters={status.dead_letters} seconds={time.monotonic() - started:.0f}")
    assert lost == 0 and missing_effects == 0
    assert duplicate_effects == 0 and duplicate_state == 0
    assert reply.order_violations == 0
    assert remembered == MESSAGES
    assert status.dead_letters == 0
    assert len(done) >= min(KILLS, 20)
    assert done.count("supervisor") >= 2 and done.count("memory") >= 1
    assert status.supervisor_restarts == done.count("supervisor")
    # Every kill is followed by a restart; a health check that times out on a crowded
    # machine may add one more (a restart is always safe, a missing one is not).
    assert restarts >= len(done) - done.count("supervisor")
