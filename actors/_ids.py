"""Time-sortable unique ids for messages and runs.

An id is 26 Crockford base32 characters (the ULID layout): 48 bits of milliseconds since the
epoch, then 80 bits that are random at the start of each millisecond and incremented within
it, so ids made by one process sort in creation order and ids from different processes
practically never collide.
"""

from __future__ import annotations

import os
import threading
import time

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_lock = threading.Lock()
_last_ms = -1
_last_rand = 0


def _encode(value: int, length: int) -> str:
    out = []
    for _ in range(length):
        out.append(_ALPHABET[value & 31])
        value >>= 5
    return "".join(reversed(out))


def new_id() -> str:
    """Return a new time-sortable id (monotonic within this process)."""
    global _last_ms, _last_rand
    with _lock:
        ms = time.time_ns() // 1_000_000
        if ms <= _last_ms:
            # Same (or a clock that went back) millisecond: keep order by counting up.
            ms = _last_ms
            _last_rand = (_last_rand + 1) & ((1 << 80) - 1)
        else:
            _last_ms = ms
            _last_rand = int.from_bytes(os.urandom(10), "big") >> 1
        rand = _last_rand
    return _encode(ms, 10) + _encode(rand, 16)


def id_time(message_id: str) -> float:
    """Return the creation time (seconds since the epoch) encoded in an id."""
    ms = 0
    for ch in message_id[:10]:
        ms = (ms << 5) | _ALPHABET.index(ch)
    return ms / 1000.0
