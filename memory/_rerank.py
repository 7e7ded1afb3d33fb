"""The optional rerank stage: a cross-encoder reads (query, text) pairs of the top hits.

Fusion orders candidates from two cheap retrievers; a cross-encoder scores each pair jointly
and usually orders the top of the list better, at the cost of one transformer pass per
candidate (tens of milliseconds for 20 short texts on a laptop CPU, far more on a busy one).
It is one more strategy beside fusion: off unless ``MemoryConfig.rerank`` names a model.

Weights. No package on PyPI ships cross-encoder weights (checked: ``flashrank`` downloads
its models at run time; ``small-hybrid-reranker`` is a LightGBM ranker whose embeddings are
downloaded too), and nothing may be downloaded at run time. ``RerankConfig.model`` is
therefore a *local directory* holding a sentence-transformers ``CrossEncoder`` (for
example ``cross-encoder/ms-marco-MiniLM-L6-v2``, Apache-2.0, saved once on a machine with
network access with ``CrossEncoder(name).save(path)`` and copied over).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np

from actors._errors import ConfigError
from memory._config import RerankConfig


@runtime_checkable
class Reranker(Protocol):
    """Scores (query, text) pairs; higher is more relevant."""

    def score(self, query: str, texts: Sequence[str]) -> np.ndarray:
        """One float per text."""
        ...


class CrossEncoderReranker:
    """A sentence-transformers ``CrossEncoder`` loaded from a local directory, lazily.

    Args:
        config: Model path, batch size, device and maximum sequence length.

    Raises:
        ConfigError: If the model directory does not exist.
    """

    def __init__(self, config: RerankConfig) -> None:
        path = os.path.expanduser(config.model)
        if not os.path.isdir(path):
            raise ConfigError(
                f"{config.model!r} is not a directory: the reranker loads a cross-encoder "
                "saved on disk (nothing is downloaded at run time); see the README section "
                "'Retrieval quality' for how to get one", field="rerank.model")
        self.config = config
        self._path = path
        self._model: Any = None
        self._lock = threading.Lock()

    def _load(self) -> Any:
        with self._lock:
            if self._model is None:
                os.environ.setdefault("HF_HUB_OFFLINE", "1")
                from sentence_transformers import CrossEncoder

                self._model = CrossEncoder(self._path, device=self.config.device,
                                           max_length=self.config.max_length)
            return self._model

    def score(self, query: str, texts: Sequence[str]) -> np.ndarray:
        """Score every text against the query.

        Args:
            query: The search query.
            texts: Candidate texts.

        Returns:
            ``float64`` scores, one per text.
        """
        if not texts:
            return np.zeros(0)
        model = self._load()
        with self._lock:  # tokenizers are not safe to share between threads
            out = model.predict([(query, t) for t in texts], batch_size=self.config.batch_size,
                                show_progress_bar=False)
        return np.asarray(out, dtype=np.float64).reshape(-1)


def reranker_for(config: RerankConfig | None) -> Reranker | None:
    """The reranker a store should use, or ``None`` when reranking is not configured."""
    return CrossEncoderReranker(config) if config is not None else None
