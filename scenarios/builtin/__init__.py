"""The built-in scenarios: the YAML specs in this folder, loaded and validated on demand."""

from __future__ import annotations

from pathlib import Path

from scenarios._scenario import Scenario

HERE = Path(__file__).parent
DEFAULT_SCENARIO = "rag-qa"
_ORDER = ("rag-qa", "ping-pong", "echo")


def builtin_scenarios() -> dict[str, Scenario]:
    """Every built-in scenario by name, in a fixed order (the richest first).

    Returns:
        A new dict on each call, so callers may change it freely.
    """
    found = {p.stem: p for p in sorted(HERE.glob("*.yaml"))}
    names = [n for n in _ORDER if n in found] + [n for n in found if n not in _ORDER]
    return {n: Scenario.from_file(found[n]) for n in names}


__all__ = ["DEFAULT_SCENARIO", "builtin_scenarios"]
