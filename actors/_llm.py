"""Model calls: the backend protocol, the data it exchanges, its errors and its spans.

A backend turns chat messages into a :class:`Completion`. Two ship with raygent:
``openai`` (any OpenAI-compatible chat-completions server, ``actors/_llm_openai.py``) and
``extractive`` (offline: answers by quoting the retrieved context, ``actors/_llm_extractive.py``).
:func:`backend_from_config` builds either from a plain mapping such as a scenario's
``llm:`` section.

Retrieval-augmented prompts have one format, defined here (:func:`format_context_prompt`),
so a caller passes the same messages and ``context=`` to either backend: the HTTP backend
sends the numbered passages to the model, the extractive one quotes them, and both map the
``[n]`` markers of the answer back to document ids in :attr:`Completion.citations`.

Errors (all picklable, all under :class:`RaygentError`)::

    RaygentError
    └── LLMError                    a model call failed
        ├── LLMRequestError         the request is malformed (fix the caller)
        ├── LLMHTTPError            the server answered with an error status
        ├── LLMTimeoutError         no answer within the call's time budget
        ├── LLMConnectionError      the server could not be reached, after retries
        └── LLMResponseError        the answer is not a valid chat completion
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import re
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar, runtime_checkable

from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, Tracer

from actors import _telemetry as tm
from actors._errors import ConfigError, RaygentError, _rebuild
from actors._registry import message

#: The exact answer a backend gives when the context does not answer the question.
IDK = "I don't know"

#: Message roles the OpenAI chat format knows.
ROLES: frozenset[str] = frozenset({"system", "developer", "user", "assistant", "tool"})

#: The instruction sent with retrieved context when the caller gives no system message.
RAG_SYSTEM_PROMPT = (
    "Answer the question using only the numbered context passages. After each statement, "
    "cite the passage it comes from as [n]. If the passages do not contain the answer, "
    f"reply exactly: {IDK}"
)

# GenAI attribute keys beyond the ones in actors/_telemetry.py.
GENAI_RESPONSE_MODEL = "gen_ai.response.model"
GENAI_FINISH_REASONS = "gen_ai.response.finish_reasons"
SERVER_ADDRESS = "server.address"
SERVER_PORT = "server.port"
ERROR_TYPE = "error.type"

_SNIPPET = 200


# -- errors ---------------------------------------------------------------------------------


class LLMError(RaygentError):
    """A model call failed."""


class LLMRequestError(LLMError):
    """The request is malformed (no messages, an unknown role or parameter): fix the caller."""


class LLMHTTPError(LLMError):
    """The model server answered with an error status.

    Attributes:
        url: The URL called.
        status: The HTTP status code.
        detail: The server's error message (or the start of its body).
        attempts: How many attempts were made (more than one for retried statuses).
    """

    def __init__(self, url: str, status: int, detail: str, *, attempts: int = 1) -> None:
        tries = f" after {attempts} attempts" if attempts > 1 else ""
        super().__init__(f"{url} answered HTTP {status}{tries}: {detail}; {_hint(status)}")
        self.url = url
        self.status = status
        self.detail = detail
        self.attempts = attempts

    @property
    def retryable(self) -> bool:
        """Whether the same request may succeed later (429 and 5xx)."""
        return self.status == 429 or self.status >= 500

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self), (self.url, self.status, self.detail),
                           {"attempts": self.attempts}))


def _hint(status: int) -> str:
    if 300 <= status < 400:
        return "the server redirects: point llm.base_url at the final address"
    if status in (401, 403):
        return "check the API key (llm.api_key or OPENAI_API_KEY)"
    if status in (404, 405):
        return "check llm.base_url (it usually ends in /v1) and llm.model"
    if status == 429:
        return ("the server is rate limiting: lower the agent's concurrency, raise "
                "llm.max_retries or llm.timeout_s, or wait")
    if status >= 500:
        return "the model server failed: check its logs and retry later"
    return "the request is invalid and would fail again: fix the messages or parameters"


class LLMTimeoutError(LLMError):
    """No answer within the call's time budget.

    Attributes:
        target: What was called (a URL, or the agent and backend).
        timeout_s: The budget that ran out.
    """

    def __init__(self, target: str, timeout_s: float) -> None:
        super().__init__(
            f"no answer from {target} within {timeout_s:g}s: raise timeout_s (llm.timeout_s, "
            "the agent's timeout_s or Complete.timeout_s) or check the server's load"
        )
        self.target = target
        self.timeout_s = timeout_s

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.target, self.timeout_s))


class LLMConnectionError(LLMError):
    """The model server could not be reached.

    Attributes:
        url: The URL called.
        reason: The last transport error.
        attempts: How many attempts were made.
    """

    def __init__(self, url: str, reason: str, *, attempts: int = 1) -> None:
        tries = f" after {attempts} attempts" if attempts > 1 else ""
        super().__init__(
            f"cannot reach the model server at {url}{tries} ({reason}): start the server, or "
            "fix llm.base_url / OPENAI_BASE_URL"
        )
        self.url = url
        self.reason = reason
        self.attempts = attempts

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self), (self.url, self.reason), {"attempts": self.attempts}))


class LLMResponseError(LLMError):
    """The server's answer is not a valid chat completion.

    Attributes:
        url: The URL called.
        problem: What is wrong with it.
        snippet: The start of what came back.
    """

    def __init__(self, url: str, problem: str, snippet: str = "") -> None:
        shown = f"; it began: {snippet!r}" if snippet else ""
        super().__init__(
            f"{url} returned an invalid chat completion ({problem}){shown}: check that "
            "llm.base_url points at an OpenAI-compatible API (usually ending in /v1)"
        )
        self.url = url
        self.problem = problem
        self.snippet = snippet

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.url, self.problem, self.snippet))


def snippet(text: str | bytes, limit: int = _SNIPPET) -> str:
    """The start of a body, for error messages."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    text = text.strip()
    return text if len(text) <= limit else text[:limit] + "…"


# -- data -----------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class ChatMessage:
    """One chat turn.

    Attributes:
        role: ``system``, ``developer``, ``user``, ``assistant`` or ``tool``.
        content: The text.
    """

    role: str
    content: str

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise LLMRequestError(
                f"unknown message role {self.role!r}: use one of {', '.join(sorted(ROLES))}")
        if not isinstance(self.content, str):
            raise LLMRequestError(
                f"message content must be a string, got {type(self.content).__name__}")

    def to_dict(self) -> dict[str, str]:
        """The OpenAI wire form."""
        return {"role": self.role, "content": self.content}


@dataclass(frozen=True, kw_only=True)
class Usage:
    """Token counts of one call (the extractive backend counts words)."""

    input_tokens: int = 0
    output_tokens: int = 0


@dataclass(frozen=True, kw_only=True)
class Citation:
    """A context passage an answer cites as ``[index]``.

    Attributes:
        index: The passage's 1-based number in the context list.
        doc_id: Id of the document the passage came from.
        text: The supporting text: the quoted sentences (extractive) or the passage.
    """

    index: int
    doc_id: str
    text: str


@message(kind="llm.Completion")
@dataclass(frozen=True, kw_only=True)
class Completion:
    """A model's answer.

    Attributes:
        text: The answer.
        model: The model that answered (as the server reports it).
        finish_reason: ``stop``, ``length``, ... as the server reports it.
        usage: Token counts.
        citations: Context passages the answer cites, in order of first citation (empty
            when the call had no context or the answer cites none).
    """

    text: str
    model: str
    finish_reason: str = "stop"
    usage: Usage = field(default_factory=Usage)
    citations: tuple[Citation, ...] = ()


#: What ``messages`` may be: one user string, or turns as ChatMessage or OpenAI-style dicts.
Messages = str | Sequence[ChatMessage | Mapping[str, Any]]
#: One context passage: ``(doc_id, text)``.
ContextItem = tuple[str, str]


def coerce_messages(messages: Messages) -> tuple[ChatMessage, ...]:
    """Normalise messages to a non-empty tuple of :class:`ChatMessage`.

    Raises:
        LLMRequestError: If there are none, or one is malformed.
    """
    if isinstance(messages, str):
        messages = [ChatMessage(role="user", content=messages)]
    out: list[ChatMessage] = []
    for i, item in enumerate(messages):
        if isinstance(item, ChatMessage):
            out.append(item)
        elif isinstance(item, Mapping) and "role" in item and "content" in item:
            out.append(ChatMessage(role=item["role"], content=item["content"]))
        else:
            raise LLMRequestError(
                f"messages[{i}] must be a ChatMessage or a dict with role and content, got "
                f"{type(item).__name__}")
    if not out:
        raise LLMRequestError("no messages: give at least one user message")
    return tuple(out)


def coerce_context(items: Iterable[Any] | None) -> tuple[ContextItem, ...]:
    """Normalise retrieved passages to ``(doc_id, text)`` pairs.

    Accepts pairs, dicts with ``id`` (or ``doc_id``) and ``text``, and objects with ``id``
    and ``text`` attributes, such as ``memory.Hit`` and ``memory.Record``.

    Raises:
        LLMRequestError: For an item of another shape.
    """
    out: list[ContextItem] = []
    for i, item in enumerate(items or ()):
        if isinstance(item, tuple | list) and len(item) == 2:
            doc_id, text = item
        elif isinstance(item, Mapping) and "text" in item and ("id" in item or "doc_id" in item):
            doc_id, text = item.get("id", item.get("doc_id")), item["text"]
        elif hasattr(item, "id") and hasattr(item, "text"):
            doc_id, text = item.id, item.text
        else:
            raise LLMRequestError(
                f"context[{i}] must be a (doc_id, text) pair, a dict with id and text, or a "
                f"memory hit; got {type(item).__name__}")
        if not isinstance(doc_id, str) or not isinstance(text, str):
            raise LLMRequestError(f"context[{i}]: doc_id and text must be strings")
        out.append((doc_id, text))
    return tuple(out)


# -- the prompt format for retrieved context ------------------------------------------------

_CONTEXT_HEADER = "Context:"
_QUESTION = "Question:"
_PASSAGE = re.compile(r"^\[(\d+)\] source: (.*)$")


def format_context_prompt(question: str, context: Sequence[ContextItem]) -> str:
    """The user message that carries a question and its numbered context.

    The format (parsed back by :func:`parse_context_prompt`)::

        Context:
        [1] source: d03
        The replacement valve XJ-9027 fits ...

        [2] source: d07
        ...

        Question: which valve fits my softener?

    Doc ids must not contain line breaks; passage text may.
    """
    parts = [_CONTEXT_HEADER]
    for n, (doc_id, text) in enumerate(context, 1):
        parts.append(f"[{n}] source: {' '.join(doc_id.splitlines())}\n{text.strip()}\n")
    parts.append(f"{_QUESTION} {question.strip()}")
    return "\n".join(parts)


def parse_context_prompt(text: str) -> tuple[str, tuple[ContextItem, ...]]:
    """Split a user message into its question and context passages.

    Returns:
        ``(question, passages)``; a message not in the :func:`format_context_prompt` format
        is all question, with no passages.
    """
    lines = text.strip().splitlines()
    if not lines or lines[0].strip() != _CONTEXT_HEADER:
        return text.strip(), ()
    q_at = max((i for i, line in enumerate(lines) if line.startswith(_QUESTION)), default=-1)
    if q_at < 0:
        return text.strip(), ()
    question = "\n".join([lines[q_at][len(_QUESTION):], *lines[q_at + 1:]]).strip()
    passages: list[ContextItem] = []
    body: list[str] = []
    doc_id: str | None = None
    for line in lines[1:q_at]:
        match = _PASSAGE.match(line)
        if match and int(match.group(1)) == len(passages) + (doc_id is not None) + 1:
            if doc_id is not None:
                passages.append((doc_id, "\n".join(body).strip()))
            doc_id, body = match.group(2).strip(), []
        elif doc_id is not None:
            body.append(line)
    if doc_id is not None:
        passages.append((doc_id, "\n".join(body).strip()))
    return question, tuple(passages)


def rag_messages(question: str, context: Iterable[Any], *,
                 system: str | None = RAG_SYSTEM_PROMPT) -> tuple[ChatMessage, ...]:
    """Messages asking ``question`` over retrieved ``context`` (pairs or memory hits)."""
    user = ChatMessage(role="user", content=format_context_prompt(
        question, coerce_context(context)))
    if system is None:
        return (user,)
    return (ChatMessage(role="system", content=system), user)


@dataclass(frozen=True, kw_only=True)
class Prepared:
    """A request resolved against its context.

    Attributes:
        messages: What to send to a model: the caller's messages, with the last user turn
            rewritten into the context format and a system instruction added when context
            came as a parameter.
        question: The question (the last user turn, without its context).
        context: The passages, numbered from 1 in this order.
    """

    messages: tuple[ChatMessage, ...]
    question: str
    context: tuple[ContextItem, ...]


def prepare(messages: Messages, context: Iterable[Any] | None = None) -> Prepared:
    """Resolve a request's question and context, the same way for every backend.

    Context given as a parameter wins over context embedded in the last user message.

    Raises:
        LLMRequestError: If the messages or the context are malformed.
    """
    msgs = coerce_messages(messages)
    last = max((i for i, m in enumerate(msgs) if m.role == "user"), default=-1)
    if last < 0:
        raise LLMRequestError("no user message: the last user turn is the question")
    question, embedded = parse_context_prompt(msgs[last].content)
    if context is None:
        return Prepared(messages=msgs, question=question, context=embedded)
    ctx = coerce_context(context)
    user = ChatMessage(role="user", content=format_context_prompt(question, ctx))
    out = [*msgs[:last], user, *msgs[last + 1:]]
    if not any(m.role in ("system", "developer") for m in out):
        out.insert(0, ChatMessage(role="system", content=RAG_SYSTEM_PROMPT))
    return Prepared(messages=tuple(out), question=question, context=ctx)


_MARKER = re.compile(r"\[(\d+(?:\s*,\s*\d+)*)\]")


def cite(text: str, context: Sequence[ContextItem]) -> tuple[Citation, ...]:
    """Citations for the ``[n]`` (or ``[n, m]``) markers of an answer, in order of first use.

    Markers that name no passage are ignored.
    """
    seen: dict[int, Citation] = {}
    for match in _MARKER.finditer(text):
        for part in match.group(1).split(","):
            n = int(part)
            if 1 <= n <= len(context) and n not in seen:
                doc_id, passage = context[n - 1]
                seen[n] = Citation(index=n, doc_id=doc_id, text=passage)
    return tuple(seen.values())


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

KINDS: tuple[str, ...] = ("openai", "extractive")
C = TypeVar("C")


def backend_from_config(values: Mapping[str, Any], *, embed: Any = None,
                        tracer: Tracer | None = None,
                        environ: Mapping[str, str] | None = None) -> LLMBackend:
    """Build a backend from a plain mapping such as a scenario's ``llm:`` section.

    Args:
        values: ``kind`` (``openai`` or ``extractive``) and that backend's settings
            (:class:`~actors._llm_openai.OpenAIConfig` or
            :class:`~actors._llm_extractive.ExtractiveConfig` fields).
        embed: For ``extractive``: the embedding function (default: MiniLM via ``memory``).
        tracer: Where spans go (default: the global provider's raygent tracer).
        environ: For ``openai``: where ``OPENAI_*``/``RAYGENT_LLM_MODEL`` are read
            (default: ``os.environ`` of the process building the backend).

    Raises:
        ConfigError: Naming the bad field (``llm.kind``, ``llm.timeout_s``, ...).
    """
    if not isinstance(values, Mapping):
        raise ConfigError(f"must be a mapping with a kind, got {type(values).__name__}",
                          field="llm")
    kind = values.get("kind")
    if kind is None:
        raise ConfigError(f"missing: use one of {', '.join(KINDS)}", field="llm.kind")
    if kind == "openai":
        from actors._llm_openai import OpenAIBackend, OpenAIConfig

        return OpenAIBackend(OpenAIConfig.from_mapping(values, environ=environ), tracer=tracer)
    if kind == "extractive":
        from actors._llm_extractive import ExtractiveBackend, ExtractiveConfig

        return ExtractiveBackend(config_from_mapping(ExtractiveConfig, values), embed=embed,
                                 tracer=tracer)
    raise ConfigError(f"unknown backend {kind!r}: use one of {', '.join(KINDS)}",
                      field="llm.kind")


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


__all__ = [
    "IDK",
    "RAG_SYSTEM_PROMPT",
    "ChatMessage",
    "Citation",
    "Completion",
    "LLMBackend",
    "LLMConnectionError",
    "LLMError",
    "LLMHTTPError",
    "LLMRequestError",
    "LLMResponseError",
    "LLMTimeoutError",
    "Usage",
    "backend_from_config",
    "cite",
    "coerce_context",
    "coerce_messages",
    "format_context_prompt",
    "parse_context_prompt",
    "prepare",
    "rag_messages",
]
