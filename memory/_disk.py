"""What a store directory holds, and how it is read, written and locked.

A data directory holds the LanceDB table ``records.lance`` (the source of truth: id, text,
namespace, metadata as JSON, created_at, updated_at, a write sequence number and the float32
vector), ``store.json`` (format, model, dimension), the keyword-index sidecar
``keyword_index.npz`` and the advisory lock file ``.lock``.

The sidecar is tagged per slot with the write sequence number of the record it indexes;
:func:`reconcile_sidecar` brings a possibly stale sidecar up to date with the table (a crash
costs only re-tokenising what was written since the last flush), and rebuilds it when it is
missing, unreadable or was made with other tokenizer settings. A damaged *table* is never
papered over: it raises :class:`~actors._errors.CorruptStoreError`.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from actors._errors import ConfigError, CorruptStoreError, StoreError
from memory._bm25 import BM25Index
from memory._config import BM25Config
from memory._embedder import Embed, resolve_model_path
from memory._records import Record
from memory._tokenize import Tokenizer

log = logging.getLogger("raygent.memory")

TABLE = "records"
MANIFEST = "store.json"
SIDECAR = "keyword_index.npz"
LOCKFILE = ".lock"
FORMAT = 1


def schema(dim: int) -> pa.Schema:
    """The Arrow schema of the records table for ``dim``-dimensional vectors."""
    return pa.schema(
        [
            pa.field("id", pa.string(), nullable=False),
            pa.field("text", pa.string(), nullable=False),
            pa.field("namespace", pa.string(), nullable=False),
            pa.field("metadata", pa.string(), nullable=False),
            pa.field("created_at", pa.float64(), nullable=False),
            pa.field("updated_at", pa.float64(), nullable=False),
            pa.field("seq", pa.int64(), nullable=False),
            pa.field("vector", pa.list_(pa.float32(), dim), nullable=False),
        ]
    )


def same_model(a: str, b: str) -> bool:
    """Whether two model settings name the same weights (short name or resolved path)."""
    if a == b:
        return True
    try:
        return os.path.realpath(resolve_model_path(a)) == os.path.realpath(resolve_model_path(b))
    except ConfigError:
        return False


class DirLock:
    """The advisory ``flock`` that makes one process the owner of a data directory."""

    def __init__(self, path: Path) -> None:
        self._fh: Any = open(path / LOCKFILE, "a+")  # noqa: SIM115 - held for the store's life
        try:
            fcntl.flock(self._fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            self._fh.close()
            raise StoreError(
                f"the memory store at {str(path)!r} is already open (in another process or "
                "another store object): close it there first; one owner per store, shared "
                "through the memory agent"
            ) from exc

    def release(self) -> None:
        """Unlock; harmless when already released."""
        if self._fh is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(self._fh.fileno(), fcntl.LOCK_UN)
            self._fh.close()
            self._fh = None


def make_dir(path: Path) -> None:
    """Create the data directory, or fail with a :class:`ConfigError` naming it."""
    if path.exists() and not path.is_dir():
        raise ConfigError(f"{path} exists and is not a directory", field="data_dir")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create {path}: {exc}", field="data_dir") from exc


@dataclass(frozen=True)
class Rows:
    """The records table decoded into Python lists and numpy arrays, in table order."""

    ids: list[str]
    texts: list[str]
    namespaces: list[str]
    metas: list[dict[str, Any]]
    created: np.ndarray
    updated: np.ndarray
    seqs: np.ndarray
    vectors: np.ndarray

    def __len__(self) -> int:
        return len(self.ids)

    @classmethod
    def empty(cls, dim: int) -> Rows:
        """No rows."""
        return cls([], [], [], [], np.zeros(0), np.zeros(0), np.zeros(0, dtype=np.int64),
                   np.zeros((0, dim), dtype=np.float32))


def _write_manifest(path: Path, dim: int, model: str) -> None:
    info = {"format": FORMAT, "dim": dim, "model": model}
    tmp = path / (MANIFEST + ".tmp")
    with open(tmp, "w") as fh:
        json.dump(info, fh)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path / MANIFEST)


def _try_count(table_dir: Path) -> int | None:
    import lancedb

    try:
        return lancedb.connect(str(table_dir.parent)).open_table(TABLE).count_rows()
    except Exception:
        return None


def open_table(path: Path, embedder: Embed) -> tuple[Any, Rows, bool]:
    """Open (or create) the records table of a locked data directory.

    Returns:
        The LanceDB table, its rows and whether it was just created.

    Raises:
        ConfigError: If the store was built with another model.
        CorruptStoreError: If the directory is damaged.
    """
    import lancedb

    manifest = path / MANIFEST
    table_dir = path / f"{TABLE}.lance"
    db = lancedb.connect(str(path))
    if not manifest.exists():
        if (path / SIDECAR).exists():
            raise CorruptStoreError(str(path), f"{MANIFEST} is missing")
        if table_dir.exists():
            # A crash between creating the table and writing the manifest leaves an
            # empty table behind; anything with rows is somebody's data, never dropped.
            if _try_count(table_dir) != 0:
                raise CorruptStoreError(str(path), f"{MANIFEST} is missing")
            db.drop_table(TABLE)
        dim = embedder.dim
        table = db.create_table(TABLE, schema=schema(dim))
        _write_manifest(path, dim, embedder.model_name)
        return table, Rows.empty(dim), True
    try:
        info = json.loads(manifest.read_text())
        dim = int(info["dim"])
        model = str(info["model"])
        fmt = int(info["format"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise CorruptStoreError(str(path), f"{MANIFEST} is unreadable: {exc}") from exc
    if fmt != FORMAT:
        raise CorruptStoreError(str(path), f"unsupported store format {fmt}")
    if not same_model(model, embedder.model_name) or dim != embedder.dim:
        raise ConfigError(
            f"the store at {str(path)!r} holds {dim}-d vectors from model {model!r}, but "
            f"the configured model is {embedder.model_name!r} "
            f"({embedder.dim}-d): use the same model or another data_dir",
            field="model",
        )
    if not table_dir.exists():
        raise CorruptStoreError(str(path), f"the LanceDB table {TABLE!r} is missing")
    try:
        table = db.open_table(TABLE)
        data = table.to_arrow()
    except Exception as exc:
        raise CorruptStoreError(str(path), f"the LanceDB table cannot be read: {exc}") from exc
    return table, decode_rows(data, dim, str(path)), False


def decode_rows(data: pa.Table, dim: int, where: str) -> Rows:
    """Check and decode the records table.

    Raises:
        CorruptStoreError: For a wrong schema, undecodable values, duplicate ids or sequence
            numbers, or non-finite vectors.
    """
    for f in schema(dim):
        if f.name not in data.schema.names or not data.schema.field(f.name).type.equals(f.type):
            raise CorruptStoreError(where, f"column {f.name!r} is missing or has a wrong type")
    n = data.num_rows
    try:
        vec_col = data.column("vector").combine_chunks()
        vectors = vec_col.values.to_numpy(zero_copy_only=False).astype(np.float32)
        rows = Rows(
            ids=data.column("id").to_pylist(),
            texts=data.column("text").to_pylist(),
            namespaces=data.column("namespace").to_pylist(),
            metas=[json.loads(m) for m in data.column("metadata").to_pylist()],
            created=data.column("created_at").to_numpy().astype(np.float64),
            updated=data.column("updated_at").to_numpy().astype(np.float64),
            seqs=data.column("seq").to_numpy().astype(np.int64),
            vectors=vectors.reshape(n, dim) if n else np.zeros((0, dim), dtype=np.float32),
        )
    except Exception as exc:
        raise CorruptStoreError(where, f"rows cannot be decoded: {exc}") from exc
    if len(set(rows.ids)) != n or len(set(rows.seqs.tolist())) != n:
        raise CorruptStoreError(where, "duplicate ids or sequence numbers in the table")
    if n and not np.isfinite(rows.vectors).all():
        raise CorruptStoreError(where, "non-finite vectors in the table")
    return rows


def reconcile_sidecar(
    path: Path, rows: Rows, tokenizer: Tokenizer, config: BM25Config
) -> tuple[BM25Index, list[int], int, bool]:
    """Load the BM25 sidecar and bring it up to date with the table.

    Returns:
        The index, the table row of each slot (-1 when dead), the highest sequence number
        the sidecar knew, and whether anything had to change.
    """
    row_of_seq = {int(s): i for i, s in enumerate(rows.seqs.tolist())}
    texts = rows.texts
    sidecar = path / SIDECAR
    bm25: BM25Index | None = None
    slot_seqs: list[int] = []
    max_seen = 0
    if sidecar.exists():
        try:
            bm25, extra = BM25Index.load(sidecar, config)
            slot_seqs = [int(s) for s in extra["slot_seqs"]]  # type: ignore[attr-defined]
            max_seen = int(extra.get("max_seq", 0))  # type: ignore[call-overload]
            if extra.get("tokenizer") != tokenizer.fingerprint():
                log.warning("keyword index was built with other tokenizer settings; rebuilding")
                bm25 = None
            elif len(slot_seqs) != bm25.n_slots:
                raise CorruptStoreError(str(sidecar), "slot table has a wrong length")
        except (CorruptStoreError, KeyError, TypeError, ValueError) as exc:
            log.warning("keyword index %s unusable (%s); rebuilding from the table", sidecar, exc)
            bm25 = None
    if bm25 is None:
        bm25 = BM25Index(config)
        order = sorted(row_of_seq.values())
        bm25.append(tokenizer.tokenize_many([texts[r] for r in order]))
        return bm25, order, max_seen, True
    alive = bm25.alive
    slot_rows: list[int] = []
    stale: list[int] = []
    known: set[int] = set()
    for slot, seq in enumerate(slot_seqs):
        row = row_of_seq.get(seq, -1) if alive[slot] else -1
        if alive[slot] and row < 0:
            stale.append(slot)
        if row >= 0:
            known.add(seq)
        slot_rows.append(row)
    if stale:
        bm25.remove(stale)
    missing = [r for s, r in sorted(row_of_seq.items()) if s not in known]
    if missing:
        bm25.append(tokenizer.tokenize_many([texts[r] for r in missing]))
        slot_rows.extend(missing)
    if stale or missing:
        log.info("keyword index caught up: %d removed, %d added", len(stale), len(missing))
    return bm25, slot_rows, max_seen, bool(stale or missing)


def save_sidecar(
    path: Path, bm25: BM25Index, slot_seqs: np.ndarray, max_seq: int, tokenizer: Tokenizer
) -> None:
    """Write the keyword index with the sequence number of each slot's record."""
    extra = {
        "slot_seqs": slot_seqs[: bm25.n_slots].tolist(),
        "max_seq": max_seq,
        "tokenizer": tokenizer.fingerprint(),
    }
    bm25.save(path / SIDECAR, extra=extra)


def to_arrow(
    records: list[Record],
    vectors: np.ndarray,
    seqs: list[int],
    created: list[float],
    now: float,
    dim: int,
) -> pa.Table:
    """One write batch as an Arrow table in the records schema."""
    flat = pa.array(vectors.reshape(-1), type=pa.float32())
    return pa.table(
        {
            "id": [r.id for r in records],
            "text": [r.text for r in records],
            "namespace": [r.namespace for r in records],
            "metadata": [json.dumps(r.metadata, separators=(",", ":")) for r in records],
            "created_at": created,
            "updated_at": [now] * len(records),
            "seq": seqs,
            "vector": pa.FixedSizeListArray.from_arrays(flat, dim),
        },
        schema=schema(dim),
    )
