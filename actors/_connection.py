"""Reaching Ray: join a cluster or start a private local one, with errors that say why not.

A private Ray (no address given) listens on the loopback address only. Ray binds its
servers to the node's IP; with "cluster mode" off (what it does on macOS) that IP is the
loopback one, so a private system cannot be reached from the network. Joining a cluster
(an address given) is left alone: there the nodes must reach each other.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping
from typing import Any

import ray

from actors._errors import RuntimeNotStartedError

_CLUSTER_ENV = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"


def _auth_failure(exc: BaseException) -> bool:
    """Whether Ray's connection error was caused by a rejected authentication token."""
    seen: BaseException | None = exc
    for _ in range(10):
        if seen is None:
            return False
        if type(seen).__name__ == "AuthenticationError" or "InvalidAuthToken" in str(seen):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


@contextlib.contextmanager
def _loopback_only(private: bool) -> Iterator[None]:
    if not private:
        yield
        return
    from ray._private import ray_constants  # read by Ray when it starts this node

    old_env = os.environ.get(_CLUSTER_ENV)
    old_flag = getattr(ray_constants, "ENABLE_RAY_CLUSTER", True)
    os.environ[_CLUSTER_ENV] = "0"  # what the processes Ray starts now will read
    ray_constants.ENABLE_RAY_CLUSTER = False
    try:
        yield
    finally:
        ray_constants.ENABLE_RAY_CLUSTER = old_flag
        if old_env is None:
            os.environ.pop(_CLUSTER_ENV, None)
        else:
            os.environ[_CLUSTER_ENV] = old_env


def connect_ray(address: str | None, namespace: str, init_kwargs: Mapping[str, Any]) -> bool:
    """Connect this process to Ray; return whether this call did it (False: it already was).

    Raises:
        RuntimeNotStartedError: Ray cannot be reached, or refused this client's token.
    """
    if ray.is_initialized():
        return False
    kwargs: dict[str, Any] = {"namespace": namespace, "log_to_driver": True}
    kwargs.update(init_kwargs)
    try:
        with _loopback_only(address is None):
            ray.init(address=address, **kwargs)
    except (ConnectionError, RuntimeError) as exc:
        if _auth_failure(exc):
            raise RuntimeNotStartedError(
                f"Ray at {address} refused this client's token: the cluster uses token "
                "authentication; set RAY_AUTH_MODE=token and RAY_AUTH_TOKEN (or "
                "RAY_AUTH_TOKEN_PATH) to the token `ray get-auth-token` prints on the head"
            ) from None
        raise RuntimeNotStartedError(
            f"cannot reach Ray at {address or 'a local Ray'} ({exc}): start a cluster with "
            "`ray start --head`, or check --address / RAY_ADDRESS"
        ) from None
    return True
