"""The durable journal: one SQLite file in WAL mode, written by the supervisor alone.

``synchronous=FULL`` (the default) syncs the write-ahead log at every commit, so a message
the supervisor acknowledged is on disk even if the machine loses power. ``NORMAL`` syncs
only at checkpoints: a crash of the supervisor *process* loses nothing, a power cut or
kernel crash can lose the last commits.

Writes are queued and committed together (``actors/_group_commit.py``): the supervisor
awaits :meth:`flush` where a write must be on disk before it goes on (an accepted message
before ``send`` returns; an outcome before the asker hears back). Reads see every queued
write. Which messages have ended (the de-duplication window) is also kept in memory, so
admitting a message reads nothing from disk.
"""

from __future__ import annotations

import os
import pickle
import sqlite3
import time
from collections import OrderedDict

from actors._approval_journal import SCHEMA as APPROVALS_SCHEMA
from actors._approval_journal import SqliteApprovals
from actors._config import RuntimeConfig
from actors._envelope import Envelope
from actors._errors import JournalError
from actors._group_commit import GroupCommit
from actors._journal import DEAD, DONE, PENDING, AgentRow, Journal, JournalStats, LetterRow
from actors._seal import Sealer, SealError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS messages (
    seq INTEGER PRIMARY KEY, recipient TEXT NOT NULL, dkey TEXT NOT NULL,
    env BLOB, state TEXT NOT NULL, reply BLOB, at REAL NOT NULL,
    UNIQUE (recipient, dkey));
CREATE INDEX IF NOT EXISTS messages_state ON messages (state, seq);
CREATE TABLE IF NOT EXISTS dead (
    seq INTEGER PRIMARY KEY, id TEXT NOT NULL, env BLOB NOT NULL, reason TEXT NOT NULL,
    error TEXT, at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS dead_id ON dead (id);
CREATE TABLE IF NOT EXISTS agents (
    name TEXT PRIMARY KEY, ord INTEGER NOT NULL, spec BLOB NOT NULL,
    restarts INTEGER NOT NULL DEFAULT 0, snapshot BLOB);
CREATE TABLE IF NOT EXISTS subs (name TEXT NOT NULL, topic TEXT NOT NULL,
    PRIMARY KEY (name, topic));
CREATE TABLE IF NOT EXISTS effects (agent TEXT NOT NULL, k TEXT NOT NULL,
    result BLOB NOT NULL, at REAL NOT NULL, PRIMARY KEY (agent, k));
"""

Key = tuple[str, str]  # (recipient, dedupe key)


class SqliteJournal(SqliteApprovals):
    """See the module docstring.

    Args:
        path: The database file (its directory is created).
        synchronous: ``FULL`` or ``NORMAL``.
        dedupe_window: Finished messages kept for de-duplication (newest first)...
        dedupe_age_s: ...and for at most this long.
        dead_letters_max: Dead letters kept; beyond it the oldest are pruned and counted.
        sealer: Encrypts every blob at rest (payloads, replies, specs, snapshots, effects).
    """

    def __init__(self, path: str, *, synchronous: str = "FULL", dedupe_window: int = 100_000,
                 dedupe_age_s: float = 86_400.0, dead_letters_max: int = 100_000,
                 sealer: Sealer | None = None) -> None:
        self.path = os.path.abspath(os.path.expanduser(path))
        self.synchronous = synchronous.upper()
        if self.synchronous not in ("FULL", "NORMAL"):
            raise JournalError(self.path, f"synchronous must be FULL or NORMAL, not "
                               f"{synchronous!r}")
        self._window = dedupe_window
        self._age = dedupe_age_s
        self._dead_max = dead_letters_max
        self._sealer = sealer
        self._gc: GroupCommit | None = None
        # Ended messages, oldest first: key -> (state, when). Replies stay on disk, except
        # those not committed yet.
        self._ended: OrderedDict[Key, tuple[str, float]] = OrderedDict()
        self._unflushed_replies: dict[Key, bytes | None] = {}
        self._unflushed_effects: dict[tuple[str, str], bytes] = {}
        self._pending = 0
        self._dead = 0
        self._evicted = 0
        self._starts = 0

    # -- plumbing --------------------------------------------------------------------

    def _w(self, blob: bytes | None) -> bytes | None:
        return blob if blob is None or self._sealer is None else self._sealer.seal(blob)

    def _r(self, blob: bytes | None) -> bytes | None:
        if blob is None or self._sealer is None:
            return None if blob is None else bytes(blob)
        try:
            return self._sealer.open(bytes(blob))
        except SealError as exc:
            raise JournalError(self.path, str(exc)) from None

    def _pack(self, env: Envelope) -> bytes:
        return self._w(pickle.dumps(env, protocol=5)) or b""

    def _unpack(self, blob: bytes) -> Envelope:
        env: Envelope = pickle.loads(self._r(blob) or b"")
        return env

    def _error(self, exc: sqlite3.Error) -> JournalError:
        return JournalError(self.path, f"{type(exc).__name__}: {exc}")

    @property
    def gc(self) -> GroupCommit:
        if self._gc is None:
            raise JournalError(self.path, "the journal is not open")
        return self._gc

    def _query(self, sql: str, args: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
        """Read, after committing what is queued (reads see every write)."""
        gc = self.gc
        with gc.lock:
            gc.commit()
            try:
                return list(gc.db.execute(sql, args).fetchall())
            except sqlite3.Error as exc:
                raise self._error(exc) from None

    def _queue(self, sql: str, *rows: tuple[object, ...]) -> None:
        self.gc.queue(sql, rows or ((),))  # a statement without parameters runs once

    def open(self) -> int:
        try:
            os.makedirs(os.path.dirname(self.path), exist_ok=True)
            db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute(f"PRAGMA synchronous={self.synchronous}")
            db.executescript(_SCHEMA + APPROVALS_SCHEMA)
            db.isolation_level = "DEFERRED"
            meta = dict(db.execute("SELECT k, v FROM meta").fetchall())
            ended = db.execute("SELECT recipient, dkey, state, at FROM messages WHERE "
                               "state!=? ORDER BY seq", (PENDING,)).fetchall()
            self._pending = db.execute("SELECT COUNT(*) FROM messages WHERE state=?",
                                       (PENDING,)).fetchone()[0]
            self._dead = db.execute("SELECT COUNT(*) FROM dead").fetchone()[0]
        except (sqlite3.Error, OSError) as exc:
            raise JournalError(self.path, f"{type(exc).__name__}: {exc}") from None
        self._gc = GroupCommit(db, self._error)
        self._ended = OrderedDict(((r[0], r[1]), (r[2], r[3])) for r in ended)
        self._evicted = int(meta.get("evicted", 0))
        # A journal left open was left by a supervisor that died: this start is a restart.
        self._starts = int(meta.get("restarts", 0)) + int(meta.get("open", 0))
        self._queue("INSERT OR REPLACE INTO meta VALUES (?, ?)", ("restarts", self._starts),
                    ("open", 1))
        self.gc.commit()
        return self._starts

    async def flush(self) -> None:
        await self.gc.flush()

    def close(self, *, clean: bool = True) -> None:
        """Commit and close; ``clean=False`` drops the connection as a crash would (the
        next start then counts as a supervisor restart)."""
        gc = self._gc
        if gc is None:
            return
        with gc.lock:  # a commit running in the worker thread finishes first
            try:
                if clean:
                    self._queue("INSERT OR REPLACE INTO meta VALUES ('open', 0)")
                    gc.commit()
            finally:
                gc.db.close()
                self._gc = None

    # -- messages ----------------------------------------------------------------------

    def accept(self, envs: list[Envelope]) -> None:
        if not envs:
            return
        now = time.time()
        self._pending += len(envs)
        self._queue("INSERT OR REPLACE INTO messages (recipient, dkey, env, state, at) "
                    "VALUES (?, ?, ?, ?, ?)",
                    *[(e.recipient or "", e.dedupe_key, self._pack(e), PENDING, now)
                      for e in envs])

    def _end(self, key: Key, state: str, at: float) -> None:
        self._ended[key] = (state, at)
        self._ended.move_to_end(key)

    def finish(self, done: list[tuple[Envelope, bytes | None]],
               snapshot: tuple[str, bytes] | None = None) -> None:
        now = time.time()
        rows = []
        for env, reply in done:
            key = (env.recipient or "", env.dedupe_key)
            self._end(key, DONE, now)
            self._unflushed_replies[key] = reply
            rows.append((DONE, self._w(reply), now, key[0], key[1]))
        self._pending = max(0, self._pending - len(rows))
        if rows:
            self._queue("UPDATE messages SET state=?, reply=?, env=NULL, at=? "
                        "WHERE recipient=? AND dkey=?", *rows)
        if snapshot is not None:
            self._queue("UPDATE agents SET snapshot=? WHERE name=?",
                        (self._w(snapshot[1]), snapshot[0]))
        keys = [(r[3], r[4]) for r in rows]
        self.gc.on_commit(lambda: self._committed(keys))

    def _committed(self, keys: list[Key]) -> None:
        for key in keys:
            self._unflushed_replies.pop(key, None)

    def find(self, recipient: str, key: str) -> tuple[str, bytes | None] | None:
        """How a message ended (``done``/``dead``) and its reply, from memory when it can."""
        k = (recipient, key)
        ended = self._ended.get(k)
        if ended is None:
            return None
        state = ended[0]
        if state != DONE:
            return (state, None)
        if k in self._unflushed_replies:
            return (state, self._unflushed_replies[k])
        rows = self._query("SELECT reply FROM messages WHERE recipient=? AND dkey=?", k)
        return (state, self._r(rows[0][0]) if rows else None)  # type: ignore[arg-type]

    def pending(self) -> list[Envelope]:
        rows = self._query("SELECT env FROM messages WHERE state=? ORDER BY seq", (PENDING,))
        return [self._unpack(r[0]) for r in rows]  # type: ignore[arg-type]

    def forget(self, envs: list[Envelope]) -> None:
        if envs:
            self._pending = max(0, self._pending - len(envs))
            self._queue("DELETE FROM messages WHERE recipient=? AND dkey=? AND state=?",
                        *[(e.recipient or "", e.dedupe_key, PENDING) for e in envs])

    # -- dead letters ------------------------------------------------------------------

    def dead(self, letter: LetterRow) -> None:
        env = letter.envelope
        key = (env.recipient or "", env.dedupe_key)
        if self._ended.get(key, (None,))[0] is None:
            self._pending = max(0, self._pending - 1)
        self._end(key, DEAD, letter.at)
        self._queue("INSERT OR REPLACE INTO messages (recipient, dkey, env, state, at) "
                    "VALUES (?, ?, NULL, ?, ?)", (key[0], key[1], DEAD, letter.at))
        self._queue("INSERT INTO dead (id, env, reason, error, at) VALUES (?,?,?,?,?)",
                    (env.id, self._pack(env), letter.reason, letter.error, letter.at))
        self._dead += 1
        over = self._dead - self._dead_max
        if over > 0:
            self._queue("DELETE FROM dead WHERE seq IN (SELECT seq FROM dead ORDER BY seq "
                        "LIMIT ?)", (over,))
            self._queue("INSERT INTO meta VALUES ('evicted', ?) ON CONFLICT(k) DO UPDATE "
                        "SET v = v + excluded.v", (over,))
            self._dead -= over
            self._evicted += over

    def dead_letters(self, limit: int | None = None) -> list[LetterRow]:
        if limit is None:
            rows = self._query("SELECT env, reason, error, at FROM dead ORDER BY seq")
        else:
            rows = [r[1:] for r in self._query(
                "SELECT * FROM (SELECT seq, env, reason, error, at FROM dead ORDER BY seq "
                "DESC LIMIT ?) ORDER BY seq", (limit,))]
        return [LetterRow(envelope=self._unpack(r[0]), reason=r[1], error=r[2], at=r[3])  # type: ignore[arg-type]
                for r in rows]

    def remove_dead(self, ids: list[str] | None) -> int:
        before = self.dead_count()
        if ids is None:
            self._queue("DELETE FROM dead")
        else:
            self._queue("DELETE FROM dead WHERE id=?", *[(i,) for i in ids])
        self._dead = int(self._query("SELECT COUNT(*) FROM dead")[0][0])  # type: ignore[call-overload]
        return before - self._dead

    def dead_count(self) -> int:
        return self._dead

    def evicted(self) -> int:
        return self._evicted

    # -- registry, subscriptions, effects ------------------------------------------------

    def put_agent(self, row: AgentRow) -> None:
        self._queue("INSERT OR REPLACE INTO agents VALUES (?, ?, ?, ?, ?)",
                    (row.name, row.order, self._w(row.spec), row.restarts,
                     self._w(row.snapshot)))

    def update_agent(self, name: str, *, restarts: int | None = None,
                     snapshot: bytes | None = None) -> None:
        if restarts is not None:
            self._queue("UPDATE agents SET restarts=? WHERE name=?", (restarts, name))
        if snapshot is not None:
            self._queue("UPDATE agents SET snapshot=? WHERE name=?",
                        (self._w(snapshot), name))

    def drop_agent(self, name: str) -> None:
        self._queue("DELETE FROM agents WHERE name=?", (name,))
        self._queue("DELETE FROM subs WHERE name=?", (name,))

    def agents(self) -> list[AgentRow]:
        rows = self._query("SELECT name, ord, spec, restarts, snapshot FROM agents ORDER BY ord")
        return [AgentRow(name=r[0], order=r[1], spec=self._r(r[2]) or b"",  # type: ignore[arg-type]
                         restarts=r[3], snapshot=self._r(r[4]))  # type: ignore[arg-type]
                for r in rows]

    def put_sub(self, name: str, topic: str) -> None:
        self._queue("INSERT OR IGNORE INTO subs VALUES (?, ?)", (name, topic))

    def drop_sub(self, name: str, topic: str) -> None:
        self._queue("DELETE FROM subs WHERE name=? AND topic=?", (name, topic))

    def subs(self) -> list[tuple[str, str]]:
        return [(str(r[0]), str(r[1]))
                for r in self._query("SELECT name, topic FROM subs ORDER BY rowid")]

    def effect_get(self, agent: str, key: str) -> bytes | None:
        found = self._unflushed_effects.get((agent, key))
        if found is not None:
            return found
        rows = self._query("SELECT result FROM effects WHERE agent=? AND k=?", (agent, key))
        return self._r(rows[0][0]) if rows else None  # type: ignore[arg-type]

    def effect_put(self, agent: str, key: str, result: bytes) -> None:
        self._unflushed_effects[(agent, key)] = result
        self._queue("INSERT OR REPLACE INTO effects VALUES (?, ?, ?, ?)",
                    (agent, key, self._w(result), time.time()))
        self.gc.on_commit(lambda: self._unflushed_effects.pop((agent, key), None))

    # -- upkeep --------------------------------------------------------------------------

    def compact(self, now: float | None = None) -> int:
        """Prune finished messages past the dedupe window (count or age) and old effects."""
        cutoff = (time.time() if now is None else now) - self._age
        removed = 0
        while self._ended and (len(self._ended) > self._window
                               or next(iter(self._ended.values()))[1] < cutoff):
            self._ended.popitem(last=False)
            removed += 1
        gc = self.gc
        with gc.lock:
            gc.commit()
            try:
                with gc.db as tx:
                    tx.execute("DELETE FROM messages WHERE state!=? AND at<?",
                               (PENDING, cutoff))
                    row = tx.execute("SELECT seq FROM messages WHERE state!=? ORDER BY seq "
                                     "DESC LIMIT 1 OFFSET ?",
                                     (PENDING, self._window)).fetchone()
                    if row is not None:
                        tx.execute("DELETE FROM messages WHERE state!=? AND seq<=?",
                                   (PENDING, row[0]))
                    tx.execute("DELETE FROM effects WHERE at<?", (cutoff,))
                gc.db.execute("PRAGMA wal_checkpoint(PASSIVE)")
            except sqlite3.Error as exc:
                raise self._error(exc) from None
        return removed

    def stats(self) -> JournalStats:
        size = sum(os.path.getsize(p) for p in (self.path, self.path + "-wal")
                   if os.path.exists(p))
        return JournalStats(
            path=self.path, size_bytes=size, pending=self._pending, done=len(self._ended),
            dead_letters=self._dead, evicted_dead_letters=self._evicted,
            supervisor_restarts=self._starts, synchronous=self.synchronous)


def open_journal(config: RuntimeConfig, key: bytes | None = None) -> Journal | None:
    """The journal the config asks for (None: the supervisor keeps it in memory), sealed
    with ``key`` (the system key) when one is given."""
    if not config.journal.enabled:
        return None
    jc = config.journal
    return SqliteJournal(jc.path(config.namespace), synchronous=jc.synchronous,
                         dedupe_window=jc.dedupe_window, dedupe_age_s=jc.dedupe_age_s,
                         dead_letters_max=jc.dead_letters_max,
                         sealer=None if key is None else Sealer(key))
