"""An OpenAI-compatible chat-completions backend over HTTP (OpenAI, vLLM, llama.cpp, Ollama...).

``POST {base_url}/chat/completions`` with ``httpx.AsyncClient``; streaming reads the
server-sent events (``data: {...}`` lines up to ``data: [DONE]``).

Failure handling, in short:

* ``timeout_s`` is the budget of the whole call, retries and waits included; when it runs
  out the call raises :class:`LLMTimeoutError`. A stream must *start* within it, and then
  each wait between two chunks is bounded by it.
* 429, 5xx and transport errors (refused, reset) are retried up to ``max_retries`` times
  with exponential backoff and jitter; a ``Retry-After`` (seconds or HTTP date) or
  ``retry-after-ms`` header sets the wait instead. A wait that would overrun the budget is
  not started: the call fails at once with the server's error.
* Other 4xx fail at once with :class:`LLMHTTPError` carrying the status and the server's
  own error message; a body that is not a chat completion raises :class:`LLMResponseError`.

Settings missing from the config come from the environment of the process that builds the
backend (the agent's Ray worker, not the driver): ``OPENAI_BASE_URL``, ``OPENAI_API_KEY``,
``RAYGENT_LLM_MODEL``.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import AsyncIterator, Mapping
from typing import Any
from urllib.parse import urlsplit

import httpx
from opentelemetry.trace import Span, Tracer

from actors import _telemetry as tm
from actors.llm._backend import (
    SERVER_ADDRESS,
    SERVER_PORT,
    chat_span,
    record_completion,
)
from actors.llm._errors import (
    LLMConnectionError,
    LLMError,
    LLMHTTPError,
    LLMRequestError,
    LLMResponseError,
    LLMTimeoutError,
    snippet,
)
from actors.llm._openai_config import (
    RESERVED_BODY,
    OpenAIConfig,
    error_detail,
    parse_retry_after,
)
from actors.llm._types import (
    Completion,
    Messages,
    Prepared,
    Usage,
    cite,
    prepare,
)


def _reason(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class OpenAIBackend:
    """Chat completions from an OpenAI-compatible server.

    Args:
        config: The settings.
        tracer: Where ``chat {model}`` spans go (default: the global raygent tracer).
        rand: Jitter source (tests pass a seeded one).
    """

    name = "openai"
    system = "openai"

    def __init__(self, config: OpenAIConfig, *, tracer: Tracer | None = None,
                 rand: random.Random | None = None) -> None:
        self.config = config
        self.model = config.model
        self.url = f"{config.base_url}/chat/completions"
        self._tracer = tracer
        self._rand = rand or random.Random()
        self._http: httpx.AsyncClient | None = None
        self._http_loop: asyncio.AbstractEventLoop | None = None
        parts = urlsplit(config.base_url)
        self._server_attrs: dict[str, Any] = {SERVER_ADDRESS: parts.hostname or ""}
        if parts.port is not None:
            self._server_attrs[SERVER_PORT] = parts.port

    def __repr__(self) -> str:
        return f"OpenAIBackend(model={self.model!r}, base_url={self.config.base_url!r})"

    # -- the client --------------------------------------------------------------------------

    def _client(self) -> httpx.AsyncClient:
        # A client's connection pool belongs to one event loop; a backend used from another
        # loop (asyncio.run in tests, a new actor loop) gets a fresh client.
        loop = asyncio.get_running_loop()
        if self._http is None or self._http.is_closed or self._http_loop is not loop:
            headers = {"User-Agent": "raygent", "Accept": "application/json",
                       **self.config.headers}
            if self.config.api_key is not None:
                headers["Authorization"] = f"Bearer {self.config.api_key.reveal()}"
            self._http = httpx.AsyncClient(headers=headers, follow_redirects=False,
                                           limits=httpx.Limits(max_connections=100))
            self._http_loop = loop
        return self._http

    async def aclose(self) -> None:
        """Close the connection pool (when it belongs to the running loop)."""
        client, self._http = self._http, None
        if client is not None and self._http_loop is asyncio.get_running_loop():
            await client.aclose()

    async def warm_up(self) -> None:
        """Nothing to load: the server is checked by :meth:`health`, not at start."""

    # -- requests ----------------------------------------------------------------------------

    def _body(self, prepared: Prepared, params: Mapping[str, Any], *, stream: bool
              ) -> dict[str, Any]:
        bad = sorted(set(params) & RESERVED_BODY)
        if bad:
            raise LLMRequestError(f"parameter {bad[0]!r} is set by the backend: use "
                                  "complete() or stream() instead")
        body: dict[str, Any] = {"model": self.model, **self.config.params, **params,
                                "messages": [m.to_dict() for m in prepared.messages]}
        if stream:
            body["stream"] = True
            if self.config.stream_usage:
                body["stream_options"] = {"include_usage": True}
        return body

    def _split(self, params: dict[str, Any]) -> tuple[Any, float, dict[str, Any]]:
        context = params.pop("context", None)
        budget = params.pop("timeout_s", None)
        if budget is None:
            budget = self.config.timeout_s
        elif isinstance(budget, bool) or not isinstance(budget, int | float) or budget <= 0:
            raise LLMRequestError(f"timeout_s must be a number > 0, got {budget!r}")
        return context, float(budget), params

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            # Honour the server, plus a little jitter so waiting clients do not all return
            # in the same instant.
            return retry_after * (1.0 + 0.1 * self._rand.random())
        base = min(self.config.max_backoff_s, self.config.backoff_s * 2 ** (attempt - 1))
        return base * (0.5 + 0.5 * self._rand.random())

    async def _send(self, body: dict[str, Any], *, stream: bool, budget: float,
                    span: Span) -> httpx.Response:
        """POST with retries; return a response with a 2xx status (body unread if stream)."""
        client = self._client()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + budget
        attempts = self.config.max_retries + 1
        for attempt in range(1, attempts + 1):
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise LLMTimeoutError(self.url, budget)
            # The read timeout bounds each wait for bytes: the budget for a plain call (the
            # deadline below bounds the whole of it), the whole budget between stream chunks.
            timeout = httpx.Timeout(budget if stream else remaining,
                                    connect=min(self.config.connect_timeout_s, remaining))
            request = client.build_request("POST", self.url, json=body, timeout=timeout)
            failure: LLMError
            retry_after: float | None = None
            response: httpx.Response | None = None
            try:
                async with asyncio.timeout(remaining):
                    response = await client.send(request, stream=True)
                    if response.is_success and stream:
                        return response
                    await response.aread()
            except (TimeoutError, httpx.ReadTimeout, httpx.WriteTimeout, httpx.PoolTimeout):
                if response is not None:
                    await response.aclose()
                raise LLMTimeoutError(self.url, budget) from None
            except httpx.TransportError as exc:  # refused, reset, connect timeout
                if response is not None:
                    await response.aclose()
                failure = LLMConnectionError(self.url, _reason(exc), attempts=attempt)
            else:
                assert response is not None
                if response.is_success:
                    return response
                status = response.status_code
                failure = LLMHTTPError(self.url, status, error_detail(response.content),
                                       attempts=attempt)
                if not failure.retryable:
                    raise failure
                retry_after = parse_retry_after(response.headers)
            if attempt == attempts:
                raise failure
            delay = self._delay(attempt, retry_after)
            if loop.time() + delay >= deadline:
                # Waiting would overrun the budget: the server's error says more than a
                # timeout would.
                raise failure
            span.add_event(tm.EV_RETRY, {"raygent.retry.attempt": attempt + 1,
                                         "raygent.retry.delay_s": delay,
                                         "raygent.retry.reason": str(failure)[:200]})
            await asyncio.sleep(delay)
        raise LLMError("unreachable")  # the loop returns or raises

    def _parse(self, text: str, prepared: Prepared) -> Completion:
        try:
            data = json.loads(text)
        except ValueError:
            raise LLMResponseError(self.url, "the body is not JSON", snippet(text)) from None
        if not isinstance(data, Mapping):
            raise LLMResponseError(self.url, "the body is not a JSON object", snippet(text))
        if "error" in data and "choices" not in data:
            raise LLMResponseError(self.url, f"the server reported: {error_detail(text)}",
                                   snippet(text))
        choices = data.get("choices")
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], Mapping):
            raise LLMResponseError(self.url, "no choices", snippet(text))
        msg = choices[0].get("message")
        if not isinstance(msg, Mapping):
            raise LLMResponseError(self.url, "choices[0] has no message", snippet(text))
        content = _text_of(msg.get("content"))
        if content is None:
            raise LLMResponseError(self.url, "choices[0].message.content is not text",
                                   snippet(text))
        return Completion(
            text=content, model=str(data.get("model") or self.model),
            finish_reason=str(choices[0].get("finish_reason") or "stop"),
            usage=_usage(data.get("usage")), citations=cite(content, prepared.context))

    # -- the API -----------------------------------------------------------------------------

    async def complete(self, messages: Messages, **params: Any) -> Completion:
        """One chat completion.

        Args:
            messages: The conversation (see :func:`actors.llm.coerce_messages`).
            **params: ``context=`` passages, ``timeout_s=`` budget, and body parameters
                (``temperature``, ``max_tokens``, ``model``...).

        Raises:
            LLMRequestError, LLMHTTPError, LLMTimeoutError, LLMConnectionError,
            LLMResponseError: see the module docstring.
        """
        context, budget, params = self._split(dict(params))
        prepared = prepare(messages, context)
        body = self._body(prepared, params, stream=False)
        with chat_span(self._tracer, system=self.system, model=str(body["model"]),
                       attributes=self._server_attrs) as span:
            response = await self._send(body, stream=False, budget=budget, span=span)
            completion = self._parse(response.text, prepared)
            record_completion(span, completion)
            return completion

    async def stream(self, messages: Messages, **params: Any) -> AsyncIterator[str]:
        """Text deltas of one chat completion, as the server sends them.

        Same arguments and errors as :meth:`complete`. Failures before the first delta are
        retried; a stream cut short afterwards raises (its deltas were already yielded).
        """
        context, budget, params = self._split(dict(params))
        prepared = prepare(messages, context)
        body = self._body(prepared, params, stream=True)
        with chat_span(self._tracer, system=self.system, model=str(body["model"]),
                       current=False, attributes=self._server_attrs) as span:
            response = await self._send(body, stream=True, budget=budget, span=span)
            try:
                if "text/event-stream" not in response.headers.get("content-type", ""):
                    # A server that ignores stream=true: one delta with the whole answer.
                    await response.aread()
                    completion = self._parse(response.text, prepared)
                    record_completion(span, completion)
                    if completion.text:
                        yield completion.text
                    return
                parts: list[str] = []
                finish = "stop"
                model = str(body["model"])
                usage = Usage()
                async for data in _sse_data(response):
                    if data == "[DONE]":
                        break
                    chunk = self._chunk(data)
                    model = str(chunk.get("model") or model)
                    if chunk.get("usage"):
                        usage = _usage(chunk["usage"])
                    for choice in chunk.get("choices") or ():
                        if not isinstance(choice, Mapping) or choice.get("index", 0) != 0:
                            continue
                        finish = str(choice.get("finish_reason") or finish)
                        delta = choice.get("delta")
                        piece = _text_of(delta.get("content")) if isinstance(
                            delta, Mapping) else None
                        if piece:
                            parts.append(piece)
                            yield piece
                record_completion(span, Completion(
                    text="".join(parts), model=model, finish_reason=finish, usage=usage))
            except httpx.TimeoutException:
                raise LLMTimeoutError(self.url, budget) from None
            except httpx.TransportError as exc:
                raise LLMConnectionError(self.url, f"stream cut short: {_reason(exc)}"
                                         ) from None
            finally:
                await response.aclose()

    def _chunk(self, data: str) -> Mapping[str, Any]:
        try:
            chunk = json.loads(data)
        except ValueError:
            raise LLMResponseError(self.url, "a stream event is not JSON",
                                   snippet(data)) from None
        if not isinstance(chunk, Mapping):
            raise LLMResponseError(self.url, "a stream event is not a JSON object",
                                   snippet(data))
        if "error" in chunk and not chunk.get("choices"):
            raise LLMResponseError(self.url, f"the stream reported: {error_detail(data)}",
                                   snippet(data))
        return chunk

    async def health(self) -> None:
        """Check the server answers and serves the model.

        ``GET {base_url}/models``: 200 is healthy (and, with ``check_model``, the model must
        be listed when the list is not empty). Some compatible servers have no ``/models``:
        on a 404 the chat endpoint is probed with an empty JSON object, which costs no
        tokens; a 400/422 there proves the endpoint exists, so the server counts as healthy
        with its models unknown. Anything else (refused, 401, 404 on chat, 5xx) is unhealthy.

        Raises:
            LLMConnectionError, LLMHTTPError, LLMTimeoutError, LLMError: What is wrong.
        """
        url = f"{self.config.base_url}/models"
        response = await self._probe("GET", url)
        if response.status_code == 404:
            chat = await self._probe("POST", self.url, json={})
            if chat.status_code in (400, 422) or chat.is_success:
                return
            raise LLMHTTPError(self.url, chat.status_code, error_detail(chat.content))
        if not response.is_success:
            raise LLMHTTPError(url, response.status_code, error_detail(response.content))
        if not self.config.check_model:
            return
        try:
            listed = [str(m.get("id")) for m in response.json().get("data", [])
                      if isinstance(m, Mapping)]
        except (ValueError, AttributeError, TypeError):
            raise LLMResponseError(url, "not a model list", snippet(response.text)) from None
        if listed and self.model not in listed:
            shown = ", ".join(listed[:10]) + (" ..." if len(listed) > 10 else "")
            raise LLMError(f"{url} does not list model {self.model!r} (it serves: {shown}): "
                           "fix llm.model or RAYGENT_LLM_MODEL, or set llm.check_model to "
                           "false for a server that routes unlisted models")

    async def _probe(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        budget = self.config.health_timeout_s
        try:
            async with asyncio.timeout(budget):
                return await self._client().request(method, url, timeout=budget, **kwargs)
        except (TimeoutError, httpx.TimeoutException):
            raise LLMTimeoutError(url, budget) from None
        except httpx.TransportError as exc:
            raise LLMConnectionError(url, _reason(exc)) from None


async def _sse_data(response: httpx.Response) -> AsyncIterator[str]:
    """The ``data`` of each server-sent event (multi-line data joined with newlines)."""
    lines: list[str] = []
    async for line in response.aiter_lines():
        if not line:
            if lines:
                yield "\n".join(lines)
                lines = []
            continue
        if line.startswith(":"):
            continue  # a comment / keep-alive
        name, _, value = line.partition(":")
        if name == "data":
            lines.append(value[1:] if value.startswith(" ") else value)
    if lines:
        yield "\n".join(lines)


def _text_of(content: Any) -> str | None:
    """Message content as text: a string, null (no text) or a list of text parts."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = [p.get("text") for p in content if isinstance(p, Mapping)]
        if all(isinstance(t, str) for t in texts):
            return "".join(t for t in texts if t is not None)
    return None


def _usage(data: Any) -> Usage:
    if not isinstance(data, Mapping):
        return Usage()

    def count(*keys: str) -> int:
        for key in keys:
            value = data.get(key)
            if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
                return value
        return 0

    return Usage(input_tokens=count("prompt_tokens", "input_tokens"),
                 output_tokens=count("completion_tokens", "output_tokens"))


__all__ = ["OpenAIBackend"]
