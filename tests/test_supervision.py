"""Retries, dead letters, health checks, restarts and state, with real Ray actors."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import ray

from actors import AgentFailedError, HandlerError, RestartPolicy
from actors.messages import Echo
from tests.agents import Die, EchoAgent, Fix, Flaky, GetLog, LogAgent, Record, SetHealthy
from tests.conftest import ROOT, wait_for


def test_retry_then_success(runtime):
    runtime.spawn(LogAgent, name="log")
    assert runtime.ask("log", Flaky(key="k", succeed_on=3)) == "k ok on attempt 3"
    st = runtime.status().agent("log")
    assert st.retried == 2 and st.failed == 2 and st.dead_lettered == 0


def test_retries_exhausted_go_to_dead_letters_then_replay(runtime):
    runtime.spawn(LogAgent, name="log")
    runtime.send("log", Record(n=1))
    runtime.send("log", Flaky(key="poison"))
    runtime.send("log", Record(n=2))  # queued behind the poison message: still delivered
    with pytest.raises(HandlerError) as info:
        runtime.ask("log", Flaky(key="asked"))
    assert "ValueError" in str(info.value) and info.value.recipient == "log"
    letters = wait_for(lambda: len(runtime.dead_letters()) == 2 and runtime.dead_letters())
    poison = next(d for d in letters if d.envelope.payload == Flaky(key="poison"))
    assert poison.envelope.attempt == 3 and "failed 3 attempts" in poison.reason
    assert "flaky poison failed" in (poison.error or "")
    assert runtime.ask("log", GetLog()).items == [1, 2]
    assert runtime.status().dead_letters == 2
    text_only = runtime.dead_letters(payloads=False)
    assert "Flaky(key='poison'" in str([d.text for d in text_only])
    # Replay puts it back as a first attempt; it fails again and returns to the queue.
    assert runtime.replay_dead_letters([poison.id]) == 1
    wait_for(lambda: runtime.status().agent("log").failed >= 9)
    wait_for(lambda: len(runtime.dead_letters()) == 2)
    assert runtime.purge_dead_letters() == 2
    assert runtime.dead_letters() == []


def test_replay_delivers_once_the_cause_is_fixed(runtime):
    runtime.spawn(LogAgent, name="log")
    runtime.send("log", Flaky(key="later"))
    letter = wait_for(lambda: runtime.dead_letters())[0]
    runtime.send("log", Fix())
    assert runtime.replay_dead_letters() == 1
    wait_for(lambda: runtime.status().agent("log").handled == 2)
    assert runtime.dead_letters() == []
    assert runtime.status().agent("log").failed == 3
    assert letter.envelope.kind == "Flaky"


def test_unhealthy_agent_is_restarted_with_its_state(runtime):
    runtime.spawn(LogAgent, name="log")
    for i in range(5):
        runtime.send("log", Record(n=i))
    before = wait_for(lambda: len((r := runtime.ask("log", GetLog())).items) == 5 and r)
    runtime.send("log", SetHealthy(healthy=False))
    wait_for(lambda: runtime.status().agent("log").restarts == 1)
    after = runtime.ask("log", GetLog())
    assert after.incarnation != before.incarnation  # a new process
    assert after.items == [0, 1, 2, 3, 4]  # restored from the last snapshot
    events = runtime.events()
    assert any(e.event == "restarted" and e.agent == "log" for e in events)
    assert any("health check failed" in e.detail for e in events if e.event == "crashed")


def test_killed_agent_loses_no_queued_message(runtime):
    runtime.spawn(LogAgent, name="log")
    n = 150
    runtime.send_many([("log", Record(n=i, sleep_s=0.01)) for i in range(n)])
    wait_for(lambda: runtime.status().agent("log").handled >= 10)
    ray.kill(runtime.agent_handle("log"), no_restart=True)
    wait_for(lambda: runtime.status().agent("log").restarts >= 1, timeout_s=30)
    got = wait_for(lambda: len((r := runtime.ask("log", GetLog(), timeout_s=20)).items) >= n
                   and r, timeout_s=60)
    # Every message arrives; the batch that was in flight may be seen twice at most
    # (at-least-once), and a redelivered message never jumps ahead of an older one.
    assert sorted(set(got.items)) == list(range(n))
    assert got.items == sorted(got.items)


def test_abrupt_process_exit_is_restarted_and_mail_is_delivered(runtime):
    runtime.spawn(LogAgent, name="log",
                  restart=RestartPolicy(max_restarts=5, within_s=60))
    runtime.send("log", Record(n=1))
    wait_for(lambda: runtime.ask("log", GetLog()).items == [1])
    runtime.send_many([("log", Record(n=2)), ("log", Die()), ("log", Record(n=3))])
    # Die kills the process each time it runs. After a crash the in-flight messages go
    # one at a time, so only Die's attempts count up: it ends in dead letters after
    # max_attempts, and the messages around it are delivered, in order.
    letters = wait_for(lambda: runtime.dead_letters(), timeout_s=60)
    assert [d.envelope.kind for d in letters] == ["Die"]
    assert "crashed" in letters[0].reason
    got = wait_for(lambda: runtime.ask("log", GetLog(), timeout_s=20).items, timeout_s=30)
    assert got == [1, 2, 3]
    st = runtime.status().agent("log")
    assert st.state == "running" and st.restarts == 3


def test_restart_intensity_exhausted_marks_the_agent_failed(runtime):
    runtime.spawn(LogAgent, name="log", restart=RestartPolicy(max_restarts=2, within_s=60))
    for expected in (1, 2):
        runtime.send("log", SetHealthy(healthy=False))
        wait_for(lambda expected=expected: runtime.status().agent("log").restarts == expected
                 and runtime.status().agent("log").state == "running")
        # The fresh incarnation is healthy again; break it once more.
    runtime.send("log", SetHealthy(healthy=False))
    wait_for(lambda: runtime.status().agent("log").state == "failed")
    st = runtime.status().agent("log")
    assert "restart intensity exceeded" in (st.last_error or "")
    assert any(e.event == "failed" and e.agent == "log" for e in runtime.events())
    with pytest.raises(AgentFailedError):
        runtime.send("log", Record(n=1))
    # A manual restart brings it back.
    runtime.restart("log")
    assert runtime.ask("log", Record(n=7)) == 7


def _restarts(runtime):
    return {a.name: a.restarts for a in runtime.status().agents}


@pytest.mark.parametrize(("strategy", "expected"), [
    ("one_for_one", {"a": 0, "b": 1, "c": 0}),
    ("one_for_all", {"a": 1, "b": 1, "c": 1}),
    ("rest_for_one", {"a": 0, "b": 1, "c": 1}),
])
def test_restart_strategies(make_runtime, strategy, expected):
    runtime = make_runtime(strategy=strategy)
    for name in ("a", "b", "c"):
        runtime.spawn(LogAgent, name=name)
        runtime.send(name, Record(n=ord(name)))
    runtime.send("b", SetHealthy(healthy=False))
    wait_for(lambda: _restarts(runtime) == expected
             and all(a.state == "running" for a in runtime.status().agents))
    # Every agent kept its state across the restart.
    for name in ("a", "b", "c"):
        assert runtime.ask(name, GetLog()).items == [ord(name)]


def test_temporary_agent_is_not_restarted(runtime):
    runtime.spawn(LogAgent, name="tmp", restart=RestartPolicy(mode="temporary"))
    runtime.send("tmp", SetHealthy(healthy=False))
    wait_for(lambda: runtime.status().agent("tmp").state == "failed")
    assert runtime.status().agent("tmp").restarts == 0


def test_second_process_attaches_and_talks_to_the_same_agents(runtime):
    runtime.spawn(EchoAgent, name="echo")
    address = ray.get_runtime_context().gcs_address
    code = (
        "from actors import Runtime\n"
        "from actors.messages import Echo\n"
        f"rt = Runtime({address!r}, namespace={runtime.config.namespace!r}).attach()\n"
        "print(rt.ask('echo', Echo(text='from afar')).text)\n"
        "print(len(rt.status().agents))\n"
        "rt.disconnect()\n"
    )
    env = {**os.environ, "PYTHONPATH": ROOT}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, env=env, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["from", "afar", "1"]
    assert runtime.status().agent("echo").handled == 1


def test_attach_without_a_system_says_how_to_start_one(ray_session):
    from actors import Runtime, RuntimeNotStartedError

    with pytest.raises(RuntimeNotStartedError) as info:
        Runtime(namespace="no-such-system").attach()
    assert "start one" in str(info.value)


def test_status_reports_placement_facts(runtime):
    runtime.spawn(EchoAgent, name="echo")
    st = runtime.status().agent("echo")
    assert st.pid and st.node_id and st.actor_id and st.state == "running"
    assert st.cls == "tests.agents.EchoAgent"
    assert runtime.ask("echo", Echo(text="x")).by == "echo"
