"""Agent, host and supervisor logic without Ray, plus errors, ids and config."""

from __future__ import annotations

import asyncio
import pickle
from dataclasses import dataclass

import pytest

import actors
from actors import (
    Agent,
    AgentSpec,
    ConfigError,
    HandlerError,
    MailboxConfig,
    MessageContext,
    RetryPolicy,
    RuntimeConfig,
    SupervisorCore,
    handles,
    message,
)
from actors._errors import RaygentError
from actors._ids import id_time, new_id
from actors._transport import make_envelope, reply_value
from actors.messages import Echo, EchoReply, Ping, Pong
from actors.testing import LocalBackend
from tests.agents import EchoAgent, Flaky, GetLog, LogAgent, Record


def test_every_error_pickles_round_trip():
    samples = [
        actors.UnknownKindError("K"), actors.PayloadTypeError("a", "K", ("X", "Y")),
        actors.MessageTooLargeError(10, 5), actors.NotSerializableError("K", "lock"),
        actors.UnknownRecipientError("a", ("b",)), actors.MailboxFullError("a", 3),
        actors.AskTimeoutError("a", "K", 1.5), actors.HandlerError("a", "K", "ValueError", "x"),
        actors.AgentNotFoundError("a"), actors.AgentExistsError("a"),
        actors.AgentFailedError("a", "why"), actors.AgentUnavailableError("a", "gone"),
        actors.RuntimeNotStartedError(), ConfigError("bad", field="f"), RaygentError("x"),
        actors._errors.DuplicateIdError("r1"), actors._errors.CorruptStoreError("/p", "why"),
        actors._errors.RecordNotFoundError("r"), actors._errors.InvalidQueryError("k <= 0"),
        actors.AgentStoppedError("a", "why"), actors.SupervisorUnavailableError(2.5, "gone"),
        actors._errors.SupervisorRestartedError("m1"), actors.ShutdownError(("a: x",)),
        actors.JournalError("/j", "disk full"), actors.HandlerTimeoutError("a", "K", 0.5, False),
        actors.NotAServiceError("a", "on_stop", ("search",)), actors.ForgedSenderError("a"),
        actors.UntrustedModuleError("os:system", ("scenarios",)),
        actors.PathNotAllowedError("/etc/passwd", ("/data",), "outside the roots"),
    ]
    for err in samples:
        back = pickle.loads(pickle.dumps(err))
        assert type(back) is type(err) and str(back) == str(err)
        assert back.__dict__ == err.__dict__
        assert isinstance(back, RaygentError)


def test_error_tree_is_shallow():
    for name in dir(actors._errors):
        obj = getattr(actors._errors, name)
        if isinstance(obj, type) and issubclass(obj, RaygentError):
            depth = obj.__mro__.index(RaygentError)
            assert depth <= 2, name


def test_ids_are_unique_and_sortable():
    ids = [new_id() for _ in range(5000)]
    assert len(set(ids)) == 5000
    assert ids == sorted(ids)
    assert abs(id_time(ids[0]) - __import__("time").time()) < 5


def test_handlers_are_found_by_type_hint():
    assert set(EchoAgent.accepted_kinds()) == {"Echo", "Ping", "Blob"}
    assert LogAgent.has_snapshot() and not EchoAgent.has_snapshot()


def test_a_handler_without_a_usable_hint_fails_at_class_definition():
    with pytest.raises(ConfigError, match="registered"):
        class _A(Agent):
            @handles
            async def on(self, msg: int, ctx: MessageContext) -> None: ...

    with pytest.raises(ConfigError, match="takes"):
        class _B(Agent):
            @handles
            async def on(self) -> None: ...

    with pytest.raises(ConfigError, match="two handlers"):
        class _C(Agent):
            @handles
            async def a(self, msg: Echo, ctx: MessageContext) -> None: ...

            @handles
            async def b(self, msg: Echo, ctx: MessageContext) -> None: ...


def test_message_must_be_a_frozen_dataclass():
    with pytest.raises(ConfigError, match="frozen"):
        @message
        @dataclass
        class _Loose:
            x: int = 0


def test_explicit_handler_type_and_subclass_override():
    class Base(Agent):
        @handles(Echo)
        async def echo(self, msg, ctx):  # type: ignore[no-untyped-def]
            return EchoReply(text="base")

    class Child(Base):
        @handles
        async def echo(self, msg: Echo, ctx: MessageContext) -> EchoReply:
            return EchoReply(text="child")

    assert Base.accepted_kinds() == ("Echo",) == Child.accepted_kinds()


def _spec(cls: type[Agent], name: str, **kw: object) -> AgentSpec:
    return AgentSpec(name=name, cls=cls, accepted=cls.accepted_kinds(),
                     has_snapshot=cls.has_snapshot(), **kw)  # type: ignore[arg-type]


def _v(raw: object) -> object:
    try:
        return reply_value(raw)
    except actors.RaygentError as exc:
        return exc


def _env(recipient: str, payload: object, **kw: object):  # type: ignore[no-untyped-def]
    return make_envelope(sender="driver", recipient=recipient, payload=payload,
                         max_bytes=1 << 20, **kw)  # type: ignore[arg-type]


def test_host_runs_a_batch_in_order_and_stops_at_the_first_failure():
    async def go() -> None:
        host = actors.AgentHost(_spec(LogAgent, "log"), None)
        await host.start()
        batch = [_env("log", Record(n=1)), _env("log", Flaky(key="x")),
                 _env("log", Record(n=2))]
        result = await host.deliver(batch)
        assert [o.status for o in result.outcomes] == ["ok", "error", "skipped"]
        assert isinstance(result.outcomes[1].error, HandlerError)
        assert pickle.loads(result.snapshot).state == {"log": [1]}
        # A redelivered envelope is recognised and not run twice.
        again = await host.deliver([batch[0]])
        assert again.outcomes[0].duplicate
        assert host.agent.log == [1]  # type: ignore[union-attr]

    asyncio.run(go())


def test_sync_handlers_run_off_the_event_loop():
    async def go() -> None:
        host = actors.AgentHost(_spec(EchoAgent, "e"), None)
        await host.start()
        out = await host.deliver([_env("e", Ping(n=i), expects_reply=True) for i in range(3)])
        assert [_v(o.value) for o in out.outcomes] == [Pong(n=i, by="e") for i in range(3)]

    asyncio.run(go())


async def _core(**cfg: object) -> tuple[SupervisorCore, LocalBackend]:
    backend = LocalBackend()
    config = RuntimeConfig(health_interval_s=0.05,
                           retry=RetryPolicy(max_attempts=2, backoff_s=0.0), **cfg)  # type: ignore[arg-type]
    core = SupervisorCore(config, backend)
    backend.supervisor = core
    await core.start()
    return core, backend


def test_supervisor_core_routes_retries_and_dead_letters_without_ray():
    async def go() -> None:
        core, _ = await _core()
        await core.spawn(_spec(LogAgent, "log"))
        assert _v(await core.ask(_env("log", Record(n=3)))) == 3
        err = _v(await core.ask(_env("log", Flaky(key="p"))))
        assert isinstance(err, HandlerError)
        assert [d.envelope.kind for d in core.dead_letters()] == ["Flaky"]
        reply = _v(await core.ask(_env("log", GetLog())))
        assert reply.items == [3]
        await core.shutdown(1.0)

    asyncio.run(go())


def test_supervisor_core_restarts_a_killed_local_agent_and_restores_state():
    async def go() -> None:
        core, backend = await _core()
        await core.spawn(_spec(LogAgent, "log"))
        for i in range(3):
            _v(await core.ask(_env("log", Record(n=i))))
        await backend.kill(backend.hosts["log"], "log")
        await core.check_health()
        assert core.status().agent("log").restarts == 1
        assert (_v(await core.ask(_env("log", GetLog())))).items == [0, 1, 2]
        await core.shutdown(1.0)

    asyncio.run(go())


def test_supervisor_core_mailbox_capacity():
    async def go() -> None:
        core, _ = await _core()
        await core.spawn(_spec(LogAgent, "log", mailbox=MailboxConfig(capacity=2)))
        out = await core.submit([_env("log", Record(n=i)) for i in range(5)])
        assert sum(isinstance(o, actors.MailboxFullError) for o in out) == 3
        await core.shutdown(1.0)

    asyncio.run(go())


def test_config_validation_names_the_field():
    with pytest.raises(ConfigError, match="strategy"):
        RuntimeConfig(strategy="one_for_some")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"mailbox\.capacity"):
        MailboxConfig(capacity=0)
    with pytest.raises(ConfigError, match="RAYGENT_BATCH_SIZE"):
        RuntimeConfig.from_env({"RAYGENT_BATCH_SIZE": "lots"})
    assert RuntimeConfig.from_env({"RAYGENT_BATCH_SIZE": "8"}).batch_size == 8


def test_retry_delay_grows_and_is_capped():
    p = RetryPolicy(backoff_s=0.1, max_backoff_s=0.5, jitter=0.0)
    assert [p.delay(a, 0.5) for a in (2, 3, 4, 5)] == [0.1, 0.2, 0.4, 0.5]
    j = RetryPolicy(backoff_s=0.1, jitter=0.5)
    assert 0.05 <= j.delay(2, 0.0) < j.delay(2, 0.99) <= 0.15


def test_envelope_checks_happen_before_anything_is_queued():
    with pytest.raises(actors.MessageTooLargeError):
        make_envelope(sender="s", recipient="r", payload=Echo(text="x" * 100), max_bytes=50)
    env = _env("r", Echo(text="x"), ttl_s=5)
    assert env.ttl_s == 5 and env.payload == Echo(text="x")  # a time-to-live, not a clock


class _Parallel(Agent):
    concurrency = 4

    def __init__(self, name: str, config: object = None) -> None:
        super().__init__(name, config)  # type: ignore[arg-type]
        self.active = 0
        self.peak = 0
        self.gate = asyncio.Event()

    @handles
    async def on_record(self, msg: Record, ctx: MessageContext) -> int:
        self.active += 1
        self.peak = max(self.peak, self.active)
        if self.peak >= 3:
            self.gate.set()
        await asyncio.wait_for(self.gate.wait(), 5)
        self.active -= 1
        if msg.n == 1 and ctx.attempt == 1:
            raise ValueError("first try of 1 fails")
        return msg.n


def test_a_concurrent_agent_runs_handlers_at_once_and_settles_each_alone():
    async def go() -> None:
        host = actors.AgentHost(_spec(_Parallel, "p"), None)
        await host.start()
        out = await host.deliver([_env("p", Record(n=i)) for i in range(3)])
        assert [o.status for o in out.outcomes] == ["ok", "error", "ok"]
        assert host.agent.peak == 3  # type: ignore[union-attr]

        core, _ = await _core()
        await core.spawn(_spec(_Parallel, "q"))
        raw = await core.ask_many([_env("q", Record(n=i)) for i in range(3)])
        replies = actors.Runtime.replies(raw)
        assert replies == [0, 1, 2]  # 1 failed once, was retried alone, then succeeded
        st = core.status().agent("q")
        assert (st.retried, st.handled, st.dead_lettered) == (1, 3, 0)
        await core.shutdown(1.0)

    asyncio.run(go())


def test_a_non_retryable_error_goes_to_dead_letters_after_one_attempt():
    from actors._errors import InvalidQueryError
    from tests.agents import BadRequest

    async def go() -> None:
        core, _ = await _core()
        await core.spawn(_spec(LogAgent, "log"))
        err = _v(await core.ask(_env("log", BadRequest())))
        assert isinstance(err, InvalidQueryError)
        st = core.status().agent("log")
        assert (st.failed, st.retried, st.dead_lettered) == (1, 0, 1)
        await core.shutdown(1.0)

    asyncio.run(go())


def test_code_runtime_env_ships_the_packages_and_extra_modules():
    import os

    env = actors.code_runtime_env(extra_modules=["tests.agents"], pip=["lancedb>=0.20"])
    shipped = {os.path.basename(p) for p in env["py_modules"]}
    assert {"actors", "memory", "scenarios", "agents.py"} <= shipped
    assert all(os.path.exists(p) for p in env["py_modules"])
    assert env["pip"] == ["lancedb>=0.20"] and env["env_vars"]["HF_HUB_OFFLINE"] == "1"
    with pytest.raises(ModuleNotFoundError):
        actors.code_runtime_env(extra_modules=["no_such_module_here"])
