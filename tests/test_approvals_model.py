"""A stateful property test of human approval: random requests, approvals, rejections,
repeated and unknown answers, agent kills and supervisor crashes against a model — every
wait listed until answered, every answer acted on exactly once, with the answer given.

The system runs in this process (``actors.testing.LocalSystem``, a SQLite journal on
disk); a supervisor crash drops it as ``kill -9`` would and recovers from the journal.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import tempfile
from collections import Counter
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, rule

from actors import (
    Agent,
    AgentSpec,
    ApprovalConflictError,
    ApprovalNotFoundError,
    MessageContext,
    RestartPolicy,
    RetryPolicy,
    RuntimeConfig,
    handles,
    message,
)
from actors._transport import make_envelope
from actors.testing import LocalSystem
from tests.conftest import until

DONE: list[tuple[Any, ...]] = []  # effects that really ran, in this process
PAUSES = st.sampled_from([0.0, 0.003, 0.01, 0.03])


@message
@dataclass(frozen=True, kw_only=True)
class Gate:
    n: int


class Gatekeeper(Agent):
    @handles
    async def on_gate(self, msg: Gate, ctx: MessageContext) -> None:
        await ctx.effect("before", lambda: DONE.append(("before", msg.n)))
        answer = await ctx.approval(("gate", msg.n))
        if answer.approved:
            await ctx.effect("after", lambda: DONE.append(("after", msg.n, answer.data)))
        else:
            await ctx.effect("after", lambda: DONE.append(("refused", msg.n, answer.reason)))


class ApprovalModel(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        DONE.clear()
        self.loop = asyncio.new_event_loop()
        self.dir = tempfile.mkdtemp(prefix="raygent-approvals-")
        config = RuntimeConfig(
            health_interval_s=0.02, health_timeout_s=2.0,
            retry=RetryPolicy(max_attempts=5, backoff_s=0.0, max_backoff_s=0.0))
        self.system = LocalSystem(config, f"{self.dir}/journal.sqlite3")
        spec = AgentSpec(name="gate", cls=Gatekeeper, accepted=Gatekeeper.accepted_kinds(),
                         restart=RestartPolicy(max_restarts=1000, within_s=1.0))
        self._run(self.system.start())
        self._run(self.system.call("spawn", spec))
        self.n = 0
        self.waiting: set[int] = set()  # sent, not answered
        self.answers: dict[int, tuple[Any, ...]] = {}  # n -> the effect it must cause
        self.ids: dict[int, str] = {}  # n -> approval id, once seen
        self.given: dict[str, tuple[bool, str | None, str | None]] = {}  # id -> answer

    def _run(self, coro: Any) -> Any:
        return self.loop.run_until_complete(asyncio.wait_for(coro, 30))

    def _listed(self) -> dict[int, str]:
        rows = self._run(self.system.call("pending_approvals"))
        found = {row.request[1]: row.id for row in rows}
        self.ids.update(found)
        return found

    # -- what people do --------------------------------------------------------------------

    @rule()
    def request(self) -> None:
        self.n += 1
        env = make_envelope(sender="driver", recipient="gate", payload=Gate(n=self.n),
                            max_bytes=1 << 20)
        self._run(self.system.call("submit", [env]))
        self.waiting.add(self.n)

    @rule(pick=st.integers(min_value=0), yes=st.booleans(),
          data=st.none() | st.integers(-5, 5) | st.text(max_size=5))
    def answer(self, pick: int, yes: bool, data: Any) -> None:
        listed = sorted(self._listed())
        if not listed:
            return
        n = listed[pick % len(listed)]
        ident = self.ids[n]
        json_data = None if data is None or not yes else json.dumps(data)
        reason = None if yes else f"no {n}"
        self._run(self.system.call("answer_approval", ident, yes, json_data, reason, "p"))
        self.waiting.discard(n)
        self.given[ident] = (yes, json_data, reason)
        self.answers[n] = ("after", n, data if json_data else None) if yes else (
            "refused", n, reason)

    @rule(pick=st.integers(min_value=0), same=st.booleans())
    def answer_again(self, pick: int, same: bool) -> None:
        if not self.given:
            return
        ident = sorted(self.given)[pick % len(self.given)]
        yes, data, reason = self.given[ident]
        if same:
            row = self._run(self.system.call("answer_approval", ident, yes, data, reason,
                                             "p"))
            assert row.status == ("approved" if yes else "rejected")
        else:
            with pytest.raises(ApprovalConflictError):
                self._run(self.system.call("answer_approval", ident, not yes, None, "x",
                                           "p"))

    @rule()
    def answer_an_unknown_id(self) -> None:
        with pytest.raises(ApprovalNotFoundError):
            self._run(self.system.call("answer_approval", "ap-ffffffffffff", True, None,
                                       None, None))

    # -- what goes wrong -------------------------------------------------------------------

    @rule(pause=PAUSES)
    def kill_the_agent(self, pause: float) -> None:
        self._run(asyncio.sleep(pause))
        backend = self.system.backend
        host = backend.hosts.get("gate")
        if host is not None:
            self._run(backend.kill(host, "gate"))

    @rule(pause=PAUSES)
    def crash_the_supervisor(self, pause: float) -> None:
        self._run(asyncio.sleep(pause))
        self._run(self.system.crash_supervisor())

    # -- what must hold --------------------------------------------------------------------

    @rule()
    def every_wait_is_listed_and_every_answer_acted_on_once(self) -> None:
        async def settled() -> bool:
            core = self.system.core
            assert core is not None
            await core.check_health()
            listed = {row.request[1] for row in core.pending_approvals()}
            outcomes = {e[1] for e in DONE if e[0] != "before"}
            return listed == self.waiting and outcomes >= set(self.answers)

        self._run(until(settled, timeout_s=20, message=(
            f"every wait listed ({self.waiting}) and every answer acted on ({set(self.answers)})")))
        before = Counter(e[1] for e in DONE if e[0] == "before")
        assert before == Counter(range(1, self.n + 1))  # each request ran its effect once
        after = [e for e in DONE if e[0] != "before"]
        assert sorted(after, key=lambda e: e[1]) == [self.answers[n]
                                                    for n in sorted(self.answers)]

    def teardown(self) -> None:
        try:
            self.every_wait_is_listed_and_every_answer_acted_on_once()
        finally:
            try:
                self._run(self.system.shutdown(2.0))
            finally:
                self.loop.close()
                shutil.rmtree(self.dir, ignore_errors=True)


ApprovalModel.TestCase.settings = settings(
    max_examples=20, stateful_step_count=15, deadline=None,
    suppress_health_check=[HealthCheck.too_slow])
TestApprovalModel = ApprovalModel.TestCase
