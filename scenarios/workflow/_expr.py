"""The condition language: a small, safe expression language over an event's JSON.

Parsed by a real grammar (lark, LALR) into a tree of plain dataclasses and evaluated by
walking that tree; nothing is ever handed to Python's ``eval``. The language::

    data.amount >= 100 and data.customer.tier in ['gold', 'platinum']
    not (type == 'refund' or items[0].sku == "X-1")
    $["odd-key"] != null

* field paths: ``a.b.c``, ``items[0]``, ``$["any key"]`` (``$`` is the whole event); a
  path that is not there evaluates to ``null``;
* literals: numbers, ``'single'`` or ``"double"`` quoted strings (``\\n``, ``\\'``,
  ``\\uXXXX`` escapes), ``true``, ``false``, ``null``, lists ``[1, 'a']``;
* ``== !=`` compare strictly (``1 == 1.0`` but ``true != 1`` and ``'1' != 1``);
  ``< <= > >=`` order two numbers or two strings and are false for anything else;
* ``x in list`` (membership), ``'sub' in 'string'``, ``'key' in object``; ``not in``;
* ``and``, ``or``, ``not`` and parentheses; ``null``, ``false``, ``0``, ``''``, ``[]``
  and ``{}`` count as false.
"""

from __future__ import annotations

import functools
import math
import re
from dataclasses import dataclass
from typing import Any

from lark import Lark, Token, Transformer, v_args
from lark.exceptions import LarkError, UnexpectedInput, VisitError

from scenarios.workflow._ast import And, Compare, In, ListOf, Lit, Node, Not, Or, Path
from scenarios.workflow._errors import ConditionError
from scenarios.workflow._expr_text import KEYWORDS as KEYWORDS
from scenarios.workflow._expr_text import quote as quote
from scenarios.workflow._expr_text import to_text

GRAMMAR = r"""
?start: or_expr
?or_expr: and_expr ("or" and_expr)*          -> or_
?and_expr: not_expr ("and" not_expr)*        -> and_
?not_expr: "not" not_expr                    -> not_
         | comparison
?comparison: operand COMP_OP operand         -> compare
           | operand "in" operand            -> in_
           | operand "not" "in" operand      -> not_in
           | operand
?operand: literal
        | path
        | "[" [or_expr ("," or_expr)*] "]"   -> list_
        | "(" or_expr ")"
literal: NUMBER     -> number
       | STRING     -> string
       | "true"     -> true
       | "false"    -> false
       | "null"     -> null
path: (NAME | ROOT) segment*
?segment: "." NAME                           -> field
        | "[" INDEX "]"                      -> index
        | "[" STRING "]"                     -> key
ROOT: "$"
COMP_OP: "==" | "!=" | "<=" | ">=" | "<" | ">"
NAME: /[A-Za-z_][A-Za-z0-9_]*/
INDEX: /\d+/
NUMBER: /-?\d+(\.\d+)?([eE][+-]?\d+)?/
STRING: /'(?:[^'\\\n]|\\.)*'/ | /"(?:[^"\\\n]|\\.)*"/
%import common.WS
%ignore WS
"""

MAX_LENGTH = 4000  # characters of one expression: conditions are short; a bound keeps
# parsing time and recursion depth small for whatever a flow file holds.


_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", "'": "'", '"': '"', "/": "/",
            "0": "\0"}
_ESCAPE_RE = re.compile(r"\\(u[0-9a-fA-F]{4}|.)", re.DOTALL)


def unquote(token: str) -> str:
    """The text of a quoted string literal, escapes resolved.

    Raises:
        ValueError: For an escape the language does not know.
    """
    def one(m: re.Match[str]) -> str:
        esc = m.group(1)
        if esc[0] == "u" and len(esc) == 5:
            return chr(int(esc[1:], 16))
        if esc in _ESCAPES:
            return _ESCAPES[esc]
        raise ValueError(f"unknown escape \\{esc}")

    return _ESCAPE_RE.sub(one, token[1:-1])


@v_args(inline=True)
class _Build(Transformer[Token, Node]):
    def number(self, tok: Token) -> Lit:
        text = str(tok)
        if not any(c in text for c in ".eE"):
            return Lit(int(text))
        value = float(text)
        if not math.isfinite(value):
            raise ValueError(f"number {text} is out of range")
        return Lit(value)

    def string(self, tok: Token) -> Lit:
        return Lit(unquote(str(tok)))

    def true(self) -> Lit:
        return Lit(True)

    def false(self) -> Lit:
        return Lit(False)

    def null(self) -> Lit:
        return Lit(None)

    def field(self, tok: Token) -> str:
        return str(tok)

    def index(self, tok: Token) -> int:
        return int(tok)

    def key(self, tok: Token) -> str:
        return unquote(str(tok))

    def path(self, head: Token, *segments: str | int) -> Path:
        first: tuple[str | int, ...] = () if str(head) == "$" else (str(head),)
        return Path(first + tuple(segments))

    def list_(self, *items: Node | None) -> ListOf:
        return ListOf(tuple(i for i in items if i is not None))

    def or_(self, *operands: Node) -> Node:
        return operands[0] if len(operands) == 1 else Or(tuple(operands))

    def and_(self, *operands: Node) -> Node:
        return operands[0] if len(operands) == 1 else And(tuple(operands))

    def not_(self, operand: Node) -> Not:
        return Not(operand)

    def compare(self, left: Node, op: Token, right: Node) -> Compare:
        return Compare(str(op), left, right)

    def in_(self, item: Node, container: Node) -> In:
        return In(item, container)

    def not_in(self, item: Node, container: Node) -> In:
        return In(item, container, negate=True)


@functools.cache
def _parser() -> Lark:
    return Lark(GRAMMAR, parser="lalr", maybe_placeholders=True)


def parse(text: str) -> Node:
    """Parse an expression into its tree.

    Raises:
        ConditionError: Naming the column of the first problem.
    """
    if not isinstance(text, str) or not text.strip():
        raise ConditionError(str(text), "is empty: write an expression such as "
                                        "data.amount > 100")
    if len(text) > MAX_LENGTH:
        raise ConditionError(text[:40] + "...", f"is {len(text)} characters, over the "
                                                f"limit of {MAX_LENGTH}")
    try:
        tree = _parser().parse(text)
        node: Node = _Build().transform(tree)
    except UnexpectedInput as exc:
        raise ConditionError(text, _describe(exc), column=getattr(exc, "column", None)
                             ) from None
    except VisitError as exc:  # a bad escape inside a string literal
        raise ConditionError(text, str(exc.orig_exc)) from None
    except (LarkError, RecursionError) as exc:
        raise ConditionError(text, f"cannot parse ({type(exc).__name__})") from None
    return node


def _describe(exc: UnexpectedInput) -> str:
    token = getattr(exc, "token", None)
    if token is not None and getattr(token, "type", "") == "$END":
        return "the expression ends too early"
    if token is not None:
        return f"unexpected {str(token)!r}"
    char = getattr(exc, "char", None)
    return f"unexpected character {char!r}" if char is not None else "cannot parse"


# -- evaluation -------------------------------------------------------------------------

class Missing(Exception):
    """A path is not in the event (raised only when evaluating strictly)."""

    def __init__(self, path: Path) -> None:
        super().__init__(to_text(path))
        self.path = path


def lookup(event: Any, path: Path) -> tuple[bool, Any]:
    """``(found, value)`` of a path in the event."""
    value = event
    for part in path.parts:
        if isinstance(part, int):
            if isinstance(value, list) and part < len(value):
                value = value[part]
                continue
            return False, None
        if isinstance(value, dict) and part in value:
            value = value[part]
            continue
        return False, None
    return True, value


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def equal(a: Any, b: Any) -> bool:
    """Strict JSON equality: numbers by value, no bool/number or string/number mixing."""
    if _is_number(a) and _is_number(b):
        return bool(a == b)
    if type(a) is not type(b):
        return False
    if isinstance(a, list):
        return len(a) == len(b) and all(equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(equal(a[k], b[k]) for k in a)
    return bool(a == b)


def _order(op: str, a: Any, b: Any) -> bool:
    if not ((_is_number(a) and _is_number(b)) or (isinstance(a, str) and isinstance(b, str))):
        return False
    if op == "<":
        return bool(a < b)
    if op == "<=":
        return bool(a <= b)
    if op == ">":
        return bool(a > b)
    return bool(a >= b)


def _contains(item: Any, container: Any) -> bool:
    if isinstance(container, list):
        return any(equal(item, x) for x in container)
    if isinstance(container, str):
        return isinstance(item, str) and item in container
    if isinstance(container, dict):
        return isinstance(item, str) and item in container
    return False


def truthy(value: Any) -> bool:
    """The language's truth: null, false, 0, '' and empty lists/objects are false."""
    if value is None or value is False:
        return False
    if _is_number(value):
        return bool(value != 0)
    if isinstance(value, str | list | dict):
        return len(value) > 0
    return True


def evaluate(node: Node, event: Any, *, strict: bool = False) -> Any:
    """The value of an expression for one event.

    Args:
        node: A parsed expression.
        event: The event's JSON (a dict, usually).
        strict: Raise :class:`Missing` for a path that is not there instead of null.
    """
    match node:
        case Lit(value):
            return value
        case Path():
            found, value = lookup(event, node)
            if not found and strict:
                raise Missing(node)
            return value
        case ListOf(items):
            return [evaluate(i, event, strict=strict) for i in items]
        case Not(operand):
            return not truthy(evaluate(operand, event, strict=strict))
        case And(operands):
            return all(truthy(evaluate(o, event, strict=strict)) for o in operands)
        case Or(operands):
            return any(truthy(evaluate(o, event, strict=strict)) for o in operands)
        case Compare(op, left, right):
            a = evaluate(left, event, strict=strict)
            b = evaluate(right, event, strict=strict)
            if op == "==":
                return equal(a, b)
            if op == "!=":
                return not equal(a, b)
            return _order(op, a, b)
        case In(item, container, negate):
            hit = _contains(evaluate(item, event, strict=strict),
                            evaluate(container, event, strict=strict))
            return hit != negate
    raise TypeError(f"not an expression node: {node!r}")


@dataclass(frozen=True)
class Condition:
    """A compiled condition: its source text and its tree."""

    text: str
    tree: Node

    def __call__(self, event: Any) -> bool:
        """Whether the event satisfies the condition (never raises for any JSON)."""
        return truthy(evaluate(self.tree, event))


def compile_condition(text: str) -> Condition:
    """Parse a condition once, to evaluate it for many events.

    Raises:
        ConditionError: If it does not parse.
    """
    return Condition(text=text, tree=parse(text))


__all__ = ["And", "Compare", "Condition", "In", "ListOf", "Lit", "Missing", "Node", "Not",
           "Or", "Path", "compile_condition", "equal", "evaluate", "lookup", "parse",
           "quote", "to_text", "truthy"]
