"""Progress bars for the benchmarks' long phases, on stderr.

The last stdout line of a benchmark is its JSON result, so progress goes to stderr and
disappears when done (``transient``). ``--quiet`` or ``--json`` silences it, and so does a
stderr that is not a terminal (a CI log would fill with redraws).
"""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Iterable, Iterator
from typing import TypeVar

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)

T = TypeVar("T")


def add_flags(parser: argparse.ArgumentParser) -> None:
    """``--quiet`` and ``--json`` (only the JSON line): both silence the bars."""
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.add_argument("--json", action="store_true", dest="json_only",
                        help="no progress bars: only the JSON result")


def silenced(args: argparse.Namespace) -> bool:
    return bool(getattr(args, "quiet", False) or getattr(args, "json_only", False))


class Phases:
    """One bar over a benchmark's phases, and optional bars inside a phase.

    Use as a context manager; ``with phases.phase("ingest"):`` names the running phase
    and counts it done at the end; ``phases.track(items, "queries")`` shows a loop.
    """

    def __init__(self, names: Iterable[str], *, quiet: bool = False,
                 title: str = "benchmark") -> None:
        self.names = list(names)
        console = Console(stderr=True, quiet=quiet)
        self.bar = Progress(TextColumn("{task.description}"), BarColumn(),
                            MofNCompleteColumn(), TimeElapsedColumn(), console=console,
                            transient=True, disable=quiet or not console.is_terminal)
        self.task = self.bar.add_task(title, total=len(self.names))
        self.title = title
        self._started = False

    def open(self) -> Phases:
        self.bar.start()
        return self

    def close(self) -> None:
        self.bar.stop()

    def __enter__(self) -> Phases:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def phase(self, name: str) -> Iterator[None]:
        self.bar.update(self.task, description=f"{self.title}: {name}")
        try:
            yield
        finally:
            self.bar.advance(self.task)

    def next(self, name: str) -> None:
        """Start phase ``name``, counting the one before it done (for straight-line code)."""
        if self._started:
            self.bar.advance(self.task)
        self._started = True
        self.bar.update(self.task, description=f"{self.title}: {name}")

    def track(self, items: Iterable[T], description: str, total: int | None = None
              ) -> Iterator[T]:
        """Yield ``items`` with a bar of their own (removed when the loop ends)."""
        if total is None and hasattr(items, "__len__"):
            total = len(items)
        sub = self.bar.add_task(f"  {description}", total=total)
        try:
            for item in items:
                yield item
                self.bar.advance(sub)
        finally:
            self.bar.remove_task(sub)


__all__ = ["Phases", "add_flags", "silenced"]
