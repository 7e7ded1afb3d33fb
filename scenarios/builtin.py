"""The built-in scenarios: one package per scenario under ``scenarios/``, each with a
``spec.yaml`` (its agents, wiring and input), its agents' code and its data.

A folder counts as a built-in scenario when it holds a ``spec.yaml``; the scenario's name
is the spec's ``name`` (``rag-qa`` lives in ``scenarios/rag_qa/``).
"""

from __future__ import annotations

from pathlib import Path

from scenarios._scenario import Scenario

HERE = Path(__file__).parent
SPEC_FILE = "spec.yaml"
DEFAULT_SCENARIO = "rag-qa"
_ORDER = ("rag-qa", "recruitment", "workflow", "ping-pong", "echo")


def builtin_spec_files() -> list[Path]:
    """The ``spec.yaml`` of every scenario package, sorted by folder."""
    return sorted(HERE.glob(f"*/{SPEC_FILE}"))


def builtin_scenarios() -> dict[str, Scenario]:
    """Every built-in scenario by name, in a fixed order (the richest first).

    Returns:
        A new dict on each call, so callers may change it freely.
    """
    found = {s.name: s for s in (Scenario.from_file(p) for p in builtin_spec_files())}
    names = [n for n in _ORDER if n in found] + sorted(n for n in found if n not in _ORDER)
    return {n: found[n] for n in names}


__all__ = ["DEFAULT_SCENARIO", "builtin_scenarios", "builtin_spec_files"]
