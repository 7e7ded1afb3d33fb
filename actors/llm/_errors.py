"""The errors of model calls (all picklable, all under :class:`RaygentError`)::

    RaygentError
    └── LLMError                    a model call failed
        ├── LLMRequestError         the request is malformed (fix the caller)
        ├── LLMHTTPError            the server answered with an error status
        ├── LLMTimeoutError         no answer within the call's time budget
        ├── LLMConnectionError      the server could not be reached, after retries
        └── LLMResponseError        the answer is not a valid chat completion
"""

from __future__ import annotations

from typing import Any

from actors._errors import RaygentError, _rebuild

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
        # The same request may succeed later only on 429 and 5xx.
        self.retryable = status == 429 or status >= 500

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

