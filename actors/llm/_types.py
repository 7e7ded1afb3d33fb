"""The data a backend exchanges, and the one prompt format for retrieved context.

Retrieval-augmented prompts have one format (:func:`format_context_prompt`), so a caller
passes the same messages and ``context=`` to either backend: the HTTP backend sends the
numbered passages to the model, the extractive one quotes them, and both map the ``[n]``
markers of the answer back to document ids in :attr:`Completion.citations`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from actors._registry import message
from actors.llm._errors import LLMRequestError

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

