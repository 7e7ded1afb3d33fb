"""Ten thousand hostile calls straight at the supervisor and an agent, as an attacker on
the cluster (or a bug) would make them, bypassing every sender-side check: each is
refused with a typed error, nothing dies, the supervisor's memory stays flat.
"""

from __future__ import annotations

import math
import os
from collections import Counter
from typing import Any

import psutil
import ray
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ray.exceptions import RayTaskError

from actors import Envelope, RaygentError
from actors._envelope import dumps
from actors.messages import Echo
from tests.agents import EchoAgent, LogAgent

CASES = int(os.environ.get("HOSTILE_CASES", "10000"))
LIMIT = 64 << 10  # the test system's max_message_bytes: oversize cases stay cheap
AGENTS = ("echo", "log")
# Every public method of an agent that is not a declared service, and then some.
NOT_SERVICES = ("on_start", "on_stop", "health", "snapshot", "restore", "send",
                "send_async", "ask", "ask_async", "publish", "publish_async", "exit",
                "on_unhandled", "accepted_kinds", "has_snapshot", "_bind", "__init__",
                "__class__", "memory", "on_echo", "on_ping", "config", "name")

text = st.text(max_size=40)
huge = st.integers(min_value=1025, max_value=50_000).map(lambda n: "x" * n)
bad_utf8 = st.sampled_from(["\udcff", "a\ud800b", "\udfff" * 3])
junk = st.one_of(st.none(), st.integers(), st.floats(allow_nan=True), st.binary(max_size=20),
                 st.lists(st.integers(), max_size=3), st.dictionaries(text, text, max_size=2))
deep = st.integers(min_value=50, max_value=400).map(lambda n: _nest(n))
bad_seconds = st.one_of(st.just(math.nan), st.just(math.inf), st.just(-math.inf),
                        st.floats(max_value=-1e-9, allow_nan=False, allow_infinity=False),
                        st.floats(min_value=1e8, allow_nan=False, allow_infinity=False),
                        st.text(max_size=5), st.just(True))


def _nest(n: int) -> Any:
    value: Any = []
    for _ in range(n):
        value = [value]
    return value


def _good(**changes: Any) -> Envelope:
    base: dict[str, Any] = {"kind": "Echo", "sender": "driver", "recipient": "echo",
                            "data": dumps(Echo(text="hi")), "expects_reply": True}
    base.update(changes)
    return Envelope(**base)


def _defects() -> st.SearchStrategy[tuple[str, dict[str, Any]]]:
    """One thing wrong with an otherwise valid envelope."""
    field = st.sampled_from(["id", "kind", "sender", "recipient", "topic", "correlation_id",
                             "reply_to", "idempotency_key"])
    return st.one_of(
        st.tuples(st.just("wrong type"), st.fixed_dictionaries({"kind": junk.filter(
            lambda v: not isinstance(v, str))})),
        st.tuples(st.just("wrong type"), st.fixed_dictionaries({"data": st.one_of(
            text, st.integers(), deep)})),
        st.tuples(st.just("huge string"), field.flatmap(
            lambda f: st.fixed_dictionaries({f: huge}))),
        st.tuples(st.just("invalid utf-8"), field.flatmap(
            lambda f: st.fixed_dictionaries({f: bad_utf8}))),
        st.tuples(st.just("empty string"), st.sampled_from(["id", "kind", "sender"]).map(
            lambda f: {f: ""})),
        st.tuples(st.just("bad deadline"), st.fixed_dictionaries({"ttl_s": bad_seconds})),
        st.tuples(st.just("bad attempt"), st.fixed_dictionaries({"attempt": st.one_of(
            st.integers(max_value=0), st.just(10**12), st.just(1.5), st.just(True))})),
        st.tuples(st.just("bad trace"), st.fixed_dictionaries({"trace": st.one_of(
            junk.filter(lambda v: not isinstance(v, dict)),
            st.dictionaries(text, st.integers(), min_size=1, max_size=2),
            st.dictionaries(text, text, min_size=17, max_size=20))})),
        st.tuples(st.just("bad flag"), st.fixed_dictionaries({"expects_reply": st.one_of(
            st.integers(), text, st.none())})),
        st.tuples(st.just("nan time"), st.fixed_dictionaries({"created_at": st.one_of(
            st.just(math.nan), st.just(math.inf), text)})),
        st.tuples(st.just("unknown kind"), st.fixed_dictionaries({"kind": text.filter(
            lambda k: k.strip() and k not in ("Echo", "Ping"))})),
        st.tuples(st.just("unknown recipient"), st.fixed_dictionaries({"recipient": text.filter(
            lambda r: r.strip() and r not in AGENTS)})),
        st.tuples(st.just("oversize"), st.just({"data": b"x" * (LIMIT + 1)})),
        st.tuples(st.just("forged sender"), st.fixed_dictionaries({"sender": st.one_of(
            st.sampled_from([*AGENTS, "supervisor", "memory"]),
            text.filter(lambda s: s.strip() and s != "driver"))})),
    )


@st.composite
def hostile_call(draw: st.DrawFn) -> tuple[str, str, tuple[Any, ...]]:
    """(target, method, args): a call that must be refused."""
    shape = draw(st.sampled_from(["submit", "ask", "ask_many", "publish", "effect_get",
                                  "effect_put", "invoke", "not a list", "bad timeout"]))
    if shape == "invoke":
        method = draw(st.one_of(st.sampled_from(NOT_SERVICES), text, huge, junk))
        return draw(st.sampled_from(AGENTS)), "invoke", (method,)
    if shape in ("effect_get", "effect_put"):
        agent = draw(st.one_of(st.sampled_from(AGENTS), text, junk))
        token = draw(st.one_of(st.none(), text, st.text(min_size=64, max_size=64)))
        extra = (b"result",) if shape == "effect_put" else ()
        return "supervisor", shape, (agent, "k", *extra, token)
    if shape == "not a list":
        return "supervisor", "submit", (draw(junk.filter(lambda v: v != [])), None)
    if shape == "bad timeout":
        return "supervisor", draw(st.sampled_from(["submit", "ask_many"])), (
            [_good()], draw(bad_seconds))
    what, changes = draw(_defects())
    env = _good(**changes)
    token = draw(st.one_of(st.none(), text))  # never the real one
    if what == "unknown recipient" or what == "unknown kind":
        # These are refused per message (a value, not an exception) by submit/ask.
        shape = draw(st.sampled_from(["submit", "ask", "ask_many"]))
    if shape == "publish":
        return "supervisor", "publish", (env.evolve(recipient=None, topic="news"), token)
    if shape == "ask":
        return "supervisor", "ask", (env, 5.0, token)
    return "supervisor", shape, ([env], 5.0, token)


def _refused(result: Any) -> bool:
    """Whether a call's answer is a refusal (per-message errors count when all are)."""
    if isinstance(result, RaygentError):
        return True
    if isinstance(result, list) and result:
        return all(isinstance(r, RaygentError) for r in result)
    return False


def test_every_hostile_call_gets_a_typed_error_and_nothing_dies(make_runtime):
    rt = make_runtime(max_message_bytes=LIMIT)
    rt.spawn(EchoAgent, name="echo")
    rt.spawn(LogAgent, name="log")
    ns = rt.config.namespace
    handles = {"supervisor": ray.get_actor(rt.config.supervisor_name, namespace=ns),
               **{name: ray.get_actor(name, namespace=ns) for name in AGENTS}}
    before = rt.status()
    pids = {a.name: a.pid for a in before.agents}
    supervisor = psutil.Process(before.supervisor_pid)
    rss_before = supervisor.memory_info().rss
    stats: Counter[str] = Counter()

    @settings(max_examples=CASES, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(case=hostile_call())
    def one(case: tuple[str, str, tuple[Any, ...]]) -> None:
        target, method, args = case
        stats["cases"] += 1
        try:
            result = ray.get(getattr(handles[target], method).remote(*args), timeout=60)
        except RayTaskError as exc:
            result = exc.cause if isinstance(getattr(exc, "cause", None),
                                             RaygentError) else exc
        assert _refused(result), (target, method, str(args)[:300], str(result)[:300])
        stats["rejected"] += 1

    one()
    after = rt.status()
    deaths = sum(1 for a in after.agents if a.pid != pids[a.name] or a.restarts)
    deaths += int(after.supervisor_pid != before.supervisor_pid)
    growth_mb = (supervisor.memory_info().rss - rss_before) / (1 << 20)
    print(f"\nhostile: cases={stats['cases']} rejected={stats['rejected']} deaths={deaths} "
          f"rss_growth_mb={growth_mb:.1f}")
    assert stats["cases"] == stats["rejected"] >= min(CASES, 10_000) * 0.99
    assert deaths == 0 and after.supervisor_restarts == 0
    assert growth_mb < 100
    assert rt.ask("echo", Echo(text="still here")).text == "still here"
    assert rt.status().routed == before.routed + 1  # nothing of the hostile calls queued
