"""``raygent runs list`` / ``raygent runs prune``: the run records and their retention."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from actors._config import TracingConfig
from scenarios import _runs
from scenarios.cli._edge import JsonOpt, console, edge, print_json
from scenarios.cli.trace import default_runs_dir

runs_app = typer.Typer(help="List run records, or prune them (retention by count and age).",
                       no_args_is_help=True)

RunsDirOpt = Annotated[str | None, typer.Option(
    "--runs-dir", show_default="$RAYGENT_TRACE_DIR or $RAYGENT_HOME/runs",
    help="Directory holding the run records.")]


def _root(runs_dir: str | None) -> Path:
    return Path(runs_dir if runs_dir is not None else default_runs_dir()).expanduser()


def _when(ts: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(ts))


@runs_app.command("list")
@edge
def runs_list(runs_dir: RunsDirOpt = None, as_json: JsonOpt = False) -> None:
    """List run records, newest first (* marks a run in progress)."""
    root = _root(runs_dir)
    records = _runs.list_runs(root)
    active = _runs.active_runs()
    if as_json:
        print_json({"runs_dir": str(root), "runs": [
            {"run_id": r.run_id, "mtime": r.mtime, "size": r.size, "files": r.files,
             "active": r.run_id in active} for r in records]})
        return
    if not records:
        console.print(f"no runs in {root}", markup=False)
        return
    table = Table(title=f"{len(records)} runs in {root}", title_justify="left")
    for col in ("run", "last written", "trace files", "size"):
        table.add_column(col)
    for r in records:
        mark = " *" if r.run_id in active else ""
        table.add_row(r.run_id + mark, _when(r.mtime), str(r.files), _runs.human_size(r.size))
    console.print(table)


@runs_app.command("prune")
@edge
def runs_prune(
    keep: Annotated[int | None, typer.Option(
        "--keep", min=1, show_default="tracing.keep_runs ($RAYGENT_TRACE_KEEP_RUNS, 50)",
        help="Keep the newest this many runs.")] = None,
    older_than: Annotated[float | None, typer.Option(
        "--older-than", min=0.0, show_default="tracing.keep_days ($RAYGENT_TRACE_KEEP_DAYS, 30)",
        help="Remove runs last written more than this many days ago.")] = None,
    dry_run: Annotated[bool, typer.Option(
        "--dry-run", help="Only list what would be removed.")] = False,
    runs_dir: RunsDirOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Remove old run records: past the newest --keep, or older than --older-than days.

    Runs in progress (the `raygent up` system's, or written in the last five minutes) and
    anything that is not a run directory are never removed.
    """
    config = TracingConfig.from_env()
    keep_runs = keep if keep is not None else config.keep_runs
    keep_days = older_than if older_than is not None else config.keep_days
    root = _root(runs_dir)
    records = _runs.list_runs(root)
    removed = _runs.prune(root, keep_runs=keep_runs, keep_days=keep_days,
                          active=_runs.active_runs(), dry_run=dry_run, records=records)
    left = len(records) - len(removed)
    if as_json:
        print_json({"runs_dir": str(root), "dry_run": dry_run,
                    "removed": [r.run_id for r in removed], "left": left})
        return
    verb = "would remove" if dry_run else "removed"
    for r in removed:
        console.print(f"{verb} {r.run_id}  ({_when(r.mtime)}, {_runs.human_size(r.size)})",
                      markup=False)
    freed = _runs.human_size(sum(r.size for r in removed))
    console.print(f"{verb} {len(removed)} runs ({freed}); {left} left in {root}",
                  markup=False)
