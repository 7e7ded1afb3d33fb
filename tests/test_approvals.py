"""Human approval without Ray: a handler parks on ``ctx.approval``, the wait is journaled,
survives a supervisor crash, and is answered, rejected or expired by its policy.

Each test runs a whole system in this process (``actors.testing.LocalSystem``) with its
journal in a SQLite file, as ``tests/test_reliability_core.py`` does.
"""

from __future__ import annotations

import asyncio
import pickle
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from actors import (
    Agent,
    AgentSpec,
    Approval,
    ApprovalConflictError,
    ApprovalError,
    ApprovalExpiredError,
    ApprovalNotFoundError,
    MessageContext,
    PendingApproval,
    RaygentError,
    RetryPolicy,
    RuntimeConfig,
    handles,
    message,
)
from actors._approval import Parked, approval_id, policy_json
from actors._envelope import Envelope
from actors._errors import MessageError
from actors._transport import make_envelope, reply_value
from actors.testing import LocalSystem
from tests.conftest import until

RUNS: dict[str, int] = {}
EFFECTS: list[str] = []


@message
@dataclass(frozen=True, kw_only=True)
class HireCall:
    name: str
    timeout_s: float | None = None
    on_timeout: str = "fail"
    twice: bool = False  # ask for a second approval after the first


@message
@dataclass(frozen=True, kw_only=True)
class OfferDraft:
    name: str
    salary: int


@message
@dataclass(frozen=True, kw_only=True)
class Poke:
    n: int


class Recruiter(Agent):
    """Drafts an offer (an effect), waits for a person, then sends it (another effect)."""

    @handles
    async def on_hire(self, msg: HireCall, ctx: MessageContext) -> str:
        RUNS[msg.name] = RUNS.get(msg.name, 0) + 1
        await ctx.effect("draft", lambda: EFFECTS.append(f"draft:{msg.name}"))
        try:
            answer = await ctx.approval(OfferDraft(name=msg.name, salary=100),
                                        timeout_s=msg.timeout_s, on_timeout=msg.on_timeout)
        except Exception as exc:  # a broad except must not swallow the park
            EFFECTS.append(f"caught:{type(exc).__name__}")
            raise
        if msg.twice:
            second = await ctx.approval(f"second look at {msg.name}", name="second")
            if not second.approved:
                return "stopped at the second look"
        if not answer.approved:
            return f"not hired: {answer.reason}"
        await ctx.effect("send", lambda: EFFECTS.append(f"offer:{msg.name}:{answer.data}"))
        how = " (by default)" if answer.expired else ""
        return f"hired {msg.name}{how}"

    @handles
    async def on_ping(self, msg: Poke, ctx: MessageContext) -> int:
        return msg.n


@pytest.fixture(autouse=True)
def _clean() -> None:
    RUNS.clear()
    EFFECTS.clear()


def _config() -> RuntimeConfig:
    return RuntimeConfig(health_interval_s=0.05, health_timeout_s=2.0,
                         retry=RetryPolicy(max_attempts=3, backoff_s=0.0, max_backoff_s=0.0))


def run(make: Callable[[LocalSystem], Awaitable[None]], tmp_path: Path) -> None:
    async def go() -> None:
        system = LocalSystem(_config(), str(tmp_path / "journal.sqlite3"))
        await system.start()
        await system.call("spawn", AgentSpec(name="hr", cls=Recruiter,
                                             accepted=Recruiter.accepted_kinds()))
        try:
            await asyncio.wait_for(make(system), 60)
        finally:
            await system.shutdown(2.0)

    asyncio.run(go())


def _env(payload: Any, **kw: Any) -> Envelope:
    return make_envelope(sender="driver", recipient="hr", payload=payload, max_bytes=1 << 20,
                         **kw)


async def pending(system: LocalSystem, *, count: int = 1) -> list[PendingApproval]:
    async def listed() -> list[PendingApproval] | None:
        found: list[PendingApproval] = await system.call("pending_approvals")
        return found if len(found) >= count else None

    found: list[PendingApproval] = await until(listed, message=f"{count} pending approvals")
    return found


async def ask(system: LocalSystem, payload: Any, timeout_s: float = 20.0) -> Any:
    env = _env(payload, ttl_s=timeout_s, expects_reply=True)
    return reply_value(await system.call("ask", env, timeout_s))


def _handled(system: LocalSystem) -> int:
    assert system.core is not None
    return system.core.status().agent("hr").handled


def test_a_parked_handler_frees_its_agent_and_completes_once_after_approve(tmp_path):
    async def go(system: LocalSystem) -> None:
        await system.call("submit", [_env(HireCall(name="ann"))])
        (wait,) = await pending(system)
        assert wait.agent == "hr" and wait.kind == "HireCall" and wait.status == "pending"
        assert "OfferDraft(name='ann', salary=100)" in wait.text
        assert wait.request == OfferDraft(name="ann", salary=100)
        assert RUNS == {"ann": 1} and EFFECTS == ["draft:ann"]  # parked, not caught
        assert await ask(system, Poke(n=7)) == 7  # the agent is free meanwhile
        assert _handled(system) == 1
        done = await system.call("answer_approval", wait.id, True, '{"start": "May"}',
                                 None, "alice")
        assert done.status == "approved" and done.answer is not None
        assert done.answer.by == "alice" and done.answer.data == {"start": "May"}
        await until(lambda: "offer:ann:{'start': 'May'}" in EFFECTS)
        await until(lambda: _handled(system) == 2)
        assert RUNS == {"ann": 2}  # ran again from the start...
        assert EFFECTS == ["draft:ann", "offer:ann:{'start': 'May'}"]  # ...effects once
        assert await system.call("pending_approvals") == []
        answered = await system.call("pending_approvals", True, True)
        assert [a.status for a in answered] == ["approved"]

    run(go, tmp_path)


def test_an_ask_waits_for_the_answer_and_a_rejection_reaches_the_handler(tmp_path):
    async def go(system: LocalSystem) -> None:
        task = asyncio.ensure_future(ask(system, HireCall(name="bob")))
        (wait,) = await pending(system)
        assert not task.done()
        await system.call("answer_approval", wait.id, False, None, "too junior", "carol")
        assert await task == "not hired: too junior"
        assert EFFECTS == ["draft:bob"]

    run(go, tmp_path)


def test_two_approvals_in_one_handler_park_twice(tmp_path):
    async def go(system: LocalSystem) -> None:
        task = asyncio.ensure_future(ask(system, HireCall(name="dan", twice=True)))
        (first,) = await pending(system)
        await system.call("answer_approval", first.id, True, None, None, "a")
        await until(lambda: RUNS.get("dan") == 2)
        (second,) = await pending(system)
        assert second.id != first.id and "second look at dan" in second.text
        await system.call("answer_approval", second.id, True, None, None, "b")
        assert await task == "hired dan"
        assert RUNS == {"dan": 3} and EFFECTS == ["draft:dan", "offer:dan:None"]

    run(go, tmp_path)


def test_an_expired_wait_under_fail_dead_letters_the_message_with_a_typed_error(tmp_path):
    async def go(system: LocalSystem) -> None:
        with pytest.raises(ApprovalExpiredError) as caught:
            await ask(system, HireCall(name="eve", timeout_s=0.3, on_timeout="fail"))
        assert "0.3s" in str(caught.value)
        assert system.core is not None
        letters = system.core.dead_letters()
        assert [d.envelope.payload for d in letters] == [HireCall(name="eve", timeout_s=0.3)]
        assert "ApprovalExpiredError" in (letters[0].error or "") or "approval" in (
            letters[0].error or "")
        # Its handler has had the error: replaying the dead letter asks a person again.
        assert await system.call("pending_approvals", True, True) == []
        assert await system.call("replay", None) == 1
        (again,) = await pending(system)
        await system.call("answer_approval", again.id, True, None, None, "late")
        await until(lambda: "offer:eve:None" in EFFECTS)
        # The handler saw the typed error (it could have caught it), then the approval.
        assert EFFECTS == ["draft:eve", "caught:ApprovalExpiredError", "offer:eve:None"]

    run(go, tmp_path)


def test_an_expired_wait_with_a_default_answer_gets_it(tmp_path):
    async def go(system: LocalSystem) -> None:
        reply = await ask(system, HireCall(name="fay", timeout_s=0.2, on_timeout="approve"))
        assert reply == "hired fay (by default)"
        (row,) = await system.call("pending_approvals", True, True)
        assert row.status == "expired" and row.answer is not None
        assert row.answer.approved and row.answer.expired and row.answer.by == "timeout"
        with pytest.raises(ApprovalConflictError, match="already expired"):
            await system.call("answer_approval", row.id, False, None, None, "late")

    run(go, tmp_path)


def test_answers_to_unknown_or_answered_ids_are_typed_errors(tmp_path):
    async def go(system: LocalSystem) -> None:
        with pytest.raises(ApprovalNotFoundError):
            await system.call("answer_approval", "ap-000000000000", True, None, None, None)
        await system.call("submit", [_env(HireCall(name="gus"))])
        (wait,) = await pending(system)
        with pytest.raises(ApprovalError, match="not valid JSON"):
            await system.call("answer_approval", wait.id, True, "{nope", None, None)
        with pytest.raises(MessageError):
            await system.call("answer_approval", wait.id, True, 42, None, None)
        first = await system.call("answer_approval", wait.id, True, "[1]", None, "h")
        again = await system.call("answer_approval", wait.id, True, "[1]", None, "h")
        assert first.status == again.status == "approved"  # the same answer: accepted
        with pytest.raises(ApprovalConflictError, match="already approved"):
            await system.call("answer_approval", wait.id, False, None, "changed my mind", "h")
        await until(lambda: "offer:gus:[1]" in EFFECTS)
        assert EFFECTS.count("offer:gus:[1]") == 1

    run(go, tmp_path)


def test_two_answers_at_once_record_one_and_refuse_the_other(tmp_path):
    async def go(system: LocalSystem) -> None:
        await system.call("submit", [_env(HireCall(name="hal"))])
        (wait,) = await pending(system)
        results = await asyncio.gather(
            system.call("answer_approval", wait.id, True, None, None, "a"),
            system.call("answer_approval", wait.id, False, None, "no", "b"),
            return_exceptions=True)
        assert sorted(type(r).__name__ for r in results) == [
            "ApprovalConflictError", "PendingApproval"]
        won = next(r for r in results if isinstance(r, PendingApproval))
        expected = ["draft:hal"] + (["offer:hal:None"] if won.status == "approved" else [])
        await until(lambda: _handled(system) == 1)
        assert expected == EFFECTS

    run(go, tmp_path)


def test_a_parked_approval_survives_a_supervisor_crash_and_completes_after(tmp_path):
    async def go(system: LocalSystem) -> None:
        await system.call("submit", [_env(HireCall(name="ivy"))])
        (wait,) = await pending(system)
        await system.crash_supervisor()
        assert system.core is not None and system.core.supervisor_restarts == 1
        (still,) = await system.call("pending_approvals")
        assert still.id == wait.id and still.text == wait.text
        # Had recovery queued the parked message again, it would run before this reply.
        assert await ask(system, Poke(n=1)) == 1
        assert RUNS == {"ivy": 1}
        await system.call("answer_approval", wait.id, True, None, None, "jo")
        await until(lambda: "offer:ivy:None" in EFFECTS)
        await system.crash_supervisor()  # the answer is journaled too
        (answered,) = await system.call("pending_approvals", True, True)
        assert answered.status == "approved"
        assert RUNS == {"ivy": 2} and EFFECTS == ["draft:ivy", "offer:ivy:None"]

    run(go, tmp_path)


def test_an_ask_retried_across_a_crash_joins_the_parked_message(tmp_path):
    async def go(system: LocalSystem) -> None:
        env = _env(HireCall(name="kim"), ttl_s=30, expects_reply=True)
        first = asyncio.ensure_future(system.call("ask", env, 30))
        (wait,) = await pending(system)
        await system.crash_supervisor()
        await system.call("answer_approval", wait.id, True, None, None, "lee")
        assert reply_value(await first) == "hired kim"
        again = await system.call("ask", env, 30)  # the same envelope: the recorded reply
        assert reply_value(again) == "hired kim"
        # (The retried ask may reach the new supervisor while it recovers and run the
        # handler once more up to its park: the effects still happen once.)
        assert EFFECTS == ["draft:kim", "offer:kim:None"]

    run(go, tmp_path)


def test_an_answer_given_after_the_asker_gave_up_still_completes_the_work(tmp_path):
    async def go(system: LocalSystem) -> None:
        env = _env(HireCall(name="max"), ttl_s=0.3, expects_reply=True)
        with pytest.raises(RaygentError, match="no reply"):
            reply_value(await system.call("ask", env, 0.3))
        (wait,) = await pending(system)
        await system.call("answer_approval", wait.id, True, None, None, "ned")
        await until(lambda: "offer:max:None" in EFFECTS)
        assert reply_value(await system.call("ask", env, 5)) == "hired max"

    run(go, tmp_path)


def test_only_the_agent_itself_may_ask_for_its_approval(tmp_path):
    async def go(system: LocalSystem) -> None:
        from actors._approval import Ticket
        from actors._errors import ForgedSenderError

        ticket = Ticket(key="k?1", message_key="k", message_id="m", kind="x", request=b"",
                        text="", timeout_s=None, policy=policy_json("fail"))
        with pytest.raises(ForgedSenderError):
            await system.call("approval_request", "hr", ticket, "forged-token")
        assert system.core is not None
        token = system.core._token("hr")
        with pytest.raises(ApprovalError, match="no message"):
            await system.call("approval_request", "hr", ticket, token)
        with pytest.raises(MessageError):
            await system.call("approval_request", "hr", {"not": "a ticket"}, token)
        for policy in ("not json", '{"on_timeout": "later"}', '{"on_timeout": "default"}'):
            odd = Ticket(key="k?1", message_key="k", message_id="m", kind="x", request=b"",
                         text="", timeout_s=None, policy=policy)
            with pytest.raises(MessageError, match="policy"):
                await system.call("approval_request", "hr", odd, token)

    run(go, tmp_path)


def test_errors_and_values_survive_pickle_and_policies_are_checked() -> None:
    for err in (ApprovalNotFoundError("ap-1"), ApprovalConflictError("ap-1", "approved"),
                ApprovalExpiredError("ap-1", 2.5), ApprovalError("x")):
        back = pickle.loads(pickle.dumps(err))
        assert type(back) is type(err) and str(back) == str(err)
    answer = Approval(approved=True, data={"a": [1, 2]}, reason=None, by="me", at=1.0)
    assert Approval.from_json(answer.to_json()) == answer
    with pytest.raises(ApprovalError):
        Approval(approved=True, data=object()).to_json()
    with pytest.raises(ApprovalError):
        policy_json("maybe")
    assert approval_id("hr", "k?1") == approval_id("hr", "k?1") != approval_id("hr", "k?2")
    assert not issubclass(Parked, Exception)  # `except Exception` cannot swallow it


def test_ctx_approval_outside_a_runtime_says_what_it_needs() -> None:
    ctx = MessageContext.of(_env(HireCall(name="x")))

    async def go() -> None:
        with pytest.raises(RaygentError, match="needs a running agent"):
            await ctx.approval("ok?")

    asyncio.run(go())


def test_approvals_work_with_the_journal_kept_in_memory() -> None:
    from actors import SupervisorCore
    from actors.testing import LocalBackend

    async def go() -> None:
        backend = LocalBackend()
        core = SupervisorCore(_config(), backend)
        backend.reconnect(core)
        await core.start()
        try:
            await core.spawn(AgentSpec(name="hr", cls=Recruiter,
                                       accepted=Recruiter.accepted_kinds()))
            task = asyncio.ensure_future(core.ask(_env(HireCall(name="oz"), ttl_s=20,
                                                       expects_reply=True), 20))
            await until(core.pending_approvals)
            (wait,) = core.pending_approvals()
            await core.answer_approval(wait.id, True, None, None, "pat")
            assert reply_value(await task) == "hired oz"
            assert [e.event for e in core.events() if e.event.startswith("approval")] == [
                "approval_pending", "approval_answered"]
        finally:
            await core.shutdown(2.0)

    asyncio.run(go())
