"""Helpers for testing agents and systems: deliberately public, documented in the README.

* :class:`LocalBackend` hosts agents as plain objects on the supervisor's event loop, so an
  agent's logic and the supervisor's behaviour can be tested without Ray:
  ``SupervisorCore(config, LocalBackend())``. It keeps the Ray backend's contract: a
  "killed" agent is unreachable until it is created again.
* :func:`isolated_ray_env` gives a test (or benchmark) that builds its own multi-node Ray
  (``ray.cluster_utils.Cluster``, ``ray start``) a private Ray temp dir and a fresh auth
  token, so it never joins, or is joined by, any other Ray on the machine.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from typing import Any

from actors._envelope import Envelope
from actors._errors import AgentUnavailableError
from actors._host import AgentHost
from actors._spec import AgentSpec, BatchResult
from actors._transport import SupervisorTransport


class LocalBackend:
    """Hosts agents in this process; ``supervisor`` must be set before the first create."""

    def __init__(self, *, max_bytes: int = 1 << 20, ask_timeout_s: float = 30.0) -> None:
        self.supervisor: Any = None
        self._max_bytes = max_bytes
        self._ask_timeout_s = ask_timeout_s
        self.hosts: dict[str, AgentHost] = {}

    async def _call(self, method: str, *args: Any) -> Any:
        return await getattr(self.supervisor, method)(*args)

    async def create(self, spec: AgentSpec, snapshot: bytes | None
                     ) -> tuple[Any, dict[str, Any]]:
        transport = SupervisorTransport(self._call, max_bytes=self._max_bytes,
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
        result = await self._alive(ref).deliver(batch)
        await asyncio.sleep(0)
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


def reload_auth() -> None:
    """Make this process's Ray read the auth mode and token from the environment again.

    Ray caches both at start-up (the C++ token loader and the RayConfig).
    """
    from ray._raylet import AuthenticationTokenLoader, Config

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


__all__ = ["LocalBackend", "isolated_ray_env", "reload_auth"]
