"""The reliability core without Ray: journal, supervisor crashes, dedupe, effects, and every
place where a message could once vanish silently.

Each test runs a whole system in this process (``actors.testing.LocalSystem``) with its
journal in a SQLite file; ``crash_supervisor`` drops the supervisor as ``kill -9`` would
and starts the next one from the journal while the agents keep running.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from actors import (
    Agent,
    AgentSpec,
    MailboxConfig,
    MessageContext,
    RestartPolicy,
    RetryPolicy,
    RuntimeConfig,
    handles,
    message,
)
from actors._config import JournalConfig
from actors._errors import AgentStoppedError, HandlerError, RaygentError
from actors._journal import MemoryJournal
from actors._sqlite_journal import SqliteJournal
from actors._transport import make_envelope, reply_value
from actors.messages import EVENTS_TOPIC, AgentEvent
from actors.testing import LocalSystem
from tests.agents import GetLog, LogAgent, Record, Slow
from tests.conftest import until

# What handlers did, seen from outside the agents (all run in this process).
RUNS: dict[str, int] = {}
EFFECTS: list[str] = []
GATES: dict[str, asyncio.Event] = {}
SEEN: list[tuple[str, str | None, str | None]] = []


@message
@dataclass(frozen=True, kw_only=True)
class Work:
    key: str
    fail_first: bool = False
    wait: str = ""  # name of a gate in GATES to wait on before finishing


@message
@dataclass(frozen=True, kw_only=True)
class Forward:
    to: str
    key: str
    fail_first: bool = False


@message
@dataclass(frozen=True, kw_only=True)
class Quit:
    pass


class Worker(Agent):
    """Stateless: counts its runs and does one recorded effect per message."""

    @handles
    async def on_work(self, msg: Work, ctx: MessageContext) -> str:
        RUNS[msg.key] = RUNS.get(msg.key, 0) + 1
        result = await ctx.effect("ledger", lambda: EFFECTS.append(msg.key) or msg.key)
        if msg.wait:
            await GATES[msg.wait].wait()
        if msg.fail_first and ctx.attempt == 1:
            raise ValueError("fails after its effect on the first attempt")
        return result

    @handles
    async def on_forward(self, msg: Forward, ctx: MessageContext) -> None:
        await self.send_async(msg.to, Work(key=msg.key))
        if msg.fail_first and ctx.attempt == 1:
            raise ValueError("fails after sending on the first attempt")

    @handles
    async def on_quit(self, msg: Quit, ctx: MessageContext) -> None:
        self.exit("asked to quit")


class Watcher(Agent):
    subscriptions = (EVENTS_TOPIC,)

    @handles
    async def on_event(self, msg: AgentEvent, ctx: MessageContext) -> None:
        SEEN.append((msg.event, msg.agent, msg.data.get("dropped")))
        gate = GATES.get("watcher")
        if gate is not None:
            await gate.wait()


class Noticer(Agent):
    """Records the context of what it gets."""

    @handles
    async def on_work(self, msg: Work, ctx: MessageContext) -> str:
        SEEN.append((msg.key, ctx.correlation_id, ctx.reply_to))
        return msg.key


class SlowStart(Agent):
    @handles
    async def on_work(self, msg: Work, ctx: MessageContext) -> str:
        return msg.key

    async def on_start(self) -> None:
        await GATES["start"].wait()
        raise RuntimeError("cannot start")


@pytest.fixture(autouse=True)
def _clean() -> None:
    RUNS.clear()
    EFFECTS.clear()
    GATES.clear()
    SEEN.clear()


def _spec(cls: type[Agent], name: str, **kw: Any) -> AgentSpec:
    return AgentSpec(name=name, cls=cls, accepted=cls.accepted_kinds(),
                     has_snapshot=cls.has_snapshot(), topics=cls.subscriptions, **kw)


def _env(recipient: str, payload: Any, **kw: Any) -> Any:
    return make_envelope(sender="driver", recipient=recipient, payload=payload,
                         max_bytes=1 << 20, **kw)


def _config(**kw: Any) -> RuntimeConfig:
    base: dict[str, Any] = {
        "health_interval_s": 0.05, "health_timeout_s": 2.0,
        "retry": RetryPolicy(max_attempts=3, backoff_s=0.0, max_backoff_s=0.0),
    }
    base.update(kw)
    return RuntimeConfig(**base)


def run(make: Callable[[LocalSystem], Awaitable[None]], tmp_path: Path,
        **config: Any) -> None:
    async def go() -> None:
        system = LocalSystem(_config(**config), str(tmp_path / "journal.sqlite3"))
        await system.start()
        try:
            await asyncio.wait_for(make(system), 60)
        finally:
            await system.shutdown(2.0)

    asyncio.run(go())


async def ask(system: LocalSystem, env: Any, timeout_s: float | None = None) -> Any:
    return reply_value(await system.call("ask", env, timeout_s))


# -- the supervisor's own death -----------------------------------------------------------


def test_a_supervisor_crash_loses_no_queued_message_and_runs_none_twice(tmp_path):
    async def go(system: LocalSystem) -> None:
        await system.call("spawn", _spec(LogAgent, "log"))
        out = await system.call("submit", [_env("log", Record(n=i, sleep_s=0.002))
                                           for i in range(60)])
        assert all(isinstance(o, str) for o in out)
        await until(lambda: system.backend.hosts["log"].agent.log)  # some handled, not all
        assert len(system.backend.hosts["log"].agent.log) < 40
        await system.crash_supervisor()
        assert system.core is not None and system.core.supervisor_restarts == 1

        async def all_in() -> bool:
            return len((await ask(system, _env("log", GetLog(), expects_reply=True))).items
                       ) >= 60

        await until(all_in, timeout_s=20)
        log = (await ask(system, _env("log", GetLog()))).items
        assert log == list(range(60))  # each once, in send order

    run(go, tmp_path, batch_size=4)  # most of the 60 wait in the mailbox at the crash


def test_an_ask_in_flight_across_a_crash_gets_its_reply_and_runs_once(tmp_path):
    async def go(system: LocalSystem) -> None:
        await system.call("spawn", _spec(Worker, "w"))
        GATES["g"] = asyncio.Event()
        pending = asyncio.ensure_future(ask(system, _env("w", Work(key="a", wait="g"),
                                                         expects_reply=True)))
        await until(lambda: RUNS.get("a") == 1)
        await system.crash_supervisor()
        GATES["g"].set()
        assert await pending == "a"
        assert RUNS == {"a": 1} and EFFECTS == ["a"]

    run(go, tmp_path)


def test_an_answered_ask_sent_again_after_a_crash_is_answered_from_the_journal(tmp_path):
    async def go(system: LocalSystem) -> None:
        await system.call("spawn", _spec(Worker, "w"))
        env = _env("w", Work(key="b"), expects_reply=True)
        assert await ask(system, env) == "b"
        await system.crash_supervisor()
        assert await ask(system, env) == "b"  # same envelope: a caller's retry
        assert RUNS == {"b": 1}

    run(go, tmp_path)


def test_an_idempotency_key_holds_across_a_supervisor_crash(tmp_path):
    async def go(system: LocalSystem) -> None:
        await system.call("spawn", _spec(Worker, "w"))
        first = _env("w", Work(key="c"), idempotency_key="order-17")
        await system.call("submit", [first])
        await until(lambda: RUNS.get("c") == 1)
        await until(lambda: not system.core.status().agent("w").inflight)
        await system.crash_supervisor()
        again = _env("w", Work(key="c"), idempotency_key="order-17")
        assert again.id != first.id
        (out,) = await system.call("submit", [again])
        assert out == again.id  # accepted (as a copy), and never run
        assert await ask(system, _env("w", Work(key="probe"))) == "probe"
        assert RUNS == {"c": 1, "probe": 1}

    run(go, tmp_path)


def test_agents_registry_and_subscriptions_come_back_after_a_crash(tmp_path):
    async def go(system: LocalSystem) -> None:
        await system.call("spawn", _spec(LogAgent, "log"))
        await system.call("subscribe", "log", "extra")
        host = system.backend.hosts["log"]
        core = await system.crash_supervisor()
        status = core.status()
        assert [a.name for a in status.agents] == ["log"]
        assert set(status.agent("log").topics) == {"news", "extra"}
        assert system.backend.hosts["log"] is host  # re-adopted, not re-created
        assert status.agent("log").restarts == 0

    run(go, tmp_path)


def test_a_dead_agent_is_respawned_from_its_snapshot_after_a_crash(tmp_path):
    async def go(system: LocalSystem) -> None:
        await system.call("spawn", _spec(LogAgent, "log"))
        for i in range(3):
            await ask(system, _env("log", Record(n=i)))
        await system.backend.kill(system.backend.hosts["log"], "log")
        core = await system.crash_supervisor()
        assert core.status().agent("log").restarts == 1
        assert (await ask(system, _env("log", GetLog()))).items == [0, 1, 2]

    run(go, tmp_path)


# -- exactly-once effects and derived keys -------------------------------------------------


def test_an_effect_is_not_repeated_when_its_message_is_retried(tmp_path):
    async def go(system: LocalSystem) -> None:
        await system.call("spawn", _spec(Worker, "w"))
        assert await ask(system, _env("w", Work(key="d", fail_first=True))) == "d"
        assert RUNS == {"d": 2}  # the handler ran twice...
        assert EFFECTS == ["d"]  # ...its effect once

    run(go, tmp_path)


def test_an_effect_is_not_repeated_after_a_supervisor_crash(tmp_path):
    async def go(system: LocalSystem) -> None:
        await system.call("spawn", _spec(Worker, "w"))
        GATES["g"] = asyncio.Event()
        await system.call("submit", [_env("w", Work(key="e", wait="g"))])
        await until(lambda: EFFECTS == ["e"])
        # The agent dies too: the message is redelivered to a new incarnation.
        await system.backend.kill(system.backend.hosts["w"], "w")
        await system.crash_supervisor()
        GATES["g"].set()
        await until(lambda: RUNS.get("e") == 2)
        await until(lambda: system.core.status().agent("w").handled >= 1)
        assert EFFECTS == ["e"]

    run(go, tmp_path)


def test_messages_a_handler_sends_are_sent_once_and_carry_their_cause(tmp_path):
    async def go(system: LocalSystem) -> None:
        await system.call("spawn", _spec(Worker, "w"))
        await system.call("spawn", _spec(Noticer, "n"))
        request = _env("w", Forward(to="n", key="f", fail_first=True),
                       correlation_id="conv-1")
        await ask(system, request)  # the forward ran twice (a retry)
        await until(lambda: system.core.status().agent("n").handled >= 1)
        assert await ask(system, _env("n", Work(key="probe"))) == "probe"
        forwarded = [s for s in SEEN if s[0] == "f"]
        assert forwarded == [("f", "conv-1", request.id)]

    run(go, tmp_path)


# -- nothing dropped silently --------------------------------------------------------------


def test_dead_letters_beyond_the_memory_limit_are_counted_and_announced(tmp_path):
    async def go(system: LocalSystem) -> None:
        core = system.core
        core.journal = MemoryJournal(dlq_capacity=3)
        await system.call("spawn", _spec(Worker, "w"))
        await system.call("spawn", _spec(Watcher, "watch"))
        for i in range(5):
            result = await system.call("ask", _env("w", Work(key=f"x{i}"), ttl_s=0.0))
            assert isinstance(result, HandlerError) and "deadline expired" in str(result)
        await until(lambda: core.journal.evicted() == 2)
        assert core.journal.dead_count() == 3
        assert core.status().journal.evicted_dead_letters == 2
        assert any(e.event == "dead_letters_evicted" for e in core.events())

    run(go, tmp_path, journal=JournalConfig(enabled=False))


def test_the_durable_journal_prunes_the_oldest_dead_letters_and_counts_them(tmp_path):
    journal = SqliteJournal(str(tmp_path / "j.sqlite3"), dead_letters_max=4)
    journal.open()
    from actors._journal import LetterRow

    for i in range(7):
        journal.dead(LetterRow(envelope=_env("w", Work(key=str(i))), reason="r", error=None,
                               at=float(i)))
    assert journal.dead_count() == 4 and journal.evicted() == 3
    assert [r.envelope.payload.key for r in journal.dead_letters()] == ["3", "4", "5", "6"]
    journal.close()


def test_a_subscriber_that_falls_behind_gets_a_dropped_count(tmp_path):
    async def go(system: LocalSystem) -> None:
        GATES["watcher"] = asyncio.Event()
        await system.call("spawn", _spec(Watcher, "watch", mailbox=MailboxConfig(capacity=1)))
        await system.call("spawn", _spec(Worker, "w", restart=RestartPolicy(max_restarts=50)))
        core = system.core
        for _ in range(4):  # each kill + restart is two events for the watcher
            await system.backend.kill(system.backend.hosts["w"], "w")
            await core.check_health()
        assert core.status().agent("watch").events_dropped > 0
        GATES["watcher"].set()
        await system.backend.kill(system.backend.hosts["w"], "w")
        await core.check_health()
        await until(lambda: any(d is not None for _, _, d in SEEN))
        marked = [d for _, _, d in SEEN if d is not None]
        assert int(marked[0]) > 0

    run(go, tmp_path)


def test_an_unsubscribed_agent_gets_no_more_events(tmp_path):
    async def go(system: LocalSystem) -> None:
        await system.call("spawn", _spec(Watcher, "watch"))
        await system.call("spawn", _spec(Worker, "w"))
        await system.backend.kill(system.backend.hosts["w"], "w")
        await system.core.check_health()
        await until(lambda: ("restarted", "w", None) in SEEN)
        await system.call("unsubscribe", "watch", EVENTS_TOPIC)
        count = len(SEEN)
        await system.backend.kill(system.backend.hosts["w"], "w")
        await system.core.check_health()
        assert await ask(system, _env("w", Work(key="probe"))) == "probe"
        assert len(SEEN) == count

    run(go, tmp_path)


def test_stopping_an_agent_fails_its_waiting_asks_with_a_typed_error(tmp_path):
    async def go(system: LocalSystem) -> None:
        await system.call("spawn", _spec(LogAgent, "log"))
        waiting = [asyncio.ensure_future(ask(system, _env("log", Slow(seconds=5.0))))
                   for _ in range(3)]
        await until(lambda: system.core.status().agent("log").inflight)
        await system.call("stop_agent", "log", 0.2)
        results = await asyncio.gather(*waiting, return_exceptions=True)
        assert all(isinstance(r, AgentStoppedError) for r in results), results

    run(go, tmp_path)


def test_mail_queued_for_an_agent_whose_spawn_fails_is_dead_lettered(tmp_path):
    async def go(system: LocalSystem) -> None:
        GATES["start"] = asyncio.Event()
        spawning = asyncio.ensure_future(system.call("spawn", _spec(SlowStart, "s")))
        await until(lambda: "s" in system.core.agent_names())
        out = await system.call("submit", [_env("s", Work(key="early"))])
        assert isinstance(out[0], str)
        GATES["start"].set()
        with pytest.raises(RuntimeError, match="cannot start"):
            await spawning
        letters = system.core.dead_letters()
        assert [d.envelope.id for d in letters] == [out[0]]
        assert "spawn failed" in letters[0].reason

    run(go, tmp_path)


def test_a_dispatcher_that_dies_is_restarted_counted_and_announced(tmp_path):
    async def go(system: LocalSystem) -> None:
        await system.call("spawn", _spec(Worker, "w"))
        core = system.core
        real = core._take_batch
        broken = {"left": 1}

        def take(rec: Any) -> Any:
            if broken["left"]:
                broken["left"] -= 1
                raise RuntimeError("a bug in the dispatcher")
            return real(rec)

        core._take_batch = take  # type: ignore[method-assign]
        assert await ask(system, _env("w", Work(key="g"))) == "g"
        assert core.status().agent("w").dispatcher_restarts == 1
        assert any(e.event == "dispatcher_restarted" for e in core.events())

    run(go, tmp_path)


def test_an_expired_message_is_dead_lettered_with_its_reason(tmp_path):
    async def go(system: LocalSystem) -> None:
        await system.call("spawn", _spec(LogAgent, "log"))
        busy = asyncio.ensure_future(ask(system, _env("log", Slow(seconds=0.3))))
        await until(lambda: system.core.status().agent("log").inflight)
        await system.call("submit", [_env("log", Record(n=1), ttl_s=0.05)])
        await busy
        await until(lambda: system.core.dead_letters())
        (letter,) = system.core.dead_letters()
        assert letter.reason == "deadline expired"
        assert (await ask(system, _env("log", GetLog()))).items == []

    run(go, tmp_path)


def test_an_ask_has_one_deadline_for_queueing_and_the_reply(tmp_path):
    async def go(system: LocalSystem) -> None:
        box = MailboxConfig(capacity=1, policy="block")
        await system.call("spawn", _spec(LogAgent, "log", mailbox=box))
        await system.call("submit", [_env("log", Slow(seconds=3.0))])
        await until(lambda: system.core.status().agent("log").inflight)
        await system.call("submit", [_env("log", Slow(seconds=3.0))])  # fills the box
        started = time.monotonic()
        result = await system.call("ask", _env("log", Record(n=1)), 0.6)
        waited = time.monotonic() - started
        assert isinstance(result, RaygentError)
        assert waited < 1.1  # one budget of 0.6 s, not 0.6 for room plus 0.6 for the reply

    run(go, tmp_path)


# -- restart policies ----------------------------------------------------------------------


@pytest.mark.parametrize(("mode", "stays"), [("transient", False), ("temporary", False),
                                              ("permanent", True)])
def test_a_normal_exit_follows_the_restart_policy(tmp_path, mode, stays):
    async def go(system: LocalSystem) -> None:
        await system.call("spawn", _spec(Worker, "w", restart=RestartPolicy(mode=mode)))
        await ask(system, _env("w", Quit()))
        if stays:
            await until(lambda: system.core.status().agent("w").restarts == 1)
            assert await ask(system, _env("w", Work(key="h"))) == "h"
        else:
            # The event comes once the stop is on disk, after the agent stops taking mail.
            await until(lambda: any(e.event == "stopped" and e.agent == "w"
                                    for e in system.core.events()))
            assert "w" not in system.core.agent_names()

    run(go, tmp_path)


def test_a_transient_agent_that_crashes_is_restarted(tmp_path):
    async def go(system: LocalSystem) -> None:
        await system.call("spawn", _spec(Worker, "w", restart=RestartPolicy(mode="transient")))
        await system.backend.kill(system.backend.hosts["w"], "w")
        await system.core.check_health()
        assert system.core.status().agent("w").restarts == 1
        assert await ask(system, _env("w", Work(key="i"))) == "i"

    run(go, tmp_path)


# -- the journal itself --------------------------------------------------------------------


def test_compaction_keeps_the_journal_within_its_window(tmp_path):
    journal = SqliteJournal(str(tmp_path / "j.sqlite3"), dedupe_window=50,
                            dedupe_age_s=3600)
    journal.open()
    envs = [_env("w", Work(key=str(i))) for i in range(400)]
    journal.accept(envs)
    journal.finish([(e, None) for e in envs[:380]])
    assert journal.stats().done == 380
    journal.compact()
    stats = journal.stats()
    assert stats.done == 50 and stats.pending == 20
    # The newest finished ones are what dedupe still recognises; pending ones stay.
    assert journal.find("w", envs[379].dedupe_key) is not None
    assert journal.find("w", envs[0].dedupe_key) is None
    assert [e.id for e in journal.pending()] == [e.id for e in envs[380:]]
    journal.compact(now=time.time() + 7200)  # past the age limit too
    assert journal.stats().done == 0 and journal.stats().pending == 20
    journal.close()


def test_the_journal_survives_its_process_and_refuses_a_bad_file(tmp_path):
    path = tmp_path / "j.sqlite3"
    journal = SqliteJournal(str(path))
    assert journal.open() == 0
    env = _env("w", Work(key="k"))
    journal.accept([env])
    asyncio.run(journal.flush())
    journal.close(clean=False)  # as a crash leaves it
    again = SqliteJournal(str(path))
    assert again.open() == 1  # the supervisor died once
    assert [e.id for e in again.pending()] == [env.id]
    again.close()  # a clean stop
    third = SqliteJournal(str(path))
    assert third.open() == 1  # a clean stop is not a restart
    third.close()
    bad = tmp_path / "bad.sqlite3"
    bad.write_bytes(os.urandom(4096))
    from actors._errors import JournalError

    with pytest.raises(JournalError, match=r"bad\.sqlite3"):
        SqliteJournal(str(bad)).open()


def test_handler_errors_reach_the_asker_after_the_last_attempt(tmp_path):
    async def go(system: LocalSystem) -> None:
        await system.call("spawn", _spec(Worker, "w"))
        GATES.clear()
        with pytest.raises(HandlerError):
            await ask(system, _env("w", Work(key="j", wait="missing")))

    run(go, tmp_path)
