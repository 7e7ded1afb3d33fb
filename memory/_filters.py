"""Metadata, namespace and time filters, evaluated as boolean masks over index slots.

A filter is a dict from field name to either a plain value (equality) or a dict of operators,
all conditions ANDed::

    {"lang": "en", "year": {"gte": 2020, "lt": 2025}, "tags": {"in": ["ray", "db"]},
     "created_at": {"gte": datetime(2024, 1, 1)}}

Fields ``id``, ``namespace``, ``created_at`` and ``updated_at`` are the record's own fields;
every other name is a top-level metadata key. Operators: ``eq``, ``ne``, ``in``, ``nin``
(any JSON scalar), ``gt``, ``gte``, ``lt``, ``lte`` (numbers; datetimes for the two
timestamps). Equality is type-strict (``True`` does not equal ``1``); against a list-valued
metadata field, ``eq`` means "the list contains the value". A record without the field
matches only ``ne`` and ``nin``. Unknown operators or ill-typed bounds raise
:class:`~actors._errors.InvalidQueryError`.

The store evaluates the mask *before* taking the top k, so a selective filter still returns
``k`` hits when ``k`` records match.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np

from actors._errors import InvalidQueryError
from memory._records import to_epoch

# Value kinds stored per slot, so equality can be type-strict without Python loops.
KIND_MISSING, KIND_NULL, KIND_BOOL, KIND_NUMBER, KIND_STR, KIND_LIST, KIND_OTHER = range(7)

_RANGE_OPS: dict[str, Callable[[np.ndarray, float], np.ndarray]] = {
    "gt": operator.gt,
    "gte": operator.ge,
    "lt": operator.lt,
    "lte": operator.le,
}
_EQ_OPS = frozenset({"eq", "ne", "in", "nin"})
TIME_FIELDS = frozenset({"created_at", "updated_at"})


def _kind(value: Any) -> int:
    if value is None:
        return KIND_NULL
    if isinstance(value, bool):
        return KIND_BOOL
    if isinstance(value, int | float):
        return KIND_NUMBER
    if isinstance(value, str):
        return KIND_STR
    if isinstance(value, list):
        return KIND_LIST
    return KIND_OTHER


@dataclass
class Column:
    """One field's values over slots ``[0, len)``, in the forms the operators need.

    Attributes:
        kinds: ``int8`` value kind per slot (``KIND_*``).
        values: The raw values (``object`` array; ``None`` where missing).
        numbers: ``float64`` values where the kind is a number, else NaN.
    """

    kinds: np.ndarray
    values: np.ndarray
    numbers: np.ndarray

    @classmethod
    def build(cls, values: list[Any], missing: list[bool] | None = None) -> Column:
        """Build a column from Python values (``missing[i]`` marks absent fields)."""
        n = len(values)
        kinds = np.fromiter((_kind(v) for v in values), dtype=np.int8, count=n)
        if missing is not None:
            kinds[np.asarray(missing, dtype=bool)] = KIND_MISSING
        obj = np.empty(n, dtype=object)
        obj[:] = values
        numbers = np.full(n, np.nan)
        is_num = kinds == KIND_NUMBER
        if is_num.any():
            numbers[is_num] = np.asarray(obj[is_num], dtype=np.float64)
        return cls(kinds=kinds, values=obj, numbers=numbers)

    def extend(self, other: Column) -> Column:
        """Return a column covering this one's slots followed by ``other``'s."""
        return Column(
            kinds=np.concatenate((self.kinds, other.kinds)),
            values=np.concatenate((self.values, other.values)),
            numbers=np.concatenate((self.numbers, other.numbers)),
        )

    def __len__(self) -> int:
        return int(self.kinds.shape[0])


@dataclass(frozen=True)
class Condition:
    """One validated ``field op value`` test."""

    field: str
    op: str
    value: Any


def _check_scalar(field: str, op: str, value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        raise InvalidQueryError(f"filter {field}.{op}: value must be finite")
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if field in TIME_FIELDS and isinstance(value, datetime):
        return to_epoch(value, field)
    raise InvalidQueryError(
        f"filter {field}.{op}: value must be a string, number, bool or null, "
        f"got {type(value).__name__}"
    )


def compile_filters(filters: Mapping[str, Any] | None) -> list[Condition]:
    """Validate a filter dict.

    Args:
        filters: The filter, or ``None`` for none.

    Returns:
        Conditions to AND together.

    Raises:
        InvalidQueryError: If the filter is malformed.
    """
    if filters is None:
        return []
    if not isinstance(filters, Mapping):
        raise InvalidQueryError(f"filters must be a dict, got {type(filters).__name__}")
    out: list[Condition] = []
    for field, spec in filters.items():
        if not isinstance(field, str) or not field:
            raise InvalidQueryError(f"filter field names must be non-empty strings: {field!r}")
        ops = spec if isinstance(spec, Mapping) else {"eq": spec}
        if not ops:
            raise InvalidQueryError(f"filter {field!r} has no operator")
        for op, value in ops.items():
            if op in _RANGE_OPS:
                if field in TIME_FIELDS and isinstance(value, datetime):
                    value = to_epoch(value, field)
                if isinstance(value, bool) or not isinstance(value, int | float):
                    raise InvalidQueryError(
                        f"filter {field}.{op}: bound must be a number"
                        + (" or datetime" if field in TIME_FIELDS else "")
                        + f", got {type(value).__name__}"
                    )
                if not math.isfinite(value):
                    raise InvalidQueryError(f"filter {field}.{op}: bound must be finite")
                out.append(Condition(field, op, float(value)))
            elif op in ("eq", "ne"):
                out.append(Condition(field, op, _check_scalar(field, op, value)))
            elif op in ("in", "nin"):
                if not isinstance(value, list | tuple | set | frozenset):
                    raise InvalidQueryError(f"filter {field}.{op}: value must be a list")
                out.append(Condition(field, op, tuple(_check_scalar(field, op, v) for v in value)))
            else:
                known = ", ".join(sorted(_EQ_OPS | _RANGE_OPS.keys()))
                raise InvalidQueryError(
                    f"filter {field!r}: unknown operator {op!r} (known: {known})"
                )
    return out


def _eq_mask(col: Column, value: Any) -> np.ndarray:
    """Type-strict equality; list-valued fields match when they contain the value."""
    kind = _kind(value)
    if kind == KIND_NUMBER:
        mask = (col.kinds == KIND_NUMBER) & (col.numbers == float(value))
    elif kind == KIND_NULL:
        mask = col.kinds == KIND_NULL
    else:
        same = col.kinds == kind
        mask = np.zeros(len(col), dtype=bool)
        if same.any():
            mask[same] = col.values[same] == value
    lists = np.flatnonzero(col.kinds == KIND_LIST)
    for i in lists.tolist():
        # A Python loop, but only over list-valued slots (tags and the like).
        if any(_kind(item) == kind and item == value for item in col.values[i]):
            mask[i] = True
    return mask


def evaluate(
    conditions: list[Condition], column: Callable[[str], Column], n: int
) -> np.ndarray | None:
    """AND the conditions into one mask.

    Args:
        conditions: From :func:`compile_filters`.
        column: Returns the :class:`Column` of a field over slots ``[0, n)``.
        n: Number of slots.

    Returns:
        A boolean array of length ``n``, or ``None`` when there are no conditions.
    """
    if not conditions:
        return None
    mask = np.ones(n, dtype=bool)
    for cond in conditions:
        col = column(cond.field)
        if cond.op in _RANGE_OPS:
            with np.errstate(invalid="ignore"):
                mask &= _RANGE_OPS[cond.op](col.numbers, cond.value)
        elif cond.op == "eq":
            mask &= _eq_mask(col, cond.value)
        elif cond.op == "ne":
            mask &= ~_eq_mask(col, cond.value)
        else:
            any_eq = np.zeros(n, dtype=bool)
            for v in cond.value:
                any_eq |= _eq_mask(col, v)
            mask &= any_eq if cond.op == "in" else ~any_eq
    return mask
