"""The ``echo`` scenario: the driver asks one agent N times in one batch (``ask_many``)."""

from __future__ import annotations

from scenarios.echo._echo import EchoAgent as EchoAgent
from scenarios.echo._echo import drive as drive

__all__ = ["EchoAgent", "drive"]
