"""Encryption at rest for the journal: AES-GCM under a key derived from the system key.

The journal holds payloads, replies, agent specs (with their config) and snapshots; any
of them may hold a secret a user put there. Sealed, the file on disk shows none of it, and
a blob changed on disk is refused (GCM authenticates) instead of being unpickled.
"""

from __future__ import annotations

import hashlib
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_NONCE = 12


class SealError(ValueError):
    """A sealed blob could not be opened (wrong key, or changed on disk)."""


class Sealer:
    """Seals and opens byte strings with one key (see the module docstring)."""

    def __init__(self, system_key: bytes) -> None:
        self._aead = AESGCM(hashlib.sha256(b"raygent journal\x00" + system_key).digest())

    def seal(self, data: bytes) -> bytes:
        nonce = os.urandom(_NONCE)
        return nonce + self._aead.encrypt(nonce, data, None)

    def open(self, blob: bytes) -> bytes:
        try:
            return self._aead.decrypt(blob[:_NONCE], blob[_NONCE:], None)
        except (InvalidTag, ValueError):
            raise SealError("a journal entry does not open with this system's key: the "
                            "journal belongs to another system or was changed") from None
