"""Resource limits: an agent that leaks past its memory limit is restarted (from its last
snapshot) while its neighbours keep serving; a stuck handler is stopped by its time limit."""

from __future__ import annotations

import ray

from actors import HandlerTimeoutError, RestartPolicy
from actors.messages import Echo
from tests.agents import EchoAgent
from tests.conftest import wait_for
from tests.security.agents import Count, Hang, Leak, LeakyAgent, StuckAgent


def _rss_mb(rt, name: str) -> float:  # type: ignore[no-untyped-def]
    return float(ray.get(ray.get_actor(name, namespace=rt.config.namespace)
                         .rss_mb.remote()))


def test_an_agent_leaking_past_its_limit_is_restarted_and_its_neighbours_keep_serving(
        make_runtime):
    rt = make_runtime()
    rt.spawn(LeakyAgent, name="probe")
    baseline = _rss_mb(rt, "probe")
    rt.stop_agent("probe")
    limit = baseline + 200
    rt.spawn(LeakyAgent, name="leaky",
             restart=RestartPolicy(memory_limit_mb=limit, max_restarts=5, within_s=60))
    rt.spawn(EchoAgent, name="neighbour")
    handled = 0
    for i in range(8):  # 8 x 60 MB: well past the limit, unless it is enforced
        handled = rt.ask("leaky", Leak(mb=60))
        assert rt.ask("neighbour", Echo(text=str(i))).text == str(i)
        if rt.status().agent("leaky").restarts:
            break
    wait_for(lambda: rt.status().agent("leaky").restarts >= 1, timeout_s=30)
    events = [e for e in rt.events() if e.agent == "leaky" and e.event == "crashed"]
    assert events and "over its limit" in events[0].detail
    wait_for(lambda: rt.status().agent("leaky").state == "running", timeout_s=60)
    assert _rss_mb(rt, "leaky") < limit  # a fresh process
    assert rt.ask("leaky", Count()) == handled  # state from the last snapshot
    assert rt.status().agent("neighbour").restarts == 0
    assert rt.ask("neighbour", Echo(text="after")).text == "after"


def test_a_stuck_async_handler_is_cancelled_by_its_time_limit(make_runtime):
    rt = make_runtime()
    rt.spawn(StuckAgent, name="stuck")
    try:
        rt.ask("stuck", Hang(seconds=30), timeout_s=60)
        raise AssertionError("the hang was not stopped")
    except HandlerTimeoutError as exc:
        assert exc.cancelled and exc.timeout_s == 0.5
    letters = [d for d in rt.dead_letters() if d.envelope.recipient == "stuck"]
    assert letters and "within its 0.5s limit" in (letters[0].error or "")
    assert rt.status().agent("stuck").restarts == 0  # cancelled: no restart needed
    assert rt.ask("stuck", Hang(seconds=0.01)) == "finished"


def test_a_stuck_plain_handler_is_reported_and_its_agent_restarted(make_runtime):
    rt = make_runtime()
    rt.spawn(StuckAgent, name="stuck", restart=RestartPolicy(max_restarts=10, within_s=60))
    try:
        rt.ask("stuck", Count(), timeout_s=90)
        raise AssertionError("the stuck handler was not stopped")
    except HandlerTimeoutError as exc:
        assert not exc.cancelled and "cannot be cancelled" in str(exc)
    wait_for(lambda: rt.status().agent("stuck").restarts >= 1, timeout_s=30)
    crashed = [e for e in rt.events() if e.agent == "stuck" and e.event == "crashed"]
    assert crashed and "cannot be cancelled" in crashed[0].detail
    wait_for(lambda: rt.status().agent("stuck").state == "running", timeout_s=60)
    assert rt.ask("stuck", Hang(seconds=0.01)) == "finished"
