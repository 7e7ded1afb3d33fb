"""A small CRM that speaks HTTP: the bundled run's CRM and the tests' real HTTP peer.

REST over JSON (Starlette, served by uvicorn from a thread):

* ``POST|PUT|PATCH /contacts/{id}``: merge the JSON object into the contact. With an
  ``Idempotency-Key`` header, the first request with a key is applied and its answer
  kept; a later one with the same key and body gets that answer again (header
  ``Idempotent-Replayed: true``) and changes nothing; the same key with another body is
  a 422 (Stripe's rules).
* ``GET /contacts/{id}``: the contact and how many updates it took.
* ``GET /_stats``: requests, applied updates, replayed answers, per-key counts.
* ``POST /_faults`` ``{"fail_next": N, "status": 503, "retry_after": 0.1}``: answer the
  next N updates with that status (and ``Retry-After``), to show retries. ``stop()`` and
  ``start()`` take it down and up again on the same port.

An optional bearer ``token`` is required on every update when set.
"""

from __future__ import annotations

import hashlib
import json
import threading
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from scenarios.workflow._serve import ThreadedServer


class CrmState:
    """What the CRM knows (guarded by one lock: handlers and readers are on two threads)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.contacts: dict[str, dict[str, Any]] = {}
        self.updates: dict[str, int] = {}
        self.keys: dict[str, tuple[str, int, dict[str, Any]]] = {}
        self.applied_by_key: dict[str, int] = {}
        self.requests = 0
        self.applied = 0
        self.replayed = 0
        self.fail_next = 0
        self.fail_status = 503
        self.fail_retry_after: float | None = None


class CrmServer:
    """The CRM on ``host:port`` (0: a free port, kept across stop/start)."""

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0,
                 token: str | None = None) -> None:
        self.state = CrmState()
        self.token = token
        app = Starlette(routes=[
            Route("/contacts/{cid}", self._update, methods=["POST", "PUT", "PATCH"]),
            Route("/contacts/{cid}", self._get, methods=["GET"]),
            Route("/_stats", self._stats, methods=["GET"]),
            Route("/_faults", self._faults, methods=["POST"]),
        ])
        self._http = ThreadedServer(app, host=host, port=port)

    @property
    def url(self) -> str:
        return self._http.url

    @property
    def port(self) -> int:
        return self._http.port

    def start(self) -> CrmServer:
        self._http.start()
        return self

    def stop(self) -> None:
        self._http.stop()

    def __enter__(self) -> CrmServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def fail(self, n: int, *, status: int = 503, retry_after: float | None = None) -> None:
        """Answer the next ``n`` updates with ``status``."""
        with self.state.lock:
            self.state.fail_next = n
            self.state.fail_status = status
            self.state.fail_retry_after = retry_after

    def stats(self) -> dict[str, Any]:
        s = self.state
        with s.lock:
            return {"requests": s.requests, "applied": s.applied, "replayed": s.replayed,
                    "contacts": len(s.contacts), "applied_by_key": dict(s.applied_by_key),
                    "updates": dict(s.updates)}

    def contact(self, cid: str) -> dict[str, Any] | None:
        with self.state.lock:
            found = self.state.contacts.get(cid)
            return dict(found) if found is not None else None

    # -- HTTP ----------------------------------------------------------------------------

    async def _update(self, request: Request) -> JSONResponse:
        s = self.state
        cid = request.path_params["cid"]
        raw = await request.body()
        with s.lock:
            s.requests += 1
            if s.fail_next > 0:
                s.fail_next -= 1
                headers = ({"Retry-After": f"{s.fail_retry_after:g}"}
                           if s.fail_retry_after is not None else None)
                return JSONResponse({"error": "unavailable (injected)"},
                                    status_code=s.fail_status, headers=headers)
        if self.token is not None and request.headers.get("authorization") != \
                f"Bearer {self.token}":
            return JSONResponse({"error": "missing or wrong bearer token"}, status_code=401)
        try:
            changes = json.loads(raw) if raw else {}
        except ValueError:
            return JSONResponse({"error": "body is not JSON"}, status_code=400)
        if not isinstance(changes, dict):
            return JSONResponse({"error": "body must be a JSON object"}, status_code=400)
        key = request.headers.get("idempotency-key")
        fingerprint = hashlib.sha256(request.method.encode() + b" " + cid.encode() + b" "
                                     + raw).hexdigest()
        with s.lock:
            if key is not None and key in s.keys:
                seen, status, answer = s.keys[key]
                if seen != fingerprint:
                    return JSONResponse({"error": "Idempotency-Key reused with another "
                                                  "request"}, status_code=422)
                s.replayed += 1
                return JSONResponse(answer, status_code=status,
                                    headers={"Idempotent-Replayed": "true"})
            created = cid not in s.contacts
            contact = s.contacts.setdefault(cid, {"id": cid})
            contact.update(changes)
            s.updates[cid] = s.updates.get(cid, 0) + 1
            s.applied += 1
            answer = {"contact": dict(contact), "updates": s.updates[cid]}
            status = 201 if created else 200
            if key is not None:
                s.keys[key] = (fingerprint, status, answer)
                s.applied_by_key[key] = s.applied_by_key.get(key, 0) + 1
        return JSONResponse(answer, status_code=status)

    async def _get(self, request: Request) -> JSONResponse:
        cid = request.path_params["cid"]
        found = self.contact(cid)
        if found is None:
            return JSONResponse({"error": f"no contact {cid!r}"}, status_code=404)
        with self.state.lock:
            updates = self.state.updates.get(cid, 0)
        return JSONResponse({"contact": found, "updates": updates})

    async def _stats(self, request: Request) -> JSONResponse:
        return JSONResponse(self.stats())

    async def _faults(self, request: Request) -> JSONResponse:
        try:
            spec = json.loads(await request.body())
            self.fail(int(spec.get("fail_next", 0)), status=int(spec.get("status", 503)),
                      retry_after=spec.get("retry_after"))
        except (ValueError, TypeError, AttributeError) as exc:
            return JSONResponse({"error": f"bad fault spec: {exc}"}, status_code=400)
        return JSONResponse({"ok": True})


__all__ = ["CrmServer", "CrmState"]
