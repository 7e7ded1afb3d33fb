"""The store's write path: validated, all-or-nothing batches.

A batch is validated as a whole, tokenised and embedded before any lock is taken, then
committed to LanceDB as one version under the writer mutex (so writers never interleave),
and only then applied to the in-memory indexes under the write side of the readers-writer
lock, which searches hold the read side of. A failed commit leaves the table at its previous
version and the in-memory state untouched.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from actors._errors import (
    DuplicateIdError,
    InvalidRecordError,
    RecordNotFoundError,
    StoreError,
)
from memory import _disk
from memory._background import Maintenance
from memory._config import MemoryConfig
from memory._embedder import Embed
from memory._records import Record, coerce_records
from memory._rwlock import RWLock
from memory._slots import SlotTable
from memory._tokenize import Tokenizer


def _canonical(meta: Mapping[str, Any]) -> str:
    """Metadata as canonical JSON, so equality is type-strict and ignores key order."""
    return json.dumps(meta, sort_keys=True, separators=(",", ":"))


def id_list(ids: Sequence[str]) -> list[str]:
    """Check that ``ids`` is a list of strings (a lone string is a common mistake).

    Raises:
        InvalidRecordError: Otherwise.
    """
    if isinstance(ids, str) or not isinstance(ids, Iterable):
        raise InvalidRecordError("ids must be a list of strings, not a single value")
    out = list(ids)
    bad = [x for x in out if not isinstance(x, str)]
    if bad:
        raise InvalidRecordError(f"ids must be strings, got {type(bad[0]).__name__}")
    return out


class WritePath:
    """Adds, upserts and deletes for one open store (see :class:`~memory.HybridStore`).

    Args:
        config: The store's settings.
        tokenizer: Keyword tokenizer.
        embedder: Document embedder.
        table: The LanceDB table.
        slots: The in-memory indexes.
        rw: The readers-writer lock that guards ``slots``.
        writer: The writer mutex (shared with the maintenance thread).
        maint: Told about every commit.
        next_seq: The next write sequence number.
        check_open: Raises when the store is closed.
    """

    def __init__(self, *, config: MemoryConfig, tokenizer: Tokenizer, embedder: Embed,
                 table: Any, slots: SlotTable, rw: RWLock, writer: threading.Lock,
                 maint: Maintenance, next_seq: int, check_open: Callable[[], None]) -> None:
        self._config = config
        self._tokenizer = tokenizer
        self._embedder = embedder
        self._table = table
        self._slots = slots
        self._rw = rw
        self._writer = writer
        self._maint = maint
        self._check_open = check_open
        self.next_seq = next_seq

    def _prepare(self, recs: list[Record]) -> tuple[list[list[str]], np.ndarray]:
        """Tokenise and embed a validated batch, before any lock is taken."""
        texts = [r.text for r in recs]
        dim = self._slots.dim
        vectors = np.asarray(self._embedder.encode(texts), dtype=np.float32)
        if vectors.shape != (len(texts), dim) or not np.isfinite(vectors).all():
            raise StoreError(
                f"the embedder returned {vectors.shape} vectors for {len(texts)} texts "
                f"(expected dimension {dim}, finite values)"
            )
        return self._tokenizer.tokenize_many(texts), vectors

    def _commit(self, action: str, fn: Callable[[], Any]) -> None:
        """Run one LanceDB write; a failure leaves the table at its previous version."""
        try:
            fn()
        except Exception as exc:
            raise StoreError(f"{action} failed in LanceDB, nothing was stored: {exc}") from exc
        self._maint.committed()

    def _seqs(self, n: int) -> list[int]:
        return list(range(self.next_seq, self.next_seq + n))

    def add(self, records: Iterable[Record | Mapping[str, Any]]) -> list[str]:
        """Insert new records; see :meth:`memory.HybridStore.add`.

        A record whose id exists with the same content is skipped rather than refused: a
        caller that lost the reply to an ``add`` that landed can retry it safely.
        """
        recs = coerce_records(records, max_text_chars=self._config.max_text_chars)
        if not recs:
            return []
        seen: set[str] = set()
        for r in recs:
            if r.id in seen:
                raise DuplicateIdError(r.id, "appears more than once in one add batch")
            seen.add(r.id)
        with self._writer:
            self._check_open()
            fresh = [r for r in recs if not self._stored_as(r)]
        if not fresh:
            return [r.id for r in recs]
        tokens, vectors = self._prepare(fresh)
        with self._writer:
            self._check_open()
            # Checked again: another writer may have added one of them while we embedded.
            if any(self._stored_as(r) for r in fresh):
                keep = [i for i, r in enumerate(fresh) if not self._stored_as(r)]
                fresh = [fresh[i] for i in keep]
                tokens = [tokens[i] for i in keep]
                vectors = vectors[keep]
                if not fresh:
                    return [r.id for r in recs]
            now = time.time()
            seqs = self._seqs(len(fresh))
            created = [r.created_at if r.created_at is not None else now for r in fresh]
            table = _disk.to_arrow(fresh, vectors, seqs, created, now, self._slots.dim)
            self._commit("add", lambda: self._table.add(table))
            self.next_seq += len(fresh)
            with self._rw.write():
                self._slots.append(fresh, tokens, vectors, seqs, created, now)
        return [r.id for r in recs]

    def _stored_as(self, r: Record) -> bool:
        """Whether ``r``'s id is stored with the same content (``DuplicateIdError`` if not).

        Same content means the same text, namespace and metadata, and the same
        ``created_at`` when ``r`` gives one. Called under the writer mutex.
        """
        slot = self._slots.slot_of.get(r.id)
        if slot is None:
            return False
        s = self._slots
        same = (s.texts[slot] == r.text
                and s.namespaces[s.ns[slot]] == r.namespace
                and _canonical(s.metas[slot]) == _canonical(r.metadata)
                and (r.created_at is None or float(s.created[slot]) == r.created_at))
        if not same:
            raise DuplicateIdError(r.id)
        return True

    def upsert(self, records: Iterable[Record | Mapping[str, Any]]) -> list[str]:
        """Insert or replace records; see :meth:`memory.HybridStore.upsert`."""
        return self._replace(records, sources=())[0]

    def replace_sources(self, sources: Sequence[str],
                        records: Iterable[Record | Mapping[str, Any]]) -> tuple[list[str], int]:
        """Make ``records`` the whole content of ``sources``; see
        :meth:`memory.HybridStore.replace_sources`."""
        if isinstance(sources, str) or not all(isinstance(x, str) for x in sources):
            raise InvalidRecordError("sources must be a list of strings")
        return self._replace(records, sources=tuple(sources))

    def _replace(self, records: Iterable[Record | Mapping[str, Any]],
                 sources: tuple[str, ...]) -> tuple[list[str], int]:
        """Upsert ``records`` and delete the other records of ``sources``, in one commit.

        One LanceDB ``merge_insert`` is one table version: a crash before it leaves every
        source as it was, after it every source as given. The in-memory indexes follow the
        commit; a crash between the two is repaired on open, where the table is the truth.

        Returns:
            The ids written and how many other records of ``sources`` were deleted.
        """
        recs = coerce_records(records, max_text_chars=self._config.max_text_chars)
        if not recs and not sources:
            return [], 0
        dup = [rid for rid, c in Counter(r.id for r in recs).items() if c > 1]
        if dup:
            raise InvalidRecordError(
                f"id {dup[0]!r} appears more than once in one upsert batch; "
                "which version should win is ambiguous"
            )
        tokens, vectors = (self._prepare(recs) if recs
                           else ([], np.zeros((0, self._slots.dim), dtype=np.float32)))
        with self._writer:
            self._check_open()
            now = time.time()
            slot_of = self._slots.slot_of
            new_ids = {r.id for r in recs}
            old_slots = [slot_of[r.id] for r in recs if r.id in slot_of]
            stale = [s for s in self._slots.slots_of_sources(sources)
                     if self._slots.ids[s] not in new_ids]
            if not recs and not stale:
                return [], 0
            created = []
            for r in recs:
                old = slot_of.get(r.id)
                if r.created_at is not None:
                    created.append(r.created_at)
                else:
                    created.append(float(self._slots.created[old]) if old is not None else now)
            seqs = self._seqs(len(recs))
            table = _disk.to_arrow(recs, vectors, seqs, created, now, self._slots.dim)
            # Sequence numbers are integers, so the predicate needs no string escaping.
            where = ("seq IN (" + ",".join(str(int(self._slots.seq[s])) for s in stale) + ")"
                     if stale else None)

            def commit() -> None:
                if not recs:
                    self._table.delete(where)
                    return
                merge = (self._table.merge_insert("id").when_matched_update_all()
                         .when_not_matched_insert_all())
                if where is not None:
                    merge = merge.when_not_matched_by_source_delete(where)
                merge.execute(table)

            self._commit("ingest" if sources else "upsert", commit)
            self.next_seq += len(recs)
            with self._rw.write():
                self._slots.remove(old_slots + stale)
                if recs:
                    self._slots.append(recs, tokens, vectors, seqs, created, now)
                self._slots.maybe_compact(self._config.compact_ratio)
        return [r.id for r in recs], len(stale)

    def delete(self, ids: Sequence[str], *, missing_ok: bool = False) -> int:
        """Delete records by id; see :meth:`memory.HybridStore.delete`."""
        wanted = id_list(ids)
        with self._writer:
            self._check_open()
            slots: list[int] = []
            for rid in dict.fromkeys(wanted):
                slot = self._slots.slot_of.get(rid)
                if slot is None:
                    if not missing_ok:
                        raise RecordNotFoundError(rid)
                    continue
                slots.append(slot)
            if not slots:
                return 0
            # Sequence numbers are integers, so the predicate needs no string escaping.
            where = "seq IN (" + ",".join(str(int(self._slots.seq[s])) for s in slots) + ")"
            self._commit("delete", lambda: self._table.delete(where))
            with self._rw.write():
                self._slots.remove(slots)
                self._slots.maybe_compact(self._config.compact_ratio)
        return len(slots)
