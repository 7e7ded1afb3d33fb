"""The store's in-memory indexes, kept in one *slot* space.

Records get slots in write order; a replaced or deleted record leaves a dead slot until
compaction. Every per-record array (ids, texts, metadata, namespace codes, timestamps,
sequence numbers, vectors) and the :class:`~memory._bm25.BM25Index` share that numbering, so
metadata, namespace and time filters become one boolean mask over slots, applied before the
top k of either retriever.

Not thread-safe by itself: the store changes it under the write side of its readers-writer
lock and reads it under the read side.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

from memory._bm25 import BM25Index
from memory._config import BM25Config
from memory._disk import Rows
from memory._filters import KIND_NUMBER, KIND_STR, Column, Condition, evaluate
from memory._records import Record
from memory._vectors import VectorScan


def _grow_rows(arr: np.ndarray, needed: int) -> np.ndarray:
    """Return ``arr`` or a larger copy (amortised doubling along axis 0)."""
    if needed <= arr.shape[0]:
        return arr
    new = np.zeros((max(needed, 2 * arr.shape[0], 64), *arr.shape[1:]), dtype=arr.dtype)
    new[: arr.shape[0]] = arr
    return new


class SlotTable:
    """Per-slot record data plus the keyword index over the same slots.

    Args:
        dim: Vector dimension.
        bm25: The keyword index (its slots define this table's slots).
        vector_scan: First-pass precision of vector search (see ``memory._vectors``).
    """

    def __init__(self, dim: int, bm25: BM25Index, vector_scan: str = "auto") -> None:
        self.dim = dim
        self.bm25 = bm25
        self.scan = VectorScan(vector_scan)
        self.ids: list[str] = []
        self.texts: list[str] = []
        self.metas: list[dict[str, Any]] = []
        self.slot_of: dict[str, int] = {}
        self.namespaces: list[str] = []
        self.ns_code: dict[str, int] = {}
        self.ns_counts: Counter[str] = Counter()
        self.ns = np.zeros(0, dtype=np.int32)
        self.created = np.zeros(0, dtype=np.float64)
        self.updated = np.zeros(0, dtype=np.float64)
        self.seq = np.zeros(0, dtype=np.int64)
        self.vectors = np.zeros((0, dim), dtype=np.float32)
        self._columns: dict[str, Column] = {}

    @classmethod
    def empty(cls, dim: int, config: BM25Config, vector_scan: str = "auto") -> SlotTable:
        """A table with no slots."""
        return cls(dim, BM25Index(config), vector_scan)

    @classmethod
    def from_rows(cls, rows: Rows, bm25: BM25Index, slot_rows: Sequence[int],
                  vector_scan: str = "auto") -> SlotTable:
        """Lay table rows out in the slot order of an existing keyword index.

        Args:
            rows: The decoded records table.
            bm25: Keyword index whose slots the rows fill.
            slot_rows: The table row of each slot, -1 for dead slots.
            vector_scan: First-pass precision of vector search.
        """
        table = cls(rows.vectors.shape[1], bm25, vector_scan)
        total = bm25.n_slots
        rix = np.asarray(slot_rows, dtype=np.int64)
        live = rix >= 0
        table.ids = [rows.ids[r] if r >= 0 else "" for r in slot_rows]
        table.texts = [rows.texts[r] if r >= 0 else "" for r in slot_rows]
        table.metas = [rows.metas[r] if r >= 0 else {} for r in slot_rows]
        for name in sorted(set(rows.namespaces)):
            table.ns_code[name] = len(table.namespaces)
            table.namespaces.append(name)
        codes = np.asarray([table.ns_code[x] for x in rows.namespaces], dtype=np.int32)
        table.ns = np.zeros(total, dtype=np.int32)
        table.created = np.zeros(total, dtype=np.float64)
        table.updated = np.zeros(total, dtype=np.float64)
        table.seq = np.full(total, -1, dtype=np.int64)
        table.vectors = np.zeros((total, table.dim), dtype=np.float32)
        if len(rows):
            table.ns[live] = codes[rix[live]]
            table.created[live] = rows.created[rix[live]]
            table.updated[live] = rows.updated[rix[live]]
            table.seq[live] = rows.seqs[rix[live]]
            table.vectors[live] = rows.vectors[rix[live]]
        table.slot_of = {rows.ids[r]: s for s, r in enumerate(slot_rows) if r >= 0}
        table.ns_counts = Counter(rows.namespaces)
        return table

    @property
    def n_slots(self) -> int:
        """Slots handed out so far, alive or dead."""
        return self.bm25.n_slots

    # ------------------------------------------------------------------ changes

    def append(
        self,
        records: list[Record],
        tokens: list[list[str]],
        vectors: np.ndarray,
        seqs: list[int],
        created: list[float],
        now: float,
    ) -> None:
        """Give new records fresh slots in every index."""
        slots = self.bm25.append(tokens)
        first, n_new = int(slots[0]), len(records)
        end = first + n_new
        for name in {r.namespace for r in records}:
            if name not in self.ns_code:
                self.ns_code[name] = len(self.namespaces)
                self.namespaces.append(name)
        self.ns = _grow_rows(self.ns, end)
        self.created = _grow_rows(self.created, end)
        self.updated = _grow_rows(self.updated, end)
        self.seq = _grow_rows(self.seq, end)
        self.vectors = _grow_rows(self.vectors, end)
        self.ns[first:end] = [self.ns_code[r.namespace] for r in records]
        self.created[first:end] = created
        self.updated[first:end] = now
        self.seq[first:end] = seqs
        self.vectors[first:end] = vectors
        for i, r in enumerate(records):
            self.ids.append(r.id)
            self.texts.append(r.text)
            self.metas.append(r.metadata)
            self.slot_of[r.id] = first + i
            self.ns_counts[r.namespace] += 1

    def remove(self, slots: list[int]) -> None:
        """Turn slots dead (they keep their number until :meth:`compact`)."""
        if not slots:
            return
        self.bm25.remove(slots)
        for s in slots:
            rid = self.ids[s]
            del self.slot_of[rid]
            self.ns_counts[self.namespaces[self.ns[s]]] -= 1
            self.texts[s] = ""
            self.metas[s] = {}
        self.ns_counts = +self.ns_counts  # drop namespaces that became empty

    def maybe_compact(self, ratio: float) -> None:
        """Compact when at least 1024 slots exist and more than ``ratio`` of them are dead."""
        if self.bm25.n_slots >= 1024 and self.bm25.dead_fraction() > ratio:
            self.compact()

    def compact(self) -> None:
        """Renumber slots densely, dropping dead ones."""
        n = self.bm25.n_slots
        keep = np.flatnonzero(self.bm25.alive[:n].copy())
        self.bm25.compact()
        keep_list = keep.tolist()
        self.ids = [self.ids[s] for s in keep_list]
        self.texts = [self.texts[s] for s in keep_list]
        self.metas = [self.metas[s] for s in keep_list]
        self.ns = self.ns[keep].copy()
        self.created = self.created[keep].copy()
        self.updated = self.updated[keep].copy()
        self.seq = self.seq[keep].copy()
        self.vectors = self.vectors[keep].copy()
        self.slot_of = {rid: i for i, rid in enumerate(self.ids)}
        self._columns = {}
        self.scan.invalidate()

    def replace_keyword_index(self, bm25: BM25Index) -> None:
        """Swap in a rebuilt keyword index over the same (compacted) slots."""
        if bm25.n_slots != self.bm25.n_slots:
            raise ValueError("the new keyword index must cover the same slots")
        self.bm25 = bm25

    # ------------------------------------------------------------------ reads

    def record_at(self, s: int) -> Record:
        """The record in slot ``s`` (metadata copied, so callers cannot change the store)."""
        return Record(
            id=self.ids[s],
            text=self.texts[s],
            metadata=json.loads(json.dumps(self.metas[s])),
            namespace=self.namespaces[self.ns[s]],
            created_at=float(self.created[s]),
            updated_at=float(self.updated[s]),
        )

    def slots_of_sources(self, sources: Sequence[str]) -> list[int]:
        """The live slots whose ``source`` metadata is one of ``sources``."""
        if not sources:
            return []
        n = self.bm25.n_slots
        col = self.column("source")
        candidates = np.flatnonzero((col.kinds[:n] == KIND_STR) & self.bm25.alive[:n])
        wanted = set(sources)
        # One set lookup per record: a directory of many files stays one pass.
        hit = np.fromiter((v in wanted for v in col.values[candidates]), dtype=bool,
                          count=len(candidates))
        return candidates[hit].tolist()

    def eligible(self, conditions: list[Condition], namespace: str | None) -> np.ndarray | None:
        """The boolean mask of live slots that pass the filters, or ``None`` for "all"."""
        n = self.bm25.n_slots
        mask = evaluate(conditions, self.column, n)
        if namespace is not None:
            ns_mask = self.ns[:n] == self.ns_code[namespace]
            mask = ns_mask if mask is None else mask & ns_mask
        if self.bm25.n_docs < n:
            alive = self.bm25.alive
            mask = alive if mask is None else mask & alive
        return mask

    def column(self, field: str) -> Column:
        """Filter column for ``field`` over all current slots, cached and grown lazily."""
        n = self.bm25.n_slots
        col = self._columns.get(field)
        start = len(col) if col is not None else 0
        if col is not None and start == n:
            return col
        if field in ("created_at", "updated_at"):
            arr = (self.created if field == "created_at" else self.updated)[start:n]
            part = Column(
                kinds=np.full(n - start, KIND_NUMBER, dtype=np.int8),
                values=np.empty(n - start, dtype=object),
                numbers=arr.copy(),
            )
        elif field == "id":
            part = Column.build(self.ids[start:n])
        elif field == "namespace":
            part = Column.build([self.namespaces[c] for c in self.ns[start:n].tolist()])
        else:
            metas = self.metas[start:n]
            part = Column.build([m.get(field) for m in metas], [field not in m for m in metas])
        col = part if col is None else col.extend(part)
        self._columns[field] = col
        return col
