"""The on-disk cache of ONNX exports: made once, safe to share, checked on every load.

Layout: ``<cache_root>/<model-slug>-<variant>-<fingerprint>/`` holding ``model.onnx``,
``tokenizer.json`` and ``manifest.json``. The fingerprint covers the source model's files
(names, sizes, modification times), the export format and the variant, so new weights or a
changed exporter get a directory of their own.

Concurrency: an export is written to a private temporary directory beside the final one
and renamed into place in one step, so no process ever sees half an export. An advisory
lock file makes a second process wait for the first one's export instead of repeating it;
where locks are not honoured (some network file systems) the rename still decides: the
loser discards its copy and uses the winner's.

Integrity: a directory is used only if its manifest is complete and every file's SHA-256
matches it. Anything else (a crash, a disk filling up, a hand edit) is logged, moved aside
and exported again.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

from actors._errors import ConfigError
from memory._onnx import FORMAT, read_manifest

log = logging.getLogger(__name__)

#: The child process gets this long to export (it imports torch and traces the model).
EXPORT_TIMEOUT_S = 900.0


def fingerprint(source: Path, variant: str) -> str:
    """A short hash of what an export depends on."""
    h = hashlib.sha256(f"{FORMAT}\0{variant}\0{source.resolve()}".encode())
    files = sorted(p for p in source.rglob("*") if p.is_file()) if source.is_dir() else []
    for path in files:
        st = path.stat()
        h.update(f"\0{path.relative_to(source)}\0{st.st_size}\0{st.st_mtime_ns}".encode())
    return h.hexdigest()[:16]


def export_dir(cache_root: Path, model: str, source: str, variant: str) -> Path:
    """Where the export of ``model`` (loaded from ``source``) in ``variant`` lives."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", model.strip("/").rsplit("/", 1)[-1])[:60]
    return cache_root / f"{slug}-{variant}-{fingerprint(Path(source), variant)}"


def check_export(directory: Path) -> str | None:
    """Why ``directory`` is not a usable export, or ``None`` when it is."""
    if not directory.is_dir():
        return "missing"
    try:
        manifest = read_manifest(directory)
    except (OSError, ValueError) as exc:
        return f"unreadable manifest ({type(exc).__name__}: {exc})"
    if manifest.get("format") != FORMAT:
        return f"export format {manifest.get('format')!r}, expected {FORMAT}"
    files = manifest.get("files")
    if not isinstance(files, dict) or not files:
        return "manifest lists no files (the export did not finish)"
    for name, digest in files.items():
        path = directory / name
        if not path.is_file():
            return f"{name} is missing"
        with path.open("rb") as fh:
            if hashlib.file_digest(fh, "sha256").hexdigest() != digest:
                return f"{name} does not match its checksum"
    return None


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Hold an exclusive advisory lock on ``path`` (created if missing)."""
    try:
        import fcntl
    except ImportError:  # Windows: the atomic rename alone keeps the cache consistent
        yield
        return
    with path.open("a+b") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _discard(directory: Path) -> None:
    """Move ``directory`` out of the way in one step, then delete it."""
    trash = directory.with_name(f".{directory.name}.trash-{os.getpid()}-{os.urandom(4).hex()}")
    try:
        directory.rename(trash)
    except FileNotFoundError:
        return  # someone else moved it already
    shutil.rmtree(trash, ignore_errors=True)


def _run_export(source: str, out: Path, variant: str) -> None:
    """Export in a child process (see :mod:`memory._onnx_export`)."""
    package_root = str(Path(__file__).resolve().parent.parent)
    env = dict(os.environ, HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
    cmd = [sys.executable, "-m", "memory._onnx_export", source, str(out), "--variant", variant]
    try:
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True,
                              timeout=EXPORT_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        raise ConfigError(f"exporting {source!r} to ONNX took over {EXPORT_TIMEOUT_S:.0f}s; "
                          "set embed_backend='torch' or retry on a less loaded machine",
                          field="embed_backend") from None
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise ConfigError(f"cannot export {source!r} to ONNX ({tail}); set "
                          "embed_backend='torch' to embed with PyTorch instead",
                          field="embed_backend")


def ensure_export(cache_root: Path, model: str, source: str, variant: str) -> Path:
    """Return a checked export, exporting (once, across processes) when needed.

    Args:
        cache_root: Directory of the cache (created if missing).
        model: The configured model name (names the directory).
        source: What sentence-transformers loads (a local directory for the default model).
        variant: ``"fp32"`` or ``"int8"``.

    Returns:
        The export's directory.

    Raises:
        ConfigError: If the model cannot be exported.
    """
    final = export_dir(cache_root, model, source, variant)
    if check_export(final) is None:
        return final
    try:
        cache_root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create the model cache {cache_root} ({exc}); set "
                          "embed_cache_dir to a writable directory", field="embed_cache_dir"
                          ) from exc
    with _locked(cache_root / f".{final.name}.lock"):
        problem = check_export(final)  # another process may have exported while we waited
        if problem is None:
            return final
        if problem != "missing":
            log.warning("the ONNX export in %s is unusable (%s); exporting it again",
                        final, problem)
            _discard(final)
        else:
            log.info("exporting %s to ONNX (%s) into %s, once", model, variant, final)
        tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.tmp-", dir=cache_root))
        tmp.chmod(0o755)  # mkdtemp's 0700 would hide the published export from other users
        try:
            _run_export(source, tmp, variant)
            problem = check_export(tmp)
            if problem is not None:
                raise ConfigError(f"the fresh ONNX export of {model!r} is unusable ({problem})",
                                  field="embed_backend")
            publish(tmp, final)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return final


def publish(tmp: Path, final: Path) -> bool:
    """Rename the finished export ``tmp`` to ``final`` in one step.

    Returns:
        ``True`` if ours was published; ``False`` if a usable export was already there (ours
        is left for the caller to delete).
    """
    try:
        tmp.rename(final)
        return True
    except OSError:
        # rename(2) refuses a non-empty target: another process won the race.
        if check_export(final) is None:
            return False
        _discard(final)
        tmp.rename(final)
        return True

