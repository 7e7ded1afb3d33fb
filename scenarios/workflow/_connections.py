"""Typed settings of a flow's trigger and of the services its actions reach.

One frozen dataclass per service, defaults that work on a laptop (everything on
127.0.0.1, SQLite files under ``$RAYGENT_HOME/workflow``), built from the flow file's
``trigger.webhook`` and ``connections`` sections with errors naming the field.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from actors import ConfigError
from scenarios.workflow._secrets import SecretRef, data_path

Security = Literal["none", "starttls", "ssl"]


@dataclass(frozen=True, kw_only=True)
class WebhookConfig:
    """The HTTP trigger: ``POST {host}:{port}/hooks/{flow}``.

    Attributes:
        host: Interface to listen on (loopback by default; put a proxy in front to expose).
        port: TCP port; 0 picks a free one (ask the agent, or read the address file).
        secrets: Signing secrets accepted (several while one rotates); the first signs
            what ``raygent webhook send`` posts.
        tolerance_s: How far a request's timestamp may be from the receiver's clock.
        max_body_bytes: Larger bodies get 413 before any HMAC is computed.
        event_id: Field path of the event's unique id in the JSON body.
    """

    host: str = "127.0.0.1"
    port: int = 0
    secrets: tuple[SecretRef, ...] = ()
    tolerance_s: float = 300.0
    max_body_bytes: int = 65_536
    event_id: str = "id"

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65_535:
            raise ConfigError("must be within 0..65535", field="trigger.webhook.port")
        if not self.secrets:
            raise ConfigError("needs at least one signing secret ({env: NAME} or "
                              "{file: PATH})", field="trigger.webhook.secrets")
        if self.tolerance_s <= 0:
            raise ConfigError("must be > 0", field="trigger.webhook.tolerance_s")
        if not 1 <= self.max_body_bytes <= 16 << 20:
            raise ConfigError("must be within 1..16777216", field="trigger.webhook.max_body_bytes")


@dataclass(frozen=True, kw_only=True)
class SmtpConfig:
    """The SMTP server the email steps send through.

    Attributes:
        security: ``none`` (plain, for a local relay), ``starttls`` (upgrade after EHLO,
            port 587) or ``ssl`` (TLS from the first byte, port 465).
        username: Log in with this user (the password comes from ``password``).
        verify_tls: Check the server's certificate (turn off only for a test server).
        ca_file: Extra CA bundle (PEM) to trust, e.g. a private relay's.
        sender: The ``From`` address.
        message_id_domain: Right-hand side of derived Message-IDs (default: the sender's).
    """

    host: str = "127.0.0.1"
    port: int = 25
    security: Security = "none"
    username: str | None = None
    password: SecretRef | None = None
    verify_tls: bool = True
    ca_file: str | None = None
    sender: str = "raygent <workflow@localhost>"
    message_id_domain: str | None = None
    timeout_s: float = 10.0

    def __post_init__(self) -> None:
        if self.security not in ("none", "starttls", "ssl"):
            raise ConfigError(f"{self.security!r}: use none, starttls or ssl",
                              field="connections.smtp.security")
        if (self.username is None) != (self.password is None):
            raise ConfigError("give both username and password, or neither",
                              field="connections.smtp.username")
        if not 1 <= self.port <= 65_535:
            raise ConfigError("must be within 1..65535", field="connections.smtp.port")
        if self.timeout_s <= 0:
            raise ConfigError("must be > 0", field="connections.smtp.timeout_s")

    @property
    def server(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass(frozen=True, kw_only=True)
class CrmConfig:
    """The CRM's REST API and how hard to try it.

    Attributes:
        base_url: Scheme, host and optional prefix; step paths are appended.
        token: Bearer token for ``Authorization`` (optional).
        timeout_s: One request's budget.
        max_attempts: Tries per step (429, 5xx, timeouts and refused connections are
            retried), then the step goes to the dead-letter queue.
        backoff_s: First retry delay, doubled each time up to ``max_backoff_s``, with
            +/- ``jitter`` (a fraction) at random.
        max_retry_after_s: A ``Retry-After`` up to this is honoured; a longer one ends the
            retries at once (the step is dead-lettered, to replay later).
    """

    base_url: str = "http://127.0.0.1:8781"
    token: SecretRef | None = None
    timeout_s: float = 5.0
    max_attempts: int = 5
    backoff_s: float = 0.2
    max_backoff_s: float = 5.0
    jitter: float = 0.5
    max_retry_after_s: float = 30.0

    def __post_init__(self) -> None:
        if not self.base_url.startswith(("http://", "https://")):
            raise ConfigError("must start with http:// or https://",
                              field="connections.crm.base_url")
        if self.max_attempts < 1:
            raise ConfigError("must be >= 1", field="connections.crm.max_attempts")
        for name in ("timeout_s", "backoff_s", "max_backoff_s", "max_retry_after_s"):
            if getattr(self, name) < 0 or (name == "timeout_s" and self.timeout_s == 0):
                raise ConfigError("must be > 0", field=f"connections.crm.{name}")
        if not 0 <= self.jitter <= 1:
            raise ConfigError("must be within [0, 1]", field="connections.crm.jitter")

    def delay(self, attempt: int, rand: float) -> float:
        """Backoff before try ``attempt + 1``; ``rand`` in [0, 1)."""
        base = min(self.max_backoff_s, self.backoff_s * (2.0 ** max(0, attempt - 1)))
        return max(0.0, float(base * (1 + self.jitter * (2 * rand - 1))))


@dataclass(frozen=True, kw_only=True)
class DatabaseConfig:
    """A SQLAlchemy database: any URL, or a SQLite file under the workflow directory.

    Attributes:
        url: ``postgresql+psycopg://...``, ``sqlite:////abs/path.db``...; None uses
            ``default_file``.
        default_file: The SQLite file (relative to ``$RAYGENT_HOME/workflow``) when no URL.
    """

    url: str | None = None
    default_file: str = "events.sqlite3"

    def resolved_url(self) -> str:
        """The URL to connect to (the default SQLite file made absolute)."""
        if self.url:
            return self.url
        return f"sqlite:///{data_path(self.default_file)}"


@dataclass(frozen=True, kw_only=True)
class Connections:
    smtp: SmtpConfig = field(default_factory=SmtpConfig)
    crm: CrmConfig = field(default_factory=CrmConfig)
    event_log: DatabaseConfig = field(default_factory=DatabaseConfig)
    history: DatabaseConfig = field(
        default_factory=lambda: DatabaseConfig(default_file="history.sqlite3"))


def build(cls: type[Any], data: Any, *, path: str, secret_fields: tuple[str, ...] = (),
          renames: Mapping[str, str] | None = None, **fixed: Any) -> Any:
    """A settings dataclass from a flow-file mapping, errors naming ``path``.

    Args:
        cls: The dataclass.
        data: The mapping (None for defaults).
        path: Where it sits in the flow file, e.g. ``connections.smtp``.
        secret_fields: Fields that hold a secret reference.
        renames: File keys that differ from field names (``from`` -> ``sender``).
        **fixed: Values to pass as they are.
    """
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise ConfigError(f"must be a mapping, got {type(data).__name__}", field=path)
    renames = dict(renames or {})
    allowed = {f.name for f in dataclasses.fields(cls)} - set(fixed)
    values: dict[str, Any] = {}
    for key, value in data.items():
        name = renames.get(str(key), str(key))
        if name not in allowed or name in ("default_file",):
            shown = sorted({renames.get(k, k) for k in allowed} - {"default_file"}
                           | {k for k, v in renames.items() if v in allowed})
            raise ConfigError(f"unknown key; allowed here: {', '.join(shown)}",
                              field=f"{path}.{key}")
        if name in secret_fields and value is not None:
            value = SecretRef.parse(value, field=f"{path}.{key}")
        else:
            _check_type(cls, name, value, f"{path}.{key}")
        values[name] = value
    try:
        return cls(**values, **fixed)
    except TypeError as exc:
        raise ConfigError(str(exc), field=path) from None


_TYPES: dict[str, tuple[type, ...]] = {
    "int": (int,), "float": (int, float), "str": (str,), "bool": (bool,),
    "str | None": (str, type(None)), "Security": (str,),
}


def _check_type(cls: type[Any], name: str, value: Any, where: str) -> None:
    declared = {f.name: f.type for f in dataclasses.fields(cls)}.get(name)
    kinds = _TYPES.get(str(declared))
    if kinds is None:
        return
    if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
        raise ConfigError(f"must be {declared}, got {type(value).__name__}", field=where)


def secret_values(refs: tuple[SecretRef, ...] | list[SecretRef]) -> list[str]:
    """Resolve several references (the webhook's signing secrets)."""
    return [r.resolve() for r in refs]


__all__ = ["Connections", "CrmConfig", "DatabaseConfig", "Security", "SmtpConfig",
           "WebhookConfig", "build", "secret_values"]
