"""A stateful property test: random sends, asks, duplicates, expiries, agent kills,
supervisor crashes, manual restarts and dead-letter replays against a model of what must
have been delivered — each accepted message exactly once, in acceptance order.

The system runs in this process (``actors.testing.LocalSystem``, a SQLite journal on
disk); a supervisor crash drops it as ``kill -9`` would and recovers from the journal.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, precondition, rule

from actors import AgentSpec, MailboxConfig, RestartPolicy, RetryPolicy, RuntimeConfig
from actors._transport import make_envelope, reply_value
from actors.testing import LocalSystem
from tests.agents import GetLog, LogAgent, Record
from tests.conftest import until

PAUSES = st.sampled_from([0.0, 0.003, 0.01, 0.03])


def _env(payload: Any, **kw: Any) -> Any:
    return make_envelope(sender="driver", recipient="log", payload=payload,
                         max_bytes=1 << 20, **kw)


class RuntimeModel(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.dir = tempfile.mkdtemp(prefix="raygent-model-")
        config = RuntimeConfig(
            health_interval_s=0.02, health_timeout_s=2.0, batch_size=3,
            retry=RetryPolicy(max_attempts=5, backoff_s=0.0, max_backoff_s=0.0))
        self.system = LocalSystem(config, f"{self.dir}/journal.sqlite3")
        spec = AgentSpec(name="log", cls=LogAgent, accepted=LogAgent.accepted_kinds(),
                         has_snapshot=True, mailbox=MailboxConfig(capacity=10_000),
                         restart=RestartPolicy(max_restarts=1000, within_s=1.0))
        self._run(self.system.start())
        self._run(self.system.call("spawn", spec))
        self.n = 0
        self.expected: list[int] = []  # what the log must read once everything settled
        self.sent: list[Any] = []  # envelopes accepted, to send again as duplicates
        self.dead: list[int] = []  # numbers sitting in the dead-letter queue

    def _run(self, coro: Any) -> Any:
        return self.loop.run_until_complete(asyncio.wait_for(coro, 30))

    def _next(self) -> int:
        self.n += 1
        return self.n

    # -- what users do -------------------------------------------------------------------

    @rule(count=st.integers(min_value=1, max_value=6))
    def send(self, count: int) -> None:
        envs = [_env(Record(n=self._next(), sleep_s=0.002)) for _ in range(count)]
        out = self._run(self.system.call("submit", envs))
        assert out == [e.id for e in envs]
        self.sent.extend(envs)
        self.expected.extend(e.payload.n for e in envs)

    @rule()
    def ask(self) -> None:
        n = self._next()
        env = _env(Record(n=n), expects_reply=True)
        assert reply_value(self._run(self.system.call("ask", env, 20.0))) == n
        self.sent.append(env)
        self.expected.append(n)

    @precondition(lambda self: self.sent)
    @rule(pick=st.integers(min_value=0))
    def send_a_duplicate(self, pick: int) -> None:
        env = self.sent[pick % len(self.sent)]
        (out,) = self._run(self.system.call("submit", [env]))
        assert out == env.id  # accepted as the same message, never run twice

    @rule()
    def send_one_that_expires(self) -> None:
        n = self._next()
        self._run(self.system.call("submit", [_env(Record(n=n), ttl_s=0.0)]))
        self.dead.append(n)

    @precondition(lambda self: self.dead)
    @rule()
    def replay_dead_letters(self) -> None:
        self._settle()
        replayed = self._run(self.system.call("replay", None))
        assert replayed == len(self.dead)
        self.expected.extend(self.dead)
        self.dead = []

    # -- what goes wrong -----------------------------------------------------------------

    @rule(pause=PAUSES)
    def kill_the_agent(self, pause: float) -> None:
        self._run(asyncio.sleep(pause))  # let delivery get under way first
        backend = self.system.backend
        host = backend.hosts.get("log")
        if host is not None:
            self._run(backend.kill(host, "log"))

    @rule(pause=PAUSES)
    def crash_the_supervisor(self, pause: float) -> None:
        self._run(asyncio.sleep(pause))
        self._run(self.system.crash_supervisor())

    @rule()
    def restart_the_agent(self) -> None:
        self._run(self.system.call("restart", "log"))

    # -- what must hold --------------------------------------------------------------------

    def _settle(self) -> None:
        """Wait until every accepted message is handled or dead (bounded)."""
        async def quiet() -> bool:
            core = self.system.core
            assert core is not None
            await core.check_health()
            status = core.status()
            agent = status.agent("log")
            return (agent.state == "running" and not agent.mailbox_depth
                    and not agent.inflight and status.dead_letters == len(self.dead))

        self._run(until(quiet, timeout_s=20, message="every accepted message handled or dead"))

    @rule()
    def every_accepted_message_is_handled_once_in_order(self) -> None:
        # A rule, not an invariant: waiting for quiet after every step would leave nothing
        # in flight for the kills and crashes to cut.
        self._settle()
        log = reply_value(self._run(self.system.call("ask", _env(GetLog()), 20.0))).items
        assert log == self.expected

    def teardown(self) -> None:
        try:
            self.every_accepted_message_is_handled_once_in_order()
        finally:
            self._teardown()

    def _teardown(self) -> None:
        try:
            self._run(self.system.shutdown(2.0))
        finally:
            self.loop.close()
            shutil.rmtree(self.dir, ignore_errors=True)


RuntimeModel.TestCase.settings = settings(
    max_examples=25, stateful_step_count=15, deadline=None,
    suppress_health_check=[HealthCheck.too_slow])
TestRuntimeModel = RuntimeModel.TestCase
