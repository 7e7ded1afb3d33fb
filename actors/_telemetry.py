"""Span names, attribute keys and context propagation: the OpenTelemetry API only.

Every span raygent makes is named here. Names and attributes follow the OpenTelemetry
messaging semantic conventions (``{operation} {destination}``, ``messaging.*``) and the
GenAI ones for model calls; raygent's own facts use the ``raygent.*`` prefix. Without an
installed SDK every call here is a cheap no-op.
"""

from __future__ import annotations

from typing import Any

from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, TracerProvider

from actors._secrets import redact

TRACER_NAME = "raygent"
SYSTEM = "raygent"

# Span names (operation, then destination, as the messaging conventions ask).
SCENARIO_RUN = "scenario.run"


def span_send(recipient: str) -> str:
    return f"send {recipient}"


def span_ask(recipient: str) -> str:
    return f"ask {recipient}"


def span_publish(topic: str) -> str:
    return f"publish {topic}"


def span_route(recipient: str) -> str:
    return f"route {recipient}"


def span_process(recipient: str) -> str:
    return f"process {recipient}"


def span_restart(agent: str) -> str:
    return f"restart {agent}"


MEMORY_SEARCH = "memory.search"
MEMORY_ADD = "memory.add"
EMBED = "embed"


def span_llm(operation: str, model: str) -> str:
    return f"{operation} {model}"


# Attribute keys.
MSG_SYSTEM = "messaging.system"
MSG_OPERATION = "messaging.operation.type"
MSG_DESTINATION = "messaging.destination.name"
MSG_ID = "messaging.message.id"
MSG_CONVERSATION = "messaging.message.conversation_id"
MSG_BATCH_COUNT = "messaging.batch.message_count"
KIND = "raygent.message.kind"
SENDER = "raygent.message.sender"
ATTEMPT = "raygent.message.attempt"
PAYLOAD = "raygent.message.payload"
MAILBOX_DEPTH = "raygent.mailbox.depth"
AGENT = "raygent.agent"
TOPIC = "raygent.topic"
RUN_ID = "raygent.run_id"
SCENARIO = "raygent.scenario"
RAY_ACTOR_ID = "ray.actor_id"
RAY_TASK_ID = "ray.task_id"
RAY_NODE_ID = "ray.node_id"
GENAI_OPERATION = "gen_ai.operation.name"
GENAI_SYSTEM = "gen_ai.system"
GENAI_MODEL = "gen_ai.request.model"
GENAI_INPUT_TOKENS = "gen_ai.usage.input_tokens"
GENAI_OUTPUT_TOKENS = "gen_ai.usage.output_tokens"

# Event names.
EV_RETRY = "raygent.retry"
EV_DEAD_LETTER = "raygent.dead_letter"
EV_REDELIVER = "raygent.redeliver"

# Supervisor facts about one message's fate and about restarts.
RETRY_NEXT_ATTEMPT = "raygent.retry.next_attempt"
RESTART_REASON = "raygent.restart.reason"
RESTART_GRACEFUL = "raygent.restart.graceful"
RESTART_MAILBOX_DEPTH = "raygent.restart.mailbox_depth"


def span_settle(event: str, agent: str) -> str:
    """Name of the short span for a message's retry, redelivery or dead letter.

    ``event`` is one of the ``EV_*`` event names; the span is ``"retry <agent>"`` etc.
    """
    return f"{event.removeprefix('raygent.')} {agent}"


def send_attributes(destination: str, sender: str) -> dict[str, Any]:
    """Attributes of a ``send``/``ask``/``publish`` span (driver and agents alike)."""
    return {MSG_SYSTEM: SYSTEM, MSG_OPERATION: "send", MSG_DESTINATION: destination,
            SENDER: sender}


def tracer(provider: TracerProvider | None = None) -> trace.Tracer:
    """The raygent tracer from ``provider``, or from the global provider."""
    return (provider or trace.get_tracer_provider()).get_tracer(TRACER_NAME)


def inject(span: Span | None = None) -> dict[str, str]:
    """A W3C ``traceparent``/``tracestate`` carrier for ``span`` (or the current span)."""
    carrier: dict[str, str] = {}
    ctx = trace.set_span_in_context(span) if span is not None else None
    propagate.inject(carrier, context=ctx)
    return carrier


def extract(carrier: dict[str, str] | None) -> Context | None:
    """The context a carrier holds, or None when it holds none."""
    if not carrier:
        return None
    return propagate.extract(carrier)


def mark_error(span: Span, exc: BaseException | None, description: str, *,
               capture: bool = False) -> None:
    """Mark a span failed (status ERROR) and record the exception's type.

    Error text can quote what a handler was given, so it follows the same switch as
    payloads (``TracingConfig.record_payloads``): with ``capture`` off a span gets the
    exception type and the description's first word only; with it on, the texts, with
    every known secret scrubbed. Stack traces are never recorded.
    """
    kind = type(exc).__name__ if exc is not None else description.split(":", 1)[0][:80]
    attrs = {"exception.type": kind}
    if capture and exc is not None:
        attrs["exception.message"] = redact(str(exc))
    if exc is not None:
        span.add_event("exception", attrs)
    span.set_status(Status(StatusCode.ERROR, redact(description) if capture else kind))


def payload_text(payload: Any, limit: int) -> str:
    """The payload as text, truncated and with known secrets scrubbed (for spans when
    payload recording is on, and for tools that list dead letters)."""
    text = redact(repr(payload))
    return text if len(text) <= limit else text[:limit] + "…"


__all__ = ["SpanKind", "extract", "inject", "mark_error", "payload_text", "tracer"]
