"""Agents, messages and helpers for the multi-node tests (importable by Ray workers).

``NodeLogAgent`` logs every note together with the node that handled it, so a test can
see a log survive a move to another node and tell which node handled which message.
``isolated_ray_env`` gives a test module its own Ray temp dir and auth token.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import ray

from actors import Agent, MessageContext, handles, message


@message(kind="tests.cluster.Note")
@dataclass(frozen=True, kw_only=True)
class Note:
    """Append ``n`` (and the handling node's id) to the agent's log."""

    n: int
    sleep_s: float = 0.0


@message(kind="tests.cluster.GetNotes")
@dataclass(frozen=True, kw_only=True)
class GetNotes:
    pass


@message(kind="tests.cluster.Notes")
@dataclass(frozen=True, kw_only=True)
class Notes:
    items: list[int] = field(default_factory=list)
    nodes: list[str] = field(default_factory=list)  # the node that handled each item


@message(kind="tests.cluster.Where")
@dataclass(frozen=True, kw_only=True)
class Where:
    pass


@message(kind="tests.cluster.Placement")
@dataclass(frozen=True, kw_only=True)
class Placement:
    name: str
    node_id: str
    pid: int


def _node_id() -> str:
    return ray.get_runtime_context().get_node_id()


class NodeLogAgent(Agent):
    """Logs notes with the node that handled each; the log is snapshotted and restored."""

    def __init__(self, name: str, config: Any = None) -> None:
        super().__init__(name, config)
        self.items: list[int] = []
        self.nodes: list[str] = []

    @handles
    async def on_note(self, msg: Note, ctx: MessageContext) -> int:
        if msg.sleep_s:
            await asyncio.sleep(msg.sleep_s)
        self.items.append(msg.n)
        self.nodes.append(_node_id())
        return msg.n

    @handles
    async def on_get_notes(self, msg: GetNotes, ctx: MessageContext) -> Notes:
        return Notes(items=list(self.items), nodes=list(self.nodes))

    @handles
    async def on_where(self, msg: Where, ctx: MessageContext) -> Placement:
        return Placement(name=self.name, node_id=_node_id(), pid=os.getpid())

    def snapshot(self) -> Any:
        return {"items": list(self.items), "nodes": list(self.nodes)}

    def restore(self, state: Any) -> None:
        self.items = list(state["items"])
        self.nodes = list(state["nodes"])


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
