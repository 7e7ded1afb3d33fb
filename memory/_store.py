"""The hybrid (vector + BM25) record store, persisted in LanceDB.

:class:`HybridStore` ties the parts together: the directory layout and its lock
(``memory._disk``), the in-memory slot indexes (``memory._slots``), the search path
(``memory._search``) and the background upkeep of the table (``memory._background``).

Durability. Each ``add``/``upsert``/``delete`` is one LanceDB commit, done before the call
returns, so an acknowledged write is on disk. The keyword index is saved to its sidecar on
:meth:`HybridStore.flush` and :meth:`HybridStore.close` and caught up with the table on open.

Concurrency. Writers are serialised by a mutex; embedding, tokenising and the LanceDB commit
happen without blocking readers, and only the final in-memory update takes the write side of
a readers-writer lock, briefly. Searches hold the read side, so they run concurrently with
each other and with the slow part of every write. One process owns a data directory at a time
(an advisory ``flock`` on ``.lock``).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from actors._errors import (
    InvalidQueryError,
    RecordNotFoundError,
    StoreError,
)
from memory import _disk, _search, _writes
from memory._background import Maintenance
from memory._bm25 import BM25Index
from memory._config import MemoryConfig
from memory._disk import MANIFEST as MANIFEST
from memory._embedder import Embed, Embedder
from memory._filters import compile_filters
from memory._fusion import FusionStrategy, default_fusion
from memory._protocol import MODES as MODES
from memory._protocol import MemoryStore as MemoryStore
from memory._protocol import Mode as Mode
from memory._records import Hit, Record
from memory._rerank import Reranker, reranker_for
from memory._rwlock import RWLock
from memory._slots import SlotTable
from memory._tokenize import Tokenizer


class HybridStore:
    """Vector + keyword store over a LanceDB table, with exact in-memory search.

    Args:
        config: Store settings; ``None`` means :class:`MemoryConfig` defaults.
        embedder: Embeds texts and queries; ``None`` creates an :class:`Embedder` from
            ``config``. Share one embedder between stores to load the model once.
        reranker: The rerank stage; ``None`` builds one from ``config.rerank`` when set.

    Raises:
        ConfigError: If the data directory is unusable or was built with another model.
        CorruptStoreError: If the data directory is damaged.
        StoreError: If another process holds the store.
    """

    def __init__(self, config: MemoryConfig | None = None, embedder: Embed | None = None,
                 reranker: Reranker | None = None) -> None:
        self.config = config if config is not None else MemoryConfig()
        self.embedder: Embed = embedder if embedder is not None else Embedder(self.config)
        self.tokenizer = Tokenizer(self.config.tokenizer)
        self.path = self.config.resolved_data_dir()
        self._fusion: FusionStrategy = self.config.fusion or default_fusion()
        self._reranker = reranker if reranker is not None else reranker_for(self.config.rerank)
        self._rerank_top_n = self.config.rerank.top_n if self.config.rerank else 20
        self._writer = threading.Lock()
        self._rw = RWLock()
        self._closed = False
        _disk.make_dir(self.path)
        self._lock = _disk.DirLock(self.path)
        try:
            self._table, rows, created = _disk.open_table(self.path, self.embedder)
            self._dim = dim = rows.vectors.shape[1]
            changed, next_seq = self._load(rows, created)
        except BaseException:
            self._lock.release()
            raise
        self._maint = Maintenance(self._table, self._writer, lambda: self._closed,
                                  lambda: len(self._slots.slot_of), dim,
                                  self.config.ann_threshold)
        self._writes = _writes.WritePath(
            config=self.config, tokenizer=self.tokenizer, embedder=self.embedder,
            table=self._table, slots=self._slots, rw=self._rw, writer=self._writer,
            maint=self._maint, next_seq=next_seq, check_open=self._check_open)
        if changed:
            self._save_sidecar()
        self._maint.start()

    def _load(self, rows: _disk.Rows, created: bool) -> tuple[bool, int]:
        """Build the in-memory state from the table, reusing the sidecar when it fits.

        Returns:
            Whether the sidecar must be rewritten, and the next write sequence number.
        """
        if created:
            self._slots = SlotTable.empty(rows.vectors.shape[1], self.config.bm25,
                                          self.config.vector_scan)
            return False, 1
        bm25, slot_rows, max_sidecar_seq, changed = _disk.reconcile_sidecar(
            self.path, rows, self.tokenizer, self.config.bm25)
        self._slots = SlotTable.from_rows(rows, bm25, slot_rows, self.config.vector_scan)
        n = len(rows)
        if bm25.dead_fraction() > self.config.compact_ratio:
            self._slots.compact()
            changed = True
        return changed, max(int(rows.seqs.max()) if n else 0, max_sidecar_seq) + 1

    def _save_sidecar(self) -> None:
        _disk.save_sidecar(self.path, self._slots.bm25, self._slots.seq,
                           self._writes.next_seq - 1, self.tokenizer)

    def _check_open(self) -> None:
        if self._closed:
            raise StoreError("the memory store is closed: open a new one")

    # ------------------------------------------------------------------ writes

    def add(self, records: Iterable[Record | Mapping[str, Any]]) -> list[str]:
        """Insert new records, all or nothing.

        Adding a record whose id is stored with the same content is a no-op, so a retry
        after a lost reply succeeds.

        Args:
            records: :class:`Record` objects or dicts with the same fields.

        Returns:
            The ids written, in order.

        Raises:
            InvalidRecordError: If any record is malformed (nothing is written).
            DuplicateIdError: If an id repeats in the batch or is stored with other content
                (nothing is written).
            StoreError: If the store is closed or LanceDB fails (nothing is written).
        """
        self._check_open()
        return self._writes.add(records)

    def upsert(self, records: Iterable[Record | Mapping[str, Any]]) -> list[str]:
        """Insert records, replacing any with the same id, all or nothing.

        A replaced record keeps its ``created_at`` unless the new one gives one.

        Args:
            records: :class:`Record` objects or dicts.

        Returns:
            The ids written, in order.

        Raises:
            InvalidRecordError: If any record is malformed or an id repeats in the batch.
            StoreError: If the store is closed or LanceDB fails (nothing is written).
        """
        self._check_open()
        return self._writes.upsert(records)

    def replace_sources(self, sources: Sequence[str],
                        records: Iterable[Record | Mapping[str, Any]]) -> tuple[list[str], int]:
        """Make ``records`` the whole content of ``sources``, in one atomic commit.

        Upserts ``records`` and deletes every other record whose ``source`` metadata is one
        of ``sources`` (a re-ingested file that got shorter leaves no old tail behind). A
        crash leaves every source all old or all new.

        Returns:
            The ids written, and how many other records of ``sources`` were deleted.

        Raises:
            InvalidRecordError: As for :meth:`upsert` (nothing is written).
            StoreError: If the store is closed or LanceDB fails (nothing is written).
        """
        self._check_open()
        return self._writes.replace_sources(sources, records)

    def delete(self, ids: Sequence[str], *, missing_ok: bool = False) -> int:
        """Delete records by id, all or nothing.

        Args:
            ids: Record ids.
            missing_ok: Skip unknown ids instead of failing.

        Returns:
            How many records were deleted.

        Raises:
            InvalidRecordError: If ``ids`` is not a list of strings.
            RecordNotFoundError: If an id is unknown and ``missing_ok`` is false (nothing is
                deleted).
            StoreError: If the store is closed or LanceDB fails (nothing is deleted).
        """
        self._check_open()
        return self._writes.delete(ids, missing_ok=missing_ok)

    # ------------------------------------------------------------------ reads

    def get(self, ids: Sequence[str]) -> list[Record]:
        """Fetch records by id.

        Args:
            ids: Record ids.

        Returns:
            The records, in the order asked.

        Raises:
            RecordNotFoundError: If any id is unknown.
        """
        self._check_open()
        id_list = _writes.id_list(ids)
        with self._rw.read():
            out = []
            for rid in id_list:
                s = self._slots.slot_of.get(rid)
                if s is None:
                    raise RecordNotFoundError(rid)
                out.append(self._slots.record_at(s))
        return out

    def count(self, namespace: str | None = None) -> int:
        """Count records.

        Args:
            namespace: Count only this namespace (0 when it does not exist).

        Returns:
            The number of records.
        """
        self._check_open()
        if namespace is None:
            return len(self._slots.slot_of)
        return self._slots.ns_counts.get(namespace, 0)

    def namespaces(self) -> dict[str, int]:
        """Return the record count of every non-empty namespace."""
        return dict(sorted(self._slots.ns_counts.items()))

    def ids(self) -> list[str]:
        """Return the id of every record, in no particular order."""
        with self._rw.read():
            return list(self._slots.slot_of)

    def search(
        self,
        query: str,
        k: int = 5,
        mode: Mode = "hybrid",
        namespace: str | None = None,
        filters: Mapping[str, Any] | None = None,
        fusion: FusionStrategy | None = None,
        *,
        candidates: int | None = None,
        rerank: bool | None = None,
    ) -> list[Hit]:
        """Find the records most relevant to a query.

        Args:
            query: Natural-language query (non-empty).
            k: Number of hits, 1..``config.max_k``.
            mode: ``"hybrid"`` (vector + keyword, fused), ``"vector"`` or ``"keyword"``.
            namespace: Restrict to one existing namespace.
            filters: Metadata/time filter (see ``memory._filters``), applied before top-k.
            fusion: Fusion strategy for hybrid mode; ``None`` uses ``config.fusion``.
            candidates: Hits each retriever contributes to hybrid fusion; ``None`` uses
                ``config.candidates`` (never fewer than ``k``).
            rerank: Run the cross-encoder stage over the best hits; ``None`` runs it when
                ``config.rerank`` is set.

        Returns:
            Up to ``k`` hits, best first. Keyword mode returns only records sharing a term
            with the query, so it may return fewer.

        Raises:
            InvalidQueryError: For an empty query, bad ``k`` or ``candidates``, unknown mode
                or namespace, malformed filters, a fusion object without ``fuse``, or
                ``rerank=True`` without a configured reranker.
        """
        self._check_open()
        _search.check_args(query, k, mode, fusion, self.config.max_k, candidates)
        if rerank and self._reranker is None:
            raise InvalidQueryError("rerank=True but no reranker is configured: set "
                                    "MemoryConfig.rerank to a local cross-encoder")
        reranker = self._reranker if rerank is not False else None
        conditions = compile_filters(filters)
        ns_counts = self._slots.ns_counts
        if namespace is not None and (not isinstance(namespace, str) or namespace not in ns_counts):
            known = ", ".join(sorted(ns_counts)) or "none yet"
            raise InvalidQueryError(f"unknown namespace {namespace!r}; known namespaces: {known}")
        use_vec = mode in ("hybrid", "vector")
        use_kw = mode in ("hybrid", "keyword")
        qvec = self.embedder.encode_query(query) if use_vec else None
        qtok = self.tokenizer(query) if use_kw else []
        fuse = fusion or self._fusion
        out_k = k if reranker is None else max(k, self._rerank_top_n)
        cand_k = out_k if mode != "hybrid" else max(out_k, candidates or self.config.candidates)
        with self._rw.read():
            slots = self._slots
            n = slots.n_slots
            mask = slots.eligible(conditions, namespace)
            vec: _search.Ranking = []
            kw: _search.Ranking = []
            if use_vec and qvec is not None:
                vec = slots.scan.top(slots.vectors, qvec, cand_k, mask, n)
            if use_kw:
                kw = _search.keyword_top(slots, qtok, cand_k, mask)
            ranked = _search.rank(mode, out_k, vec, kw, fuse)
            hits = _search.make_hits(slots, mode, ranked, vec, kw)
        # Outside the lock: the cross-encoder is slow, and writers should not wait for it.
        return hits if reranker is None else _search.rerank_hits(reranker, query, hits, k)

    def keyword_scores(self, query: str) -> dict[str, float]:
        """Return the BM25 score of every record for a query (for inspection and tests).

        Args:
            query: Query text, tokenised with the store's tokenizer.

        Returns:
            Map from record id to score.
        """
        self._check_open()
        with self._rw.read():
            scores = self._slots.bm25.get_scores(self.tokenizer(query))
            return {rid: float(scores[s]) for rid, s in self._slots.slot_of.items()}

    # ------------------------------------------------------------------ lifecycle

    def stats(self) -> dict[str, Any]:
        """Return counters describing the store."""
        with self._rw.read():
            bm25 = self._slots.bm25
            return {
                "records": len(self._slots.slot_of),
                "namespaces": dict(sorted(self._slots.ns_counts.items())),
                "slots": bm25.n_slots,
                "dead_fraction": round(bm25.dead_fraction(), 4),
                "vocabulary": bm25.vocab_size,
                "avg_doc_tokens": round(bm25.avgdl, 2),
                "dim": self._dim,
                "model": self.embedder.model_name,
                "data_dir": str(self.path),
                "table_version": self._table.version if not self._closed else None,
                "ann_index": self._maint.ann_state,
                "closed": self._closed,
            }

    def flush(self) -> None:
        """Save the keyword-index sidecar and compact the LanceDB table.

        Writes are already durable when they return; flushing makes the next open fast and
        keeps the table's file count down.
        """
        self._check_open()
        with self._writer:
            self._check_open()
            self._save_sidecar()
            self._maint.optimize()

    def rebuild_keyword_index(self) -> None:
        """Re-tokenise every record and rewrite the sidecar (recovery tool)."""
        self._check_open()
        with self._writer, self._rw.write():
            self._slots.compact()
            bm25 = BM25Index(self.config.bm25)
            bm25.append(self.tokenizer.tokenize_many(self._slots.texts))
            self._slots.replace_keyword_index(bm25)
            self._save_sidecar()

    def close(self) -> None:
        """Flush and release the data directory; later calls raise :class:`StoreError`.

        Closing twice is harmless.
        """
        if self._closed:
            return
        self._maint.stop()
        with self._writer:
            if self._closed:
                return
            try:
                self._save_sidecar()
                self._maint.optimize()
            finally:
                self._closed = True
                self._lock.release()

    def __enter__(self) -> HybridStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
