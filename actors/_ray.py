"""The only module that turns raygent's plain classes into Ray actors.

Agents and the supervisor are *detached* named actors in the system's namespace: a
detached actor does not die with the driver or actor that created it, so the supervisor can
re-find or re-create each agent by name, and a second driver can attach to a running
system. Ray restarts no agent by itself (``max_restarts=0``): the supervisor decides, by
each agent's restart policy, and restores state from the last snapshot. The supervisor
itself is restarted by Ray (``max_restarts=-1``) and rebuilds from its journal; everyone
who calls it retries while it is away (:func:`call_with_retry`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from typing import Any

import ray
from opentelemetry import context as otel_context
from ray.exceptions import GetTimeoutError, RayActorError, RayTaskError
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from actors import _otel_setup
from actors import _telemetry as tm
from actors._config import Resources, RuntimeConfig
from actors._envelope import Envelope
from actors._errors import (
    AgentExistsError,
    AgentUnavailableError,
    NotAServiceError,
    SupervisorUnavailableError,
)
from actors._host import AgentHost
from actors._memory_client import MemoryClient
from actors._ray_errors import unwrap
from actors._secrets import guard_process
from actors._spec import AgentSpec, BatchResult
from actors._stream_host import run_stream
from actors._transport import SupervisorTransport

log = logging.getLogger("raygent")


def ray_options(resources: Resources) -> dict[str, Any]:
    """Translate :class:`Resources` into ``.options(...)`` keywords."""
    opts: dict[str, Any] = {"max_concurrency": resources.max_concurrency}
    if resources.num_cpus is not None:
        opts["num_cpus"] = resources.num_cpus
    if resources.num_gpus is not None:
        opts["num_gpus"] = resources.num_gpus
    if resources.memory is not None:
        opts["memory"] = resources.memory
    if resources.custom:
        opts["resources"] = dict(resources.custom)
    if resources.node_id is not None:
        opts["scheduling_strategy"] = NodeAffinitySchedulingStrategy(
            node_id=resources.node_id, soft=False)
    elif resources.scheduling_strategy is not None:
        opts["scheduling_strategy"] = resources.scheduling_strategy
    return opts


async def call_with_retry(call: Any, retry_s: float) -> Any:
    """Await ``call()`` (a Ray actor call on the supervisor), retrying while it restarts.

    Raises:
        SupervisorUnavailableError: It did not come back within ``retry_s``.
    """
    started = time.monotonic()
    pause = 0.05
    while True:
        try:
            return await call()
        except RayTaskError as exc:
            raise unwrap(exc) from None
        except RayActorError as exc:
            waited = time.monotonic() - started
            if waited > retry_s:
                raise SupervisorUnavailableError(waited, type(exc).__name__) from None
            await asyncio.sleep(pause)
            pause = min(pause * 2, 0.5)


def process_facts() -> dict[str, Any]:
    ctx = ray.get_runtime_context()
    return {"pid": os.getpid(), "node_id": ctx.get_node_id(), "actor_id": ctx.get_actor_id()}


def tracer_for(config: RuntimeConfig, component: str) -> Any:
    """Set up this actor process's TracerProvider (once) and return raygent's tracer."""
    if config.tracing.exporter == "none":
        return None
    ctx = ray.get_runtime_context()
    provider = _otel_setup.configure(
        config.tracing, run_id=config.run_id or "default", component=component,
        attributes={"ray.node_id": ctx.get_node_id(), "ray.actor_id": ctx.get_actor_id() or ""})
    return provider.get_tracer("raygent")


class AgentActor:
    """One agent in its own Ray actor process."""

    def __init__(self, spec: AgentSpec, config: RuntimeConfig, token: str) -> None:
        self._spec = spec
        self._config = config
        self._supervisor: Any = None
        logging.basicConfig(
            level=logging.INFO, format=f"%(asctime)s {spec.name} %(levelname)s %(message)s")
        guard_process()
        tracer = tracer_for(config, spec.name)
        transport = SupervisorTransport(
            self._call_supervisor, sender=spec.name, token=token,
            max_bytes=config.max_message_bytes, ask_timeout_s=config.ask_timeout_s,
            tracer=tracer)
        self._host = AgentHost(spec, transport, dedupe_window=config.dedupe_window,
                               tracer=tracer, tracing=config.tracing,
                               memory=MemoryClient(config.namespace))
        self._traced = tracer is not None

    async def _call_supervisor(self, method: str, *args: Any) -> Any:
        if self._supervisor is None:
            self._supervisor = ray.get_actor(self._config.supervisor_name,
                                             namespace=self._config.namespace)
        sup = self._supervisor
        return await call_with_retry(lambda: getattr(sup, method).remote(*args),
                                     self._config.journal.supervisor_retry_s)

    async def start(self, snapshot: bytes | None) -> dict[str, Any]:
        await self._host.start(snapshot)
        return process_facts()

    async def facts(self) -> dict[str, Any] | None:
        """Where this agent runs, or None if it never finished starting (re-adoption)."""
        return None if self._host.agent is None else process_facts()

    async def deliver(self, batch: list[Envelope]) -> BatchResult:
        if self._traced:
            self._host.task_id = ray.get_runtime_context().get_task_id()
        return await self._host.deliver(batch)

    async def health(self) -> None:
        await self._host.health()

    async def stream(self, env: Envelope, sid: str) -> Any:
        """Run one handler as a stream, each chunk sent to the supervisor's buffer."""
        agent = self._host.agent
        if agent is None:
            raise AgentUnavailableError(self._spec.name, "it is still starting")

        async def emit(chunk: Any) -> None:
            await self._call_supervisor("stream_emit", sid, chunk)
        return await run_stream(agent, env, emit)

    async def stop(self) -> bytes | None:
        try:
            return await self._host.stop()
        finally:
            await asyncio.to_thread(_otel_setup.flush_all)

    async def flush(self) -> None:
        await asyncio.to_thread(_otel_setup.flush_all)

    def rss_mb(self) -> float:
        import psutil

        return float(psutil.Process().memory_info().rss) / (1 << 20)

    async def invoke(self, method: str, *args: Any, _trace: dict[str, str] | None = None,
                     **kwargs: Any) -> Any:
        """Call one of the agent's declared services directly (memory's ``search``...).

        Plain methods run in a worker thread, so many calls are served at once and the
        agent's loop stays free; the caller's trace context is current while it runs.
        """
        agent = self._host.agent
        if agent is None:
            raise AgentUnavailableError(self._spec.name, "it is still starting")
        services = type(agent)._raygent_services
        if not isinstance(method, str) or method not in services:
            raise NotAServiceError(self._spec.name, str(method)[:100], tuple(sorted(services)))
        fn = getattr(agent, method)
        ctx = tm.extract(_trace)
        token = otel_context.attach(ctx) if ctx is not None else None
        try:
            if asyncio.iscoroutinefunction(fn):
                return await fn(*args, **kwargs)
            return await asyncio.to_thread(fn, *args, **kwargs)
        finally:
            if token is not None:
                otel_context.detach(token)


_ACTOR_CLASSES: dict[type, Any] = {}


def _actor_class(agent_cls: type) -> Any:
    """A Ray actor class named after the agent class, so the dashboard shows it."""
    remote = _ACTOR_CLASSES.get(agent_cls)
    if remote is None:
        named = type(agent_cls.__name__, (AgentActor,), {"__module__": __name__})
        remote = ray.remote(named)
        _ACTOR_CLASSES[agent_cls] = remote
    return remote


class RayBackend:
    """Reaches agents as detached named Ray actors."""

    def __init__(self, config: RuntimeConfig) -> None:
        self.config = config

    async def create(self, spec: AgentSpec, snapshot: bytes | None, token: str
                     ) -> tuple[Any, dict[str, Any]]:
        opts = ray_options(spec.resources)
        opts.update(name=spec.name, namespace=self.config.namespace, lifetime="detached",
                    max_restarts=0)
        deadline = time.monotonic() + self.config.start_timeout_s
        name_wait = time.monotonic() + 5.0
        while True:
            try:
                handle = _actor_class(spec.cls).options(**opts).remote(spec, self.config, token)
                break
            except ValueError as exc:
                if "already" not in str(exc):
                    raise
                # The previous incarnation's name is released a moment after its kill;
                # a name still held after that belongs to someone else.
                if time.monotonic() > name_wait:
                    raise AgentExistsError(spec.name) from None
                await asyncio.sleep(0.05)
        try:
            info = await asyncio.wait_for(handle.start.remote(snapshot),
                                          max(1.0, deadline - time.monotonic()))
        except BaseException as exc:
            with contextlib.suppress(Exception):
                ray.kill(handle, no_restart=True)
            raise unwrap(exc) from None
        info["class"] = spec.class_name
        return handle, info

    async def adopt(self, spec: AgentSpec) -> tuple[Any, dict[str, Any]] | None:
        try:
            handle = ray.get_actor(spec.name, namespace=self.config.namespace)
        except ValueError:
            return None
        try:
            info: dict[str, Any] | None = await asyncio.wait_for(
                handle.facts.remote(), self.config.health_timeout_s)
        except Exception:  # dead, dying or not answering: the caller creates a new one
            with contextlib.suppress(Exception):
                ray.kill(handle, no_restart=True)
            return None
        if info is None:
            # It never finished starting (its supervisor died meanwhile): replace it.
            with contextlib.suppress(Exception):
                ray.kill(handle, no_restart=True)
            return None
        info["class"] = spec.class_name
        return handle, info

    async def deliver(self, ref: Any, batch: list[Envelope]) -> BatchResult:
        try:
            result: BatchResult = await ref.deliver.remote(batch)
            return result
        except RayActorError as exc:
            raise AgentUnavailableError(batch[0].recipient or "?",
                                        type(exc).__name__) from None

    async def stream(self, ref: Any, env: Envelope, sid: str) -> Any:
        """Run ``env``'s handler as stream ``sid`` (``actors/_supervisor_streams.py``)."""
        try:
            return await ref.stream.remote(env, sid)
        except RayTaskError as exc:
            raise unwrap(exc) from None

    async def health(self, ref: Any) -> None:
        try:
            await ref.health.remote()
        except RayTaskError as exc:
            raise unwrap(exc) from None

    async def stop(self, ref: Any) -> bytes | None:
        result: bytes | None = await ref.stop.remote()
        return result

    async def kill(self, ref: Any, name: str) -> None:
        if ref is not None:
            with contextlib.suppress(Exception):
                ray.kill(ref, no_restart=True)

    async def rss_mb(self, ref: Any) -> float | None:
        value: float = await ref.rss_mb.remote()
        return value

    async def flush(self, ref: Any) -> None:
        await ref.flush.remote()


def agent_handle(name: str, namespace: str) -> Any:
    """The Ray handle of a running agent (for direct service calls such as memory)."""
    return ray.get_actor(name, namespace=namespace)


__all__ = ["AgentActor", "GetTimeoutError", "RayBackend", "agent_handle",
           "call_with_retry", "process_facts", "ray_options", "tracer_for", "unwrap"]
