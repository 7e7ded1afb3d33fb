"""The registry of message kinds.

Payloads are frozen dataclasses registered under a *kind* (a stable string). The kind, not
the Python class object, travels in the envelope, so a sender can be checked before anything
is queued and a receiver can route on it without importing the sender's code paths.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, TypeVar, overload

from actors._errors import ConfigError, UnknownKindError

T = TypeVar("T", bound=type)

_BY_KIND: dict[str, type] = {}
_BY_TYPE: dict[type, str] = {}


def _register(cls: type, kind: str | None) -> type:
    if not dataclasses.is_dataclass(cls):
        raise ConfigError(f"{cls.__qualname__} must be a dataclass to be a message")
    params = cls.__dataclass_params__  # type: ignore[attr-defined]
    if not params.frozen:
        raise ConfigError(
            f"{cls.__qualname__} must be frozen: use @dataclass(frozen=True, kw_only=True)"
        )
    name = kind or cls.__name__
    existing = _BY_KIND.get(name)
    if existing is not None and existing is not cls and (
        existing.__module__, existing.__qualname__) != (cls.__module__, cls.__qualname__):
        raise ConfigError(
            f"message kind {name!r} is already taken by {existing.__module__}."
            f"{existing.__qualname__}: pass kind='...' to @message"
        )
    _BY_KIND[name] = cls
    _BY_TYPE[cls] = name
    return cls


@overload
def message(cls: T, /) -> T: ...
@overload
def message(*, kind: str | None = None) -> Callable[[T], T]: ...


def message(cls: Any = None, /, *, kind: str | None = None) -> Any:
    """Register a frozen dataclass as a message payload.

    Use as ``@message`` or ``@message(kind="billing.Invoice")``. The kind defaults to the
    class name; it must be unique in a system.
    """
    if cls is None:
        return lambda c: _register(c, kind)
    return _register(cls, kind)


def register_message(cls: type, *, kind: str | None = None) -> type:
    """Register a payload class without the decorator (for classes you do not own)."""
    return _register(cls, kind)


def kind_of(payload: object) -> str:
    """Return the registered kind of a payload instance.

    Raises:
        UnknownKindError: If the payload's class was never registered.
    """
    try:
        return _BY_TYPE[type(payload)]
    except KeyError:
        raise UnknownKindError(type(payload).__qualname__) from None


def kind_of_type(cls: type) -> str | None:
    """Return the kind registered for a class, or None."""
    return _BY_TYPE.get(cls)


def type_of(kind: str) -> type:
    """Return the payload class registered under a kind.

    Raises:
        UnknownKindError: If no class is registered under that kind.
    """
    try:
        return _BY_KIND[kind]
    except KeyError:
        raise UnknownKindError(kind) from None


def known_kinds() -> list[str]:
    """Return every registered kind, sorted."""
    return sorted(_BY_KIND)
