"""Helpers for testing agents and systems: deliberately public, documented in the README.

* :class:`LocalBackend` hosts agents as plain objects on the supervisor's event loop, so an
  agent's logic and the supervisor's behaviour can be tested without Ray:
  ``SupervisorCore(config, LocalBackend())``. It keeps the Ray backend's contract: a
  "killed" agent is unreachable until it is created again, and a batch keeps running when
  the supervisor that sent it dies.
* :class:`LocalSystem` is a whole system in this process with its journal on disk; its
  ``crash_supervisor`` rehearses the death of the supervisor's process and its recovery
  from the journal, while the agents (detached, as on Ray) keep running.
* :func:`isolated_ray_env` gives a test (or benchmark) that builds its own multi-node Ray
  (``ray.cluster_utils.Cluster``, ``ray start``) a private Ray temp dir and a fresh auth
  token, so it never joins, or is joined by, any other Ray on the machine.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import os
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from typing import Any

from actors._config import RuntimeConfig
from actors._envelope import Envelope
from actors._errors import AgentUnavailableError
from actors._host import AgentHost
from actors._seal import Sealer
from actors._spec import AgentSpec, BatchResult
from actors._sqlite_journal import SqliteJournal
from actors._supervisor import SupervisorCore
from actors._transport import SupervisorTransport


async def _invoke(target: Any, method: str, args: tuple[Any, ...]) -> Any:
    result = getattr(target, method)(*args)
    return await result if inspect.isawaitable(result) else result


class LocalBackend:
    """Hosts agents in this process; ``supervisor`` must be set before the first create."""

    def __init__(self, *, max_bytes: int = 1 << 20, ask_timeout_s: float = 30.0) -> None:
        self.supervisor: Any = None
        self._max_bytes = max_bytes
        self._ask_timeout_s = ask_timeout_s
        self.hosts: dict[str, AgentHost] = {}
        self._calls: dict[int, set[asyncio.Task[Any]]] = {}
        self._up = asyncio.Event()
        self._up.set()

    async def _call(self, method: str, *args: Any) -> Any:
        """Call the current supervisor; a call cut by its crash is sent again to the next
        one (as the Ray transport retries with the same envelope)."""
        while True:
            await self._up.wait()
            core = self.supervisor
            task = asyncio.ensure_future(_invoke(core, method, args))
            calls = self._calls.setdefault(id(core), set())
            calls.add(task)
            try:
                return await task
            except asyncio.CancelledError:
                current = asyncio.current_task()
                if core is self.supervisor or (current is not None and current.cancelling()):
                    raise
            finally:
                calls.discard(task)

    def cut_calls(self, core: Any) -> None:
        """Fail every call still in ``core`` (its process died) and hold new ones."""
        self._up.clear()
        for task in self._calls.pop(id(core), set()):
            task.cancel()

    def reconnect(self, core: Any) -> None:
        self.supervisor = core
        self._up.set()

    async def create(self, spec: AgentSpec, snapshot: bytes | None, token: str
                     ) -> tuple[Any, dict[str, Any]]:
        transport = SupervisorTransport(self._call, sender=spec.name, token=token,
                                        max_bytes=self._max_bytes,
                                        ask_timeout_s=self._ask_timeout_s)
        host = AgentHost(spec, transport)
        await host.start(snapshot)
        self.hosts[spec.name] = host
        return host, {"pid": None, "node_id": "local", "actor_id": None}

    async def adopt(self, spec: AgentSpec) -> tuple[Any, dict[str, Any]] | None:
        """The host still "running" under the name (after a supervisor restart in tests)."""
        host = self.hosts.get(spec.name)
        if host is None or host.agent is None:
            return None
        return host, {"pid": None, "node_id": "local", "actor_id": None}

    def _alive(self, host: AgentHost) -> AgentHost:
        if self.hosts.get(host.spec.name) is not host:
            raise AgentUnavailableError(host.spec.name, "killed")
        return host

    async def deliver(self, ref: Any, batch: list[Envelope]) -> BatchResult:
        # Shielded: a batch an agent has started runs to its end even if the supervisor
        # that sent it dies meanwhile, as a Ray actor call does.
        work = asyncio.ensure_future(self._alive(ref).deliver(batch))
        result = await asyncio.shield(work)
        await asyncio.sleep(0)
        # A process that was killed meanwhile can answer nothing (as on Ray).
        self._alive(ref)
        return result

    async def health(self, ref: Any) -> None:
        await self._alive(ref).health()

    async def stop(self, ref: Any) -> bytes | None:
        return await self._alive(ref).stop()

    async def kill(self, ref: Any, name: str) -> None:
        if ref is not None and self.hosts.get(name) is ref:
            del self.hosts[name]

    async def rss_mb(self, ref: Any) -> float | None:
        return None

    async def flush(self, ref: Any) -> None:
        return None


class LocalSystem:
    """One raygent system in this process, its journal in a SQLite file.

    ``call(method, *args)`` is how a test (the "driver") reaches the supervisor; like the
    Ray transport, a call cut by a supervisor crash is retried against the next one.

    Args:
        config: The runtime config (quick health checks and retries suit tests).
        journal_path: The journal file; the same path after a crash is what recovery reads.
    """

    def __init__(self, config: RuntimeConfig, journal_path: str) -> None:
        self.config = config
        self.journal_path = journal_path
        self.backend = LocalBackend(max_bytes=config.max_message_bytes,
                                    ask_timeout_s=config.ask_timeout_s)
        self.core: SupervisorCore | None = None
        self.crashes = 0
        # One key for the system's life, as the key file gives the Ray supervisor: the
        # agents a new supervisor re-adopts still prove their names with it.
        self._key = secrets.token_bytes(32)

    def _journal(self) -> SqliteJournal:
        jc = self.config.journal
        return SqliteJournal(self.journal_path, synchronous=jc.synchronous,
                             dedupe_window=jc.dedupe_window, dedupe_age_s=jc.dedupe_age_s,
                             dead_letters_max=jc.dead_letters_max, sealer=Sealer(self._key))

    async def start(self) -> SupervisorCore:
        core = SupervisorCore(self.config, self.backend, journal=self._journal(),
                              key=self._key)
        self.backend.reconnect(core)
        await core.start()
        self.core = core
        return core

    async def call(self, method: str, *args: Any) -> Any:
        return await self.backend._call(method, *args)

    async def crash_supervisor(self) -> SupervisorCore:
        """Kill the supervisor as ``kill -9`` would, then start the next one from the journal.

        Agents keep running; what they were handling finishes and its outcome is lost with
        the old supervisor, as on Ray.
        """
        old = self.core
        if old is not None:
            self.backend.cut_calls(old)
            old.halt()
        self.crashes += 1
        return await self.start()

    async def shutdown(self, timeout_s: float = 5.0) -> None:
        if self.core is not None:
            await self.core.shutdown(timeout_s)
            self.core.journal.close()


def reload_auth() -> None:
    """Make this process's Ray read the auth mode and token from the environment again.

    Ray caches both at start-up (the C++ token loader and the RayConfig).
    """
    # Private Ray API (no stubs): the only way to drop the cached token in this process.
    from ray._raylet import AuthenticationTokenLoader, Config  # type: ignore[attr-defined]

    Config.initialize("")
    AuthenticationTokenLoader.instance().reset_cache()


@contextlib.contextmanager
def isolated_ray_env(prefix: str) -> Iterator[dict[str, str]]:
    """A private Ray temp dir and a fresh auth token, with token authentication on.

    ``ray.cluster_utils.Cluster`` writes its address to ``<temp dir>/ray/
    ray_current_cluster``, which every plain ``ray.init()`` on the machine would then join;
    a private ``RAY_TMPDIR`` keeps other test runs off this cluster and this one off
    theirs. The token lives in its own file (``RAY_AUTH_TOKEN_PATH``), so the tests know
    exactly which token the cluster expects. Every process started inside (nodes, workers,
    subprocess drivers) inherits these variables.

    Yields:
        The variables set: ``RAY_TMPDIR``, ``RAY_AUTH_MODE``, ``RAY_AUTH_TOKEN_PATH``.
    """
    tmp = tempfile.mkdtemp(prefix=prefix, dir="/tmp")  # short: Unix socket paths are too
    token_path = os.path.join(tmp, "auth_token")
    with open(token_path, "w") as f:
        f.write(secrets.token_hex(32))
    new = {"RAY_TMPDIR": tmp, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": token_path}
    old = {k: os.environ.get(k) for k in (*new, "RAY_AUTH_TOKEN", "RAY_ADDRESS")}
    for k in ("RAY_AUTH_TOKEN", "RAY_ADDRESS"):
        os.environ.pop(k, None)
    os.environ.update(new)
    reload_auth()
    try:
        yield new
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        reload_auth()
        shutil.rmtree(tmp, ignore_errors=True)


__all__ = ["LocalBackend", "LocalSystem", "isolated_ray_env", "reload_auth"]
