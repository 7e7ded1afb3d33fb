"""A private Ray environment for local multi-node clusters (tests and benchmarks).

``ray.cluster_utils.Cluster`` writes ``/tmp/ray/ray_current_cluster``, which any plain
``ray.init()`` on the machine would then join; a private ``RAY_TMPDIR`` keeps other programs
off such a cluster, and a fresh token keeps authentication on for it.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import tempfile
from collections.abc import Iterator


def reload_auth() -> None:
    """Make this process's Ray read the auth mode and token from the environment again.

    Ray caches both at start-up (the C++ token loader and the RayConfig).
    """
    from ray._raylet import AuthenticationTokenLoader, Config

    Config.initialize("")
    AuthenticationTokenLoader.instance().reset_cache()


@contextlib.contextmanager
def isolated_ray_env(prefix: str) -> Iterator[dict[str, str]]:
    """A private Ray temp dir and a fresh auth token, with token authentication on.

    ``ray.cluster_utils.Cluster`` writes its address to ``<temp dir>/ray/
    ray_current_cluster``, which every plain ``ray.init()`` on the machine would then join;
    a private ``RAY_TMPDIR`` keeps other test runs off this cluster and this one off
    theirs. The token lives in its own file (``RAY_AUTH_TOKEN_PATH``), so the tests know
    exactly which token the cluster expects. Every process started inside (nodes, workers,
    subprocess drivers) inherits these variables.

    Yields:
        The variables set: ``RAY_TMPDIR``, ``RAY_AUTH_MODE``, ``RAY_AUTH_TOKEN_PATH``.
    """
    tmp = tempfile.mkdtemp(prefix=prefix, dir="/tmp")  # short: Unix socket paths are too
    token_path = os.path.join(tmp, "auth_token")
    with open(token_path, "w") as f:
        f.write(secrets.token_hex(32))
    new = {"RAY_TMPDIR": tmp, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": token_path}
    old = {k: os.environ.get(k) for k in (*new, "RAY_AUTH_TOKEN", "RAY_ADDRESS")}
    for k in ("RAY_AUTH_TOKEN", "RAY_ADDRESS"):
        os.environ.pop(k, None)
    os.environ.update(new)
    reload_auth()
    try:
        yield new
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        reload_auth()
        shutil.rmtree(tmp, ignore_errors=True)
