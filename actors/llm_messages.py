"""Deprecated: the LLM messages moved to :mod:`actors.llm` (``actors.llm.messages``)."""

from __future__ import annotations

import warnings

from actors.llm.messages import ChatMessage as ChatMessage
from actors.llm.messages import Citation as Citation
from actors.llm.messages import Complete as Complete
from actors.llm.messages import Completion as Completion
from actors.llm.messages import Usage as Usage

warnings.warn("actors.llm_messages moved to actors.llm.messages (or import from actors.llm)",
              DeprecationWarning, stacklevel=2)

__all__ = ["ChatMessage", "Citation", "Complete", "Completion", "Usage"]
