"""Coalescing on the sending side, without Ray: many callers' messages in few supervisor
calls, a fast ask never held up by a slow one, and nothing lost across a crash."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from actors import AgentSpec, RetryPolicy, RuntimeConfig
from actors._errors import ForgedSenderError, RaygentError
from actors._outbox import Outbox
from actors._transport import make_envelope, reply_value
from actors.testing import LocalSystem
from tests.agents import GetLog, LogAgent, Record, Slow
from tests.conftest import until


def _spec(name: str) -> AgentSpec:
    return AgentSpec(name=name, cls=LogAgent, accepted=LogAgent.accepted_kinds(),
                     has_snapshot=True)


def _env(payload: Any, **kw: Any) -> Any:
    return make_envelope(sender="driver", recipient="log", payload=payload,
                         max_bytes=1 << 20, **kw)


def run(body: Any, tmp_path: Path) -> None:
    async def go() -> None:
        config = RuntimeConfig(health_interval_s=0.05, retry=RetryPolicy(
            max_attempts=3, backoff_s=0.0, max_backoff_s=0.0))
        system = LocalSystem(config, str(tmp_path / "journal.sqlite3"))
        await system.start()
        try:
            await system.call("spawn", _spec("log"))
            await asyncio.wait_for(body(system), 60)
        finally:
            await system.shutdown(2.0)

    asyncio.run(go())


def test_many_concurrent_callers_share_few_supervisor_calls(tmp_path):
    async def body(system: LocalSystem) -> None:
        box = Outbox(system.call, sender="driver", token=None)
        asks = [box.ask(_env(Record(n=i), ttl_s=30.0, expects_reply=True), 30.0)
                for i in range(300)]
        sends = [box.send(_env(Record(n=1000 + i))) for i in range(100)]
        replies = await asyncio.gather(*asks)
        ids = await asyncio.gather(*sends)
        assert [reply_value(r) for r in replies] == list(range(300))
        assert all(isinstance(i, str) for i in ids)
        assert box.exchanges <= 20, box.exchanges  # 400 messages, a handful of calls
        log = reply_value(await box.ask(_env(GetLog(), expects_reply=True), 30.0)).items
        assert sorted(log) == sorted([*range(300), *range(1000, 1100)])

    run(body, tmp_path)


def test_a_lone_caller_goes_out_at_once_in_its_own_call(tmp_path):
    async def body(system: LocalSystem) -> None:
        box = Outbox(system.call, sender="driver", token=None)
        for i in range(5):
            assert reply_value(await box.ask(_env(Record(n=i), expects_reply=True), 30)) == i
        assert box.exchanges == 5

    run(body, tmp_path)


def test_a_fast_ask_is_not_held_up_by_a_slow_one_in_the_same_call(tmp_path):
    async def body(system: LocalSystem) -> None:
        await system.call("spawn", _spec("other"))
        box = Outbox(system.call, sender="driver", token=None)
        slow = asyncio.ensure_future(box.ask(_env(Slow(seconds=2.0), expects_reply=True),
                                             30.0))
        fast_env = make_envelope(sender="driver", recipient="other", payload=Record(n=7),
                                 max_bytes=1 << 20, expects_reply=True)
        started = time.monotonic()
        fast = await box.ask(fast_env, 30.0)
        assert reply_value(fast) == 7
        assert time.monotonic() - started < 1.5  # well before the slow one is done
        assert not slow.done()
        assert reply_value(await slow) == "done"

    run(body, tmp_path)


def test_parked_asks_survive_a_supervisor_crash(tmp_path):
    async def body(system: LocalSystem) -> None:
        box = Outbox(system.call, sender="driver", token=None, poll_s=0.2)
        pending = [asyncio.ensure_future(box.ask(_env(Record(n=i, sleep_s=0.01),
                                                      expects_reply=True), 30.0))
                   for i in range(20)]
        await until(lambda: box._parked)  # some asks are parked at the supervisor
        await system.crash_supervisor()
        replies = [reply_value(r) for r in await asyncio.gather(*pending)]
        assert replies == list(range(20))
        log = reply_value(await box.ask(_env(GetLog(), expects_reply=True), 30.0)).items
        assert sorted(log) == list(range(20))  # each once

    run(body, tmp_path)


def test_a_forged_sender_fails_its_callers_with_the_typed_error(tmp_path):
    async def body(system: LocalSystem) -> None:
        box = Outbox(system.call, sender="log", token="not-its-token")
        env = make_envelope(sender="log", recipient="log", payload=Record(n=1),
                            max_bytes=1 << 20, expects_reply=True)
        result = await box.ask(env, 5.0)
        assert isinstance(result, ForgedSenderError)
        assert isinstance(result, RaygentError)

    run(body, tmp_path)


def test_a_handler_error_reaches_the_asker_even_when_it_is_faster_than_the_journal(
        tmp_path):
    from actors._errors import InvalidQueryError
    from tests.agents import BadRequest

    async def body(system: LocalSystem) -> None:
        box = Outbox(system.call, sender="driver", token=None)
        for _ in range(5):
            env = _env(BadRequest(), expects_reply=True, ttl_s=10.0)
            result = await asyncio.wait_for(box.ask(env, 10.0), 5)
            assert isinstance(result, InvalidQueryError)

    run(body, tmp_path)
