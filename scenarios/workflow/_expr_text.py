"""Printing condition-language trees as source text (error messages, the history, and the
parser's round-trip property test: ``parse(to_text(tree)) == tree``)."""

from __future__ import annotations

import re
from typing import Any

from scenarios.workflow._ast import And, Compare, In, ListOf, Lit, Node, Not, Or, Path

_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
KEYWORDS = frozenset({"and", "or", "not", "in", "true", "false", "null"})


def quote(text: str) -> str:
    """A string literal the parser reads back as ``text``."""
    out = []
    for ch in text:
        if ch in ("\\", "'"):
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch < " " or ch == "\x7f" or 0xD800 <= ord(ch) <= 0xDFFF:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return "'" + "".join(out) + "'"


def _literal(value: Any) -> str:
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, str):
        return quote(value)
    return repr(value)


def to_text(node: Node) -> str:
    """Source text for a tree; ``parse(to_text(t)) == t`` for every tree ``parse`` makes."""
    match node:
        case Lit(value):
            return _literal(value)
        case Path(parts):
            if not parts or not isinstance(parts[0], str) or not _NAME_RE.match(parts[0]) \
                    or parts[0] in KEYWORDS:
                text, rest = "$", parts
            else:
                text, rest = parts[0], parts[1:]
            for p in rest:
                if isinstance(p, int):
                    text += f"[{p}]"
                elif _NAME_RE.match(p) and p not in KEYWORDS:
                    text += f".{p}"
                else:
                    text += f"[{quote(p)}]"
            return text
        case ListOf(items):
            return "[" + ", ".join(to_text(i) for i in items) + "]"
        case Not(operand):
            return f"not ({to_text(operand)})"
        case And(operands):
            return " and ".join(f"({to_text(o)})" for o in operands)
        case Or(operands):
            return " or ".join(f"({to_text(o)})" for o in operands)
        case Compare(op, left, right):
            return f"({to_text(left)}) {op} ({to_text(right)})"
        case In(item, container, negate):
            return f"({to_text(item)}) {'not in' if negate else 'in'} ({to_text(container)})"
    raise TypeError(f"not an expression node: {node!r}")


__all__ = ["KEYWORDS", "quote", "to_text"]
