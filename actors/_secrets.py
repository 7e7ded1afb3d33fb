"""Secrets: values that must never show up in traces, logs, the journal or any output.

A :class:`Secret` wraps an API key, a password or a header value. It prints as ``***``,
and its value is registered in this process, so :func:`redact` can scrub it from any text
on its way out — error messages, dead-letter reasons, log records, span attributes.
Secrets come from the environment (``RAYGENT_SECRET_<NAME>``) or a secrets file
(``$RAYGENT_SECRETS_FILE``, default ``$RAYGENT_HOME/secrets.env``: ``NAME=value`` lines,
readable by its owner only) and are looked up by name with :func:`secret`.

A secret travels inside Ray's own messages as its value (the receiving process needs it,
and registers it on arrival); what raygent writes to disk is either redacted text or, for
the journal, encrypted (``actors/_seal.py``).
"""

from __future__ import annotations

import logging
import os
import re
import stat
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from actors._errors import ConfigError
from actors._home import raygent_home

ENV_PREFIX = "RAYGENT_SECRET_"
FILE_ENV = "RAYGENT_SECRETS_FILE"
MASK = "***"
_MIN_LEN = 4  # shorter values would mask ordinary words

_lock = threading.Lock()
_values: set[str] = set()
_pattern: re.Pattern[str] | None = None


def register(value: str) -> None:
    """Scrub ``value`` from everything :func:`redact` sees in this process from now on."""
    global _pattern
    if not isinstance(value, str) or len(value) < _MIN_LEN:
        return
    with _lock:
        if value not in _values:
            _values.add(value)
            _pattern = None


def redact(text: str) -> str:
    """``text`` with every registered secret value replaced by ``***``."""
    global _pattern
    if not _values or not text:
        return text
    pattern = _pattern
    if pattern is None:
        with _lock:
            # Longest first, so a secret containing another is masked whole.
            ordered = sorted(_values, key=len, reverse=True)
            pattern = _pattern = re.compile("|".join(map(re.escape, ordered)))
    return pattern.sub(MASK, text)


class Secret:
    """A secret value: ``reveal()`` gives it; ``str``, ``repr`` and equality never show it.

    Args:
        value: The secret.
        name: Where it came from (shown instead of the value).
    """

    __slots__ = ("_value", "name")

    def __init__(self, value: str, name: str = "") -> None:
        if not isinstance(value, str):
            raise ConfigError(f"secret {name or '?'} must be a string")
        self._value = value
        self.name = name
        register(value)

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return f"Secret({self.name or 'unnamed'}={MASK})"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(("Secret", self._value))

    def __reduce__(self) -> tuple[Any, ...]:
        return (Secret, (self._value, self.name))


def reveal(value: str | Secret | None) -> str | None:
    """The plain value of a secret (or of a plain string, for configs that allow both)."""
    return value.reveal() if isinstance(value, Secret) else value


def secrets_file() -> Path:
    env = os.environ.get(FILE_ENV)
    return Path(env).expanduser() if env else raygent_home() / "secrets.env"


def _read_file(path: Path) -> dict[str, str]:
    if not path.is_file():
        return {}
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(f"{path} is readable by other users: `chmod 600 {path}`",
                          field="secrets")
    out: dict[str, str] = {}
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, value = line.partition("=")
        if not sep or not name.strip():
            raise ConfigError(f"{path}:{n}: expected NAME=value", field="secrets")
        out[name.strip()] = value.strip()
    return out


def load_secrets(environ: Mapping[str, str] | None = None,
                 path: Path | None = None) -> dict[str, Secret]:
    """Every secret this process can see: ``RAYGENT_SECRET_*`` and the secrets file.

    The environment wins over the file. Each value is registered for redaction.
    """
    env = os.environ if environ is None else environ
    found = {name: Secret(value, name)
             for name, value in _read_file(path or secrets_file()).items()}
    for key, value in env.items():
        if key.startswith(ENV_PREFIX) and len(key) > len(ENV_PREFIX):
            name = key[len(ENV_PREFIX):]
            found[name] = Secret(value, name)
    return found


def secret(name: str) -> Secret:
    """The secret called ``name``.

    Raises:
        ConfigError: It is set nowhere (the message says where to set it).
    """
    found = load_secrets().get(name)
    if found is None:
        raise ConfigError(f"no secret {name!r}: set {ENV_PREFIX}{name} or add `{name}=...` "
                          f"to {secrets_file()} (chmod 600)", field="secrets")
    return found


class RedactingFilter(logging.Filter):
    """Scrubs registered secrets from every record a handler emits."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: leave the record as it is
            return True
        clean = redact(message)
        if record.exc_info and record.exc_info[1] is not None:
            # The traceback text may quote a secret too: keep only its cleaned summary.
            exc = record.exc_info[1]
            clean += f" ({type(exc).__name__}: {redact(str(exc))})"
            record.exc_info = None
            record.exc_text = None
        record.msg, record.args = clean, ()
        return True


def redact_logs() -> None:
    """Put :class:`RedactingFilter` on every handler of the root logger (once each)."""
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())


def guard_process() -> None:
    """Learn this process's secrets and scrub them from its logs (every raygent process,
    at start). A broken secrets file is logged, not fatal: an actor must still start."""
    try:
        load_secrets()
    except ConfigError as exc:
        logging.getLogger("raygent").error("%s", exc)
    redact_logs()


__all__ = ["MASK", "RedactingFilter", "Secret", "guard_process", "load_secrets", "redact",
           "redact_logs", "register", "reveal", "secret", "secrets_file"]
