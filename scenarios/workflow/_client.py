"""Posting signed events to a flow's webhook: ``raygent webhook send``, the bundled run,
the tests and the benchmark all sign the same way."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import httpx

from actors import ConfigError
from scenarios.workflow._signature import HEADER, sign
from scenarios.workflow._webhook import address_file


def encode(event: Any) -> bytes:
    """The exact bytes posted (and signed) for an event."""
    return json.dumps(event, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def signed_headers(body: bytes, secrets: Sequence[str], *,
                   timestamp: int | None = None) -> dict[str, str]:
    """Headers of a signed JSON post."""
    return {"Content-Type": "application/json",
            HEADER: sign(secrets, body, timestamp=timestamp)}


def post(url: str, body: bytes, secrets: Sequence[str], *, client: httpx.Client | None = None,
         timestamp: int | None = None, timeout_s: float = 30.0) -> httpx.Response:
    """Sign and post one body; return the answer (any status)."""
    headers = signed_headers(body, secrets, timestamp=timestamp)
    if client is not None:
        return client.post(url, content=body, headers=headers, timeout=timeout_s)
    with httpx.Client(timeout=timeout_s) as own:
        return own.post(url, content=body, headers=headers)


async def post_async(url: str, body: bytes, secrets: Sequence[str], *,
                     client: httpx.AsyncClient, timestamp: int | None = None) -> httpx.Response:
    return await client.post(url, content=body,
                             headers=signed_headers(body, secrets, timestamp=timestamp))


def webhook_url(flow: str) -> str:
    """The URL a running webhook of ``flow`` wrote down (on this machine).

    Raises:
        ConfigError: If no webhook of that flow has started here.
    """
    path = address_file(flow)
    try:
        with open(path, encoding="utf-8") as fh:
            return str(json.load(fh)["url"])
    except (OSError, ValueError, KeyError):
        raise ConfigError(f"no running webhook of flow {flow!r} found ({path} is missing "
                          "or unreadable): start the flow (`raygent run workflow --address "
                          "auto --keep`), or pass --url", field="--url") from None


__all__ = ["encode", "post", "post_async", "signed_headers", "webhook_url"]
