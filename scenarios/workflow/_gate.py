"""The checks a webhook request passes before its event is accepted, cheapest first.

1. size: a ``Content-Length`` over the limit is refused before the body is read, and a
   body streamed without one is cut off as soon as it passes the limit (413): the HMAC
   is never computed over more than ``max_body_bytes``;
2. signature: header present and well-formed, timestamp within the tolerance, one
   ``v1`` matching one secret (401);
3. body: UTF-8 JSON (no NaN/Infinity), an object, with a string event id of at most 200
   characters from ``A-Z a-z 0-9 . _ : @ -`` at the configured path (400).
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from scenarios.workflow._expr import Path, lookup, to_text
from scenarios.workflow._signature import HEADER, SignatureError, verify

EVENT_ID_RE = re.compile(r"[A-Za-z0-9._:@-]{1,200}\Z")


class Rejected(Exception):
    """A request answered with a 4xx (``status``) and a reason for the sender."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass(frozen=True, kw_only=True)
class Checked:
    """A request that passed: its event id, its parsed body and its timestamp."""

    event_id: str
    event: dict[str, Any]
    timestamp: int


async def read_body(headers: Mapping[str, str], chunks: AsyncIterator[bytes], *,
                    limit: int) -> bytes:
    """Read a request body of at most ``limit`` bytes.

    Raises:
        Rejected: 413 over the limit (declared or streamed), 400 for a bad
            Content-Length.
    """
    declared = headers.get("content-length")
    if declared is not None:
        if not (declared.isascii() and declared.isdigit()) or len(declared) > 18:
            raise Rejected(400, "Content-Length is not a number")
        if int(declared) > limit:
            raise Rejected(413, f"body of {int(declared)} bytes is over the limit of {limit}")
    body = bytearray()
    async for chunk in chunks:
        body += chunk
        if len(body) > limit:
            raise Rejected(413, f"body is over the limit of {limit} bytes")
    return bytes(body)


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def parse_event(body: bytes, event_id_path: Path) -> tuple[str, dict[str, Any]]:
    """The event id and the event of a verified body.

    Raises:
        Rejected: 400 for anything but a JSON object with a valid event id.
    """
    try:
        text = body.decode("utf-8")
        event = json.loads(text, parse_constant=_no_constants)
    except UnicodeDecodeError:
        raise Rejected(400, "body is not UTF-8") from None
    except (ValueError, RecursionError) as exc:
        raise Rejected(400, f"body is not valid JSON ({str(exc)[:120]})") from None
    if not isinstance(event, dict):
        raise Rejected(400, f"body must be a JSON object, got {type(event).__name__}")
    found, event_id = lookup(event, event_id_path)
    where = to_text(event_id_path)
    if not found:
        raise Rejected(400, f"body has no event id at {where}")
    if not isinstance(event_id, str) or not EVENT_ID_RE.match(event_id):
        raise Rejected(400, f"event id at {where} must be a string of 1-200 characters "
                            "from A-Z a-z 0-9 . _ : @ -")
    return event_id, event


def check(headers: Mapping[str, str], body: bytes, *, secrets: Sequence[str],
          tolerance_s: float, event_id_path: Path, now: float | None = None) -> Checked:
    """Verify the signature of a body already read within the limit, then parse it.

    Raises:
        Rejected: 401 (signature or timestamp) or 400 (body).
    """
    try:
        timestamp = verify(headers.get(HEADER.lower()), body, secrets,
                           tolerance_s=tolerance_s, now=now)
    except SignatureError as exc:
        raise Rejected(401, str(exc)) from None
    event_id, event = parse_event(body, event_id_path)
    return Checked(event_id=event_id, event=event, timestamp=timestamp)


__all__ = ["EVENT_ID_RE", "Checked", "Rejected", "check", "parse_event", "read_body"]
