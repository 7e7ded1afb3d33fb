"""The Runtime facade: what a user's program starts from.

``Runtime`` connects to Ray (starting a private, loopback-only local instance when no
address is given), finds or creates the system's supervisor, and offers
spawn/send/ask/publish/status in blocking and ``*_async`` forms with the same signatures.
Each pair is one coroutine run on the runtime's own loop thread (``actors/_loop.py``), where
every message of the process also meets the others and coalesces (``actors/_outbox.py``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

import ray
from opentelemetry.trace import Tracer, TracerProvider

from actors import _otel_setup
from actors import _telemetry as tm
from actors._agent import Agent
from actors._approval_client import ApprovalCalls
from actors._config import MailboxConfig, Resources, RestartPolicy, RuntimeConfig
from actors._connection import connect_ray
from actors._credentials import DRIVER
from actors._errors import ConfigError, RuntimeNotStartedError, ShutdownError
from actors._ids import new_id
from actors._link import SupervisorLink
from actors._loop import LoopThread
from actors._memory_client import MemoryClient
from actors._outbox import Outbox
from actors._ray_supervisor import supervisor_handle
from actors._spec import AgentSpec
from actors._status import AgentStatus, DeadLetter, SystemStatus
from actors._stream_calls import StreamCalls
from actors.messages import AgentEvent

A = TypeVar("A", bound=Agent)


class Runtime(ApprovalCalls, StreamCalls):
    """A connection to one raygent system (one supervisor, in one Ray namespace).

    Args:
        address: ``None`` starts a local Ray (or uses the one already initialised in this
            process); ``"auto"`` joins the running cluster; ``"ray://host:10001"`` goes
            through Ray Client. ``RAY_ADDRESS`` is used when this is None.
        namespace: Ray namespace of the system (default: ``config.namespace``).
        config: Runtime configuration; defaults from ``RAYGENT_*`` environment variables.
        init_kwargs: Extra keyword arguments for ``ray.init`` (e.g. ``num_cpus``).
        tracer_provider: Where the driver's spans go; by default one is set up from
            ``config.tracing`` (the jsonl files of the run, unless tracing is off).
    """

    def __init__(self, address: str | None = None, *, namespace: str | None = None,
                 config: RuntimeConfig | None = None,
                 init_kwargs: Mapping[str, Any] | None = None,
                 tracer_provider: TracerProvider | None = None) -> None:
        cfg = config or RuntimeConfig.from_env()
        if namespace is not None:
            cfg = cfg.evolve(namespace=namespace)
        self.config = cfg
        self.address = address if address is not None else os.environ.get("RAY_ADDRESS")
        self._init_kwargs = dict(init_kwargs or {})
        self._sup: Any = None
        self._io: LoopThread | None = None
        self._outbox: Outbox | None = None
        self._link: SupervisorLink | None = None
        self._owns_ray = False
        self.owns_system = False  # True when this runtime created the supervisor
        self._provider = tracer_provider
        self._tracer: Tracer = tm.tracer(tracer_provider)

    # -- connection ----------------------------------------------------------------------

    def _connect(self) -> None:
        if connect_ray(self.address, self.config.namespace, self._init_kwargs):
            self._owns_ray = True

    def start(self) -> Runtime:
        """Connect to Ray and find or create the supervisor.

        A runtime that creates the system owns it (``stop`` and leaving a ``with`` block
        stop it); one that finds it already running only attaches (they disconnect).
        """
        self._connect()
        if self.config.run_id is None:
            self.config = self.config.evolve(run_id=new_id())
        try:
            self._sup = supervisor_handle(self.config, create=False)
        except ValueError:
            self._sup = supervisor_handle(self.config, create=True)
            self.owns_system = True
        self._open_io()
        self._loop().run(self._call("ready"), self.config.start_timeout_s)
        self.config = self._adopt_config(self._block(self._call("config")))
        self._setup_tracing()
        return self

    def _adopt_config(self, remote: RuntimeConfig) -> RuntimeConfig:
        """The system's config, with this process's own secrets: the supervisor returns
        its config redacted, and the driver's OTLP exporter needs real header values."""
        tracing = dataclasses.replace(remote.tracing,
                                      otlp_headers=self.config.tracing.otlp_headers)
        return remote.evolve(tracing=tracing)

    def _setup_tracing(self) -> None:
        if self._provider is None and self.config.tracing.exporter != "none":
            self._provider = _otel_setup.configure(
                self.config.tracing, run_id=self.run_id, component="driver",
                set_global=False)
        if self._provider is not None:
            self._tracer = self._provider.get_tracer(tm.TRACER_NAME)

    @property
    def run_id(self) -> str:
        """Id of this system's run (names its trace directory)."""
        return self.config.run_id or "default"

    @property
    def tracer(self) -> Tracer:
        """The driver's raygent tracer (for spans around your own driver code)."""
        return self._tracer

    @property
    def trace_dir(self) -> str | None:
        """Directory of this run's jsonl trace files, when that exporter is on."""
        if self.config.tracing.exporter != "jsonl":
            return None
        return _otel_setup.run_dir(self.config.tracing, self.run_id)

    def flush_traces(self) -> None:
        """Make every process export its finished spans now (agents, supervisor, driver)."""
        self._block(self._call("flush_traces"))
        if self._provider is not None and hasattr(self._provider, "force_flush"):
            self._provider.force_flush()

    def attach(self) -> Runtime:
        """Connect to an already running system (e.g. from a second process).

        Raises:
            RuntimeNotStartedError: If no supervisor runs in the namespace.
        """
        self._connect()
        try:
            self._sup = supervisor_handle(self.config, create=False)
        except ValueError:
            raise RuntimeNotStartedError(
                f"no raygent system in namespace {self.config.namespace!r} at "
                f"{self.address or 'the local Ray'}: start one with Runtime().start() or "
                "`raygent run`, or pass the right --address / --namespace"
            ) from None
        self._open_io()
        self.config = self._adopt_config(self._block(self._call("config")))
        self._setup_tracing()
        return self

    def _open_io(self) -> None:
        """The loop thread every call runs on, and the outbox that coalesces messages."""
        if self._io is None:
            self._io = LoopThread(name=f"raygent-{self.config.namespace}")
        self._link = SupervisorLink(self._sup, self.config.journal.supervisor_retry_s)
        self._outbox = Outbox(self._call, sender=DRIVER, token=None)

    @property
    def supervisor(self) -> Any:
        if self._sup is None:
            raise RuntimeNotStartedError()
        return self._sup

    async def _call(self, method: str, *args: Any) -> Any:
        """Call the supervisor (on the loop thread), retrying while it restarts."""
        link = self._link
        if link is None:
            raise RuntimeNotStartedError()
        return await link.acall(lambda h: getattr(h, method).remote(*args))

    def stop(self, *, timeout_s: float = 10.0, force: bool = False) -> None:
        """Stop the system this runtime started: every agent gracefully (``on_stop``), then
        the supervisor; shut down Ray too when this runtime started it.

        A runtime that attached to a running system (``attach``, or ``start`` finding one)
        only disconnects and leaves the system running for its other users, unless
        ``force`` is set (``raygent down``).

        Raises:
            ShutdownError: Something could not be stopped cleanly (it says what).
        """
        if not (self.owns_system or force):
            self.disconnect()
            return
        failures: list[str] = []
        if self._sup is not None:
            try:
                failures = list(self._loop().run(self._call("shutdown", timeout_s),
                                                 timeout_s * 2 + 5) or [])
            except Exception as exc:
                failures.append(f"supervisor: {type(exc).__name__}: {exc}")
            if self._provider is not None and hasattr(self._provider, "force_flush"):
                self._provider.force_flush()
            with contextlib.suppress(Exception):
                ray.kill(self._sup, no_restart=True)
            self._sup = None
        self.disconnect()
        if failures:
            raise ShutdownError(tuple(failures))

    def disconnect(self) -> None:
        """Leave the system running; disconnect from Ray if this runtime connected."""
        self._sup = self._link = self._outbox = None
        if self._io is not None:
            self._io.close()
            self._io = None
        if self._owns_ray and ray.is_initialized():
            ray.shutdown()
        self._owns_ray = False

    def __enter__(self) -> Runtime:
        return self.start() if self._sup is None else self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def __aenter__(self) -> Runtime:
        return self.__enter__()

    async def __aexit__(self, *exc: object) -> None:
        self.stop()

    # -- agents --------------------------------------------------------------------------

    def _spec(self, cls: type[Agent], name: str, config: Mapping[str, Any] | None,
              resources: Resources | None, restart: RestartPolicy | None,
              mailbox: MailboxConfig | None, topics: Iterable[str]) -> AgentSpec:
        if not (isinstance(cls, type) and issubclass(cls, Agent)):
            raise ConfigError(f"{cls!r} is not an Agent subclass", field="cls")
        if not isinstance(name, str) or not name or "/" in name:
            raise ConfigError("must be a non-empty string without '/'", field="name")
        return AgentSpec(
            name=name, cls=cls, config=dict(config or {}),
            resources=resources or Resources(),
            restart=restart or self.config.restart, mailbox=mailbox or self.config.mailbox,
            topics=tuple(dict.fromkeys([*cls.subscriptions, *topics])),
            accepted=cls.accepted_kinds(), has_snapshot=cls.has_snapshot(),
        )

    def spawn(self, cls: type[Agent], *, name: str, config: Mapping[str, Any] | None = None,
              resources: Resources | None = None, restart: RestartPolicy | None = None,
              mailbox: MailboxConfig | None = None, topics: Iterable[str] = ()) -> AgentStatus:
        """Create a named, long-lived agent actor supervised by this system.

        Raises:
            AgentExistsError: If the name is taken.
            ConfigError: If the class or an option is invalid.
        """
        spec = self._spec(cls, name, config, resources, restart, mailbox, topics)
        status: AgentStatus = self._block(self._call("spawn", spec))
        return status

    async def spawn_async(self, cls: type[Agent], *, name: str,
                          config: Mapping[str, Any] | None = None,
                          resources: Resources | None = None,
                          restart: RestartPolicy | None = None,
                          mailbox: MailboxConfig | None = None,
                          topics: Iterable[str] = ()) -> AgentStatus:
        spec = self._spec(cls, name, config, resources, restart, mailbox, topics)
        status: AgentStatus = await self._bridge(self._call("spawn", spec))
        return status

    def stop_agent(self, name: str, *, timeout_s: float = 10.0) -> None:
        """Stop one agent gracefully and remove it."""
        self._block(self._call("stop_agent", name, timeout_s))

    def restart(self, name: str) -> AgentStatus:
        """Restart an agent now, also one marked failed."""
        status: AgentStatus = self._block(self._call("restart", name))
        return status

    def subscribe(self, name: str, topic: str) -> None:
        self._block(self._call("subscribe", name, topic))

    def unsubscribe(self, name: str, topic: str) -> None:
        self._block(self._call("unsubscribe", name, topic))

    def launch(self, scenario: Any, *, count: int | None = None, console: Any = None) -> Any:
        """Run a scenario (``scenarios.Scenario.from_file(...)``) on this system.

        Returns:
            The scenario's result (``ok``, ``summary``, ``details``).
        """
        return scenario.launch(self, count=count, console=console)

    @property
    def memory(self) -> MemoryClient:
        """A client of this system's memory actor (spawn ``memory.MemoryAgent`` first)."""
        return MemoryClient(self.config.namespace)

    def agent_handle(self, name: str) -> Any:
        """The Ray actor handle of an agent (for direct service calls, e.g. memory)."""
        return ray.get_actor(name, namespace=self.config.namespace)

    # -- inspection ----------------------------------------------------------------------

    def status(self) -> SystemStatus:
        """Per-agent state, mailbox depth, counters, restarts, last error; dashboard URL."""
        return self._block(self._status())  # type: ignore[no-any-return]

    async def _status(self) -> SystemStatus:
        status: SystemStatus = await self._call("status")
        return dataclasses.replace(status, dashboard_url=self.dashboard_url)

    @property
    def dashboard_url(self) -> str | None:
        """The Ray dashboard of the cluster (token required), if it runs."""
        try:
            url = ray._private.worker.get_dashboard_url()
        except Exception:  # private API: a Ray without it, or no dashboard
            return None
        if not url:
            return None
        return url if "://" in url else f"http://{url}"

    async def status_async(self) -> SystemStatus:
        return await self._bridge(self._status())  # type: ignore[no-any-return]

    def dead_letters(self, limit: int | None = None, *, payloads: bool = True
                     ) -> list[DeadLetter]:
        """The newest dead letters; ``payloads=False`` gives payloads as text only (for
        tools that cannot import every payload class)."""
        letters: list[DeadLetter] = self._block(self._call("dead_letters", limit, payloads))
        return letters

    def replay_dead_letters(self, ids: list[str] | None = None) -> int:
        """Queue dead letters again (all, or the given ids); return how many were queued."""
        return int(self._block(self._call("replay", ids)))

    def purge_dead_letters(self) -> int:
        return int(self._block(self._call("purge_dead_letters")))

    def events(self, since: float = 0.0) -> list[AgentEvent]:
        """Supervision events (restarts, failures, escalations) since a time."""
        events: list[AgentEvent] = self._block(self._call("events", since))
        return events

    def check_health(self) -> None:
        """Run one round of health checks now (they also run periodically)."""
        self._block(self._call("check_health"))
