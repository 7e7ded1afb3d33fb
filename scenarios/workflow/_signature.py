"""Webhook signatures: HMAC-SHA256 over ``"{timestamp}.{raw body}"``, Stripe-style.

The header is ``Raygent-Signature: t=1718000000,v1=<hex>[,v1=<hex>...]``: ``t`` is the
sender's Unix time in seconds and each ``v1`` the hex HMAC-SHA256, keyed by one signing
secret, of the ASCII timestamp, a dot and the raw request body. While a secret rotates the
sender signs with both and the receiver accepts either (the receiver also holds a list).
Unknown schemes (``v0=...``) are ignored, as Stripe's are. Digests are compared with
:func:`hmac.compare_digest`, in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Sequence

from scenarios.workflow._errors import WorkflowError

HEADER = "Raygent-Signature"
SCHEME = "v1"
MAX_HEADER_CHARS = 2048  # a few signatures fit; a longer header is hostile or broken
MAX_SIGNATURES = 8


class SignatureError(WorkflowError):
    """A request's signature is missing, malformed, stale or wrong (answered with 401)."""

    retryable = False


def digest(secret: str, timestamp: int, body: bytes) -> str:
    """The hex HMAC-SHA256 of ``"{timestamp}.{body}"`` under ``secret``."""
    mac = hmac.new(secret.encode("utf-8"), f"{timestamp}.".encode("ascii"), hashlib.sha256)
    mac.update(body)
    return mac.hexdigest()


def sign(secrets: Sequence[str], body: bytes, *, timestamp: int | None = None) -> str:
    """The signature header value for ``body``: one ``v1`` per secret.

    Args:
        secrets: Signing secrets (two while rotating).
        body: The exact bytes that will be posted.
        timestamp: Unix seconds; now by default.
    """
    if not secrets:
        raise ValueError("sign needs at least one secret")
    t = int(time.time()) if timestamp is None else int(timestamp)
    return ",".join([f"t={t}", *(f"{SCHEME}={digest(s, t, body)}" for s in secrets)])


def parse_header(value: str | None) -> tuple[int, list[str]]:
    """``(timestamp, v1 signatures)`` of a header value.

    Raises:
        SignatureError: If it is missing, too long, or lacks ``t`` or any ``v1``.
    """
    if value is None or not value.strip():
        raise SignatureError(f"missing {HEADER} header: sign the request (t=...,v1=...)")
    if len(value) > MAX_HEADER_CHARS:
        raise SignatureError(f"{HEADER} header is over {MAX_HEADER_CHARS} characters")
    timestamp: int | None = None
    found: list[str] = []
    for item in value.split(","):
        key, sep, val = item.strip().partition("=")
        if not sep:
            continue
        if key == "t":
            if not (val.isascii() and val.isdigit()) or len(val) > 12 or timestamp is not None:
                raise SignatureError(f"{HEADER}: t must appear once, as Unix seconds")
            timestamp = int(val)
        elif (key == SCHEME and len(val) == 64 and val.isascii()
              and len(found) < MAX_SIGNATURES):
            found.append(val.lower())
    if timestamp is None:
        raise SignatureError(f"{HEADER}: no t=<unix seconds> in the header")
    if not found:
        raise SignatureError(f"{HEADER}: no {SCHEME}=<64 hex digits> signature in the header")
    return timestamp, found


def verify(value: str | None, body: bytes, secrets: Sequence[str], *,
           tolerance_s: float, now: float | None = None) -> int:
    """Check a request's signature header against the body; return its timestamp.

    The timestamp is checked first (it costs nothing), then every ``v1`` against every
    secret, in constant time per comparison.

    Raises:
        SignatureError: Missing or malformed header, a timestamp outside the tolerance
            (a replayed or delayed request), or no signature matching any secret.
    """
    timestamp, candidates = parse_header(value)
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance_s:
        raise SignatureError(f"{HEADER}: timestamp {timestamp} is more than {tolerance_s:g}s "
                             "from the receiver's clock (stale or replayed request)")
    matched = False
    for secret in secrets:
        expected = digest(secret, timestamp, body)
        for candidate in candidates:
            # Every pair is compared (no early exit), so timing says nothing of which.
            matched |= hmac.compare_digest(expected, candidate)
    if not matched:
        raise SignatureError(f"{HEADER}: no signature matches the body under the flow's "
                             "secrets")
    return timestamp


__all__ = ["HEADER", "SignatureError", "digest", "parse_header", "sign", "verify"]
