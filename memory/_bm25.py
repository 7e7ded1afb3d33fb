"""An incremental, vectorised Okapi BM25 index.

Scores are, for the same tokens and parameters, those of ``rank_bm25.BM25Okapi.get_scores``
(to floating-point rounding): ``idf = ln(N - df + 0.5) - ln(df + 0.5)`` over the documents
currently indexed, negative idf values replaced by ``epsilon * mean(idf)`` where the mean is
taken over the whole vocabulary *before* flooring, each query token counted every time it
appears, and ``tf * (k1 + 1) / (tf + k1 * (1 - b + b * dl / avgdl))`` per matching document.
The one deliberate difference: with ``b = 1`` rank_bm25 computes 0/0 = NaN for an empty
document; here a document that contains no query term always scores 0.

Layout. Documents live in integer *slots* handed out in append order; the caller (the store)
keeps its own arrays in the same slot space. Each term has a postings list — two growable
numpy arrays of slots and term frequencies, sorted by slot because slots only grow. A query
touches only the postings of its terms, so cost is proportional to how many documents contain
them, not to the corpus size. Removing a document decrements document frequencies at once (so
scores are exact immediately) but leaves its postings behind as dead entries filtered by an
``alive`` mask; :meth:`BM25Index.compact` drops them and renumbers slots when enough pile up.
Nothing is ever re-tokenised: appends merge new postings per touched term, and the whole state
round-trips through one ``.npz`` file (:meth:`BM25Index.save` / :meth:`BM25Index.load`).

Thread safety: writes must be exclusive (the store holds a write lock); any number of readers
may score concurrently: the lazily filled idf and per-term weight caches only ever receive
values computed from the same unchanged state, so racing readers store identical results.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from itertools import islice

import numpy as np

from actors._errors import InvalidQueryError
from memory._bm25_io import load_index, save_index
from memory._config import BM25Config
from memory._topk import first_k

_EMPTY_I32 = np.empty(0, dtype=np.int32)
_EMPTY_F64 = np.empty(0, dtype=np.float64)


def _grow(arr: np.ndarray, needed: int) -> np.ndarray:
    """Return ``arr`` or a copy with capacity for ``needed`` items (amortised doubling)."""
    if needed <= arr.shape[0]:
        return arr
    new = np.zeros(max(needed, 2 * arr.shape[0], 16), dtype=arr.dtype)
    new[: arr.shape[0]] = arr
    return new


class BM25Index:
    """Okapi BM25 over a growing and shrinking set of tokenised documents.

    Args:
        config: Scoring parameters; ``None`` means the :class:`BM25Config` defaults (which are
            ``rank_bm25``'s: ``k1=1.5, b=0.75, epsilon=0.25``).
    """

    def __init__(self, config: BM25Config | None = None) -> None:
        self.config = config if config is not None else BM25Config()
        self._vocab: dict[str, int] = {}
        self._terms: list[str] = []
        self._df = np.zeros(0, dtype=np.int64)
        self._post_slots: list[np.ndarray] = []
        self._post_tf: list[np.ndarray] = []
        self._post_len: list[int] = []
        self._doc_len = np.zeros(0, dtype=np.float64)
        self._alive = np.zeros(0, dtype=bool)
        self._doc_terms: list[np.ndarray] = []
        self._n_slots = 0
        self._n_alive = 0
        self._total_len = 0.0
        self._dead_postings = 0
        self._version = 0
        # Derived arrays, recomputed lazily after each write.
        self._cache_version = -1
        self._idf = _EMPTY_F64
        self._norm = _EMPTY_F64
        self._weights: dict[int, np.ndarray] = {}

    # ------------------------------------------------------------------ properties

    @property
    def n_slots(self) -> int:
        """Number of slots handed out so far (alive or dead)."""
        return self._n_slots

    @property
    def n_docs(self) -> int:
        """Number of documents currently indexed."""
        return self._n_alive

    @property
    def vocab_size(self) -> int:
        """Number of distinct terms in at least one indexed document."""
        return int(np.count_nonzero(self._df[: len(self._terms)]))

    @property
    def avgdl(self) -> float:
        """Average document length in tokens (0.0 when empty)."""
        return self._total_len / self._n_alive if self._n_alive else 0.0

    @property
    def alive(self) -> np.ndarray:
        """Read-only view of the per-slot liveness mask."""
        view = self._alive[: self._n_slots]
        view.flags.writeable = False
        return view

    def dead_fraction(self) -> float:
        """Fraction of slots that hold removed documents."""
        return 1.0 - self._n_alive / self._n_slots if self._n_slots else 0.0

    # ------------------------------------------------------------------ writes

    def append(self, token_lists: Sequence[Sequence[str]]) -> np.ndarray:
        """Index new documents in fresh slots.

        Args:
            token_lists: One token sequence per document (may be empty).

        Returns:
            The slots given to the documents, in order.
        """
        n_new = len(token_lists)
        first = self._n_slots
        slots = np.arange(first, first + n_new, dtype=np.int64)
        if n_new == 0:
            return slots
        vocab = self._vocab
        lengths = np.fromiter((len(t) for t in token_lists), dtype=np.int64, count=n_new)
        # setdefault with len(vocab) gives unseen terms the next id in one dict operation.
        flat = [vocab.setdefault(tok, len(vocab)) for toks in token_lists for tok in toks]
        added = len(vocab) - len(self._terms)
        if added:
            # Dicts keep insertion order, so the new terms are the last ``added`` keys.
            self._terms.extend(reversed(list(islice(reversed(vocab), added))))
            self._post_slots.extend([_EMPTY_I32] * added)
            self._post_tf.extend([_EMPTY_F64] * added)
            self._post_len.extend([0] * added)
            self._df = _grow(self._df, len(vocab))
        tids = np.asarray(flat, dtype=np.int64)
        docs = np.repeat(np.arange(n_new, dtype=np.int64), lengths)
        # One sort groups (term, document) pairs: unique keys give term frequencies.
        keys, tfs = np.unique(tids * n_new + docs, return_counts=True)
        pair_tid = keys // n_new
        pair_doc = keys % n_new
        pair_slot = (pair_doc + first).astype(np.int32)
        pair_tf = tfs.astype(np.float64)
        self._df[: len(vocab)] += np.bincount(pair_tid, minlength=len(vocab))
        # Pairs are sorted by term, then by slot: split them into per-term runs.
        bounds = np.flatnonzero(np.diff(pair_tid)) + 1
        starts = np.concatenate(([0], bounds))
        ends = np.concatenate((bounds, [len(pair_tid)]))
        runs = zip(pair_tid[starts].tolist(), starts.tolist(), ends.tolist(), strict=True)
        for tid, s, e in runs:
            old = self._post_len[tid]
            new_len = old + (e - s)
            ps = _grow(self._post_slots[tid], new_len)
            pt = _grow(self._post_tf[tid], new_len)
            ps[old:new_len] = pair_slot[s:e]
            pt[old:new_len] = pair_tf[s:e]
            self._post_slots[tid] = ps
            self._post_tf[tid] = pt
            self._post_len[tid] = new_len
        # Per-document term lists let remove() fix document frequencies without a scan.
        order = np.argsort(pair_doc, kind="stable")
        per_doc = np.split(
            pair_tid[order].astype(np.int32), np.cumsum(np.bincount(pair_doc, minlength=n_new))[:-1]
        )
        self._doc_terms.extend(per_doc)
        self._doc_len = _grow(self._doc_len, first + n_new)
        self._alive = _grow(self._alive, first + n_new)
        self._doc_len[first : first + n_new] = lengths
        self._alive[first : first + n_new] = True
        self._n_slots += n_new
        self._n_alive += n_new
        self._total_len += float(lengths.sum())
        self._version += 1
        return slots

    def remove(self, slots: Sequence[int] | np.ndarray) -> None:
        """Remove documents; their slots stay allocated (dead) until :meth:`compact`.

        Args:
            slots: Slots of live documents.

        Raises:
            KeyError: If a slot is out of range or already removed.
        """
        arr = np.unique(np.asarray(slots, dtype=np.int64))
        if arr.size == 0:
            return
        if arr[0] < 0 or arr[-1] >= self._n_slots or not self._alive[arr].all():
            raise KeyError("slot out of range or already removed")
        terms = [self._doc_terms[s] for s in arr.tolist()]
        all_terms = np.concatenate(terms) if terms else _EMPTY_I32
        if all_terms.size:
            self._df[: len(self._terms)] -= np.bincount(all_terms, minlength=len(self._terms))
        self._dead_postings += int(all_terms.size)
        for s in arr.tolist():
            self._doc_terms[s] = _EMPTY_I32
        self._alive[arr] = False
        self._total_len -= float(self._doc_len[arr].sum())
        self._doc_len[arr] = 0.0
        self._n_alive -= int(arr.size)
        if self._n_alive == 0:
            self._total_len = 0.0
        self._version += 1

    def compact(self) -> np.ndarray:
        """Drop removed documents and unused terms, renumbering slots densely.

        Returns:
            An array mapping each old slot to its new slot, or -1 for removed ones.
        """
        n = self._n_slots
        alive = self._alive[:n]
        old_to_new = np.full(n, -1, dtype=np.int64)
        old_to_new[alive] = np.arange(int(alive.sum()), dtype=np.int64)
        keep_terms = np.flatnonzero(self._df[: len(self._terms)] > 0)
        tid_map = np.full(len(self._terms), -1, dtype=np.int64)
        tid_map[keep_terms] = np.arange(keep_terms.size, dtype=np.int64)
        new_slots: list[np.ndarray] = []
        new_tf: list[np.ndarray] = []
        for tid in keep_terms.tolist():
            length = self._post_len[tid]
            ps = self._post_slots[tid][:length]
            pt = self._post_tf[tid][:length]
            live = alive[ps]
            new_slots.append(old_to_new[ps[live]].astype(np.int32))
            new_tf.append(pt[live].copy())
        self._terms = [self._terms[t] for t in keep_terms.tolist()]
        self._vocab = {t: i for i, t in enumerate(self._terms)}
        self._df = self._df[keep_terms].copy()
        self._post_slots = new_slots
        self._post_tf = new_tf
        self._post_len = [int(a.size) for a in new_slots]
        self._doc_terms = [
            tid_map[self._doc_terms[s]].astype(np.int32) for s in np.flatnonzero(alive).tolist()
        ]
        self._doc_len = self._doc_len[:n][alive].copy()
        self._n_slots = int(alive.sum())
        self._alive = np.ones(self._n_slots, dtype=bool)
        self._dead_postings = 0
        self._version += 1
        return old_to_new

    # ------------------------------------------------------------------ scoring

    def _refresh(self) -> None:
        """Recompute idf and length normalisation after writes."""
        if self._cache_version == self._version:
            return
        cfg = self.config
        df = self._df[: len(self._terms)].astype(np.float64)
        present = df > 0
        n = float(self._n_alive)
        idf = np.zeros(df.shape[0], dtype=np.float64)
        if present.any():
            with np.errstate(divide="ignore", invalid="ignore"):
                raw = np.log(n - df[present] + 0.5) - np.log(df[present] + 0.5)
            # rank_bm25 averages over the vocabulary before flooring, then floors negatives.
            average_idf = float(raw.sum()) / raw.size
            raw[raw < 0] = cfg.epsilon * average_idf
            idf[present] = raw
        self._idf = idf
        ns = self._n_slots
        if self._n_alive:
            self._norm = cfg.k1 * (1 - cfg.b + cfg.b * self._doc_len[:ns] / self.avgdl)
        else:
            self._norm = np.zeros(ns, dtype=np.float64)
        self._weights = {}
        self._cache_version = self._version

    def _term_weights(self, tid: int) -> tuple[np.ndarray, np.ndarray]:
        """Return (slots, idf * saturated tf) for one term, cached until the next write."""
        length = self._post_len[tid]
        slots = self._post_slots[tid][:length]
        w = self._weights.get(tid)
        if w is None:
            k1 = self.config.k1
            tf = self._post_tf[tid][:length]
            w = self._idf[tid] * (tf * (k1 + 1) / (tf + self._norm[slots]))
            if len(self._weights) > 65_536:
                self._weights.clear()
            self._weights[tid] = w
        return slots, w

    def _query_terms(self, query_tokens: Sequence[str]) -> list[int]:
        if isinstance(query_tokens, str):
            raise InvalidQueryError("query_tokens must be a sequence of tokens, not a string")
        vocab = self._vocab
        return [tid for tid in (vocab.get(t) for t in query_tokens) if tid is not None]

    def get_scores(self, query_tokens: Sequence[str]) -> np.ndarray:
        """Score every slot against a tokenised query.

        Args:
            query_tokens: Query terms; repeats count once each, as in ``rank_bm25``.

        Returns:
            ``float64`` array of length :attr:`n_slots`; removed slots score 0.
        """
        self._refresh()
        scores = np.zeros(self._n_slots, dtype=np.float64)
        for tid in self._query_terms(query_tokens):
            slots, w = self._term_weights(tid)
            scores[slots] += w
        if self._n_alive < self._n_slots:
            scores[~self._alive[: self._n_slots]] = 0.0
        return scores

    def top_k(
        self, query_tokens: Sequence[str], k: int, mask: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Return the best ``k`` documents containing at least one query term.

        Documents that share no term with the query are never returned, even when every
        score is negative (possible in tiny corpora where the idf floor is negative).

        Args:
            query_tokens: Query terms.
            k: How many to return at most.
            mask: Optional boolean array over slots; only ``True`` slots are eligible. It is
                applied before ranking, so filtering never shrinks the result below ``k``
                when enough documents match.

        Returns:
            ``(slots, scores)`` sorted by descending score (ties by ascending slot).
        """
        self._refresh()
        tids = self._query_terms(query_tokens)
        n = self._n_slots
        if not tids or k <= 0 or n == 0:
            return np.empty(0, dtype=np.int64), _EMPTY_F64
        scores = np.zeros(n, dtype=np.float64)
        hit = np.zeros(n, dtype=bool)
        for tid in tids:
            slots, w = self._term_weights(tid)
            scores[slots] += w
            hit[slots] = True
        if mask is not None:
            hit &= mask[:n]
        if self._n_alive < n:
            hit &= self._alive[:n]
        cand = np.flatnonzero(hit)
        cand_scores = scores[cand]
        if cand.size > k:
            keep = first_k(cand_scores, k)
            cand, cand_scores = cand[keep], cand_scores[keep]
        order = np.lexsort((cand, -cand_scores))
        return cand[order], cand_scores[order]

    # ------------------------------------------------------------------ persistence

    def save(self, path: str | os.PathLike[str], extra: dict[str, object] | None = None) -> None:
        """Write the index to one ``.npz`` file atomically (temp file, fsync, rename).

        Args:
            path: Destination file.
            extra: JSON-serialisable metadata stored alongside (read back by :meth:`load`).
        """
        save_index(self, path, extra)

    @classmethod
    def load(
        cls, path: str | os.PathLike[str], config: BM25Config | None = None
    ) -> tuple[BM25Index, dict[str, object]]:
        """Read an index written by :meth:`save`.

        Args:
            path: The ``.npz`` file.
            config: Scoring parameters to use (they are not baked into the saved state).

        Returns:
            The index and the ``extra`` metadata given to :meth:`save`.

        Raises:
            CorruptStoreError: If the file is unreadable or inconsistent.
        """
        return load_index(cls, path, config)
