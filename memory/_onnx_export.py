"""Export a sentence-transformers model to ONNX, once, in a child process.

Usage (what :mod:`memory._onnx_cache` runs)::

    python -m memory._onnx_export SOURCE OUT_DIR --variant int8

The whole pipeline (transformer, pooling, normalisation) becomes one graph, so pooling needs
no code of ours and any sentence-transformers model made of traceable modules exports. The
result is checked before it is accepted: the tokenizer must give the same token ids as
sentence-transformers on a probe set, and the graph's embeddings must match PyTorch's
(cosine >= :data:`MIN_COSINE` of the variant for every probe sentence).

Choices, measured on a 2-core CPU (see ``benchmarks/embedder.py``):

* the TorchScript exporter with eager attention: ONNX Runtime then runs it about twice as
  fast as the graph of the ``torch.export`` exporter, and as fast as an offline fused graph;
* int8 = dynamic quantization of the MatMul weights, per output channel, except the
  down-projections (see :func:`_quantize`); the embedding table (a Gather) keeps fp32. On
  the bundled evaluation set (hybrid / vector nDCG@10 lost against PyTorch): per-tensor
  scales 0.017 / 0.016, per-channel on every MatMul 0.011 / 0.010, this 0.000 / 0.003.

It runs in a child process so the embedding process never imports torch, and a crash of the
exporter cannot take an agent down.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from memory._onnx import FORMAT, MANIFEST_FILE, MODEL_FILE, TOKENIZER_FILE, OnnxModel

#: Smallest accepted cosine between an export's embedding and PyTorch's, per probe sentence
#: (int8 is lowest on one-token texts: 0.968 for "", 0.99 and more for sentences).
MIN_COSINE = {"fp32": 0.9999, "int8": 0.95}

PROBE = [
    "Ray actors process one message at a time.",
    "Error E4012 on the Kestrel router means the WAN link lost its DHCP lease.",
    "  Leading and trailing   spaces,\tTABS and MiXeD CaSe  ",
    "Ünïcödé, emoji 🚀 and accents: crème brûlée à la carte.",
    "x",
    "",
    " ".join(["a long text that goes past the sequence limit"] * 80),
]


def sha256(path: Path) -> str:
    """Hex digest of a file."""
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def _load_st(source: str) -> Any:
    from sentence_transformers import SentenceTransformer

    try:
        # Eager attention traces into the MatMul/Softmax pattern ONNX Runtime fuses; the
        # default (SDPA) exports into a slower graph.
        return SentenceTransformer(source, device="cpu",
                                   model_kwargs={"attn_implementation": "eager"})
    except (TypeError, ValueError):
        return SentenceTransformer(source, device="cpu")


def _tensors(features: dict[str, Any]) -> dict[str, Any]:
    import torch

    return {k: v for k, v in features.items() if isinstance(v, torch.Tensor)}


def _export_graph(st: Any, path: Path) -> list[str]:
    """Trace the whole pipeline into ``path``; return the graph's input names."""
    import torch

    features = st.tokenize(PROBE[:2])
    extra = {k: v for k, v in features.items() if not isinstance(v, torch.Tensor)}
    names: list[str] = [n for n in ("input_ids", "attention_mask", "token_type_ids")
             if n in _tensors(features)]

    class Pipeline(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.st = st

        def forward(self, *tensors: torch.Tensor) -> torch.Tensor:
            out = self.st({**dict(zip(names, tensors, strict=True)), **extra})
            return out["sentence_embedding"]

    axes: dict[str, dict[int, str]] = {n: {0: "batch", 1: "sequence"} for n in names}
    axes["sentence_embedding"] = {0: "batch"}
    with torch.no_grad():
        torch.onnx.export(Pipeline().eval(), tuple(features[n] for n in names), str(path),
                          dynamo=False, input_names=names,
                          output_names=["sentence_embedding"], dynamic_axes=axes,
                          opset_version=17, do_constant_folding=True)
    return names


def _down_projections(path: Path) -> list[str]:
    """MatMul nodes whose weight maps to fewer features than it takes (``K > N``)."""
    import onnx

    graph = onnx.load(str(path)).graph
    shapes = {init.name: list(init.dims) for init in graph.initializer}
    return [n.name for n in graph.node if n.op_type == "MatMul" and len(n.input) == 2
            and len(shapes.get(n.input[1], [])) == 2
            and shapes[n.input[1]][0] > shapes[n.input[1]][1]]


def _quantize(src: Path, dst: Path) -> None:
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    # Down-projections (BERT's feed-forward output) read post-GELU activations with wide
    # outliers; one dynamic scale per tensor crushes the rest. Keeping them fp32 took the
    # nDCG@10 loss on the evaluation set from 0.011 to under 0.003, for a third of the gain.
    quantize_dynamic(str(src), str(dst), weight_type=QuantType.QInt8, per_channel=True,
                     op_types_to_quantize=["MatMul"], nodes_to_exclude=_down_projections(src),
                     extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})


def export(source: str, out: Path, variant: str) -> dict[str, Any]:
    """Export ``source`` into the empty directory ``out`` and write its manifest last.

    Args:
        source: A local sentence-transformers model directory (or name, hub offline).
        out: Target directory (created).
        variant: ``"fp32"`` or ``"int8"``.

    Returns:
        The manifest.

    Raises:
        RuntimeError: If the export does not reproduce sentence-transformers.
    """
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import logging
    import warnings

    warnings.filterwarnings("ignore")
    logging.disable(logging.WARNING)
    import torch

    started = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    st = _load_st(source)
    st.eval()
    tokenizer = st.tokenizer
    if not getattr(tokenizer, "is_fast", False):
        raise RuntimeError("the model has no fast tokenizer (tokenizer.json)")
    tokenizer.backend_tokenizer.save(str(out / TOKENIZER_FILE))
    fp32 = out / ("model.fp32.onnx" if variant == "int8" else MODEL_FILE)
    inputs = _export_graph(st, fp32)
    if variant == "int8":
        _quantize(fp32, out / MODEL_FILE)
        fp32.unlink()
    with torch.no_grad():
        reference = st.encode(PROBE, batch_size=len(PROBE), convert_to_numpy=True,
                              normalize_embeddings=True)
    manifest: dict[str, Any] = {
        "format": FORMAT, "source": source, "variant": variant,
        "dim": int(reference.shape[1]), "inputs": inputs,
        "max_seq_length": int(st.max_seq_length),
        "pad_id": int(tokenizer.pad_token_id), "pad_token": str(tokenizer.pad_token),
        "padding_side": str(getattr(tokenizer, "padding_side", "right")),
        "do_lower_case": bool(getattr(st[0], "do_lower_case", False)),
    }
    # Check the export with the code that will run it, before anyone can load it.
    (out / MANIFEST_FILE).write_text(json.dumps(manifest), encoding="utf-8")
    model = OnnxModel(out, threads=1)
    ours = _tensors(st.tokenize(PROBE))["input_ids"].numpy()
    if not np.array_equal(model.tokenize(PROBE)["input_ids"], ours):
        raise RuntimeError("the saved tokenizer does not reproduce sentence-transformers' "
                           "token ids")
    cosines = np.sum(model.encode(PROBE, batch_size=len(PROBE)) * reference, axis=1)
    if float(cosines.min()) < MIN_COSINE[variant]:
        raise RuntimeError(f"the {variant} graph's embeddings differ from PyTorch's "
                           f"(lowest cosine {cosines.min():.4f} < {MIN_COSINE[variant]})")
    manifest["check_min_cosine"] = round(float(cosines.min()), 6)
    manifest["export_s"] = round(time.perf_counter() - started, 2)
    manifest["files"] = {name: sha256(out / name) for name in (MODEL_FILE, TOKENIZER_FILE)}
    (out / MANIFEST_FILE).write_text(json.dumps(manifest, indent=1), encoding="utf-8")
    return manifest


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; prints the manifest as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source")
    parser.add_argument("out", type=Path)
    parser.add_argument("--variant", choices=sorted(MIN_COSINE), default="fp32")
    args = parser.parse_args(argv)
    try:
        manifest = export(args.source, args.out, args.variant)
    except Exception as exc:
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(manifest))
    return 0


if __name__ == "__main__":
    sys.exit(main())
