"""Who may send as whom: each agent proves its name with a token the supervisor gave it.

The supervisor holds one random key per system, in a file only its user can read
(``$RAYGENT_HOME/keys/<namespace>.key`` on the supervisor's node, so a restarted supervisor
recognises the agents it re-adopts). An agent's token is an HMAC of its name under that
key, handed to the agent when it is created and sent with every call the agent makes. An
envelope whose sender is an agent must come with that agent's token; the driver sends as
``driver`` and needs none. Tokens never enter envelopes, so they never reach the journal.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

from actors._config import RuntimeConfig
from actors._home import raygent_home

DRIVER = "driver"


def key_path(config: RuntimeConfig) -> Path:
    return raygent_home() / "keys" / f"{config.namespace}.key"


def system_key(config: RuntimeConfig) -> bytes:
    """The system's key, made (readable by its owner only) the first time it is needed."""
    path = key_path(config)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_bytes()
    key = secrets.token_bytes(32)
    with os.fdopen(fd, "wb") as fh:
        fh.write(key)
    return key


def agent_token(key: bytes, name: str) -> str:
    return hmac.new(key, name.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()


def proves(key: bytes, name: str, token: object) -> bool:
    """Whether ``token`` is ``name``'s token (compared in constant time)."""
    if not isinstance(token, str) or not token.isascii():
        return False  # compare_digest refuses non-ASCII text; no token is such text
    return hmac.compare_digest(agent_token(key, name), token)
