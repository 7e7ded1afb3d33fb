"""The supervisor as a Ray actor: named, detached, restarted by Ray, pinned to the head node.

Every call first waits for recovery from the journal (``SupervisorCore.start``, a no-op
once done); each incarnation calls itself once so that recovery starts before anyone else
calls. Ray restarts the process when it dies (``max_restarts=-1``); callers retry with the
same envelope meanwhile (``actors/_link.py``).
"""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
import logging
from collections.abc import Callable
from typing import Any

import ray

from actors import _otel_setup
from actors._config import RuntimeConfig
from actors._credentials import system_key
from actors._envelope import Envelope
from actors._errors import RaygentError
from actors._exchange import ExchangeResult
from actors._metrics import RayMetrics
from actors._ray import RayBackend, process_facts, tracer_for
from actors._sampler import Sample, sample_forever, time_commits
from actors._secrets import guard_process
from actors._spec import AgentSpec
from actors._sqlite_journal import SqliteJournal, open_journal
from actors._status import AgentStatus, DeadLetter, SystemStatus
from actors._streams import Pulled
from actors._supervisor import SupervisorCore
from actors.messages import AgentEvent


class SupervisorActor:
    """One system's supervisor in its own process (see the module docstring)."""

    def __init__(self, config: RuntimeConfig) -> None:
        logging.basicConfig(level=logging.INFO,
                            format="%(asctime)s supervisor %(levelname)s %(message)s")
        guard_process()
        key = system_key(config)
        self._core = SupervisorCore(
            config, RayBackend(config), journal=open_journal(config, key),
            tracer=tracer_for(config, "supervisor"),
            metrics=RayMetrics(config.namespace, config.scenario or ""), key=key)
        self._config = config
        self._sampler: asyncio.Task[None] | None = None
        # Recover at once, not at the first caller's call: after a crash the agents' mail
        # waits in the journal for this. (A first start recovers nothing, quickly.)
        self._wake = ray.get_runtime_context().current_actor.ready.remote()

    async def _run(self, fn: Callable[..., Any], *args: Any) -> Any:
        await self._core.start()
        result = fn(*args)
        return await result if inspect.isawaitable(result) else result

    async def ready(self) -> dict[str, Any]:
        await self._core.start()
        if self._sampler is None:
            journal = self._core.journal
            if isinstance(journal, SqliteJournal):
                time_commits(journal.gc, self._core.metrics)
            self._sampler = asyncio.create_task(
                sample_forever(self._sample, self._core.metrics))
        return process_facts()

    def _sample(self) -> Sample:
        journal = self._core.journal
        pending = journal.gc.backlog if isinstance(journal, SqliteJournal) else 0
        return Sample(depths=self._core.mailbox_depths(), dead=journal.dead_count(),
                      pending_writes=pending)

    async def config(self) -> RuntimeConfig:
        """The system's config, secrets blanked (callers use their own)."""
        return self._config.redacted()

    async def spawn(self, spec: AgentSpec) -> AgentStatus:
        return await self._run(self._core.spawn, spec)  # type: ignore[no-any-return]

    async def submit(self, envs: list[Envelope], timeout_s: float | None = None,
                     token: str | None = None) -> list[str | RaygentError]:
        return await self._run(self._core.submit, envs, timeout_s, token)  # type: ignore[no-any-return]

    async def ask(self, env: Envelope, timeout_s: float | None = None,
                  token: str | None = None) -> Any:
        return await self._run(self._core.ask, env, timeout_s, token)

    async def ask_many(self, envs: list[Envelope], timeout_s: float | None = None,
                       token: str | None = None) -> list[Any]:
        return await self._run(self._core.ask_many, envs, timeout_s, token)  # type: ignore[no-any-return]

    async def exchange(self, sender: str, sends: list[Envelope], wait_s: float | None,
                       asks: list[Envelope], collect: list[str], token: str | None = None,
                       linger_s: float = 0.0005, poll_s: float = 5.0) -> ExchangeResult:
        return await self._run(self._core.exchange, sender, sends, wait_s, asks, collect,  # type: ignore[no-any-return]
                               token, linger_s, poll_s)

    async def stream_open(self, env: Envelope, token: str | None = None) -> str:
        return await self._run(self._core.stream_open, env, token)  # type: ignore[no-any-return]

    async def stream_emit(self, sid: str, chunk: Any) -> int:
        return await self._core.stream_emit(sid, chunk)

    async def stream_pull(self, sid: str, max_items: int = 64, wait_s: float | None = 1.0
                          ) -> Pulled:
        return await self._core.stream_pull(sid, max_items, wait_s)

    async def stream_cancel(self, sid: str, reason: str = "the consumer closed the stream"
                            ) -> None:
        await self._core.stream_cancel(sid, reason)

    async def publish(self, env: Envelope, token: str | None = None) -> int:
        return await self._run(self._core.publish, env, token)  # type: ignore[no-any-return]

    async def subscribe(self, name: str, topic: str) -> None:
        await self._run(self._core.subscribe, name, topic)

    async def unsubscribe(self, name: str, topic: str) -> None:
        await self._run(self._core.unsubscribe, name, topic)

    async def effect_get(self, agent: str, key: str, token: str | None = None
                         ) -> bytes | None:
        return await self._run(self._core.effect_get, agent, key, token)  # type: ignore[no-any-return]

    async def effect_put(self, agent: str, key: str, result: bytes,
                         token: str | None = None) -> None:
        await self._run(self._core.effect_put, agent, key, result, token)

    async def approval_request(self, agent: str, ticket: Any, token: str | None = None
                               ) -> tuple[str, str, str | None]:
        return await self._run(self._core.approval_request, agent, ticket, token)  # type: ignore[no-any-return]

    async def pending_approvals(self, payloads: bool = True, every: bool = False
                                ) -> list[Any]:
        return await self._run(self._core.pending_approvals, payloads, every)  # type: ignore[no-any-return]

    async def answer_approval(self, ident: str, approved: bool, data: str | None = None,
                              reason: str | None = None, by: str | None = None) -> Any:
        return await self._run(self._core.answer_approval, ident, approved, data, reason, by)

    async def status(self) -> SystemStatus:
        status: SystemStatus = await self._run(self._core.status)
        facts = process_facts()
        return dataclasses.replace(status, supervisor_node_id=facts["node_id"],
                                   supervisor_pid=facts["pid"])

    async def agent_names(self) -> list[str]:
        return await self._run(self._core.agent_names)  # type: ignore[no-any-return]

    async def dead_letters(self, limit: int | None = None, payloads: bool = True
                           ) -> list[DeadLetter]:
        return await self._run(lambda: self._core.dead_letters(limit, payloads=payloads))  # type: ignore[no-any-return]

    async def replay(self, ids: list[str] | None = None) -> int:
        return await self._run(self._core.replay, ids)  # type: ignore[no-any-return]

    async def purge_dead_letters(self) -> int:
        return await self._run(self._core.purge_dead_letters)  # type: ignore[no-any-return]

    async def events(self, since: float = 0.0) -> list[AgentEvent]:
        return await self._run(self._core.events, since)  # type: ignore[no-any-return]

    async def restart(self, name: str) -> AgentStatus:
        return await self._run(self._core.restart, name)  # type: ignore[no-any-return]

    async def stop_agent(self, name: str, timeout_s: float = 10.0) -> None:
        await self._run(self._core.stop_agent, name, timeout_s)

    async def check_health(self) -> None:
        await self._run(self._core.check_health)

    async def shutdown(self, timeout_s: float = 10.0) -> list[str]:
        try:
            return await self._run(self._core.shutdown, timeout_s)  # type: ignore[no-any-return]
        finally:
            if self._sampler is not None:
                self._sampler.cancel()
            self._core.journal.close()
            await asyncio.to_thread(_otel_setup.flush_all)

    async def flush_traces(self) -> None:
        await self._core.flush_traces()
        await asyncio.to_thread(_otel_setup.flush_all)


def supervisor_handle(config: RuntimeConfig, *, create: bool) -> Any:
    """Find the system's supervisor, creating it when ``create`` is set.

    Raises:
        ValueError: If it does not exist and ``create`` is False.
    """
    if not create:
        return ray.get_actor(config.supervisor_name, namespace=config.namespace)
    # Pinned to the head node: a zero-CPU actor may otherwise land on a worker, and losing
    # that worker would take the whole system's routing state with it.
    return ray.remote(SupervisorActor).options(
        name=config.supervisor_name, namespace=config.namespace, lifetime="detached",
        get_if_exists=True, num_cpus=0, max_concurrency=10_000, max_restarts=-1,
        max_task_retries=0,
        resources={"node:__internal_head__": 0.001},
    ).remote(config)


__all__ = ["SupervisorActor", "supervisor_handle"]
