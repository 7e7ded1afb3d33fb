"""A real OpenAI-compatible HTTP server on 127.0.0.1 for the LLM tests.

It speaks the chat-completions wire format (JSON, and server-sent events when the request
says ``"stream": true``), serves ``GET /v1/models``, records every request it receives, and
can be scripted to fail::

    with LLMServer() as server:
        server.script(Reply(status=429, headers={"Retry-After": "1"}))  # then the default
        server.always(Reply(status=500))  # every chat request from now on
        server.requests("/v1/chat/completions")

By default a chat request is answered with ``echo: <last user message>``.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

CHAT_PATH = "/v1/chat/completions"
MODELS_PATH = "/v1/models"


@dataclass(frozen=True, kw_only=True)
class Reply:
    """How to answer one chat-completions request.

    Attributes:
        status: HTTP status.
        text: Answer text of a normal completion (None: ``echo: <last user message>``).
        json: A JSON body to send instead of a completion (e.g. an OpenAI error object).
        body: Raw bytes to send instead (garbage).
        content_type: Content type of ``body``.
        headers: Extra response headers (``Retry-After``).
        delay_s: Wait this long before answering (longer than a client's timeout).
        chunk_delay_s: Wait between stream chunks.
        finish_reason: Of a normal completion.
    """

    status: int = 200
    text: str | None = None
    json: Any = None
    body: bytes | None = None
    content_type: str = "text/plain"
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    chunk_delay_s: float = 0.0
    finish_reason: str = "stop"

    @property
    def is_completion(self) -> bool:
        return self.status == 200 and self.json is None and self.body is None


def openai_error(message: str, *, type_: str = "invalid_request_error",
                 param: str | None = None, code: str | None = None) -> dict[str, Any]:
    """An OpenAI-style error body."""
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


@dataclass(frozen=True, kw_only=True)
class SeenRequest:
    """One request the server received.

    Attributes:
        method: ``GET`` or ``POST``.
        path: The request path.
        headers: Headers, with lower-case names.
        body: The raw body.
        at: ``time.monotonic()`` when it arrived.
    """

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    at: float

    @property
    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


def _words(text: str) -> int:
    return len(text.split())


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, and chunked bodies for streams
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _record(self) -> SeenRequest:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        seen = SeenRequest(method=self.command, path=self.path,
                           headers={k.lower(): v for k, v in self.headers.items()},
                           body=body, at=time.monotonic())
        self.server.owner._seen(seen)
        return seen

    def do_GET(self) -> None:
        self._record()
        owner = self.server.owner
        if self.path == MODELS_PATH and owner.models_status == 200:
            self._json(200, {"object": "list", "data": [
                {"id": m, "object": "model", "owned_by": "tests"} for m in owner.models]})
        elif self.path == MODELS_PATH:
            self._json(owner.models_status, openai_error("models are not listed here"))
        else:
            self._json(404, openai_error(f"no route {self.path}"))

    def do_POST(self) -> None:
        seen = self._record()
        owner = self.server.owner
        if self.path != CHAT_PATH:
            self._json(404, openai_error(f"no route {self.path}"))
            return
        try:
            request = seen.json
        except ValueError:
            request = None
        if not isinstance(request, dict) or "messages" not in request:
            self._json(400, openai_error("'messages' is a required property",
                                         param="messages"))
            return
        reply = owner._next_reply()
        generation = owner._enter()
        try:
            if reply.delay_s and owner._closing.wait(reply.delay_s):
                return
            self._answer(request, reply)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (its timeout): nothing to answer
        finally:
            owner._leave(generation)

    def _answer(self, request: dict[str, Any], reply: Reply) -> None:
        if reply.body is not None:
            self._send(reply.status, reply.body, reply.content_type, reply.headers)
            return
        if reply.json is not None or reply.status != 200:
            payload = reply.json if reply.json is not None else openai_error(
                f"scripted failure {reply.status}", type_="server_error")
            self._json(reply.status, payload, reply.headers)
            return
        text = reply.text if reply.text is not None else _echo(request)
        model = str(request.get("model", ""))
        usage = {"prompt_tokens": sum(_words(str(m.get("content", "")))
                                      for m in request["messages"]),
                 "completion_tokens": _words(text)}
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        if request.get("stream"):
            options = request.get("stream_options") or {}
            self._stream(model, text, reply, usage if options.get("include_usage") else None)
            return
        self._json(200, {
            "id": "chatcmpl-test", "object": "chat.completion", "created": int(time.time()),
            "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                         "finish_reason": reply.finish_reason}],
            "usage": usage,
        }, reply.headers)

    def _stream(self, model: str, text: str, reply: Reply,
                usage: dict[str, int] | None) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()
        base = {"id": "chatcmpl-test", "object": "chat.completion.chunk",
                "created": int(time.time()), "model": model}

        def chunk(raw: bytes) -> None:
            self.wfile.write(f"{len(raw):x}\r\n".encode() + raw + b"\r\n")
            self.wfile.flush()

        def event(data: str) -> None:
            chunk(f"data: {data}\n\n".encode())

        event(json.dumps({**base, "choices": [
            {"index": 0, "delta": {"role": "assistant", "content": ""},
             "finish_reason": None}]}))
        chunk(b": keep-alive\n\n")  # an SSE comment, which clients must skip
        pieces = text.split(" ")
        for i, piece in enumerate(pieces):
            if reply.chunk_delay_s and self.server.owner._closing.wait(reply.chunk_delay_s):
                return
            delta = piece if i == 0 else " " + piece
            event(json.dumps({**base, "choices": [
                {"index": 0, "delta": {"content": delta}, "finish_reason": None}]}))
        event(json.dumps({**base, "choices": [
            {"index": 0, "delta": {}, "finish_reason": reply.finish_reason}]}))
        if usage is not None:
            event(json.dumps({**base, "choices": [], "usage": usage}))
        event("[DONE]")
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def _json(self, status: int, payload: Any, headers: Mapping[str, str] | None = None
              ) -> None:
        self._send(status, json.dumps(payload).encode(), "application/json", headers or {})

    def _send(self, status: int, body: bytes, content_type: str,
              headers: Mapping[str, str]) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()


def _echo(request: dict[str, Any]) -> str:
    users = [m for m in request["messages"] if isinstance(m, dict) and m.get("role") == "user"]
    return f"echo: {users[-1].get('content', '') if users else ''}"


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    owner: LLMServer


class LLMServer:
    """The server: start it (or use it as a context manager), script it, read its log.

    Args:
        models: Ids listed by ``GET /v1/models``.
    """

    def __init__(self, models: tuple[str, ...] = ("test-model",)) -> None:
        self.models = list(models)
        self.models_status = 200
        self._lock = threading.Lock()
        self._queue: deque[Reply] = deque()
        self._default = Reply()
        self._log: list[SeenRequest] = []
        # Requests still waiting out a delay for an earlier test (whose client gave up)
        # must not count for the next one: counts are kept per reset() generation.
        self._generation = 0
        self._inflight: dict[int, int] = {}
        self.max_inflight = 0
        self._closing = threading.Event()
        self._http: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> LLMServer:
        self._http = _Server(("127.0.0.1", 0), _Handler)
        self._http.owner = self
        self._thread = threading.Thread(target=self._http.serve_forever, name="llm-server",
                                        kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._closing.set()  # ends scripted delays at once
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
            self._http = None

    def __enter__(self) -> LLMServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._http is not None, "start the server first"
        return int(self._http.server_address[1])

    @property
    def base_url(self) -> str:
        """The API root to configure clients with (``http://127.0.0.1:<port>/v1``)."""
        return f"http://127.0.0.1:{self.port}/v1"

    # -- scripting ---------------------------------------------------------------------------

    def script(self, *replies: Reply) -> None:
        """Answer the next chat requests with these, in order, then with the default."""
        with self._lock:
            self._queue.extend(replies)

    def always(self, reply: Reply | None) -> None:
        """Answer every chat request (after the scripted ones) like this; None: normally."""
        with self._lock:
            self._default = reply or Reply()

    def reset(self) -> None:
        """Forget scripts, the default, the log and the in-flight peak."""
        with self._lock:
            self._queue.clear()
            self._default = Reply()
            self._log.clear()
            self._generation += 1
            self.max_inflight = 0
            self.models_status = 200

    def _next_reply(self) -> Reply:
        with self._lock:
            return self._queue.popleft() if self._queue else self._default

    # -- the log -----------------------------------------------------------------------------

    def _seen(self, request: SeenRequest) -> None:
        with self._lock:
            self._log.append(request)

    def _enter(self) -> int:
        with self._lock:
            gen = self._generation
            self._inflight[gen] = self._inflight.get(gen, 0) + 1
            self.max_inflight = max(self.max_inflight, self._inflight[gen])
            return gen

    def _leave(self, generation: int) -> None:
        with self._lock:
            self._inflight[generation] -= 1

    def requests(self, path: str | None = None) -> list[SeenRequest]:
        """Requests received so far (only those to ``path`` when given), oldest first."""
        with self._lock:
            return [r for r in self._log if path is None or r.path == path]

    def chat_requests(self) -> list[SeenRequest]:
        return self.requests(CHAT_PATH)
