"""What the supervisor writes down so that it can die and come back: the journal.

The supervisor tells its journal about every message it accepts and every message that
reaches an end (handled, or dead-lettered), the agents it runs (specs, restart counts,
last snapshots), topic subscriptions and recorded effects. After a restart it reads them
all back (``actors/_recovery.py``). Two implementations share one protocol:

* :class:`MemoryJournal` keeps everything in this process (``journal.enabled = false``):
  the dedupe window and dead letters still work, nothing survives the supervisor;
* :class:`~actors._sqlite_journal.SqliteJournal` keeps it in a SQLite file in WAL mode.

Writes may be queued: they are durable (under the configured fsync policy) once
``await flush()`` returns, and reads see them at once. Payloads, replies, specs and
snapshots are opaque bytes to the journal.
"""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from dataclasses import dataclass
from typing import Protocol

from actors._approval import ApprovalRow
from actors._approval_journal import MemoryApprovals
from actors._envelope import Envelope

PENDING, DONE, DEAD = "pending", "done", "dead"


@dataclass(frozen=True, kw_only=True, slots=True)
class AgentRow:
    """One registered agent as the journal holds it."""

    name: str
    order: int
    spec: bytes
    restarts: int = 0
    snapshot: bytes | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class LetterRow:
    """One dead letter as the journal holds it."""

    envelope: Envelope
    reason: str
    error: str | None
    at: float


@dataclass(frozen=True, kw_only=True, slots=True)
class JournalStats:
    path: str | None
    size_bytes: int
    pending: int
    done: int
    dead_letters: int
    evicted_dead_letters: int
    supervisor_restarts: int
    synchronous: str


class Journal(Protocol):
    """The supervisor's durable memory (see the module docstring)."""

    def open(self) -> int:
        """Open (creating when new); return how many times its supervisor died and was
        started again."""
        ...

    async def flush(self) -> None:
        """Return once every write made so far is on disk."""
        ...

    def accept(self, envs: list[Envelope]) -> None: ...
    def finish(self, done: list[tuple[Envelope, bytes | None]],
               snapshot: tuple[str, bytes] | None = None) -> None: ...
    def find(self, recipient: str, key: str) -> tuple[str, bytes | None] | None: ...
    def pending(self) -> list[Envelope]: ...
    def forget(self, envs: list[Envelope]) -> None: ...

    def dead(self, letter: LetterRow) -> None: ...
    def dead_letters(self, limit: int | None = None) -> list[LetterRow]: ...
    def remove_dead(self, ids: list[str] | None) -> int: ...
    def dead_count(self) -> int: ...
    def evicted(self) -> int: ...

    def put_agent(self, row: AgentRow) -> None: ...
    def update_agent(self, name: str, *, restarts: int | None = None,
                     snapshot: bytes | None = None) -> None: ...
    def drop_agent(self, name: str) -> None: ...
    def agents(self) -> list[AgentRow]: ...

    def put_sub(self, name: str, topic: str) -> None: ...
    def drop_sub(self, name: str, topic: str) -> None: ...
    def subs(self) -> list[tuple[str, str]]: ...

    def effect_get(self, agent: str, key: str) -> bytes | None: ...
    def effect_put(self, agent: str, key: str, result: bytes) -> None: ...

    def approval_put(self, row: ApprovalRow) -> None: ...
    def approvals(self) -> list[ApprovalRow]: ...
    def approval_drop(self, ids: list[str]) -> None: ...

    def compact(self, now: float | None = None) -> int: ...
    def stats(self) -> JournalStats: ...
    def close(self, *, clean: bool = True) -> None: ...


class MemoryJournal(MemoryApprovals):
    """The journal kept in the supervisor's memory: same rules, nothing survives it.

    Dead letters beyond ``dlq_capacity`` evict the oldest, and the eviction is counted
    (``evicted_dead_letters`` in the stats, and an event from the supervisor): with the
    durable journal they are kept instead.
    """

    def __init__(self, *, dedupe_window: int = 10_000, dedupe_age_s: float = 86_400.0,
                 dlq_capacity: int = 10_000) -> None:
        self._window = dedupe_window
        self._age = dedupe_age_s
        self._pending: dict[tuple[str, str], Envelope] = {}
        self._done: OrderedDict[tuple[str, str], tuple[str, bytes | None, float]] = (
            OrderedDict())
        self._dead: deque[LetterRow] = deque()
        self._dlq_capacity = dlq_capacity
        self._evicted = 0
        self._agents: dict[str, AgentRow] = {}
        self._subs: list[tuple[str, str]] = []
        self._effects: OrderedDict[tuple[str, str], bytes] = OrderedDict()
        self._starts = 0

    def open(self) -> int:
        self._starts += 1
        return self._starts - 1

    async def flush(self) -> None:
        return None

    @staticmethod
    def _key(env: Envelope) -> tuple[str, str]:
        return (env.recipient or "", env.dedupe_key)

    def accept(self, envs: list[Envelope]) -> None:
        for env in envs:
            self._pending[self._key(env)] = env

    def _end(self, env: Envelope, state: str, reply: bytes | None) -> None:
        key = self._key(env)
        self._pending.pop(key, None)
        self._done[key] = (state, reply, time.time())
        self._done.move_to_end(key)
        while len(self._done) > self._window:
            self._done.popitem(last=False)

    def finish(self, done: list[tuple[Envelope, bytes | None]],
               snapshot: tuple[str, bytes] | None = None) -> None:
        for env, reply in done:
            self._end(env, DONE, reply)
        if snapshot is not None:
            self.update_agent(snapshot[0], snapshot=snapshot[1])

    def find(self, recipient: str, key: str) -> tuple[str, bytes | None] | None:
        if (recipient, key) in self._pending:
            return (PENDING, None)
        found = self._done.get((recipient, key))
        return None if found is None else (found[0], found[1])

    def pending(self) -> list[Envelope]:
        return list(self._pending.values())

    def forget(self, envs: list[Envelope]) -> None:
        for env in envs:
            self._pending.pop(self._key(env), None)

    def dead(self, letter: LetterRow) -> None:
        self._end(letter.envelope, DEAD, None)
        self._dead.append(letter)
        while len(self._dead) > self._dlq_capacity:
            self._dead.popleft()
            self._evicted += 1

    def dead_letters(self, limit: int | None = None) -> list[LetterRow]:
        items = list(self._dead)
        return items if limit is None else items[-limit:] if limit else []

    def remove_dead(self, ids: list[str] | None) -> int:
        before = len(self._dead)
        if ids is None:
            self._dead.clear()
        else:
            wanted = set(ids)
            self._dead = deque(d for d in self._dead if d.envelope.id not in wanted)
        return before - len(self._dead)

    def dead_count(self) -> int:
        return len(self._dead)

    def evicted(self) -> int:
        return self._evicted

    def put_agent(self, row: AgentRow) -> None:
        self._agents[row.name] = row

    def update_agent(self, name: str, *, restarts: int | None = None,
                     snapshot: bytes | None = None) -> None:
        row = self._agents.get(name)
        if row is None:
            return
        self._agents[name] = AgentRow(
            name=name, order=row.order, spec=row.spec,
            restarts=row.restarts if restarts is None else restarts,
            snapshot=row.snapshot if snapshot is None else snapshot)

    def drop_agent(self, name: str) -> None:
        self._agents.pop(name, None)
        self._subs = [s for s in self._subs if s[0] != name]

    def agents(self) -> list[AgentRow]:
        return sorted(self._agents.values(), key=lambda r: r.order)

    def put_sub(self, name: str, topic: str) -> None:
        if (name, topic) not in self._subs:
            self._subs.append((name, topic))

    def drop_sub(self, name: str, topic: str) -> None:
        if (name, topic) in self._subs:
            self._subs.remove((name, topic))

    def subs(self) -> list[tuple[str, str]]:
        return list(self._subs)

    def effect_get(self, agent: str, key: str) -> bytes | None:
        return self._effects.get((agent, key))

    def effect_put(self, agent: str, key: str, result: bytes) -> None:
        self._effects[(agent, key)] = result
        while len(self._effects) > self._window:
            self._effects.popitem(last=False)

    def compact(self, now: float | None = None) -> int:
        cutoff = (time.time() if now is None else now) - self._age
        removed = 0
        while self._done:
            key, (_, _, at) = next(iter(self._done.items()))
            if at >= cutoff:
                break
            del self._done[key]
            removed += 1
        return removed

    def stats(self) -> JournalStats:
        return JournalStats(
            path=None, size_bytes=0, pending=len(self._pending), done=len(self._done),
            dead_letters=len(self._dead), evicted_dead_letters=self._evicted,
            supervisor_restarts=max(0, self._starts - 1), synchronous="memory")

    def close(self, *, clean: bool = True) -> None:
        return None
