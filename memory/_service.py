"""The memory service: one thread-safe object the Ray actor wraps.

It owns an :class:`~memory._embedder.Embedder` and a :class:`~memory._store.HybridStore`,
accepts records as dicts or :class:`~memory._records.Record`, and adds what an operator needs:
counters (:meth:`MemoryService.stats`), a real end-to-end probe (:meth:`MemoryService.health`)
and file ingestion. Every method may be called from many threads at once.
"""

from __future__ import annotations

import os
import threading
import time
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from actors._errors import StoreError
from memory._config import MemoryConfig
from memory._embedder import Embed, Embedder, shared_embedder
from memory._fusion import FusionStrategy
from memory._ingest import IngestPolicy
from memory._loaders import load_documents
from memory._protocol import Mode
from memory._records import DEFAULT_NAMESPACE, Hit, Record
from memory._store import HybridStore


class MemoryService:
    """Facade over the embedder and the hybrid store.

    Args:
        config: Settings; ``None`` means :class:`MemoryConfig` defaults (data under
            ``~/.raygent/memory`` or ``$RAYGENT_MEMORY_DIR``).
        embedder: The embedder to use; ``None`` takes the process-wide one for ``config``'s
            model settings (:func:`memory.shared_embedder`), so several services in one
            process load the model once.
    """

    def __init__(self, config: MemoryConfig | None = None, *, embedder: Embed | None = None):
        self.config = config if config is not None else MemoryConfig()
        self.embedder: Embed = embedder if embedder is not None else shared_embedder(self.config)
        self.store = HybridStore(self.config, self.embedder)
        self._policy = IngestPolicy.from_config(self.config)
        self._lock = threading.Lock()
        self._calls: Counter[str] = Counter()
        self._errors: Counter[str] = Counter()
        self._started = time.time()

    def _count(self, op: str, ok: bool = True) -> None:
        with self._lock:
            (self._calls if ok else self._errors)[op] += 1

    def _run(self, op: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            result = fn(*args, **kwargs)
        except Exception:
            self._count(op, ok=False)
            raise
        self._count(op)
        return result

    def add(self, records: Iterable[Record | Mapping[str, Any]]) -> list[str]:
        """Insert new records, all or nothing (see :meth:`HybridStore.add`).

        Safe to retry: a record whose id is stored with the same content is skipped, so an
        ``add`` repeated after a lost reply succeeds; other content under a stored id
        raises ``DuplicateIdError``.

        Args:
            records: Records or dicts with ``id``, ``text`` and optional ``metadata``,
                ``namespace``, ``created_at``.

        Returns:
            The ids written.
        """
        return self._run("add", self.store.add, records)

    def upsert(self, records: Iterable[Record | Mapping[str, Any]]) -> list[str]:
        """Insert or replace records, all or nothing (see :meth:`HybridStore.upsert`).

        Args:
            records: Records or dicts.

        Returns:
            The ids written.
        """
        return self._run("upsert", self.store.upsert, records)

    def replace_sources(self, sources: Sequence[str],
                        records: Iterable[Record | Mapping[str, Any]]) -> tuple[list[str], int]:
        """Make ``records`` the whole content of ``sources`` in one atomic commit (see
        :meth:`HybridStore.replace_sources`): for callers that read files themselves.

        Args:
            sources: ``source`` metadata values whose other records are deleted.
            records: The new records of those sources.

        Returns:
            The ids written, and how many other records of ``sources`` were deleted.
        """
        ids, removed = self._run("replace_sources", self.store.replace_sources, sources,
                                 records)
        return ids, removed

    def delete(self, ids: Sequence[str], *, missing_ok: bool = False) -> int:
        """Delete records by id, all or nothing.

        Args:
            ids: Record ids.
            missing_ok: Ignore unknown ids instead of raising ``RecordNotFoundError``.

        Returns:
            How many were deleted.
        """
        return self._run("delete", self.store.delete, ids, missing_ok=missing_ok)

    def get(self, ids: Sequence[str]) -> list[Record]:
        """Fetch records by id (raises ``RecordNotFoundError`` for an unknown one).

        Args:
            ids: Record ids.

        Returns:
            The records in the order asked.
        """
        return self._run("get", self.store.get, ids)

    def search(
        self,
        query: str,
        *,
        k: int = 5,
        mode: Mode = "hybrid",
        namespace: str | None = None,
        filters: Mapping[str, Any] | None = None,
        fusion: FusionStrategy | None = None,
        candidates: int | None = None,
        rerank: bool | None = None,
    ) -> list[Hit]:
        """Search memory (see :meth:`HybridStore.search`).

        Args:
            query: Natural-language query.
            k: Number of hits.
            mode: ``"hybrid"``, ``"vector"`` or ``"keyword"``.
            namespace: Restrict to one existing namespace.
            filters: Metadata / time filter.
            fusion: Override the configured fusion strategy.
            candidates: Override the hits each retriever contributes to fusion.
            rerank: Force the rerank stage on or off (``None``: as configured).

        Returns:
            Hits, best first.
        """
        return self._run(
            "search",
            self.store.search,
            query,
            k=k,
            mode=mode,
            namespace=namespace,
            filters=filters,
            fusion=fusion,
            candidates=candidates,
            rerank=rerank,
        )

    def count(self, namespace: str | None = None) -> int:
        """Count records, optionally in one namespace.

        Args:
            namespace: Namespace to count, or ``None`` for all.

        Returns:
            The count.
        """
        return self._run("count", self.store.count, namespace)

    def ingest(
        self,
        paths: Iterable[str | os.PathLike[str]],
        *,
        chunk_size: int | None = 1000,
        overlap: int = 200,
        namespace: str = DEFAULT_NAMESPACE,
    ) -> list[str]:
        """Load ``.txt``/``.md``/``.jsonl`` files and make them the store's copy of each file.

        All or nothing: every path is checked against the ingest policy (allowed roots,
        no system trees, regular UTF-8 text files under the size limit; see
        ``memory._ingest``) before any file is read, every file is read and chunked before
        anything is written, and the write is one atomic commit that also deletes the
        chunks a file no longer has (its records are those whose ``source`` metadata is
        the file's real path). Record ids and sources use each file's real path.

        Args:
            paths: Files or directories.
            chunk_size: Chunk length in characters, or ``None`` for whole documents.
            overlap: Overlap between chunks.
            namespace: Default namespace.

        Returns:
            The ids written.

        Raises:
            PathNotAllowedError: A path the policy refuses (nothing read, nothing written).
            InvalidRecordError: A missing path, an unsupported file or a bad record.
        """
        return self._run("ingest", self._ingest, paths, chunk_size, overlap, namespace)

    def _ingest(self, paths: Iterable[str | os.PathLike[str]], chunk_size: int | None,
                overlap: int, namespace: str) -> list[str]:
        files = self._policy.files(paths)
        records = load_documents(files, chunk_size=chunk_size, overlap=overlap,
                                 namespace=namespace, read=self._policy.read)
        ids, _ = self.store.replace_sources([str(f) for f in files], records)
        return ids

    def stats(self) -> dict[str, Any]:
        """Describe the service: store counters, call counts, embedder cache.

        Returns:
            A JSON-compatible dict.
        """
        out = self.store.stats()
        with self._lock:
            out["calls"] = dict(self._calls)
            out["errors"] = dict(self._errors)
        out["uptime_s"] = round(time.time() - self._started, 3)
        emb = self.embedder
        if isinstance(emb, Embedder):
            out["query_cache"] = {"hits": emb.cache_hits, "misses": emb.cache_misses}
            out["model_loaded"] = emb.loaded
        return out

    def health(self) -> dict[str, Any]:
        """Run a real, tiny search end to end (embedding, both indexes, fusion).

        Returns:
            ``{"ok": True, "records": n, "latency_ms": t}``.

        Raises:
            StoreError: If the store is closed or the probe fails.
        """
        started = time.perf_counter()
        try:
            n = self.store.count()
            hits = self.store.search("health check", k=1, mode="hybrid")
        except StoreError:
            raise
        except Exception as exc:
            raise StoreError(f"memory health probe failed: {type(exc).__name__}: {exc}") from exc
        if n and not hits:
            raise StoreError(f"memory health probe returned nothing from {n} records")
        return {
            "ok": True,
            "records": n,
            "latency_ms": round((time.perf_counter() - started) * 1000, 3),
        }

    def flush(self) -> None:
        """Persist the keyword index and compact the table."""
        self._run("flush", self.store.flush)

    def close(self) -> None:
        """Flush and release the store; idempotent."""
        self.store.close()

    def __enter__(self) -> MemoryService:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
