"""The supervisor's door: what an incoming call must look like before anything is queued.

Senders build envelopes with ``make_envelope``, which already checks the payload; this is
the second look, for calls that reach the supervisor some other way (a raw Ray call, a bug,
an attacker on the cluster). Every malformed envelope, a time limit that is not a finite
number, and a sender that cannot prove its name are refused with a typed error; nothing is
queued from a refused call.
"""

from __future__ import annotations

import math
from typing import Any

from actors._approval import Ticket, default_answer
from actors._credentials import DRIVER, proves
from actors._envelope import Envelope
from actors._errors import ForgedSenderError, MessageError, MessageTooLargeError

_MAX_NAME = 256  # agent names, kinds, topics
_MAX_KEY = 1024  # ids, idempotency and correlation keys
_MAX_TRACE = 16  # trace carrier entries
_MAX_SECONDS = 366 * 86_400.0


def seconds(value: Any, what: str) -> float | None:
    """A time limit: None, or a finite number of seconds from 0 to a year.

    Raises:
        MessageError: For anything else (NaN, infinity, negative, not a number).
    """
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not (
            math.isfinite(value) and 0 <= value <= _MAX_SECONDS):
        raise MessageError(f"{what} must be a number of seconds from 0 to one year, "
                           f"not {str(value)[:40]!r}")
    return float(value)


def _text(value: Any, limit: int, what: str, *, optional: bool = True) -> None:
    if value is None and optional:
        return
    if not isinstance(value, str) or not value or len(value) > limit:
        raise MessageError(f"malformed envelope: {what} must be a non-empty string of at "
                           f"most {limit} characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise MessageError(f"malformed envelope: {what} is not valid UTF-8") from None


def check_envelope(env: Any, max_bytes: int) -> Envelope:
    """The envelope, if it is well formed.

    Raises:
        MessageError: What is wrong with it.
        MessageTooLargeError: Its payload is over ``max_bytes``.
    """
    if not isinstance(env, Envelope):
        raise MessageError(f"malformed call: expected an Envelope, got {type(env).__name__}")
    _text(env.id, _MAX_KEY, "id", optional=False)
    _text(env.kind, _MAX_NAME, "kind", optional=False)
    _text(env.sender, _MAX_NAME, "sender", optional=False)
    _text(env.recipient, _MAX_NAME, "recipient")
    _text(env.topic, _MAX_NAME, "topic")
    for what in ("correlation_id", "reply_to", "idempotency_key"):
        _text(getattr(env, what), _MAX_KEY, what)
    if not isinstance(env.data, bytes):
        raise MessageError("malformed envelope: data must be the pickled payload (bytes)")
    if len(env.data) > max_bytes:
        raise MessageTooLargeError(len(env.data), max_bytes)
    seconds(env.ttl_s, "ttl_s")
    if isinstance(env.attempt, bool) or not isinstance(env.attempt, int) or not (
            1 <= env.attempt <= 1_000_000):
        raise MessageError("malformed envelope: attempt must be a positive integer")
    if not isinstance(env.expects_reply, bool):
        raise MessageError("malformed envelope: expects_reply must be True or False")
    trace = env.trace
    if not isinstance(trace, dict) or len(trace) > _MAX_TRACE or not all(
            isinstance(k, str) and isinstance(v, str) and len(k) < 64 and len(v) <= _MAX_KEY
            for k, v in trace.items()):
        raise MessageError("malformed envelope: trace must be a small str -> str mapping")
    if not isinstance(env.created_at, int | float) or not math.isfinite(env.created_at):
        raise MessageError("malformed envelope: created_at must be a finite number")
    return env


def screen(envs: Any, token: Any, key: bytes, max_bytes: int) -> list[Envelope]:
    """Check a call's envelopes and that their sender is who the call's token proves.

    Raises:
        MessageError: A malformed call or envelope.
        ForgedSenderError: A sender other than the driver without that agent's token.
    """
    if not isinstance(envs, list | tuple):
        raise MessageError(f"malformed call: expected a list of envelopes, got "
                           f"{type(envs).__name__}")
    checked = [check_envelope(env, max_bytes) for env in envs]
    proven: set[str] = set()
    for env in checked:
        if env.sender == DRIVER or env.sender in proven:
            continue
        if not proves(key, env.sender, token):
            raise ForgedSenderError(env.sender)
        proven.add(env.sender)
    return checked


def check_ticket(ticket: Any, max_bytes: int) -> Ticket:
    """An agent's approval request (``ctx.approval``), if it is well formed.

    Raises:
        MessageError: What is wrong with it.
        MessageTooLargeError: Its request is over ``max_bytes``.
    """
    if not isinstance(ticket, Ticket):
        raise MessageError(f"malformed call: expected a Ticket, got {type(ticket).__name__}")
    for what in ("key", "message_key", "message_id"):
        _text(getattr(ticket, what), 2 * _MAX_KEY, what, optional=False)
    _text(ticket.kind, _MAX_NAME, "kind", optional=False)
    if not isinstance(ticket.request, bytes) or not isinstance(ticket.text, str) or not (
            isinstance(ticket.policy, str) and len(ticket.policy) <= max_bytes):
        raise MessageError("malformed approval request: request, text and policy must be "
                           "bytes, str and str")
    if len(ticket.request) + len(ticket.text) > max_bytes:
        raise MessageTooLargeError(len(ticket.request) + len(ticket.text), max_bytes)
    seconds(ticket.timeout_s, "timeout_s")
    try:
        default_answer(ticket.policy, 0.0)
    except Exception:  # not JSON, or not a policy: it would break listing and expiry
        raise MessageError("malformed approval request: policy is not a timeout policy "
                           "(build tickets with ctx.approval)") from None
    return ticket


def check_answer(approval_id: Any, data: Any, reason: Any, by: Any, max_bytes: int) -> None:
    """An answer to an approval (``approve``/``reject``), if it is well formed.

    Raises:
        MessageError: What is wrong with it.
    """
    _text(approval_id, 64, "approval id", optional=False)
    _text(by, _MAX_NAME, "by")
    if reason is not None and (not isinstance(reason, str) or len(reason) > 4000):
        raise MessageError("malformed answer: reason must be text of at most 4000 characters")
    if data is not None and (not isinstance(data, str) or len(data) > max_bytes):
        raise MessageError("malformed answer: data must be JSON text within max_message_bytes")
