"""Which files the memory service may read for ``ingest``, and how it reads them.

``MemoryAgent.ingest(paths)`` reads files on the memory actor's node, with that process's
permissions, for whoever can call it. So every path is checked before any file is read:

* it is resolved with ``realpath``, and the result must lie under one of the allowed roots
  (the data directory plus ``MemoryConfig.ingest_roots``): ``../`` and symlinks that lead
  out are refused, whatever name they were given by;
* nothing under ``/proc``, ``/sys`` or ``/dev`` (live system state, not documents), and
  nothing but regular files (a FIFO would block the reader, a device never ends);
* nothing larger than ``MemoryConfig.max_ingest_bytes``, judged by its size on disk before
  a byte is read (a sparse 1 GB file is refused at once);
* nothing that looks binary: a NUL byte or invalid UTF-8 in its first 8 KiB.

A directory is walked (hidden entries skipped, ``.txt``/``.md``/``.jsonl`` files taken);
symlinked directories in it are not followed, and any symlink in it that leads out of the
roots is refused like a named one. Every path of a call is checked before any file is read,
so a refused path means nothing was read and nothing was written.
"""

from __future__ import annotations

import codecs
import io
import os
import stat
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from actors._errors import InvalidRecordError, PathNotAllowedError
from memory._config import MemoryConfig
from memory._loaders import SUFFIXES

#: Trees that hold live system state, refused even when a root covers them.
SYSTEM_DIRS = ("/proc", "/sys", "/dev")

#: How much of a file is looked at to tell text from binary.
PROBE_BYTES = 8192

_OPEN_FLAGS = os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC
_TEXT_ONLY = "ingest UTF-8 text files (.txt, .md, .jsonl) only"


def _within(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


def _kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a regular file"


@dataclass(frozen=True)
class IngestPolicy:
    """The roots and size limit that ``ingest`` enforces.

    Attributes:
        roots: Real (symlink-free) paths of the allowed roots.
        max_bytes: Largest file accepted, in bytes.
    """

    roots: tuple[str, ...]
    max_bytes: int

    @classmethod
    def from_config(cls, config: MemoryConfig) -> IngestPolicy:
        """The policy of a memory config: its data directory and ``ingest_roots``."""
        roots = (config.resolved_data_dir(), *config.ingest_roots)
        real = (os.path.realpath(os.path.expanduser(os.fspath(r))) for r in roots)
        return cls(roots=tuple(dict.fromkeys(real)), max_bytes=config.max_ingest_bytes)

    def _refuse(self, path: str, reason: str, fix: str | None = None) -> PathNotAllowedError:
        return PathNotAllowedError(path, self.roots, reason, fix)

    def _check_place(self, shown: str, real: str) -> None:
        for system in SYSTEM_DIRS:
            if _within(real, system):
                raise self._refuse(shown, f"it is under {system}, which holds live system "
                                   "state, not documents", _TEXT_ONLY)
        if not any(_within(real, root) for root in self.roots):
            how = "" if real == shown else f"it resolves to {real!r}, "
            raise self._refuse(shown, f"{how}outside the allowed roots")

    def files(self, paths: Iterable[str | os.PathLike[str]]) -> list[Path]:
        """Check every path and return the files to read, as real paths, without repeats.

        Raises:
            PathNotAllowedError: For a path the policy refuses (nothing has been read).
            InvalidRecordError: For a missing path or an unsupported file type.
        """
        if isinstance(paths, str | os.PathLike):
            paths = [paths]  # one path given bare rather than as a list of one
        out: dict[str, Path] = {}
        for raw in paths:
            if not isinstance(raw, str | os.PathLike):
                raise InvalidRecordError(f"paths must be strings, got {type(raw).__name__}")
            for f in self._expand(os.fspath(raw)):
                out.setdefault(str(f), f)
        return list(out.values())

    def _expand(self, raw: str) -> list[Path]:
        if "\x00" in raw:
            raise self._refuse(raw, "it contains a NUL character, which no file name has",
                               "give ingest the file's name without it")
        real = os.path.realpath(os.path.abspath(os.path.expanduser(raw)))
        self._check_place(raw, real)
        try:
            st = os.stat(real)
        except FileNotFoundError:
            raise InvalidRecordError(f"{raw}: no such file or directory") from None
        except OSError as exc:
            raise self._refuse(raw, f"it cannot be inspected ({exc.strerror})") from None
        if stat.S_ISDIR(st.st_mode):
            return self._walk(raw, real)
        if Path(real).suffix.lower() not in SUFFIXES:
            raise InvalidRecordError(
                f"{raw}: unsupported file type {Path(real).suffix!r}; use .txt, .md or .jsonl")
        return [self._check_file(raw, real)]

    def _walk(self, raw: str, top: str) -> list[Path]:
        def fail(exc: OSError) -> None:
            raise InvalidRecordError(f"{raw}: cannot list {exc.filename}: {exc.strerror}")

        found: list[Path] = []
        for here, dirs, names in os.walk(top, onerror=fail, followlinks=False):
            keep = []
            for d in sorted(dirs):
                full = os.path.join(here, d)
                if d.startswith("."):
                    continue
                if os.path.islink(full):
                    # Not followed (no loops, no escapes), but one leading out is refused
                    # rather than skipped: its files were probably meant to be ingested.
                    self._check_place(full, os.path.realpath(full))
                    continue
                keep.append(d)
            dirs[:] = keep
            for name in sorted(names):
                if name.startswith(".") or Path(name).suffix.lower() not in SUFFIXES:
                    continue
                full = os.path.join(here, name)
                real = os.path.realpath(full)
                self._check_place(full, real)
                found.append(self._check_file(full, real))
        return found

    def _check_file(self, shown: str, real: str) -> Path:
        try:
            st = os.stat(real)
        except OSError as exc:
            raise InvalidRecordError(f"{shown}: cannot read: {exc.strerror}") from None
        if not stat.S_ISREG(st.st_mode):
            raise self._refuse(shown, f"it is {_kind(st.st_mode)}", _TEXT_ONLY)
        self._check_size(shown, st.st_size)
        with self._open(shown, real) as fh:
            head = fh.read(PROBE_BYTES)
        if b"\x00" in head:
            raise self._refuse(shown, "it looks binary (a NUL byte in its first 8 KiB)",
                               _TEXT_ONLY)
        try:
            codecs.getincrementaldecoder("utf-8")().decode(head, final=len(head) < PROBE_BYTES)
        except UnicodeDecodeError:
            raise self._refuse(shown, "it looks binary (not UTF-8 text in its first 8 KiB)",
                               _TEXT_ONLY) from None
        return Path(real)

    def _check_size(self, shown: str, size: int) -> None:
        if size > self.max_bytes:
            raise self._refuse(
                shown, f"it is {size:,} bytes, over the limit of {self.max_bytes:,}",
                "split it into smaller files, or raise MemoryConfig.max_ingest_bytes")

    def _open(self, shown: str, real: str) -> io.BufferedReader:
        try:
            fd = os.open(real, _OPEN_FLAGS)
        except OSError as exc:
            # ELOOP: the checked file was swapped for a symlink since.
            raise self._refuse(shown, f"it cannot be opened safely ({exc.strerror})") from None
        fh = os.fdopen(fd, "rb")  # buffered: read(n) loops until n bytes or the end
        st = os.fstat(fh.fileno())
        if not stat.S_ISREG(st.st_mode):
            fh.close()
            raise self._refuse(shown, f"it is {_kind(st.st_mode)}", _TEXT_ONLY)
        return fh

    def read(self, path: Path) -> str:
        """Read a file returned by :meth:`files`, never more than the size limit.

        Raises:
            PathNotAllowedError: If the file changed into something refused since.
            InvalidRecordError: If it is not UTF-8 text past its first block.
        """
        shown = str(path)
        with self._open(shown, shown) as fh:
            self._check_size(shown, os.fstat(fh.fileno()).st_size)
            data = fh.read(self.max_bytes + 1)
        self._check_size(shown, len(data))  # it grew between the check and the read
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidRecordError(f"{path}: cannot read as UTF-8 text: {exc}") from None
