"""The ONNX Runtime embedding backend: a cached export of a sentence-transformers model.

An exported model directory (see :mod:`memory._onnx_cache` for how it is made and checked)
holds ``model.onnx`` — the whole sentence-transformers pipeline (transformer, pooling,
normalisation) as one graph — the fast tokenizer as ``tokenizer.json`` and a
``manifest.json`` with the settings needed to tokenise exactly as sentence-transformers does.
Running it needs only ``onnxruntime``, ``tokenizers`` and numpy: the process that embeds never
imports torch.

Texts are sorted by length before batching, as sentence-transformers does, so a batch pads
to similar lengths; results come back in the caller's order.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from actors._errors import ConfigError

#: Version of the export layout; bumped when the export changes, so older caches are rebuilt.
FORMAT = 2
MODEL_FILE = "model.onnx"
TOKENIZER_FILE = "tokenizer.json"
MANIFEST_FILE = "manifest.json"


def read_manifest(directory: Path) -> dict[str, Any]:
    """Load ``manifest.json`` of an exported model.

    Raises:
        OSError: If it cannot be read.
        ValueError: If it is not a JSON object.
    """
    data = json.loads((directory / MANIFEST_FILE).read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError("manifest is not a JSON object")
    return data


def make_tokenizer(directory: Path, manifest: dict[str, Any]) -> Any:
    """The fast tokenizer of an export, set to truncate and pad like sentence-transformers.

    ``tokenizer.json`` files often carry their own fixed padding and truncation (MiniLM's
    pads every text to 128 tokens); those are replaced by the model's ``max_seq_length`` and
    padding to the longest text of the batch.
    """
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(directory / TOKENIZER_FILE))
    tok.no_truncation()
    tok.no_padding()
    tok.enable_truncation(max_length=int(manifest["max_seq_length"]))
    tok.enable_padding(pad_id=int(manifest["pad_id"]), pad_token=str(manifest["pad_token"]),
                       direction=str(manifest.get("padding_side", "right")))
    return tok


def default_threads() -> int:
    """One intra-op thread per core this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


class OnnxModel:
    """An exported model loaded into an ONNX Runtime session.

    Not thread-safe: the embedder runs one call at a time (see :mod:`memory._coalesce`).

    Args:
        directory: An export checked by :func:`memory._onnx_cache.ensure_export`.
        threads: Intra-op threads; ``None`` means :func:`default_threads`.
    """

    def __init__(self, directory: Path, threads: int | None = None) -> None:
        import onnxruntime as ort

        self.directory = directory
        self.manifest = read_manifest(directory)
        self.dim = int(self.manifest["dim"])
        self._inputs: list[str] = list(self.manifest["inputs"])
        self._lower = bool(self.manifest.get("do_lower_case", False))
        self._tokenizer = make_tokenizer(directory, self.manifest)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads or default_threads()
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # Idle pool threads that spin steal the other core from whoever shares the machine
        # (torch, Ray, other agents); between batches they sleep instead.
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            self._session = ort.InferenceSession(str(directory / MODEL_FILE), opts,
                                                 providers=["CPUExecutionProvider"])
        except Exception as exc:
            raise ConfigError(f"ONNX Runtime cannot load {directory / MODEL_FILE} "
                              f"({type(exc).__name__}: {exc}); delete that directory to have "
                              "it exported again", field="embed_backend") from exc

    def tokenize(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        """Token arrays for one batch, as the graph's inputs (int64, padded to the longest)."""
        if self._lower:
            texts = [t.lower() for t in texts]
        encs = self._tokenizer.encode_batch(list(texts))
        arrays = {"input_ids": np.array([e.ids for e in encs], dtype=np.int64),
                  "attention_mask": np.array([e.attention_mask for e in encs], dtype=np.int64),
                  "token_type_ids": np.array([e.type_ids for e in encs], dtype=np.int64)}
        return {name: arrays[name] for name in self._inputs}

    def encode(self, texts: Sequence[str], batch_size: int) -> np.ndarray:
        """Embed texts into an ``(n, dim)`` float32 array of unit vectors.

        Args:
            texts: Strings to embed.
            batch_size: Texts per model run.
        """
        n = len(texts)
        out = np.empty((n, self.dim), dtype=np.float32)
        if n == 0:
            return out
        order = sorted(range(n), key=lambda i: -len(texts[i]))
        for start in range(0, n, batch_size):
            idx = order[start:start + batch_size]
            feeds = self.tokenize([texts[i] for i in idx])
            out[idx] = self._session.run(None, feeds)[0]
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        np.divide(out, norms, out=out, where=norms > 0)
        return out
