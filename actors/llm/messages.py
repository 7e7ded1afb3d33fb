"""Messages of the ``llm`` domain: ask an :class:`~actors.llm._agent.LLMAgent` for a completion.

``runtime.ask("llm", Complete.question("which valve fits?", context=hits))`` returns a
:class:`Completion`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from actors._registry import message
from actors.llm._errors import (
    LLMRequestError,
)
from actors.llm._types import (
    ChatMessage,
    Citation,
    Completion,
    ContextItem,
    Messages,
    Usage,
    coerce_context,
    coerce_messages,
)

#: Parameter names that are fields of :class:`Complete`, not model parameters.
_FIELDS_NOT_PARAMS = frozenset({"context", "timeout_s"})


@message(kind="llm.Complete")
@dataclass(frozen=True, kw_only=True)
class Complete:
    """Ask for one chat completion; the reply is a :class:`Completion`.

    Attributes:
        messages: The conversation; ChatMessage objects, OpenAI-style dicts or one user
            string are accepted and stored as a tuple of :class:`ChatMessage`.
        params: Model parameters (``temperature``, ``max_tokens``...; the extractive
            backend also takes ``threshold`` and ``max_sentences``).
        context: Retrieved passages to answer from, cited as ``[1]``, ``[2]``...: pairs
            ``(doc_id, text)``, dicts with ``id``/``text`` or ``memory.Hit`` objects, stored
            as pairs. None: no context, or the context is already in the last user message.
        timeout_s: This call's budget; None uses the agent's ``timeout_s``.
    """

    messages: tuple[ChatMessage, ...]
    params: dict[str, Any] = field(default_factory=dict)
    context: tuple[ContextItem, ...] | None = None
    timeout_s: float | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "messages", coerce_messages(self.messages))
        if not isinstance(self.params, Mapping):
            raise LLMRequestError(f"params must be a dict, got {type(self.params).__name__}")
        clash = sorted(_FIELDS_NOT_PARAMS & set(self.params))
        if clash:
            raise LLMRequestError(f"pass {clash[0]} as Complete.{clash[0]}, not in params")
        object.__setattr__(self, "params", dict(self.params))
        if self.context is not None:
            object.__setattr__(self, "context", coerce_context(self.context))
        t = self.timeout_s
        if t is not None and (isinstance(t, bool) or not isinstance(t, int | float) or t <= 0):
            raise LLMRequestError(f"timeout_s must be a number > 0 or None, got {t!r}")

    @classmethod
    def question(cls, text: str, *, context: Iterable[Any] | None = None,
                 system: str | None = None, timeout_s: float | None = None,
                 **params: Any) -> Complete:
        """A one-question request, optionally over retrieved context.

        Args:
            text: The question.
            context: Passages to answer from (pairs, dicts or memory hits).
            system: A system message; with context and none given, the backend adds
                :data:`actors.llm.RAG_SYSTEM_PROMPT`.
            timeout_s: This call's budget.
            **params: Model parameters.
        """
        msgs: Messages = [ChatMessage(role="user", content=text)]
        if system is not None:
            msgs = [ChatMessage(role="system", content=system), *msgs]
        return cls(messages=tuple(msgs), params=params,  # type: ignore[arg-type]
                   context=None if context is None else coerce_context(context),
                   timeout_s=timeout_s)


@message(kind="llm.StreamComplete")
@dataclass(frozen=True, kw_only=True)
class StreamComplete(Complete):
    """A :class:`Complete` answered as a stream of text deltas (``Runtime.stream``).

    Same fields; the chunks are strings as the model produces them, and there is no final
    :class:`Completion` (join the chunks for the whole text).
    """


__all__ = ["ChatMessage", "Citation", "Complete", "Completion", "StreamComplete", "Usage"]
