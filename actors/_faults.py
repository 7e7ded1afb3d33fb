"""Crash-point injection for tests: make the supervisor die at a named point of its path.

``RuntimeConfig.fault_file`` names a file; when the supervisor reaches a point whose name
the file holds, it deletes the file (so its next incarnation runs on) and exits at once,
as a ``kill -9`` would. With no fault file configured each check is one attribute test.
"""

from __future__ import annotations

import os

POINTS: tuple[str, ...] = ("accepted", "journaled", "delivering", "delivered", "finished")


def crash_point(fault_file: str | None, point: str) -> None:
    """Exit the process now if ``fault_file`` holds ``point``."""
    if fault_file is None:
        return
    try:
        with open(fault_file, encoding="utf-8") as fh:
            wanted = fh.read().strip()
    except OSError:
        return
    if wanted == point:
        os.unlink(fault_file)
        os._exit(1)
