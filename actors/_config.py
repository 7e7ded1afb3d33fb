"""Typed configuration of the runtime, in one place.

Defaults work on a laptop. Environment variables named ``RAYGENT_<FIELD>`` override the
fields of :class:`RuntimeConfig` (see :meth:`RuntimeConfig.from_env`).
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from typing import Any, Literal

from actors._errors import ConfigError
from actors._home import raygent_home
from actors._secrets import Secret

Strategy = Literal["one_for_one", "one_for_all", "rest_for_one"]
STRATEGIES: tuple[str, ...] = ("one_for_one", "one_for_all", "rest_for_one")
MailboxPolicy = Literal["reject", "block"]
RestartMode = Literal["permanent", "transient", "temporary"]


@dataclass(frozen=True, kw_only=True)
class Resources:
    """Ray resources of one agent actor.

    ``num_cpus=None`` keeps Ray's default for actors (1 CPU to place it, 0 while it runs),
    so many agents fit on a small machine.
    """

    num_cpus: float | None = None
    num_gpus: float | None = None
    memory: int | None = None
    max_concurrency: int = 100
    custom: dict[str, float] = field(default_factory=dict)
    scheduling_strategy: str | None = None  # "SPREAD", "DEFAULT" or None
    node_id: str | None = None  # hard node affinity

    def __post_init__(self) -> None:
        for name in ("num_cpus", "num_gpus", "memory"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise ConfigError("must be >= 0", field=f"resources.{name}")
        if self.max_concurrency < 1:
            raise ConfigError("must be >= 1", field="resources.max_concurrency")


@dataclass(frozen=True, kw_only=True)
class RestartPolicy:
    """When and how often an agent is restarted (Erlang's child spec, in short).

    Attributes:
        mode: ``permanent`` always restarts; ``transient`` restarts after a failure but not
            after a clean stop; ``temporary`` never restarts.
        max_restarts: Restart intensity: at most this many restarts ...
        within_s: ... within this many seconds; one more marks the agent failed.
        memory_limit_mb: Restart the agent when its process RSS passes this (None: no limit).
    """

    mode: RestartMode = "permanent"
    max_restarts: int = 3
    within_s: float = 60.0
    memory_limit_mb: float | None = None

    def __post_init__(self) -> None:
        if self.mode not in ("permanent", "transient", "temporary"):
            raise ConfigError(
                f"unknown restart mode {self.mode!r}: use permanent, transient or temporary",
                field="restart.mode",
            )
        if self.max_restarts < 0:
            raise ConfigError("must be >= 0", field="restart.max_restarts")
        if self.within_s <= 0:
            raise ConfigError("must be > 0", field="restart.within_s")


@dataclass(frozen=True, kw_only=True)
class MailboxConfig:
    """A bounded mailbox.

    Attributes:
        capacity: Messages that may wait for the agent.
        policy: ``reject`` raises :class:`MailboxFullError` at once; ``block`` makes the
            sender wait for room up to its timeout, then raises.
    """

    capacity: int = 1000
    policy: MailboxPolicy = "reject"

    def __post_init__(self) -> None:
        if self.capacity < 1:
            raise ConfigError("must be >= 1", field="mailbox.capacity")
        if self.policy not in ("reject", "block"):
            raise ConfigError(
                f"unknown policy {self.policy!r}: use reject or block", field="mailbox.policy"
            )


@dataclass(frozen=True, kw_only=True)
class RetryPolicy:
    """Retries of failed deliveries: exponential backoff with jitter, then dead letters."""

    max_attempts: int = 3
    backoff_s: float = 0.05
    max_backoff_s: float = 2.0
    jitter: float = 0.2  # fraction of the delay added or removed at random

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ConfigError("must be >= 1", field="retry.max_attempts")
        if self.backoff_s < 0 or self.max_backoff_s < 0:
            raise ConfigError("must be >= 0", field="retry.backoff_s")
        if not 0 <= self.jitter <= 1:
            raise ConfigError("must be within [0, 1]", field="retry.jitter")

    def delay(self, attempt: int, rand: float) -> float:
        """Delay before ``attempt`` (2 for the first retry); ``rand`` is in [0, 1)."""
        base = min(self.max_backoff_s, self.backoff_s * (2 ** max(0, attempt - 2)))
        return float(max(0.0, base * (1 + self.jitter * (2 * rand - 1))))


TRACE_EXPORTERS: tuple[str, ...] = ("jsonl", "console", "otlp", "none")


def check_retention(keep_runs: int, keep_days: float) -> None:
    """Check a run-record retention (``raygent runs prune`` takes it from flags too).

    Raises:
        ConfigError: ``keep_runs`` < 1 or ``keep_days`` <= 0.
    """
    if keep_runs < 1:
        raise ConfigError("must be >= 1 (the newest run is always kept)",
                          field="tracing.keep_runs")
    if not keep_days > 0:
        raise ConfigError("must be > 0", field="tracing.keep_days")


@dataclass(frozen=True, kw_only=True)
class TracingConfig:
    """Where spans go.

    Resolved once in the driver (``from_env``) and shipped to every actor with the runtime
    config, because Ray workers on other nodes do not see the driver's environment.

    Attributes:
        exporter: ``jsonl`` (a file per process under ``runs_dir/<run id>/traces``; works
            with no backend), ``console``, ``otlp`` (HTTP/protobuf) or ``none``.
        runs_dir: Root of run directories for the jsonl exporter.
        otlp_endpoint: Full OTLP/HTTP traces URL, e.g. ``http://127.0.0.1:4318/v1/traces``.
        otlp_headers: Extra HTTP headers for OTLP (API keys of hosted backends), kept as
            :class:`~actors.Secret` values: shown and returned redacted, never logged.
        record_payloads: Record message payloads on spans, truncated (off: privacy).
        payload_max_chars: Truncation length when payloads are recorded.
        export_delay_ms: Batch span processor delay; spans are also flushed on stop.
        keep_runs: Retention: run directories kept at least (the newest ones).
        keep_days: Retention: run directories last written longer ago are pruned.
    """

    exporter: str = "jsonl"
    runs_dir: str = field(default_factory=lambda: str(raygent_home() / "runs"))
    otlp_endpoint: str | None = None
    otlp_headers: dict[str, Secret] = field(default_factory=dict)
    record_payloads: bool = False
    payload_max_chars: int = 256
    export_delay_ms: int = 500
    keep_runs: int = 50
    keep_days: float = 30.0

    def __post_init__(self) -> None:
        # Header values are API keys: whatever the caller gave, they are kept as secrets.
        object.__setattr__(self, "otlp_headers", {
            str(k): v if isinstance(v, Secret) else Secret(str(v), f"otlp header {k}")
            for k, v in dict(self.otlp_headers).items()})
        if self.exporter not in TRACE_EXPORTERS:
            raise ConfigError(
                f"unknown exporter {self.exporter!r}: use one of {', '.join(TRACE_EXPORTERS)}",
                field="tracing.exporter",
            )
        if self.payload_max_chars < 0:
            raise ConfigError("must be >= 0", field="tracing.payload_max_chars")
        check_retention(self.keep_runs, self.keep_days)

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, **overrides: Any) -> TracingConfig:
        """Read ``RAYGENT_TRACE_*`` and the standard ``OTEL_*`` variables.

        ``RAYGENT_TRACE_EXPORTER`` wins over ``OTEL_TRACES_EXPORTER``; the OTLP endpoint
        comes from ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` or ``OTEL_EXPORTER_OTLP_ENDPOINT``
        (``/v1/traces`` appended), headers from ``OTEL_EXPORTER_OTLP_HEADERS``.
        """
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        exporter = env.get("RAYGENT_TRACE_EXPORTER") or env.get("OTEL_TRACES_EXPORTER")
        if exporter:
            values["exporter"] = exporter.split(",")[0].strip()
        if env.get("OTEL_SDK_DISABLED", "").lower() == "true":
            values["exporter"] = "none"
        endpoint = env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
        if not endpoint and env.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
            endpoint = env["OTEL_EXPORTER_OTLP_ENDPOINT"].rstrip("/") + "/v1/traces"
        if endpoint:
            values["otlp_endpoint"] = endpoint
        headers = env.get("OTEL_EXPORTER_OTLP_HEADERS")
        if headers:
            values["otlp_headers"] = {
                name.strip(): Secret(value.strip(), f"otlp header {name.strip()}")
                for name, value in (h.split("=", 1) for h in headers.split(",") if "=" in h)}
        if env.get("RAYGENT_TRACE_DIR"):
            values["runs_dir"] = env["RAYGENT_TRACE_DIR"]
        if env.get("RAYGENT_TRACE_PAYLOADS", "").lower() in ("1", "true", "yes"):
            values["record_payloads"] = True
        for name, kind in (("keep_runs", int), ("keep_days", float)):
            raw = env.get(f"RAYGENT_TRACE_{name.upper()}")
            if raw:
                try:
                    values[name] = kind(raw)
                except ValueError:
                    raise ConfigError(f"{raw!r} is not a valid {kind.__name__}",
                                      field=f"RAYGENT_TRACE_{name.upper()}") from None
        values.update(overrides)
        return cls(**values)


@dataclass(frozen=True, kw_only=True)
class JournalConfig:
    """Where and how the supervisor journals (see ``docs/reliability.md``).

    Attributes:
        enabled: Off keeps the journal in the supervisor's memory: de-duplication and dead
            letters still work, but a supervisor restart loses what was queued.
        dir: Directory of the journal file; default ``$RAYGENT_HOME/journal`` on the
            head node (``~/.raygent/journal``). The file is ``<dir>/<namespace>.sqlite3``.
        synchronous: ``FULL`` (an acknowledged message is on disk) or ``NORMAL`` (faster;
            a power cut can lose the last commits, a process crash loses nothing).
        dedupe_window: Finished messages remembered to drop duplicates (count)...
        dedupe_age_s: ...for at most this long (24 h, like Inngest's idempotency window).
        dead_letters_max: Dead letters kept on disk; beyond it the oldest are pruned and
            counted (``raygent status`` shows the count).
        compact_interval_s: How often finished entries past the window are pruned.
        supervisor_retry_s: How long callers retry while the supervisor restarts, before
            ``SupervisorUnavailableError``.
    """

    enabled: bool = True
    dir: str | None = None
    synchronous: str = "FULL"
    dedupe_window: int = 100_000
    dedupe_age_s: float = 86_400.0
    dead_letters_max: int = 100_000
    compact_interval_s: float = 60.0
    supervisor_retry_s: float = 30.0

    def __post_init__(self) -> None:
        if self.synchronous.upper() not in ("FULL", "NORMAL"):
            raise ConfigError(f"{self.synchronous!r}: use FULL or NORMAL",
                              field="journal.synchronous")
        for name in ("dedupe_window", "dead_letters_max"):
            if getattr(self, name) < 1:
                raise ConfigError("must be >= 1", field=f"journal.{name}")
        for name in ("dedupe_age_s", "compact_interval_s", "supervisor_retry_s"):
            if getattr(self, name) <= 0:
                raise ConfigError("must be > 0", field=f"journal.{name}")

    def path(self, namespace: str) -> str:
        """The journal file; evaluated where the supervisor runs (the head node)."""
        base = os.path.expanduser(self.dir) if self.dir else str(raygent_home() / "journal")
        return os.path.join(base, f"{namespace}.sqlite3")


@dataclass(frozen=True, kw_only=True)
class RuntimeConfig:
    """Everything the runtime and supervisor need, with laptop defaults."""

    namespace: str = "raygent"
    supervisor_name: str = "supervisor"
    strategy: Strategy = "one_for_one"
    max_message_bytes: int = 1 << 20
    batch_size: int = 256  # envelopes delivered per Ray call (Akka's "throughput")
    health_interval_s: float = 2.0
    health_timeout_s: float = 10.0
    ask_timeout_s: float = 30.0
    start_timeout_s: float = 60.0
    dlq_capacity: int = 10_000
    event_capacity: int = 1_000
    dedupe_window: int = 10_000  # message ids each agent remembers to drop duplicates
    mailbox: MailboxConfig = field(default_factory=MailboxConfig)
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    restart: RestartPolicy = field(default_factory=RestartPolicy)
    journal: JournalConfig = field(default_factory=JournalConfig)
    fault_file: str | None = None  # tests: a file naming a crash point (actors/_faults.py)
    run_id: str | None = None  # set by Runtime.start: names the run's trace directory
    scenario: str | None = None  # tags metrics and spans of a scenario run
    tracing: TracingConfig = field(default_factory=TracingConfig)

    def __post_init__(self) -> None:
        if self.strategy not in STRATEGIES:
            raise ConfigError(
                f"unknown strategy {self.strategy!r}: use one of {', '.join(STRATEGIES)}",
                field="strategy",
            )
        for name in ("max_message_bytes", "batch_size", "dlq_capacity", "event_capacity"):
            if getattr(self, name) < 1:
                raise ConfigError("must be >= 1", field=name)
        for name in ("health_interval_s", "health_timeout_s", "ask_timeout_s",
                     "start_timeout_s"):
            if getattr(self, name) <= 0:
                raise ConfigError("must be > 0", field=name)

    def evolve(self, **changes: Any) -> RuntimeConfig:
        return dataclasses.replace(self, **changes)

    def redacted(self) -> RuntimeConfig:
        """This config with every secret value blanked: what is shown or returned."""
        headers = {k: Secret("", v.name) for k, v in self.tracing.otlp_headers.items()}
        return self.evolve(tracing=dataclasses.replace(self.tracing, otlp_headers=headers))

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, **overrides: Any) -> RuntimeConfig:
        """Build a config from ``RAYGENT_*`` variables (scalars only), then ``overrides``."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            raw = env.get(f"RAYGENT_{f.name.upper()}")
            if raw is None or f.type not in ("str", "int", "float", "str | None", "Strategy"):
                continue
            try:
                if f.type == "int":
                    values[f.name] = int(raw)
                elif f.type == "float":
                    values[f.name] = float(raw)
                else:
                    values[f.name] = raw
            except ValueError:
                raise ConfigError(
                    f"{raw!r} is not a valid {f.type}", field=f"RAYGENT_{f.name.upper()}"
                ) from None
        values["tracing"] = TracingConfig.from_env(environ)
        journal: dict[str, Any] = {}
        if env.get("RAYGENT_JOURNAL", "").lower() in ("0", "false", "off", "no"):
            journal["enabled"] = False
        if env.get("RAYGENT_JOURNAL_DIR"):
            journal["dir"] = env["RAYGENT_JOURNAL_DIR"]
        if env.get("RAYGENT_JOURNAL_SYNCHRONOUS"):
            journal["synchronous"] = env["RAYGENT_JOURNAL_SYNCHRONOUS"]
        values["journal"] = JournalConfig(**journal)
        values.update(overrides)
        return cls(**values)
