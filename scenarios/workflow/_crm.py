"""The CRM agent: a flow's ``crm`` steps as HTTP calls (httpx) with an Idempotency-Key.

Every call of one step of one event carries the same ``Idempotency-Key``
(``wf:<flow>:<event>:<step>``), so a CRM that honours the header (Stripe's convention)
applies it once even when our record of the first call was lost. Failures worth another
try (429, 5xx, timeouts, refused connections) are retried here with exponential backoff
and jitter, honouring ``Retry-After``; when the tries run out the step fails with a
non-retryable :class:`CRMError`, so it goes to the dead-letter queue at once, where
``raygent workflow replay`` picks it up once the CRM is back. Other 4xx answers are
final at once (fix the flow or the data, then replay).
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import random
import time
from typing import Any
from urllib.parse import quote

import httpx

from actors import MessageContext
from scenarios.workflow._connections import CrmConfig
from scenarios.workflow._errors import CRMError
from scenarios.workflow._flow import Step
from scenarios.workflow._runner import StepAgent, StepOutcome
from scenarios.workflow._template import render, render_text
from scenarios.workflow.messages import StepRequest

IDEMPOTENCY_HEADER = "Idempotency-Key"
_BODY_CHARS = 2000  # of a response kept in the history


def retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds a ``Retry-After`` header asks for (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


class CrmClient:
    """Calls one CRM with retries (one client, many concurrent calls)."""

    def __init__(self, config: CrmConfig, token: str | None = None, *,
                 rand: random.Random | None = None) -> None:
        self.config = config
        headers = {"User-Agent": "raygent-workflow"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self._client = httpx.AsyncClient(base_url=config.base_url.rstrip("/"),
                                         headers=headers, timeout=config.timeout_s)
        self._rand = rand or random.Random()
        self.requests = 0

    async def aclose(self) -> None:
        await self._client.aclose()

    async def call(self, method: str, path: str, body: Any, *, key: str) -> dict[str, Any]:
        """Send one update; return ``{"status", "attempts", "body"}`` once it succeeds.

        Raises:
            CRMError: A final 4xx, or the retries ran out (429/5xx/timeouts).
        """
        cfg = self.config
        url = f"{cfg.base_url.rstrip('/')}{path}"
        last = "no attempt made"
        status: int | None = None
        for attempt in range(1, cfg.max_attempts + 1):
            wait: float | None = None
            try:
                self.requests += 1
                resp = await self._client.request(
                    method, path, json=body, headers={IDEMPOTENCY_HEADER: key})
            except httpx.TimeoutException as exc:
                last, status = f"timed out ({type(exc).__name__})", None
            except httpx.TransportError as exc:
                last, status = f"unreachable ({type(exc).__name__}: {exc})", None
            else:
                status = resp.status_code
                if status < 300:
                    return {"status": status, "attempts": attempt,
                            "body": _body(resp), "replayed":
                            resp.headers.get("Idempotent-Replayed") == "true"}
                last = f"HTTP {status}: {resp.text[:200]}"
                if status != 429 and status < 500:
                    raise CRMError(url, f"refused the update ({last})", attempts=attempt,
                                   status=status)
                wait = retry_after(resp.headers.get("Retry-After"))
                if wait is not None and wait > cfg.max_retry_after_s:
                    raise CRMError(url, f"asked to retry after {wait:.0f}s, more than "
                                   f"max_retry_after_s={cfg.max_retry_after_s:g} ({last})",
                                   attempts=attempt, status=status)
            if attempt == cfg.max_attempts:
                break
            await asyncio.sleep(wait if wait is not None
                                else cfg.delay(attempt, self._rand.random()))
        raise CRMError(url, f"still failing ({last})", attempts=cfg.max_attempts,
                       status=status)


def _body(resp: httpx.Response) -> Any:
    try:
        return resp.json()
    except ValueError:
        return resp.text[:_BODY_CHARS]


def _path_segment(value: str) -> str:
    # A value from the event fills one path segment: "/" or ".." in it cannot reach
    # another resource of the CRM.
    return quote(value, safe="")


class CRMAgent(StepAgent):
    """Runs ``crm`` steps (endpoint: the flow's ``connections.crm``)."""

    role = "crm"

    async def setup(self) -> None:
        # httpx logs every request at INFO: thousands of lines that say nothing new.
        logging.getLogger("httpx").setLevel(logging.WARNING)
        crm = self.flow.connections.crm
        token = crm.token.resolve() if crm.token is not None else None
        self.client = CrmClient(crm, token)

    async def teardown(self) -> None:
        await self.client.aclose()

    async def run_step(self, step: Step, msg: StepRequest, ctx: MessageContext
                       ) -> StepOutcome:
        path = render_text(step.params["path"], msg.event, escape=_path_segment)
        body = render(step.params["json"], msg.event) if "json" in step.params else None
        method = str(render(step.params.get("method"), msg.event) or "POST")
        key = self.flow.key(msg.event_id, step.id)

        async def call() -> dict[str, Any]:
            return await self.client.call(method, path, body, key=key)

        result: dict[str, Any] = await self.effect(ctx, step, msg, call)
        return StepOutcome(
            result=result, next=step.next,
            detail=f"{method} {path} -> {result['status']} after {result['attempts']} "
                   f"attempt(s)")


__all__ = ["IDEMPOTENCY_HEADER", "CRMAgent", "CrmClient", "retry_after"]
