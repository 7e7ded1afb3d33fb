"""Sending mail through SMTP (the standard library's ``smtplib``), one step at a time.

The transaction is driven command by command (``MAIL``, ``RCPT``, then ``DATA``) rather
than with ``send_message``, so the caller can write its "about to send" record between
the recipients being accepted and the message being handed over: nothing can reach a
mailbox before ``DATA``, and a refusal of ``DATA`` itself proves nothing was delivered.
What remains uncertain is only an answer lost after ``DATA`` (the server may have taken
the message): the email agent reports that as a ``possible_duplicate`` if it sends again.

Connections are reused (a small pool) because opening one costs more than sending.
Passwords are held here only, never logged or put into an error.
"""

from __future__ import annotations

import io
import smtplib
import ssl
import threading
import time
from collections.abc import Callable
from email.generator import BytesGenerator
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import getaddresses

from scenarios.workflow._connections import SmtpConfig
from scenarios.workflow._errors import EmailError

_IDLE_CHECK_S = 5.0  # a pooled connection idle longer than this is checked with NOOP


class AmbiguousSend(EmailError):
    """The answer to ``DATA`` was lost: the server may or may not have the message."""


def message_bytes(msg: EmailMessage) -> bytes:
    """The message as it goes on the wire (CRLF line ends)."""
    buf = io.BytesIO()
    BytesGenerator(buf, policy=SMTP_POLICY).flatten(msg)
    return buf.getvalue()


def recipients(msg: EmailMessage) -> list[str]:
    """Every address in To, Cc and Bcc."""
    fields = [str(v) for key in ("To", "Cc", "Bcc") for v in msg.get_all(key, [])]
    return [addr for _, addr in getaddresses(fields) if addr]


class Mailer:
    """Sends messages through one SMTP server (thread-safe; call from worker threads)."""

    def __init__(self, config: SmtpConfig, password: str | None = None) -> None:
        self.config = config
        self._password = password
        self._idle: list[tuple[smtplib.SMTP, float]] = []
        self._lock = threading.Lock()
        self.opened = 0

    def _context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=self.config.ca_file)
        if not self.config.verify_tls:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        return ctx

    def _open(self) -> smtplib.SMTP:
        cfg = self.config
        try:
            conn: smtplib.SMTP
            if cfg.security == "ssl":
                conn = smtplib.SMTP_SSL(cfg.host, cfg.port, timeout=cfg.timeout_s,
                                        context=self._context())
            else:
                conn = smtplib.SMTP(cfg.host, cfg.port, timeout=cfg.timeout_s)
            conn.ehlo()
            if cfg.security == "starttls":
                if not conn.has_extn("starttls"):
                    conn.close()
                    raise EmailError(cfg.server, "the server does not offer STARTTLS "
                                     "(security: starttls)", retryable=False)
                conn.starttls(context=self._context())
                conn.ehlo()
            if cfg.username is not None:
                conn.login(cfg.username, self._password or "")
        except smtplib.SMTPAuthenticationError as exc:
            raise EmailError(cfg.server, f"login as {cfg.username!r} refused ({exc.smtp_code})"
                             ": check the username and the password secret",
                             retryable=False) from None
        except smtplib.SMTPNotSupportedError as exc:
            raise EmailError(cfg.server, f"not supported: {exc}", retryable=False) from None
        except ssl.SSLError as exc:
            raise EmailError(cfg.server, f"TLS failed: {exc.reason or exc}",
                             retryable=False) from None
        except (OSError, smtplib.SMTPException) as exc:
            raise EmailError(cfg.server, f"cannot connect: {type(exc).__name__}: {exc}"
                             ) from None
        self.opened += 1
        return conn

    def _take(self) -> smtplib.SMTP:
        while True:
            with self._lock:
                if not self._idle:
                    break
                conn, since = self._idle.pop()
            if time.monotonic() - since < _IDLE_CHECK_S:
                return conn
            try:
                if conn.noop()[0] == 250:
                    return conn
            except (OSError, smtplib.SMTPException):
                pass
            _close(conn)
        return self._open()

    def _give(self, conn: smtplib.SMTP) -> None:
        with self._lock:
            self._idle.append((conn, time.monotonic()))

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for conn, _ in idle:
            _close(conn, quit_=True)

    def send(self, msg: EmailMessage, *, before_data: Callable[[], bool]) -> bool:
        """Send one message.

        Args:
            msg: The message (From, To... set).
            before_data: Called once the recipients are accepted, just before ``DATA``;
                returning False abandons the send (the message went out earlier).

        Returns:
            Whether the message was handed over (False: abandoned by ``before_data``).

        Raises:
            AmbiguousSend: The connection failed after ``DATA`` began.
            EmailError: Refused (``retryable`` False for 5xx answers) or unreachable.
        """
        server = self.config.server
        to = recipients(msg)
        if not to:
            raise EmailError(server, "the message has no recipient", retryable=False)
        sender = self.config.sender
        data = message_bytes(msg)
        options = ["SMTPUTF8"] if not all(a.isascii() for a in [*to, sender]) else []
        conn = self._take()
        try:
            code, resp = conn.mail(_address(sender), options)
            if code != 250:
                raise _refused(server, "MAIL FROM", code, resp)
            for addr in to:
                code, resp = conn.rcpt(addr)
                if code not in (250, 251):
                    raise _refused(server, f"RCPT TO {addr}", code, resp)
            if not before_data():
                conn.rset()
                self._give(conn)
                return False
        except EmailError:
            _close(conn)
            raise
        except (OSError, smtplib.SMTPException) as exc:
            _close(conn)
            raise EmailError(server, f"{type(exc).__name__}: {exc}") from None
        try:
            code, resp = conn.data(data)
        except smtplib.SMTPDataError as exc:
            _close(conn)
            raise _refused(server, "DATA", exc.smtp_code, exc.smtp_error) from None
        except (OSError, smtplib.SMTPException) as exc:
            _close(conn)
            raise AmbiguousSend(server, f"the connection failed during DATA "
                                f"({type(exc).__name__}: {exc})") from None
        if code != 250:  # smtplib returns the final answer to DATA rather than raising
            _close(conn)
            raise _refused(server, "DATA", code, resp)
        self._give(conn)
        return True


def _address(sender: str) -> str:
    pairs = getaddresses([sender])
    return pairs[0][1] if pairs and pairs[0][1] else sender


def _refused(server: str, command: str, code: int, resp: bytes | str) -> EmailError:
    text = resp.decode("utf-8", "replace") if isinstance(resp, bytes) else str(resp)
    return EmailError(server, f"{command} refused: {code} {text}", retryable=code < 500)


def _close(conn: smtplib.SMTP, *, quit_: bool = False) -> None:
    try:
        if quit_:
            conn.quit()
        else:
            conn.close()
    except (OSError, smtplib.SMTPException):
        conn.close()


__all__ = ["AmbiguousSend", "Mailer", "message_bytes", "recipients"]
