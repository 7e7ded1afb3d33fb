"""A local SMTP server (aiosmtpd) that keeps what it receives: the bundled run's mailbox
and the tests' real SMTP peer.

Plain SMTP by default; ``tls_context`` offers STARTTLS (``require_starttls`` insists on
it), ``ssl_context`` speaks TLS from the first byte, ``users`` turns on AUTH. ``refuse``
makes the next N ``DATA`` commands fail with a temporary 451, to show retries.
"""

from __future__ import annotations

import socket
import ssl
import threading
import time
from dataclasses import dataclass
from email import message_from_bytes
from email.message import Message
from email.policy import default as default_policy
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


@dataclass(frozen=True, kw_only=True)
class Received:
    """One message as the sink took it."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    message_id: str
    subject: str
    body: str
    headers: dict[str, str]
    login: str | None
    tls: bool
    at: float


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on right now."""
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


class _Handler:
    def __init__(self, sink: SmtpSink) -> None:
        self.sink = sink

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        return self.sink._take(session, envelope)


class SmtpSink:
    """Starts an aiosmtpd server on 127.0.0.1 and records every message it accepts."""

    def __init__(self, *, host: str = "127.0.0.1", port: int | None = None,
                 tls_context: ssl.SSLContext | None = None, require_starttls: bool = False,
                 ssl_context: ssl.SSLContext | None = None,
                 users: dict[str, str] | None = None) -> None:
        self.host = host
        self.port = port or free_port(host)
        self.users = dict(users or {})
        self.messages: list[Received] = []
        self.refuse = 0
        self.refused = 0
        self._lock = threading.Lock()
        kwargs: dict[str, Any] = {}
        if tls_context is not None:
            kwargs.update(tls_context=tls_context, require_starttls=require_starttls)
        if ssl_context is not None:
            kwargs["ssl_context"] = ssl_context
        if self.users:
            kwargs.update(authenticator=self._authenticate,
                          auth_require_tls=tls_context is not None or ssl_context is not None,
                          auth_required=True)
        self._controller = Controller(_Handler(self), hostname=host, port=self.port,
                                      server_hostname=host, **kwargs)

    def _authenticate(self, server: Any, session: Any, envelope: Any, mechanism: str,
                      auth_data: Any) -> AuthResult:
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        login = auth_data.login.decode("utf-8", "replace")
        password = auth_data.password.decode("utf-8", "replace")
        ok = login in self.users and self.users[login] == password
        # handled=False: aiosmtpd then answers a failure with 535 itself.
        return AuthResult(success=ok, handled=False, auth_data=login if ok else None)

    def _take(self, session: Any, envelope: Any) -> str:
        with self._lock:
            if self.refuse > 0:
                self.refuse -= 1
                self.refused += 1
                return "451 4.3.0 try again later"
        parsed: Message = message_from_bytes(envelope.content, policy=default_policy)
        body_part = parsed.get_body(("plain",)) if hasattr(parsed, "get_body") else None
        body = body_part.get_content().replace("\r\n", "\n") if body_part is not None else ""
        login = session.auth_data if isinstance(session.auth_data, str) else None
        got = Received(mail_from=envelope.mail_from, rcpt_tos=tuple(envelope.rcpt_tos),
                       message_id=str(parsed.get("Message-ID", "")),
                       subject=str(parsed.get("Subject", "")), body=body,
                       headers={k: str(v) for k, v in parsed.items()}, login=login,
                       tls=session.ssl is not None, at=time.time())
        with self._lock:
            self.messages.append(got)
        return "250 OK"

    def start(self) -> SmtpSink:
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()

    def __enter__(self) -> SmtpSink:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def received(self) -> list[Received]:
        """A copy of what arrived so far, oldest first."""
        with self._lock:
            return list(self.messages)

    def by_message_id(self) -> dict[str, int]:
        """How many copies of each Message-ID arrived."""
        counts: dict[str, int] = {}
        for m in self.received():
            counts[m.message_id] = counts.get(m.message_id, 0) + 1
        return counts


__all__ = ["Received", "SmtpSink", "free_port"]
