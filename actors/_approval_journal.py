"""Where the journal keeps approvals: one row each, in memory or in the SQLite file.

Approvals are few (people answer them), so the supervisor holds them all in memory and
the journal only has to keep them across restarts: it writes a row whenever one is asked
for or answered, reads them all back at recovery, and drops answered ones past the
dedupe window. Each row is the pickled :class:`~actors._approval.ApprovalRow`, sealed
like every other blob of the journal.
"""

from __future__ import annotations

import pickle
import time
from typing import Protocol

from actors._approval import ApprovalRow

SCHEMA = """
CREATE TABLE IF NOT EXISTS approvals (
    id TEXT PRIMARY KEY, agent TEXT NOT NULL, status TEXT NOT NULL, at REAL NOT NULL,
    row BLOB NOT NULL);
"""


class MemoryApprovals:
    """The approvals of :class:`~actors._journal.MemoryJournal` (nothing survives it)."""

    def _approval_rows(self) -> dict[str, ApprovalRow]:
        rows: dict[str, ApprovalRow] | None = self.__dict__.get("_approval_store")
        if rows is None:
            rows = self.__dict__["_approval_store"] = {}
        return rows

    def approval_put(self, row: ApprovalRow) -> None:
        self._approval_rows()[row.id] = row

    def approvals(self) -> list[ApprovalRow]:
        return list(self._approval_rows().values())

    def approval_drop(self, ids: list[str]) -> None:
        rows = self._approval_rows()
        for i in ids:
            rows.pop(i, None)


class _Db(Protocol):
    def _queue(self, sql: str, *rows: tuple[object, ...]) -> None: ...
    def _query(self, sql: str, args: tuple[object, ...] = ()) -> list[tuple[object, ...]]: ...
    def _w(self, blob: bytes | None) -> bytes | None: ...
    def _r(self, blob: bytes | None) -> bytes | None: ...


class SqliteApprovals:
    """The approvals of :class:`~actors._sqlite_journal.SqliteJournal` (its ``approvals``
    table; writes are queued with the journal's others and committed together)."""

    def approval_put(self: _Db, row: ApprovalRow) -> None:
        self._queue("INSERT OR REPLACE INTO approvals VALUES (?, ?, ?, ?, ?)",
                    (row.id, row.agent, row.status, time.time(),
                     self._w(pickle.dumps(row, protocol=5))))

    def approvals(self: _Db) -> list[ApprovalRow]:
        rows = self._query("SELECT row FROM approvals ORDER BY rowid")
        out: list[ApprovalRow] = []
        for (blob,) in rows:
            out.append(pickle.loads(self._r(blob) or b""))  # type: ignore[arg-type]
        return out

    def approval_drop(self: _Db, ids: list[str]) -> None:
        if ids:
            self._queue("DELETE FROM approvals WHERE id=?", *[(i,) for i in ids])


__all__ = ["SCHEMA", "MemoryApprovals", "SqliteApprovals"]
