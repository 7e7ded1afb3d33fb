"""The memory actor: :class:`MemoryService` as a supervised agent named ``memory``.

Spawn it like any agent (``runtime.spawn(MemoryAgent, name="memory", config={...})``); the
supervisor health-checks it with a real query and restarts it from the data on disk.
Agents reach it through ``self.memory`` (direct concurrent calls, see
``actors.MemoryClient``) or through the mailbox with :class:`Recall`/:class:`Remember`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Mapping, Sequence
from typing import Any

from opentelemetry import trace

from actors import Agent, MessageContext, handles
from actors import _metrics as mx
from actors import _telemetry as tm
from actors._errors import ConfigError, StoreError
from memory._config import BM25Config, MemoryConfig, RerankConfig, TokenizerConfig
from memory._fusion import fusion_from
from memory._records import DEFAULT_NAMESPACE, Hit, Record
from memory._service import MemoryService
from memory.messages import Recall, Remember

_tracer = trace.get_tracer(tm.TRACER_NAME)


def memory_config_from(values: Mapping[str, Any]) -> MemoryConfig:
    """Build a :class:`MemoryConfig` from a plain mapping (a scenario spec's ``config``).

    Raises:
        ConfigError: For an unknown key or a bad value, naming the field.
    """
    if isinstance(values, MemoryConfig):
        return values
    fields = {f.name for f in dataclasses.fields(MemoryConfig)}
    unknown = sorted(set(values) - fields)
    if unknown:
        raise ConfigError(f"unknown memory setting(s) {', '.join(unknown)}; valid: "
                          f"{', '.join(sorted(fields))}", field="memory")
    kwargs = dict(values)
    if isinstance(kwargs.get("bm25"), Mapping):
        kwargs["bm25"] = BM25Config(**kwargs["bm25"])
    if isinstance(kwargs.get("tokenizer"), Mapping):
        kwargs["tokenizer"] = TokenizerConfig(**kwargs["tokenizer"])
    if isinstance(kwargs.get("rerank"), Mapping):
        kwargs["rerank"] = RerankConfig(**kwargs["rerank"])
    if "fusion" in kwargs:
        kwargs["fusion"] = fusion_from(kwargs["fusion"])
    try:
        return MemoryConfig(**kwargs)
    except TypeError as exc:
        raise ConfigError(str(exc), field="memory") from None


def use_threads(threads: int | None) -> None:
    """Give torch ``threads`` intra-op threads in this process (``None``: leave it)."""
    if threads is None:
        return
    try:
        import torch
    except ImportError:  # an embedder without torch has its own thread settings
        return
    torch.set_num_threads(threads)


class MemoryAgent(Agent):
    """The shared memory of a system. ``config`` holds :class:`MemoryConfig` fields."""

    # What other processes may call directly (``MemoryClient``); nothing else is reachable.
    services = ("search", "add", "upsert", "replace_sources", "delete", "get", "count",
                "stats", "ingest", "flush", "settings")

    def __init__(self, name: str, config: Mapping[str, Any] | None = None) -> None:
        super().__init__(name, config)
        self._config = memory_config_from(self.config)
        self.service: MemoryService | None = None

    def settings(self) -> dict[str, Any]:
        """The config it was spawned with (a launcher decides from it whether to reuse it)."""
        return dict(self.config)

    def _svc(self) -> MemoryService:
        if self.service is None:
            raise StoreError("the memory agent is not started")
        return self.service

    async def on_start(self) -> None:
        use_threads(self._config.threads)
        self.service = await asyncio.to_thread(MemoryService, self._config)

    async def on_stop(self) -> None:
        if self.service is not None:
            await asyncio.to_thread(self.service.close)

    async def health(self) -> bool:
        """A real keyword query against the store, plus its record count.

        The full probe (``MemoryService.health``) embeds a query, and the embedder is busy
        for seconds during a large ingest: a health check must not fail an agent for
        being at work, so the periodic check leaves the model out.
        """
        svc = self._svc()

        def probe() -> None:
            n = svc.count()
            hits = svc.search("health check probe", k=1, mode="keyword")
            if n < 0 or not isinstance(hits, list):
                raise StoreError("memory health probe returned nonsense")

        await asyncio.to_thread(probe)
        return True

    # -- the service API (called directly by MemoryClient, in worker threads) -------------

    def search(self, query: str, *, k: int = 5, mode: str = "hybrid",
               namespace: str | None = None, filters: Mapping[str, Any] | None = None,
               candidates: int | None = None, rerank: bool | None = None) -> list[Hit]:
        with _tracer.start_as_current_span(tm.MEMORY_SEARCH, attributes={
                tm.AGENT: self.name, "raygent.memory.mode": mode, "raygent.memory.k": k,
                "raygent.memory.namespace": namespace or ""}) as span:
            started = time.perf_counter()
            try:
                hits = self._svc().search(query, k=k, mode=mode,  # type: ignore[arg-type]
                                          namespace=namespace, filters=filters,
                                          candidates=candidates, rerank=rerank)
            except Exception as exc:
                tm.mark_error(span, exc, type(exc).__name__)
                raise
            mx.process_metrics().observe(mx.MEMORY_SEARCH_LATENCY,
                                         time.perf_counter() - started, self.name, mode)
            span.set_attribute("raygent.memory.hits", len(hits))
            return hits

    def add(self, records: Sequence[Record | Mapping[str, Any]]) -> list[str]:
        with _tracer.start_as_current_span(tm.MEMORY_ADD, attributes={
                tm.AGENT: self.name, "raygent.memory.records": len(records)}):
            return self._svc().add(records)

    def upsert(self, records: Sequence[Record | Mapping[str, Any]]) -> list[str]:
        with _tracer.start_as_current_span(tm.MEMORY_ADD, attributes={
                tm.AGENT: self.name, "raygent.memory.records": len(records),
                "raygent.memory.upsert": True}):
            return self._svc().upsert(records)

    def replace_sources(self, sources: Sequence[str],
                        records: Sequence[Record | Mapping[str, Any]]) -> tuple[list[str], int]:
        with _tracer.start_as_current_span(tm.MEMORY_ADD, attributes={
                tm.AGENT: self.name, "raygent.memory.records": len(records),
                "raygent.memory.upsert": True}):
            return self._svc().replace_sources(sources, records)

    def delete(self, ids: Sequence[str], *, missing_ok: bool = False) -> int:
        return self._svc().delete(ids, missing_ok=missing_ok)

    def get(self, ids: Sequence[str]) -> list[Record]:
        return self._svc().get(ids)

    def count(self, namespace: str | None = None) -> int:
        return self._svc().count(namespace)

    def stats(self) -> dict[str, Any]:
        return self._svc().stats()

    def ingest(self, paths: Sequence[str], *, chunk_size: int | None = 1000,
               overlap: int = 200, namespace: str = DEFAULT_NAMESPACE) -> list[str]:
        return self._svc().ingest(paths, chunk_size=chunk_size, overlap=overlap,
                                  namespace=namespace)

    def flush(self) -> None:
        self._svc().flush()

    # -- the mailbox API ------------------------------------------------------------------

    @handles
    async def on_recall(self, msg: Recall, ctx: MessageContext) -> list[Hit]:
        return await asyncio.to_thread(self.search, msg.query, k=msg.k, mode=msg.mode,
                                       namespace=msg.namespace, filters=msg.filters)

    @handles
    async def on_remember(self, msg: Remember, ctx: MessageContext) -> list[str]:
        return await asyncio.to_thread(self.upsert, list(msg.records))
