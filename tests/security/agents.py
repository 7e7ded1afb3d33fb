"""Agents the security tests spawn (a module, so Ray workers can import them)."""

from __future__ import annotations

import asyncio
import logging
import threading
from dataclasses import dataclass
from typing import Any

from actors import Agent, MessageContext, Secret, handles, message, service

# Grows with every Leak message: a leak outside the agent's state, as real leaks are.
_HOARD: list[bytearray] = []
log = logging.getLogger("raygent.tests.secrets")


@message
@dataclass(frozen=True, kw_only=True)
class Leak:
    mb: int


@message
@dataclass(frozen=True, kw_only=True)
class Count:
    pass


@message
@dataclass(frozen=True, kw_only=True)
class Hang:
    seconds: float


@message
@dataclass(frozen=True, kw_only=True)
class Carry:
    """A payload holding two secrets (a secret in a message travels as a Secret)."""

    token: Secret
    extra: Secret


class LeakyAgent(Agent):
    def __init__(self, name: str, config: Any = None) -> None:
        super().__init__(name, config)
        self.handled = 0

    @handles
    async def on_leak(self, msg: Leak, ctx: MessageContext) -> int:
        _HOARD.append(bytearray(msg.mb << 20))  # touched pages: real resident memory
        self.handled += 1
        return self.handled

    @handles
    async def on_count(self, msg: Count, ctx: MessageContext) -> int:
        return self.handled

    def snapshot(self) -> Any:
        return {"handled": self.handled}

    def restore(self, state: Any) -> None:
        self.handled = state["handled"]


class StuckAgent(Agent):
    """One handler of each kind with a time limit: async (cancellable) and plain def."""

    @handles(timeout_s=0.5)
    async def on_hang(self, msg: Hang, ctx: MessageContext) -> str:
        await asyncio.sleep(msg.seconds)
        return "finished"

    @handles(timeout_s=0.5)
    def on_count(self, msg: Count, ctx: MessageContext) -> str:
        threading.Event().wait(30)  # a plain def handler stuck where nothing can cancel it
        return "finished"


class SecretKeeper(Agent):
    """Holds secrets in its config, state and payloads, and fails quoting them."""

    def __init__(self, name: str, config: Any = None) -> None:
        super().__init__(name, config)
        self.kept: list[Secret] = list(self.config.get("keys", []))

    @handles
    async def on_carry(self, msg: Carry, ctx: MessageContext) -> str:
        self.kept.append(msg.token)
        log.warning("handling a payload that carries %s and %s", msg.token.reveal(),
                    msg.extra.reveal())
        raise ValueError(f"refusing token {msg.token.reveal()} (extra {msg.extra.reveal()})")

    @service
    def describe(self) -> str:
        return f"keeping {len(self.kept)} secrets"

    def snapshot(self) -> Any:
        return {"kept": [s.reveal() for s in self.kept]}

    def restore(self, state: Any) -> None:
        self.kept = [Secret(v) for v in state["kept"]]
