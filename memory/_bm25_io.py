"""The ``.npz`` file format of :class:`~memory._bm25.BM25Index`.

One file holds the vocabulary (UTF-8 blob + offsets), document frequencies, every postings
list concatenated (slots and term frequencies + offsets), per-slot lengths and liveness, the
per-document term lists and a JSON header. It is written to a temporary file, fsynced and
renamed, so a crash leaves the old file or the new one, never half of one; on load every
array's shape is checked against the header, and any disagreement raises
:class:`~actors._errors.CorruptStoreError` (the store then rebuilds the index from its table).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Protocol, TypeVar

import numpy as np

from actors._errors import CorruptStoreError
from memory._config import BM25Config

FORMAT = 1
_EMPTY_I32 = np.empty(0, dtype=np.int32)


class IndexArrays(Protocol):
    """The state of a :class:`~memory._bm25.BM25Index` that the file holds (structural, so
    this module need not import the index: the index imports it)."""

    _vocab: dict[str, int]
    _terms: list[str]
    _df: np.ndarray
    _post_slots: list[np.ndarray]
    _post_tf: list[np.ndarray]
    _post_len: list[int]
    _doc_len: np.ndarray
    _alive: np.ndarray
    _doc_terms: list[np.ndarray]
    _n_slots: int
    _n_alive: int
    _total_len: float
    _dead_postings: int


IndexT = TypeVar("IndexT", bound=IndexArrays)

# These functions read and set the index's private arrays: the file format and the index
# layout are one design, split only so that each module keeps to one job.


def save_index(index: IndexArrays, path: str | os.PathLike[str],
               extra: dict[str, object] | None = None) -> None:
    """Write ``index`` to one ``.npz`` file atomically (see :meth:`BM25Index.save`)."""
    path = Path(path)
    nt = len(index._terms)
    encoded = [t.encode("utf-8") for t in index._terms]
    term_offsets = np.zeros(nt + 1, dtype=np.int64)
    np.cumsum([len(e) for e in encoded], out=term_offsets[1:])
    blob = np.frombuffer(b"".join(encoded), dtype=np.uint8)
    post_offsets = np.zeros(nt + 1, dtype=np.int64)
    np.cumsum(index._post_len, out=post_offsets[1:])
    lens = index._post_len
    post_slots = (
        np.concatenate([index._post_slots[i][: lens[i]] for i in range(nt)])
        if nt
        else _EMPTY_I32
    )
    post_tf = (
        np.concatenate([index._post_tf[i][: lens[i]] for i in range(nt)]).astype(np.int32)
        if nt
        else _EMPTY_I32
    )
    ns = index._n_slots
    doc_offsets = np.zeros(ns + 1, dtype=np.int64)
    np.cumsum([a.size for a in index._doc_terms], out=doc_offsets[1:])
    doc_terms = np.concatenate(index._doc_terms) if ns else _EMPTY_I32
    meta = {
        "format": FORMAT,
        "n_slots": ns,
        "n_alive": index._n_alive,
        "total_len": index._total_len,
        "dead_postings": index._dead_postings,
        "extra": extra or {},
    }
    meta_arr = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as fh:
        np.savez(
            fh,
            meta=meta_arr,
            term_offsets=term_offsets,
            term_blob=blob,
            df=index._df[:nt],
            post_offsets=post_offsets,
            post_slots=post_slots.astype(np.int32),
            post_tf=post_tf,
            doc_len=index._doc_len[:ns],
            alive=index._alive[:ns],
            doc_offsets=doc_offsets,
            doc_terms=doc_terms.astype(np.int32),
        )
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)



def load_index(
    cls: Callable[[BM25Config | None], IndexT], path: str | os.PathLike[str],
    config: BM25Config | None = None,
) -> tuple[IndexT, dict[str, object]]:
    """Read a file written by :func:`save_index` (see :meth:`BM25Index.load`)."""
    try:
        with np.load(path, allow_pickle=False) as z:
            data = {name: z[name] for name in z.files}
        meta = json.loads(data["meta"].tobytes().decode())
        if meta.get("format") != FORMAT:
            raise ValueError(f"unsupported format {meta.get('format')!r}")
        index = cls(config)
        offs = data["term_offsets"]
        blob = data["term_blob"].tobytes()
        terms = [blob[offs[i] : offs[i + 1]].decode("utf-8") for i in range(len(offs) - 1)]
        nt = len(terms)
        ns = int(meta["n_slots"])
        po = data["post_offsets"]
        ps, pt = data["post_slots"], data["post_tf"].astype(np.float64)
        do, dt = data["doc_offsets"], data["doc_terms"]
        if (
            po.shape != (nt + 1,)
            or data["df"].shape != (nt,)
            or int(po[-1]) != ps.shape[0]
            or ps.shape != pt.shape
            or data["doc_len"].shape != (ns,)
            or data["alive"].shape != (ns,)
            or do.shape != (ns + 1,)
            or int(do[-1]) != dt.shape[0]
            or (ps.size and (int(ps.min()) < 0 or int(ps.max()) >= ns))
            or (dt.size and (int(dt.min()) < 0 or int(dt.max()) >= nt))
        ):
            raise ValueError("array shapes do not agree")
        index._terms = terms
        index._vocab = {t: i for i, t in enumerate(terms)}
        if len(index._vocab) != nt:
            raise ValueError("duplicate terms")
        index._df = data["df"].astype(np.int64)
        index._post_slots = np.split(ps.astype(np.int32), po[1:-1]) if nt else []
        index._post_tf = np.split(pt, po[1:-1]) if nt else []
        index._post_len = np.diff(po).tolist()
        index._doc_terms = np.split(dt.astype(np.int32), do[1:-1]) if ns else []
        index._doc_len = data["doc_len"].astype(np.float64)
        index._alive = data["alive"].astype(bool)
        index._n_slots = ns
        index._n_alive = int(meta["n_alive"])
        index._total_len = float(meta["total_len"])
        index._dead_postings = int(meta["dead_postings"])
        if index._n_alive != int(index._alive.sum()):
            raise ValueError("live count does not match the alive mask")
    except CorruptStoreError:
        raise
    except Exception as exc:  # any decoding failure means the file cannot be trusted
        raise CorruptStoreError(str(path), f"keyword index unreadable: {exc}") from exc
    return index, dict(meta.get("extra") or {})
