"""Settings of the OpenAI-compatible backend, and reading the server's error answers."""


from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

from actors._errors import ConfigError
from actors._secrets import Secret
from actors.llm._backend import (
    check_number,
    config_from_mapping,
)
from actors.llm._errors import (
    snippet,
)

DEFAULT_BASE_URL = "https://api.openai.com/v1"
ENV_BASE_URL = "OPENAI_BASE_URL"
ENV_API_KEY = "OPENAI_API_KEY"
ENV_MODEL = "RAYGENT_LLM_MODEL"

#: Per-call parameters the client uses itself; everything else goes into the request body.
CLIENT_PARAMS = frozenset({"context", "timeout_s"})
#: Body fields the backend owns.
RESERVED_BODY = frozenset({"messages", "stream", "stream_options"})


@dataclass(frozen=True, kw_only=True)
class OpenAIConfig:
    """Settings of the OpenAI-compatible backend.

    Attributes:
        model: Model to request (required; ``RAYGENT_LLM_MODEL`` in :meth:`from_mapping`).
        base_url: API root, e.g. ``http://127.0.0.1:8000/v1``.
        api_key: Sent as ``Authorization: Bearer ...``; None sends no header (local
            servers). Kept as an :class:`actors.Secret`: never shown, logged or traced.
        timeout_s: Budget of one call, retries and backoff included.
        connect_timeout_s: Bound on opening one connection (a refused or black-holed port
            is retried like a connection error).
        max_retries: Retries after the first attempt for 429, 5xx and transport errors.
        backoff_s: First retry delay; doubles per retry, with jitter, up to ``max_backoff_s``.
        max_backoff_s: Longest computed delay (a server's Retry-After may ask for longer).
        health_timeout_s: Budget of one health check.
        check_model: Health fails when ``/models`` lists models but not this one.
        stream_usage: Ask for token usage in streams (``stream_options.include_usage``);
            turn off for servers that reject the field.
        headers: Extra request headers.
        params: Default body parameters (``temperature``, ``max_tokens``...); a call's own
            parameters win.
    """

    model: str
    base_url: str = DEFAULT_BASE_URL
    api_key: Secret | None = field(default=None, repr=False)
    timeout_s: float = 60.0
    connect_timeout_s: float = 10.0
    max_retries: int = 3
    backoff_s: float = 0.5
    max_backoff_s: float = 8.0
    health_timeout_s: float = 5.0
    check_model: bool = True
    stream_usage: bool = True
    headers: dict[str, str] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.model, str) or not self.model.strip():
            raise ConfigError(f"must name a model (also settable with {ENV_MODEL}), got "
                              f"{self.model!r}", field="llm.model")
        url = self.base_url
        if not isinstance(url, str) or urlsplit(url).scheme not in ("http", "https") or not (
                urlsplit(url).netloc):
            raise ConfigError(f"must be an http(s) URL such as http://127.0.0.1:8000/v1, "
                              f"got {url!r}", field="llm.base_url")
        object.__setattr__(self, "base_url", url.rstrip("/"))
        if isinstance(self.api_key, str):
            object.__setattr__(self, "api_key", Secret(self.api_key, "llm.api_key"))
        elif self.api_key is not None and not isinstance(self.api_key, Secret):
            raise ConfigError("must be a string", field="llm.api_key")
        for name in ("timeout_s", "connect_timeout_s", "health_timeout_s"):
            check_number(getattr(self, name), f"llm.{name}")
        check_number(self.max_retries, "llm.max_retries", integer=True, strict=False,
                     maximum=100)
        check_number(self.backoff_s, "llm.backoff_s", strict=False)
        check_number(self.max_backoff_s, "llm.max_backoff_s", strict=False)
        for name in ("headers", "params"):
            if not isinstance(getattr(self, name), Mapping):
                raise ConfigError("must be a mapping", field=f"llm.{name}")
        clash = sorted(set(self.params) & (RESERVED_BODY | CLIENT_PARAMS | {"model"}))
        if clash:
            raise ConfigError("set by the backend, not a default parameter",
                              field=f"llm.params.{clash[0]}")

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any],
                     environ: Mapping[str, str] | None = None) -> OpenAIConfig:
        """Build from a plain mapping, filling ``model``, ``base_url`` and ``api_key`` from
        the environment when absent.

        Raises:
            ConfigError: Naming the bad or missing field.
        """
        env = os.environ if environ is None else environ
        merged = dict(values)
        for key, var in (("model", ENV_MODEL), ("base_url", ENV_BASE_URL),
                         ("api_key", ENV_API_KEY)):
            if merged.get(key) is None and env.get(var):
                merged[key] = env[var]
        if merged.get("model") is None:
            raise ConfigError(f"required: set llm.model or the {ENV_MODEL} environment "
                              "variable", field="llm.model")
        return config_from_mapping(cls, merged)


def parse_retry_after(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """Seconds a server asks to wait: ``retry-after-ms``, or ``Retry-After`` as seconds or
    an HTTP date; None when absent or unreadable.
    """
    ms = headers.get("retry-after-ms")
    if ms is not None:
        try:
            return max(0.0, float(ms) / 1000.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def error_detail(body: bytes | str) -> str:
    """The server's own error message (OpenAI's ``{"error": {"message": ...}}`` and the
    common variants), else the start of the body."""
    text = body.decode("utf-8", errors="replace") if isinstance(body, bytes) else body
    try:
        data = json.loads(text)
    except ValueError:
        return snippet(text) or "(empty body)"
    if isinstance(data, Mapping):
        err = data.get("error", data.get("detail", data.get("message")))
        if isinstance(err, Mapping) and err.get("message"):
            return str(err["message"])
        if isinstance(err, str) and err:
            return err
    return snippet(text)


