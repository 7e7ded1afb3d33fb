"""The registry of built-in scenarios (Python for now; YAML files will join them here)."""

from __future__ import annotations

from scenarios._echo import ECHO
from scenarios._pingpong import PING_PONG
from scenarios._scenario import Scenario

DEFAULT_SCENARIO = PING_PONG.name


def builtin_scenarios() -> dict[str, Scenario]:
    """Every built-in scenario by name, the default (``ping-pong``) first.

    Returns:
        A new dict on each call, so callers may change it freely.
    """
    return {s.name: s for s in (PING_PONG, ECHO)}


__all__ = ["DEFAULT_SCENARIO", "builtin_scenarios"]
