"""Secrets by reference: a flow file names where a secret is, never the secret itself.

A reference is ``{secret: NAME}`` (raygent's own secrets: ``RAYGENT_SECRET_NAME`` or the
``NAME=value`` secrets file, see ``actors.secret``), ``{env: NAME}`` (an environment
variable of the agent's process) or ``{file: PATH}`` (the file's text, stripped;
``generate: true`` creates it with a random value, mode 0600, when it is missing).
Relative paths are under the workflow data directory, ``$RAYGENT_HOME/workflow``
(``~/.raygent/workflow``). Flow files hold no secret values, so none reaches an agent's
spec, the supervisor's journal, a dead letter, a span or a log line; every value read is
registered with the runtime's redaction (``actors.Secret``), and errors name the source
only.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from actors import ConfigError, Secret
from actors import secret as actors_secret
from scenarios.workflow._errors import SecretError

MAX_SECRET_BYTES = 4096


def workflow_home() -> Path:
    """Where the workflow keeps its files: ``$RAYGENT_HOME/workflow``."""
    return Path(os.environ.get("RAYGENT_HOME") or "~/.raygent").expanduser() / "workflow"


def data_path(path: str) -> Path:
    """A path from a flow file: ``~`` expanded, relative ones under :func:`workflow_home`."""
    p = Path(os.path.expanduser(path))
    return p if p.is_absolute() else workflow_home() / p


@dataclass(frozen=True, kw_only=True)
class SecretRef:
    """Where one secret lives."""

    env: str | None = None
    file: str | None = None
    secret: str | None = None
    generate: bool = False

    @classmethod
    def parse(cls, data: Any, *, field: str) -> SecretRef:
        """Read ``{secret: NAME}``, ``{env: NAME}`` or ``{file: PATH, generate: bool}``.

        Raises:
            ConfigError: For anything else (inline values are refused: they would travel
                in the agents' specs and the journal).
        """
        if not isinstance(data, Mapping):
            raise ConfigError("must be {secret: NAME}, {env: NAME} or {file: PATH}: secrets "
                              "are referenced, never written into the flow file", field=field)
        extra = sorted(set(data) - {"env", "file", "secret", "generate"})
        if extra:
            raise ConfigError(f"unknown key {extra[0]!r}: use secret, env or file (inline "
                              "secret values are not allowed)", field=field)
        env, file, named = data.get("env"), data.get("file"), data.get("secret")
        if sum(v is not None for v in (env, file, named)) != 1:
            raise ConfigError("give exactly one of secret, env or file", field=field)
        for name, value in (("env", env), ("file", file), ("secret", named)):
            if value is not None and (not isinstance(value, str) or not value.strip()):
                raise ConfigError("must be a non-empty string", field=f"{field}.{name}")
        generate = data.get("generate", False)
        if not isinstance(generate, bool) or (generate and file is None):
            raise ConfigError("generate is true/false and only for file secrets",
                              field=f"{field}.generate")
        return cls(env=env, file=file, secret=named, generate=generate)

    def describe(self) -> str:
        """Where the secret comes from, for messages (never the value)."""
        if self.secret is not None:
            return f"raygent secret {self.secret}"
        return f"environment variable {self.env}" if self.env else f"file {self.file}"

    def resolve(self) -> str:
        """The secret's value, registered for redaction in this process.

        Raises:
            SecretError: If the secret, variable or file is missing, empty or unreadable.
        """
        value = self._read()
        Secret(value, self.describe())  # from now on scrubbed from logs, errors and spans
        return value

    def _read(self) -> str:
        if self.secret is not None:
            try:
                return actors_secret(self.secret).reveal()
            except ConfigError as exc:
                raise SecretError(self.describe(), exc._raw) from None
        if self.env is not None:
            value = os.environ.get(self.env, "")
            if not value.strip():
                raise SecretError(self.describe(), "is not set (or empty) in the agent's "
                                                   "environment")
            return value.strip()
        assert self.file is not None
        path = data_path(self.file)
        if not path.exists() and self.generate:
            _generate(path)
        try:
            with path.open("rb") as fh:
                raw = fh.read(MAX_SECRET_BYTES + 1)
        except OSError as exc:
            raise SecretError(f"file {path}", exc.strerror or type(exc).__name__) from None
        if len(raw) > MAX_SECRET_BYTES:
            raise SecretError(f"file {path}", f"is over {MAX_SECRET_BYTES} bytes: a secret "
                                              "file holds one secret")
        try:
            value = raw.decode("utf-8").strip()
        except UnicodeDecodeError:
            raise SecretError(f"file {path}", "is not UTF-8 text") from None
        if not value:
            raise SecretError(f"file {path}", "is empty")
        return value


def _generate(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write("whsec_" + secrets.token_hex(32) + "\n")
    try:
        # A hard link appears whole or not at all and fails when the name exists: two
        # agents starting together end up sharing one secret, and nobody reads half a file.
        os.link(tmp, path)
    except FileExistsError:
        pass
    finally:
        tmp.unlink()


__all__ = ["SecretRef", "data_path", "workflow_home"]
