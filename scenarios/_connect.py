"""Reaching a raygent system from the CLI, failing fast when there is none.

``ray.init`` retries a cluster address that nothing listens on for many minutes, so the
CLI first resolves the address the way Ray would and checks that its port accepts a TCP
connection. Any failure to reach Ray becomes a :class:`RuntimeNotStartedError` whose
message says how to start a system.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
from collections.abc import Iterator
from typing import Any

from actors import RaygentError, Runtime, RuntimeConfig, RuntimeNotStartedError
from scenarios._system import current, use_token_auth

PROBE_TIMEOUT_S = 3.0

START_HINT = ("start one with `raygent up`, or `ray start --head` then "
              "`raygent run ping-pong --address auto --keep`")


def _resolve(address: str) -> str | None:
    """The ``host:port`` Ray would dial for ``address``, or None when it starts its own."""
    if address.startswith("ray://"):
        return address.removeprefix("ray://").split("/", 1)[0]
    try:
        # Private, but it is what ray.init itself runs: it reads RAY_ADDRESS and the
        # address file of the last `ray start`, and maps 127.0.0.1 to the node's IP.
        from ray._private.services import canonicalize_bootstrap_address
    except ImportError:  # pragma: no cover - a Ray without it; ray.init will judge
        return address if ":" in address else None
    try:
        resolved: str | None = canonicalize_bootstrap_address(address)
    except ConnectionError:
        raise RuntimeNotStartedError(
            f"no running Ray cluster found for --address {address}: {START_HINT}"
        ) from None
    except ValueError as exc:
        raise RaygentError(
            f"invalid --address {address!r} ({exc}): use auto, host:port or ray://host:port"
        ) from None
    return resolved


def _split(target: str) -> tuple[str, int]:
    host, _, port = target.rpartition(":")
    try:
        return host.strip("[]"), int(port)
    except ValueError:
        raise RaygentError(
            f"invalid Ray address {target!r}: use auto, host:port or ray://host:port"
        ) from None


def probe(address: str) -> None:
    """Check that something accepts connections where Ray would connect for ``address``.

    Args:
        address: ``auto``, ``host:port`` or ``ray://host:port``.

    Raises:
        RuntimeNotStartedError: If no cluster is found or its port refuses connections.
        RaygentError: If the address is malformed.
    """
    target = _resolve(address)
    if target is None:
        return
    host, port = _split(target)
    try:
        socket.create_connection((host, port), timeout=PROBE_TIMEOUT_S).close()
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise RuntimeNotStartedError(
            f"no Ray cluster answers at {target} ({reason}): {START_HINT}"
        ) from None


def system_target(address: str | None, namespace: str | None
                  ) -> tuple[str | None, str | None]:
    """Where a command goes: the system ``raygent up`` started, unless told otherwise.

    An explicit address (anything but ``auto``) wins; ``None`` and ``auto`` mean the
    running ``raygent up`` system when there is one (its Ray is not the one ``auto``
    would find: it has its own temp dir), else what they meant before.
    """
    if address not in (None, "auto"):
        return address, namespace
    info = current()
    if info is None:
        return address, namespace
    if info.token:
        use_token_auth()
    return info.address, namespace or os.environ.get("RAYGENT_NAMESPACE") or info.namespace


def _runtime(address: str | None, namespace: str | None, verbose: bool,
             overrides: dict[str, Any] | None = None) -> Runtime:
    address, namespace = system_target(address, namespace)
    if address is not None:
        probe(address)
    init_kwargs: dict[str, Any] = {"log_to_driver": verbose}
    if not verbose:
        init_kwargs["logging_level"] = logging.WARNING
    if address is None:
        # The local Ray lives only as long as this command, so its dashboard would be
        # gone before anyone opened it; skipping it saves seconds of start-up.
        init_kwargs["include_dashboard"] = False
    config = RuntimeConfig.from_env(**(overrides or {}))
    return Runtime(address, namespace=namespace, config=config, init_kwargs=init_kwargs)


@contextlib.contextmanager
def _reaching(runtime: Runtime, address: str | None) -> Iterator[None]:
    """Disconnect on failure, and say "cannot reach Ray" instead of Ray's own errors."""
    try:
        yield
    except RaygentError:
        runtime.disconnect()
        raise
    except (ConnectionError, RuntimeError) as exc:
        runtime.disconnect()
        where = address or "the local Ray"
        raise RuntimeNotStartedError(f"cannot reach Ray at {where} ({exc}): {START_HINT}"
                                     ) from None


def open_runtime(address: str, namespace: str | None, *, verbose: bool = False) -> Runtime:
    """Attach to a running system (for ``status`` and ``dlq``).

    Args:
        address: The cluster: ``auto``, ``host:port`` or ``ray://host:port``.
        namespace: The system's Ray namespace; None keeps the configured default.
        verbose: Let Ray's logs through to this terminal.

    Returns:
        The attached runtime; the caller disconnects it.

    Raises:
        RuntimeNotStartedError: If Ray or the system cannot be reached.
    """
    runtime = _runtime(address, namespace, verbose)
    with _reaching(runtime, address):
        runtime.attach()
    return runtime


def start_or_join(address: str | None, namespace: str | None, *, verbose: bool = False,
                  overrides: dict[str, Any] | None = None) -> tuple[Runtime, bool]:
    """Join the system running in the namespace, or start one (for ``run``).

    Args:
        address: ``None`` starts a local Ray (or joins the one ``ray start`` left, as
            ``ray.init`` does); otherwise the cluster to join.
        namespace: The system's Ray namespace; None keeps the configured default.
        verbose: Let Ray's and the agents' logs through to this terminal.
        overrides: RuntimeConfig fields for a system this call starts (a scenario's
            ``runtime`` section); a running system keeps its own.

    Returns:
        The runtime, and whether this call created the system (then it is this caller's
        to stop; otherwise others may be using it).

    Raises:
        RuntimeNotStartedError: If Ray cannot be reached.
    """
    runtime = _runtime(address, namespace, verbose, overrides)
    with _reaching(runtime, address):
        try:
            runtime.attach()
        except RuntimeNotStartedError:
            runtime.start()
            return runtime, True
    return runtime, False
