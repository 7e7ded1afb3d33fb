"""Agents, messages and helpers for the multi-node tests (importable by Ray workers).

``NodeLogAgent`` logs every note together with the node that handled it, so a test can
see a log survive a move to another node and tell which node handled which message.
``isolated_ray_env`` gives a test module its own Ray temp dir and auth token.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass, field
from typing import Any

import ray

from actors import Agent, MessageContext, handles, message
from actors.testing import isolated_ray_env, reload_auth


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


__all__ = ["GetNotes", "NodeLogAgent", "Note", "Where", "isolated_ray_env", "reload_auth"]
