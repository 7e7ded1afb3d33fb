"""The tree of a condition-language expression: plain frozen dataclasses.

``_expr.py`` parses text into it and evaluates it; ``_expr_text.py`` prints it back.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Lit:
    value: Any


@dataclass(frozen=True, slots=True)
class Path:
    parts: tuple[str | int, ...]  # empty: the whole event ($)


@dataclass(frozen=True, slots=True)
class ListOf:
    items: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Not:
    operand: Node


@dataclass(frozen=True, slots=True)
class And:
    operands: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Or:
    operands: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Compare:
    op: str
    left: Node
    right: Node


@dataclass(frozen=True, slots=True)
class In:
    item: Node
    container: Node
    negate: bool = False


Node = Lit | Path | ListOf | Not | And | Or | Compare | In


__all__ = ["And", "Compare", "In", "ListOf", "Lit", "Node", "Not", "Or", "Path"]
