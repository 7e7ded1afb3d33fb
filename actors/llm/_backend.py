"""The backend protocol, building a backend from config, and the spans of model calls.

Two backends ship with raygent: ``openai`` (any OpenAI-compatible chat-completions server,
``actors/llm/_openai.py``) and ``extractive`` (offline: answers by quoting the retrieved
context, ``actors/llm/_extractive.py``). :func:`backend_from_config` builds either from a
plain mapping such as a scenario's ``llm:`` section.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
from collections.abc import AsyncIterator, Iterator, Mapping
from typing import Any, Protocol, TypeVar, runtime_checkable

from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, Tracer

from actors import _telemetry as tm
from actors._errors import ConfigError
from actors.llm._types import Completion, Messages

# GenAI attribute keys beyond the ones in actors/_telemetry.py.
GENAI_RESPONSE_MODEL = "gen_ai.response.model"
GENAI_FINISH_REASONS = "gen_ai.response.finish_reasons"
SERVER_ADDRESS = "server.address"
SERVER_PORT = "server.port"
ERROR_TYPE = "error.type"


# -- the protocol ---------------------------------------------------------------------------


@runtime_checkable
class LLMBackend(Protocol):
    """What an LLM backend offers.

    Every call accepts ``context=`` (passages, see :func:`coerce_context`) and
    ``timeout_s=`` (the call's time budget) besides the model's own parameters
    (``temperature``, ``max_tokens``, ...).

    Attributes:
        name: The backend kind: ``openai`` or ``extractive``.
        model: The model it calls by default.
    """

    name: str
    model: str

    async def complete(self, messages: Messages, **params: Any) -> Completion:
        """Answer the conversation."""
        ...

    def stream(self, messages: Messages, **params: Any) -> AsyncIterator[str]:
        """Answer the conversation as text deltas (an async generator)."""
        ...

    async def health(self) -> None:
        """Check the backend really works; raise :class:`LLMError` when it does not."""
        ...

    async def warm_up(self) -> None:
        """Prepare for the first call (load local models); needs no server."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...

# -- configuration --------------------------------------------------------------------------

C = TypeVar("C")


def config_from_mapping(cls: type[C], values: Mapping[str, Any], *,
                        section: str = "llm", ignore: tuple[str, ...] = ("kind",)) -> C:
    """Build a config dataclass from a mapping, naming unknown or bad fields.

    Raises:
        ConfigError: For an unknown key or a value the dataclass rejects.
    """
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(k for k in values if k not in names and k not in ignore)
    if unknown:
        raise ConfigError(f"unknown setting; valid: {', '.join(sorted(names))}",
                          field=f"{section}.{unknown[0]}")
    kwargs = {k: v for k, v in values.items() if k in names}
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise ConfigError(str(exc), field=section) from None


def check_number(value: Any, name: str, *, minimum: float = 0.0, strict: bool = True,
                 integer: bool = False, maximum: float | None = None) -> None:
    """Validate a numeric setting.

    Raises:
        ConfigError: Naming ``name`` when the value is not a finite number in range.
    """
    kind = "an integer" if integer else "a number"
    ok_type = isinstance(value, int) if integer else isinstance(value, int | float)
    if isinstance(value, bool) or not ok_type or not math.isfinite(value):
        raise ConfigError(f"must be {kind}, got {value!r}", field=name)
    if value < minimum or (strict and value == minimum):
        raise ConfigError(f"must be {'>' if strict else '>='} {minimum:g}, got {value!r}",
                          field=name)
    if maximum is not None and value > maximum:
        raise ConfigError(f"must be <= {maximum:g}, got {value!r}", field=name)

# -- spans ----------------------------------------------------------------------------------


@contextlib.contextmanager
def chat_span(tracer: Tracer | None, *, system: str, model: str, current: bool = True,
              attributes: Mapping[str, Any] | None = None) -> Iterator[Span]:
    """The CLIENT span ``chat {model}`` around one model call.

    Args:
        tracer: The tracer (default: the global provider's raygent tracer, looked up now so
            a provider installed after the backend was built is used).
        system: ``gen_ai.system``.
        model: The requested model.
        current: Make the span current (child spans nest under it). Async generators pass
            False: a context attached before a ``yield`` cannot be detached after it.
        attributes: More attributes (``server.address``, ...).

    Yields:
        The span; a failure is recorded on it and re-raised.
    """
    span = (tracer or tm.tracer()).start_span(
        tm.span_llm("chat", model), kind=SpanKind.CLIENT,
        attributes={tm.GENAI_OPERATION: "chat", tm.GENAI_SYSTEM: system,
                    tm.GENAI_MODEL: model, **(attributes or {})})
    # use_span would record the exception too; it is recorded once, below.
    scope = (trace.use_span(span, end_on_exit=False, record_exception=False,
                            set_status_on_exception=False) if current
             else contextlib.nullcontext())
    try:
        with scope:
            yield span
    except Exception as exc:
        span.set_attribute(ERROR_TYPE, type(exc).__name__)
        tm.mark_error(span, exc, f"{type(exc).__name__}: {exc}")
        raise
    finally:
        span.end()


def record_completion(span: Span, completion: Completion) -> None:
    """Put a completion's model, finish reason and token usage on its span."""
    span.set_attribute(GENAI_RESPONSE_MODEL, completion.model)
    span.set_attribute(GENAI_FINISH_REASONS, [completion.finish_reason])
    span.set_attribute(tm.GENAI_INPUT_TOKENS, completion.usage.input_tokens)
    span.set_attribute(tm.GENAI_OUTPUT_TOKENS, completion.usage.output_tokens)
