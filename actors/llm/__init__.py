"""Model calls: LLM backends (OpenAI-compatible HTTP, offline extractive) and the LLM agent.

This package sits beside ``memory`` on top of the runtime core: it imports the core, never
``memory``. The extractive backend's embedding function is passed in (``embed=``) or built
by the factory its config names (``ExtractiveConfig.embedder``).
"""

from __future__ import annotations

from actors.llm._agent import LLMAgent as LLMAgent
from actors.llm._agent import LLMAgentConfig as LLMAgentConfig
from actors.llm._backend import LLMBackend as LLMBackend
from actors.llm._errors import LLMConnectionError as LLMConnectionError
from actors.llm._errors import LLMError as LLMError
from actors.llm._errors import LLMHTTPError as LLMHTTPError
from actors.llm._errors import LLMRequestError as LLMRequestError
from actors.llm._errors import LLMResponseError as LLMResponseError
from actors.llm._errors import LLMTimeoutError as LLMTimeoutError
from actors.llm._extractive import EmbedFn as EmbedFn
from actors.llm._extractive import ExtractiveBackend as ExtractiveBackend
from actors.llm._extractive import ExtractiveConfig as ExtractiveConfig
from actors.llm._factory import backend_from_config as backend_from_config
from actors.llm._openai import OpenAIBackend as OpenAIBackend
from actors.llm._openai_config import OpenAIConfig as OpenAIConfig
from actors.llm._types import IDK as IDK
from actors.llm._types import RAG_SYSTEM_PROMPT as RAG_SYSTEM_PROMPT
from actors.llm._types import ChatMessage as ChatMessage
from actors.llm._types import Citation as Citation
from actors.llm._types import Completion as Completion
from actors.llm._types import Usage as Usage
from actors.llm._types import format_context_prompt as format_context_prompt
from actors.llm._types import rag_messages as rag_messages
from actors.llm.messages import Complete as Complete
from actors.llm.messages import StreamComplete as StreamComplete

__all__ = [
    "IDK",
    "RAG_SYSTEM_PROMPT",
    "ChatMessage",
    "Citation",
    "Complete",
    "Completion",
    "EmbedFn",
    "ExtractiveBackend",
    "ExtractiveConfig",
    "LLMAgent",
    "LLMAgentConfig",
    "LLMBackend",
    "LLMConnectionError",
    "LLMError",
    "LLMHTTPError",
    "LLMRequestError",
    "LLMResponseError",
    "LLMTimeoutError",
    "OpenAIBackend",
    "OpenAIConfig",
    "StreamComplete",
    "Usage",
    "backend_from_config",
    "format_context_prompt",
    "rag_messages",
]
