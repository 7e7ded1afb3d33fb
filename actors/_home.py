"""Where raygent keeps its data: one root for journals, keys, runs, secrets and memory."""

from __future__ import annotations

import os
from pathlib import Path

#: Environment variable naming raygent's data root.
HOME_ENV = "RAYGENT_HOME"


def raygent_home() -> Path:
    """``$RAYGENT_HOME``, else ``~/.raygent``."""
    return Path(os.environ.get(HOME_ENV) or "~/.raygent").expanduser()
