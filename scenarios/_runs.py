"""Run records under the runs directory: list them, and prune them by count and age.

A run record is a directory ``<runs dir>/<run id>`` holding a ``traces`` directory (what
the jsonl exporter writes). Anything else there (files, other directories, symlinks) is
not a run and is never touched. A run is removed when it is not among the newest
``keep_runs`` or when it is older than ``keep_days``, except runs in progress: the ones
named active (the run of the system ``raygent up`` keeps) and any written to within the
last ``ACTIVE_GRACE_S`` seconds.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from pathlib import Path

from actors import ConfigError
from actors._config import check_retention

#: A run written to this recently may still be running: pruning leaves it alone.
ACTIVE_GRACE_S = 300.0
DAY_S = 86_400.0


@dataclass(frozen=True)
class RunRecord:
    """One run directory.

    Attributes:
        run_id: The directory's name.
        path: The directory.
        mtime: When anything in its ``traces`` was last written (Unix time).
        size: Bytes of its files.
        files: Number of trace files.
    """

    run_id: str
    path: Path
    mtime: float
    size: int
    files: int

    def age_days(self, now: float) -> float:
        return max(0.0, now - self.mtime) / DAY_S


def _is_run(path: Path) -> bool:
    traces = path / "traces"
    return (not path.name.startswith(".") and path.is_dir() and not path.is_symlink()
            and traces.is_dir() and not traces.is_symlink())


def list_runs(runs_dir: str | Path) -> list[RunRecord]:
    """Every run record under ``runs_dir``, newest first (a missing dir has none)."""
    root = Path(runs_dir).expanduser()
    if not root.is_dir():
        return []
    records = []
    for path in root.iterdir():
        if not _is_run(path):
            continue
        mtime, size, files = (path / "traces").stat().st_mtime, 0, 0
        for f in (path / "traces").iterdir():
            if f.is_file() and not f.is_symlink():
                st = f.stat()
                mtime, size, files = max(mtime, st.st_mtime), size + st.st_size, files + 1
        records.append(RunRecord(path.name, path, mtime, size, files))
    return sorted(records, key=lambda r: (r.mtime, r.run_id), reverse=True)


def to_prune(records: Iterable[RunRecord], *, keep_runs: int, keep_days: float,
             active: Collection[str] = (), now: float | None = None) -> list[RunRecord]:
    """The runs retention removes: past the newest ``keep_runs``, or older than ``keep_days``.

    Runs named in ``active`` and runs written within ``ACTIVE_GRACE_S`` are never chosen.

    Raises:
        ConfigError: ``keep_runs`` < 1 or ``keep_days`` <= 0.
    """
    check_retention(keep_runs, keep_days)
    now = time.time() if now is None else now
    newest_first = sorted(records, key=lambda r: (r.mtime, r.run_id), reverse=True)
    chosen = []
    for rank, rec in enumerate(newest_first):
        if rec.run_id in active or now - rec.mtime < ACTIVE_GRACE_S:
            continue
        if rank >= keep_runs or rec.age_days(now) > keep_days:
            chosen.append(rec)
    return chosen


def prune(runs_dir: str | Path, *, keep_runs: int, keep_days: float,
          active: Collection[str] = (), dry_run: bool = False,
          now: float | None = None, records: list[RunRecord] | None = None
          ) -> list[RunRecord]:
    """Remove the runs retention chooses (see :func:`to_prune`); return them.

    Args:
        runs_dir: Root of the run directories.
        keep_runs: Keep at least the newest this many.
        keep_days: Remove runs last written more than this many days ago.
        active: Run ids in progress, never removed.
        dry_run: Only say what would be removed.
        now: The current time (tests).
        records: ``list_runs(runs_dir)`` when the caller has it already (one walk of
            the directory, not two).
    """
    if records is None:
        records = list_runs(runs_dir)
    chosen = to_prune(records, keep_runs=keep_runs, keep_days=keep_days, active=active,
                      now=now)
    if not dry_run:
        for rec in chosen:
            # Checked again just before: only a run directory is ever removed.
            if _is_run(rec.path):
                shutil.rmtree(rec.path, ignore_errors=True)
    return chosen


def active_runs() -> set[str]:
    """Run ids in progress that a prune must keep: the ``raygent up`` system's run."""
    from scenarios._system import current

    info = current()
    return {info.run_id} if info is not None and info.run_id else set()


def auto_prune(runs_dir: str, keep_runs: int, keep_days: float,
               active: Collection[str] = ()) -> list[RunRecord]:
    """Retention after a run; a failure to prune never fails the run."""
    try:
        return prune(runs_dir, keep_runs=keep_runs, keep_days=keep_days,
                     active={*active, *active_runs()})
    except (OSError, ConfigError):
        return []


def human_size(n: int) -> str:
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"  # pragma: no cover


__all__ = ["ACTIVE_GRACE_S", "RunRecord", "active_runs", "auto_prune", "human_size",
           "list_runs", "prune", "to_prune"]
