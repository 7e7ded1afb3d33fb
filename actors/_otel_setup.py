"""The one place raygent configures the OpenTelemetry SDK (the edge).

Each process (the driver, the supervisor, every agent actor) calls :func:`configure` once
at start-up; library code only uses the API (``actors/_telemetry.py``).
"""

from __future__ import annotations

import atexit
import json
import os
import threading
from collections.abc import Sequence
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SpanExporter,
    SpanExportResult,
)

from actors._config import TracingConfig
from actors._secrets import reveal

_lock = threading.Lock()
_providers: dict[tuple[str, str, str], TracerProvider] = {}


def run_dir(tracing: TracingConfig, run_id: str) -> str:
    """Directory of one run's trace files."""
    return os.path.join(os.path.expanduser(tracing.runs_dir), run_id)


class JsonlSpanExporter(SpanExporter):
    """Writes one JSON object per span, one file per process, append-only."""

    def __init__(self, path: str) -> None:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        self.path = path
        self._file = open(path, "a", encoding="utf-8")  # noqa: SIM115 - lives with the exporter
        self._lock = threading.Lock()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        lines = [json.dumps(span_record(s), default=str) for s in spans]
        with self._lock:
            if self._file.closed:
                return SpanExportResult.FAILURE
            self._file.write("\n".join(lines) + "\n")
            self._file.flush()
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        with self._lock:
            if not self._file.closed:
                self._file.close()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


def span_record(span: ReadableSpan) -> dict[str, Any]:
    """A span as the plain dict the jsonl files hold (and ``raygent trace`` reads)."""
    ctx = span.get_span_context()
    parent = span.parent
    return {
        "name": span.name,
        "trace_id": format(ctx.trace_id, "032x") if ctx else None,
        "span_id": format(ctx.span_id, "016x") if ctx else None,
        "parent_id": format(parent.span_id, "016x") if parent else None,
        "kind": span.kind.name if span.kind else None,
        "start_ns": span.start_time,
        "end_ns": span.end_time,
        "status": span.status.status_code.name,
        "status_description": span.status.description,
        "attributes": dict(span.attributes or {}),
        "events": [{"name": e.name, "time_ns": e.timestamp,
                    "attributes": dict(e.attributes or {})} for e in span.events],
        "resource": dict(span.resource.attributes) if span.resource else {},
    }


def _exporter(tracing: TracingConfig, run_id: str, component: str) -> SpanExporter | None:
    if tracing.exporter == "none":
        return None
    if tracing.exporter == "console":
        return ConsoleSpanExporter()
    if tracing.exporter == "otlp":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        headers = {k: reveal(v) or "" for k, v in tracing.otlp_headers.items()}
        return OTLPSpanExporter(endpoint=tracing.otlp_endpoint, headers=headers or None)
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in component)
    path = os.path.join(run_dir(tracing, run_id), "traces", f"{safe}-{os.getpid()}.jsonl")
    return JsonlSpanExporter(path)


def configure(tracing: TracingConfig, *, run_id: str, component: str,
              attributes: dict[str, Any] | None = None,
              set_global: bool = True) -> TracerProvider:
    """Build (once per process, run and component) a provider exporting as configured.

    ``component`` is the agent name, ``supervisor`` or ``driver``; it becomes the
    ``raygent.agent`` resource attribute beside ``service.name=raygent``.
    """
    key = (run_id, component, tracing.exporter)
    with _lock:
        provider = _providers.get(key)
        if provider is not None:
            return provider
        resource = Resource.create({
            "service.name": "raygent",
            "service.instance.id": f"{component}-{os.getpid()}",
            "raygent.agent": component,
            "raygent.run_id": run_id,
            "process.pid": os.getpid(),
            **(attributes or {}),
        })
        provider = TracerProvider(resource=resource)
        exporter = _exporter(tracing, run_id, component)
        if exporter is not None:
            provider.add_span_processor(BatchSpanProcessor(
                exporter, schedule_delay_millis=tracing.export_delay_ms,
                max_queue_size=65536, max_export_batch_size=2048))
        _providers[key] = provider
        if set_global and not _global_set.is_set():
            trace.set_tracer_provider(provider)
            _global_set.set()
        atexit.register(provider.shutdown)
        return provider


_global_set = threading.Event()


def flush_all(timeout_ms: int = 5000) -> None:
    """Export every finished span of this process now."""
    with _lock:
        providers = list(_providers.values())
    for p in providers:
        p.force_flush(timeout_ms)
