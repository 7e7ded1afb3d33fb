"""The chaos pipeline's agents (a module, so Ray workers can import them).

driver → ``stage-<k>`` (stateless: remembers each item in the memory actor, then forwards
it) → ``sink`` (stateful: counts every item and checks each stage's order; writes a ledger
row per item through ``ctx.effect``). The ledger is a SQLite file outside the runtime: it
is the "outside world" whose effects must happen once.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any

from actors import Agent, MessageContext, handles, message


@message
@dataclass(frozen=True, kw_only=True)
class Item:
    seq: int


@message
@dataclass(frozen=True, kw_only=True)
class Processed:
    seq: int
    stage: str


@message
@dataclass(frozen=True, kw_only=True)
class Tally:
    pass


@message
@dataclass(frozen=True, kw_only=True)
class TallyReply:
    counts: dict[int, int]
    order_violations: int


class Stage(Agent):
    @handles
    async def on_item(self, msg: Item, ctx: MessageContext) -> None:
        record = {"id": f"item-{msg.seq}", "text": f"chaos item number {msg.seq}",
                  "namespace": "chaos"}
        # upsert: the same record again is harmless, so a retry after a lost reply is too.
        await ctx.effect("remember", lambda: self.memory.upsert_async([record]))
        await self.send_async("sink", Processed(seq=msg.seq, stage=self.name))


def _ledger(path: str) -> sqlite3.Connection:
    db = sqlite3.connect(path, timeout=30)
    db.execute("CREATE TABLE IF NOT EXISTS ledger (effect_key TEXT PRIMARY KEY, seq INTEGER)")
    db.execute("CREATE TABLE IF NOT EXISTS runs (effect_key TEXT, seq INTEGER)")
    return db


def ledger_rows(path: str) -> tuple[list[int], int]:
    """Every ledger row's seq, and how many times an effect function ran in all."""
    db = _ledger(path)
    try:
        seqs = [r[0] for r in db.execute("SELECT seq FROM ledger")]
        runs = int(db.execute("SELECT COUNT(*) FROM runs").fetchone()[0])
        return seqs, runs
    finally:
        db.close()


class Sink(Agent):
    def __init__(self, name: str, config: Any = None) -> None:
        super().__init__(name, config)
        self.counts: dict[int, int] = {}
        self.last: dict[str, int] = {}
        self.order_violations = 0

    @handles
    async def on_processed(self, msg: Processed, ctx: MessageContext) -> None:
        self.counts[msg.seq] = self.counts.get(msg.seq, 0) + 1
        if msg.seq <= self.last.get(msg.stage, -1):
            self.order_violations += 1
        self.last[msg.stage] = msg.seq
        key = f"{ctx.dedupe_key}:ledger"
        await ctx.effect("ledger", lambda: self._write(key, msg.seq))

    def _write(self, key: str, seq: int) -> None:
        # The row is keyed by the effect's key: the one window ctx.effect leaves (the agent
        # dies after the write, before the record) is closed by the ledger itself. A
        # second row for the same seq under another key would be a real duplicate.
        db = _ledger(self.config["ledger"])
        try:
            with db:
                db.execute("INSERT INTO runs VALUES (?, ?)", (key, seq))
                db.execute("INSERT OR IGNORE INTO ledger VALUES (?, ?)", (key, seq))
        finally:
            db.close()

    @handles
    async def on_tally(self, msg: Tally, ctx: MessageContext) -> TallyReply:
        return TallyReply(counts=dict(self.counts), order_violations=self.order_violations)

    def snapshot(self) -> Any:
        return {"counts": self.counts, "last": self.last, "bad": self.order_violations}

    def restore(self, state: Any) -> None:
        self.counts = dict(state["counts"])
        self.last = dict(state["last"])
        self.order_violations = state["bad"]
