"""An in-process backend: agents as plain objects on the supervisor's event loop.

For unit tests of agents and of the supervisor's logic without Ray. It keeps the same
contract as the Ray backend: a "killed" agent is unreachable until it is created again.
"""

from __future__ import annotations

import asyncio
from typing import Any

from actors._envelope import Envelope
from actors._errors import AgentUnavailableError
from actors._host import AgentHost
from actors._spec import AgentSpec, BatchResult, Snapshot
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

    async def create(self, spec: AgentSpec, snapshot: Snapshot | None
                     ) -> tuple[Any, dict[str, Any]]:
        transport = SupervisorTransport(self._call, max_bytes=self._max_bytes,
                                        ask_timeout_s=self._ask_timeout_s)
        host = AgentHost(spec, transport)
        await host.start(snapshot)
        self.hosts[spec.name] = host
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

    async def stop(self, ref: Any) -> Snapshot | None:
        return await self._alive(ref).stop()

    async def kill(self, ref: Any, name: str) -> None:
        if ref is not None and self.hosts.get(name) is ref:
            del self.hosts[name]

    async def rss_mb(self, ref: Any) -> float | None:
        return None

    async def flush(self, ref: Any) -> None:
        return None
