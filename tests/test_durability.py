"""The supervisor dies on Ray and comes back from its journal: nothing lost, nothing twice.

The supervisor is a detached actor restarted by Ray (``max_restarts=-1``); callers retry
with the same envelope while it is away, and the agents, detached too, keep running.
"""

from __future__ import annotations

import contextlib
import threading
from typing import Any

import pytest
import ray

from actors import AgentExistsError, Runtime, RuntimeConfig
from actors._config import JournalConfig
from actors._errors import SupervisorUnavailableError
from actors._faults import POINTS
from tests.agents import EchoAgent, GetLog, LogAgent, Record, Relay, RelayAgent, Slow
from tests.conftest import wait_for


def _kill_supervisor(rt: Runtime, *, restart: bool = True) -> None:
    sup = ray.get_actor(rt.config.supervisor_name, namespace=rt.config.namespace)
    ray.kill(sup, no_restart=not restart)


def _pid_of(rt: Runtime, name: str) -> Any:
    return rt.status().agent(name).pid


def test_killing_the_supervisor_mid_stream_loses_and_repeats_nothing(runtime):
    runtime.spawn(LogAgent, name="log")
    pid = _pid_of(runtime, "log")
    n = 300
    sent = threading.Event()

    def killer() -> None:
        wait_for(lambda: runtime.status().agent("log").handled > 30, timeout_s=30)
        _kill_supervisor(runtime)
        sent.set()

    thread = threading.Thread(target=killer)
    thread.start()
    for i in range(n):
        runtime.send("log", Record(n=i, sleep_s=0.002))
    thread.join()
    assert sent.is_set()
    wait_for(lambda: len(runtime.ask("log", GetLog()).items) >= n, timeout_s=60)
    assert runtime.ask("log", GetLog()).items == list(range(n))
    status = runtime.status()
    assert status.supervisor_restarts == 1
    assert status.journal is not None and status.journal.path
    assert _pid_of(runtime, "log") == pid  # re-adopted, not restarted
    assert status.agent("log").restarts == 0


def test_an_ask_blocked_across_a_supervisor_restart_gets_its_reply(runtime):
    runtime.spawn(LogAgent, name="log")
    result: dict[str, Any] = {}

    def asker() -> None:
        result["reply"] = runtime.ask("log", Slow(seconds=1.5), timeout_s=60)

    thread = threading.Thread(target=asker)
    thread.start()
    wait_for(lambda: runtime.status().agent("log").inflight, timeout_s=20)
    _kill_supervisor(runtime)
    thread.join(timeout=90)
    assert result == {"reply": "done"}


def test_agents_keep_working_while_the_supervisor_is_down(runtime):
    runtime.spawn(EchoAgent, name="echo")
    runtime.spawn(RelayAgent, name="relay")
    result: dict[str, Any] = {}

    def asker() -> None:
        result["reply"] = runtime.ask("relay", Relay(to="echo", text="hi"), timeout_s=60)

    # The relay's own ask to echo meets a dead supervisor and retries until it is back.
    _kill_supervisor(runtime)
    thread = threading.Thread(target=asker)
    thread.start()
    thread.join(timeout=90)
    assert result["reply"].text == "via relay: hi"


def test_a_dead_agent_is_respawned_from_its_snapshot_when_the_supervisor_returns(runtime):
    runtime.spawn(LogAgent, name="log")
    for i in range(3):
        runtime.ask("log", Record(n=i))
    ray.kill(ray.get_actor("log", namespace=runtime.config.namespace), no_restart=True)
    _kill_supervisor(runtime)
    wait_for(lambda: runtime.status().supervisor_restarts == 1, timeout_s=30)
    assert runtime.ask("log", GetLog()).items == [0, 1, 2]
    assert runtime.status().agent("log").restarts >= 1


@pytest.mark.parametrize("point", POINTS)
def test_a_supervisor_killed_at_each_point_of_the_path_delivers_once(make_runtime, tmp_path,
                                                                     point):
    fault = tmp_path / "fault"
    rt = make_runtime(fault_file=str(fault))
    rt.spawn(LogAgent, name="log")
    rt.ask("log", Record(n=0))
    fault.write_text(point)
    assert rt.ask("log", Record(n=1), timeout_s=60) == 1
    wait_for(lambda: not fault.exists(), timeout_s=5, message="the crash point was reached")
    assert rt.status().supervisor_restarts == 1
    assert rt.ask("log", GetLog()).items == [0, 1]


def test_a_supervisor_that_stays_away_gives_a_typed_error_in_time(ray_session, runs_dir):
    from actors._config import TracingConfig

    config = RuntimeConfig(namespace="t-away", tracing=TracingConfig(exporter="none"),
                           journal=JournalConfig(supervisor_retry_s=1.0))
    rt = Runtime(config=config).start()
    try:
        rt.spawn(EchoAgent, name="echo")
        _kill_supervisor(rt, restart=False)
        with pytest.raises(SupervisorUnavailableError, match="supervisor_retry_s"):
            rt.status()
    finally:
        with contextlib.suppress(ValueError):
            ray.kill(ray.get_actor("echo", namespace="t-away"), no_restart=True)
        rt.disconnect()


def test_spawning_a_name_another_actor_holds_is_a_raygent_error(runtime):
    @ray.remote
    class Squatter:
        def ping(self) -> str:
            return "here"

    squatter = Squatter.options(name="taken", namespace=runtime.config.namespace,
                                lifetime="detached").remote()
    ray.get(squatter.ping.remote())
    try:
        with pytest.raises(AgentExistsError, match="taken"):
            runtime.spawn(EchoAgent, name="taken")
    finally:
        ray.kill(squatter)
