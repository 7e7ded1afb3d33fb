"""The webhook trigger agent: an HTTP server on the agent's own event loop.

``POST /hooks/{flow}`` (Starlette, served by uvicorn; ``GET /healthz`` for probes). A
request that passes the gate (``_gate.py``: size, then signature, then body) is
*accepted*: the event's first step is sent to its agent, and only once the supervisor has
journaled that message (``send_async`` returns) is the answer ``202 Accepted``.

Answers: 202 accepted; 200 ``{"status": "duplicate", ...}`` with the first delivery's
state for an event id seen before (it never runs twice); 400 bad body; 401 bad or stale
signature; 404 another flow; 413 too large (for the flow's ``max_body_bytes``, or for the
runtime's message limit); 503 when the runtime cannot take the event now (retry later:
nothing was accepted).

An event id is claimed in the history before the send; a crash between claim and send
leaves it ``accepting``, so the sender's retry sends it (the supervisor drops a second
copy of a message it journaled, by the step's idempotency key) rather than calling it a
duplicate. Requests for the same id are handled one at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
from typing import Any

from opentelemetry import trace
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from actors import Agent, MessageTooLargeError, RaygentError, service
from scenarios.workflow._connections import secret_values
from scenarios.workflow._flow import Flow, flow_from_config
from scenarios.workflow._gate import Checked, Rejected, check, read_body
from scenarios.workflow._history import EventRecord, HistoryStore
from scenarios.workflow._history_writer import HistoryWriter
from scenarios.workflow._secrets import workflow_home
from scenarios.workflow._serve import server_for
from scenarios.workflow.messages import StepRequest

log = logging.getLogger("raygent.workflow")
_tracer = trace.get_tracer("raygent.workflow")
_SECRETS_TTL_S = 5.0  # a failed signature re-reads the secrets at most this often


def address_file(flow: str) -> str:
    """Where a running webhook writes its URL (read by ``raygent webhook send``)."""
    return str(workflow_home() / f"{flow}.webhook.json")


def _answer(status: int, body: dict[str, Any], *, headers: dict[str, str] | None = None
            ) -> JSONResponse:
    return JSONResponse(body, status_code=status, headers=headers)


def duplicate_answer(record: EventRecord) -> dict[str, Any]:
    """The documented answer to an event id seen before: how its first delivery went."""
    return {"status": "duplicate", "event_id": record.event_id, "state": record.status,
            "first_received_at": record.received_at,
            "steps": {s.step: s.status for s in record.steps}}


class WebhookAgent(Agent):
    """Serves one flow's webhook. Config: ``flow`` (mapping or path of its file)."""

    async def on_start(self) -> None:
        self.flow: Flow = flow_from_config(self.config.get("flow"))
        hook = self.flow.webhook
        self._secrets = secret_values(hook.secrets)  # fail at start, not at first request
        self._secrets_read = time.monotonic()
        self.history = await asyncio.to_thread(
            HistoryStore, self.flow.connections.history.resolved_url())
        self.writer = HistoryWriter(self.history)
        self._locks: dict[str, tuple[asyncio.Lock, list[int]]] = {}
        self.accepted = 0
        self.rejected: dict[int, int] = {}
        app = Starlette(routes=[
            Route("/hooks/{flow}", self._post, methods=["POST"]),
            Route("/healthz", self._healthz, methods=["GET"]),
        ])
        self._server = server_for(app, hook.host, hook.port)
        self._task = asyncio.get_running_loop().create_task(self._server.serve())
        while not self._server.started:
            if self._task.done():
                exc = self._task.exception()
                raise RaygentError(
                    f"webhook of flow {self.flow.name!r} cannot listen on "
                    f"{hook.host}:{hook.port} ({exc or 'server stopped'}): free the port or "
                    "set trigger.webhook.port (0 picks a free one)")
            await asyncio.sleep(0.01)
        self.host, self.port = hook.host, self._server.port
        self._write_address()
        log.info("webhook of flow %s listening on %s", self.flow.name, self.url)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/hooks/{self.flow.name}"

    def _write_address(self) -> None:
        path = address_file(self.flow.name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = f"{path}.{os.getpid()}"
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump({"url": self.url, "pid": os.getpid(), "flow": self.flow.name}, fh)
        os.replace(tmp, path)

    async def on_stop(self) -> None:
        self._server.should_exit = True
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._task, 10.0)
        self.writer.close()
        self.history.close()

    async def health(self) -> bool:
        return not self._task.done()

    @service
    def address(self) -> dict[str, Any]:
        """Where the webhook listens (a service method: ``invoke("address")``)."""
        return {"host": self.host, "port": self.port, "url": self.url}

    @service
    def counters(self) -> dict[str, Any]:
        """Requests accepted, and rejected by status."""
        return {"accepted": self.accepted, "rejected": dict(self.rejected)}

    # -- HTTP ----------------------------------------------------------------------------

    async def _healthz(self, request: Request) -> JSONResponse:
        return _answer(200, {"status": "ok", "flow": self.flow.name})

    def _reject(self, exc: Rejected) -> JSONResponse:
        self.rejected[exc.status] = self.rejected.get(exc.status, 0) + 1
        return _answer(exc.status, {"status": "rejected", "error": exc.reason})

    async def _post(self, request: Request) -> JSONResponse:
        hook = self.flow.webhook
        try:
            if request.path_params.get("flow") != self.flow.name:
                raise Rejected(404, f"no flow {request.path_params.get('flow')!r} here")
            body = await read_body(request.headers, request.stream(),
                                   limit=hook.max_body_bytes)
            checked = self._check(request, body)
        except Rejected as exc:
            return self._reject(exc)
        return await self._accept(checked)

    def _check(self, request: Request, body: bytes) -> Checked:
        hook = self.flow.webhook
        try:
            return check(request.headers, body, secrets=self._secrets,
                         tolerance_s=hook.tolerance_s, event_id_path=self.flow.event_id)
        except Rejected as exc:
            if exc.status != 401 or time.monotonic() - self._secrets_read < _SECRETS_TTL_S:
                raise
        # A secret may have rotated since they were read: read them again, check again.
        with contextlib.suppress(RaygentError):
            self._secrets = secret_values(hook.secrets)
        self._secrets_read = time.monotonic()
        return check(request.headers, body, secrets=self._secrets,
                     tolerance_s=hook.tolerance_s, event_id_path=self.flow.event_id)

    async def _accept(self, checked: Checked) -> JSONResponse:
        event_id = checked.event_id
        entry = self._locks.get(event_id)
        if entry is None:
            entry = self._locks[event_id] = (asyncio.Lock(), [0])
        lock, users = entry
        users[0] += 1
        try:
            async with lock:
                return await self._accept_once(checked)
        finally:
            users[0] -= 1
            if users[0] == 0:
                del self._locks[event_id]

    async def _accept_once(self, checked: Checked) -> JSONResponse:
        flow, event_id = self.flow, checked.event_id
        with _tracer.start_as_current_span(f"workflow accept {flow.name}") as span:
            ctx = span.get_span_context()
            trace_id = format(ctx.trace_id, "032x") if ctx.trace_id else None
            span.set_attribute("raygent.workflow.event_id", event_id)
            received = time.time()
            earlier = await self.writer.claim(flow.name, event_id, checked.event,
                                              trace_id=trace_id, now=received)
            if earlier is not None and earlier.status != "accepting":
                span.set_attribute("raygent.workflow.duplicate", True)
                return _answer(200, duplicate_answer(earlier))
            if earlier is not None:  # claimed by a try that never got its 202
                received, trace_id = earlier.received_at, earlier.trace_id or trace_id
            start = flow.steps[flow.start]
            try:
                await self.send_async(
                    flow.agent(start.role),
                    StepRequest(flow=flow.name, event_id=event_id, step=start.id,
                                event=checked.event, received_at=received, trace_id=trace_id),
                    idempotency_key=flow.key(event_id, start.id))
            except MessageTooLargeError as exc:
                # The body passed max_body_bytes but not the runtime's message limit:
                # retrying cannot help, and the claim goes (it was never accepted).
                await self.writer.release(flow.name, event_id)
                return _answer(413, {"status": "rejected", "event_id": event_id,
                                     "error": str(exc)})
            except RaygentError as exc:
                log.warning("event %s not accepted: %s", event_id, exc)
                return _answer(503, {"status": "unavailable", "event_id": event_id,
                                     "error": str(exc)}, headers={"Retry-After": "1"})
            await self.writer.mark_received(flow.name, event_id)
            self.accepted += 1
            return _answer(202, {"status": "accepted", "event_id": event_id,
                                 "trace_id": trace_id})


__all__ = ["WebhookAgent", "address_file", "duplicate_answer"]
