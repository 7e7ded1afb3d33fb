"""How agents and drivers reach the shared memory actor: ``self.memory`` / ``runtime.memory``.

Memory is a service, not a conversation: calls go straight to the named memory actor
(a supervised agent), bypassing the mailbox, so many readers are served at once while a
write is in progress. The caller's trace context travels with every call. This module
does not import ``memory``: the memory actor is found by name at run time.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from actors import _telemetry as tm
from actors._errors import AgentNotFoundError, AgentUnavailableError, RaygentError

MEMORY_AGENT = "memory"


class MemoryClient:
    """A client of the memory actor named ``name`` in ``namespace``.

    Every method has a blocking form and an ``*_async`` form with the same signature.
    """

    def __init__(self, namespace: str, name: str = MEMORY_AGENT) -> None:
        self.namespace = namespace
        self.name = name
        self._handle: Any = None

    def _resolve(self, refresh: bool = False) -> Any:
        import ray

        if self._handle is None or refresh:
            try:
                self._handle = ray.get_actor(self.name, namespace=self.namespace)
            except ValueError:
                raise AgentNotFoundError(self.name) from None
        return self._handle

    def _refs(self, method: str, args: tuple[Any, ...], kwargs: dict[str, Any],
              refresh: bool = False) -> Any:
        return self._resolve(refresh).invoke.remote(method, *args, _trace=tm.inject(),
                                                    **kwargs)

    def call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        """Call a memory method and wait (one retry if the actor was just restarted)."""
        import ray

        for attempt in (0, 1):
            with self._failures(attempt):
                return ray.get(self._refs(method, args, kwargs, refresh=attempt > 0))
        raise RaygentError("unreachable")

    async def call_async(self, method: str, *args: Any, **kwargs: Any) -> Any:
        for attempt in (0, 1):
            with self._failures(attempt):
                return await self._refs(method, args, kwargs, refresh=attempt > 0)
        raise RaygentError("unreachable")

    @contextlib.contextmanager
    def _failures(self, attempt: int) -> Iterator[None]:
        """What a failed try becomes: a dead actor is tried once more (it may have been
        restarted under the same name), then reported; other errors come back as raised."""
        from ray.exceptions import RayActorError

        from actors._ray_errors import unwrap

        try:
            yield
        except RayActorError as exc:
            if attempt:
                raise AgentUnavailableError(self.name, type(exc).__name__) from None
        except Exception as exc:
            raise unwrap(exc) from None

    # The memory API, in both forms.

    def search(self, query: str, *, k: int = 5, mode: str = "hybrid",
               namespace: str | None = None, filters: Mapping[str, Any] | None = None
               ) -> list[Any]:
        """Hybrid, vector or keyword search; returns ``memory.Hit`` objects, best first."""
        return list(self.call("search", query, k=k, mode=mode, namespace=namespace,
                              filters=filters))

    async def search_async(self, query: str, *, k: int = 5, mode: str = "hybrid",
                           namespace: str | None = None,
                           filters: Mapping[str, Any] | None = None) -> list[Any]:
        return list(await self.call_async("search", query, k=k, mode=mode,
                                          namespace=namespace, filters=filters))

    def add(self, records: Sequence[Any]) -> list[str]:
        """Insert new records (all or nothing); a duplicate id is an error."""
        return list(self.call("add", list(records)))

    async def add_async(self, records: Sequence[Any]) -> list[str]:
        return list(await self.call_async("add", list(records)))

    def upsert(self, records: Sequence[Any]) -> list[str]:
        """Insert or replace records (all or nothing)."""
        return list(self.call("upsert", list(records)))

    async def upsert_async(self, records: Sequence[Any]) -> list[str]:
        return list(await self.call_async("upsert", list(records)))

    def replace_sources(self, sources: Sequence[str], records: Sequence[Any]
                        ) -> tuple[list[str], int]:
        """Make ``records`` the whole content of ``sources`` (one atomic commit): the ids
        written and how many other records of those sources were deleted."""
        ids, removed = self.call("replace_sources", list(sources), list(records))
        return list(ids), int(removed)

    def delete(self, ids: Sequence[str], *, missing_ok: bool = False) -> int:
        return int(self.call("delete", list(ids), missing_ok=missing_ok))

    async def delete_async(self, ids: Sequence[str], *, missing_ok: bool = False) -> int:
        return int(await self.call_async("delete", list(ids), missing_ok=missing_ok))

    def get(self, ids: Sequence[str]) -> list[Any]:
        return list(self.call("get", list(ids)))

    async def get_async(self, ids: Sequence[str]) -> list[Any]:
        return list(await self.call_async("get", list(ids)))

    def count(self, namespace: str | None = None) -> int:
        return int(self.call("count", namespace))

    async def count_async(self, namespace: str | None = None) -> int:
        return int(await self.call_async("count", namespace))

    def stats(self) -> dict[str, Any]:
        return dict(self.call("stats"))

    async def stats_async(self) -> dict[str, Any]:
        return dict(await self.call_async("stats"))
