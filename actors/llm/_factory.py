"""Building a backend from a plain mapping such as a scenario's ``llm:`` section."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from opentelemetry.trace import Tracer

from actors._errors import ConfigError
from actors.llm._backend import LLMBackend, config_from_mapping
from actors.llm._extractive import ExtractiveBackend, ExtractiveConfig
from actors.llm._openai import OpenAIBackend
from actors.llm._openai_config import OpenAIConfig

KINDS: tuple[str, ...] = ("openai", "extractive")


def backend_from_config(values: Mapping[str, Any], *, embed: Any = None,
                        tracer: Tracer | None = None,
                        environ: Mapping[str, str] | None = None) -> LLMBackend:
    """Build a backend from a plain mapping such as a scenario's ``llm:`` section.

    Args:
        values: ``kind`` (``openai`` or ``extractive``) and that backend's settings
            (:class:`~actors.llm._openai.OpenAIConfig` or
            :class:`~actors.llm._extractive.ExtractiveConfig` fields).
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
        return OpenAIBackend(OpenAIConfig.from_mapping(values, environ=environ), tracer=tracer)
    if kind == "extractive":
        return ExtractiveBackend(config_from_mapping(ExtractiveConfig, values), embed=embed,
                                 tracer=tracer)
    raise ConfigError(f"unknown backend {kind!r}: use one of {', '.join(KINDS)}",
                      field="llm.kind")
