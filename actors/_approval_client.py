"""The driver's approval calls: ``rt.pending()``, ``rt.approve(id)``, ``rt.reject(id)``.

A mixin of :class:`~actors.Runtime`; each call is one coroutine run on the runtime's loop
thread, in a blocking form and an ``*_async`` twin with the same signature.
"""

from __future__ import annotations

import getpass
import json
from typing import Any

from actors._approval import PendingApproval
from actors._approval_errors import ApprovalError
from actors._messaging import Messaging


def _who() -> str | None:
    try:
        return getpass.getuser()
    except Exception:  # no user name in this environment (a container without one)
        return None


def _data_json(data: Any) -> str | None:
    if data is None:
        return None
    try:
        return json.dumps(data, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ApprovalError(f"an approval's data must be a JSON value: {exc}") from None


class ApprovalCalls(Messaging):
    """What :class:`~actors.Runtime` offers for human approvals (docs/approvals.md)."""

    async def _pending(self, payloads: bool, every: bool) -> list[PendingApproval]:
        found: list[PendingApproval] = await self._call("pending_approvals", payloads, every)
        return found

    def pending(self, *, payloads: bool = True, every: bool = False) -> list[PendingApproval]:
        """Approvals waiting for an answer, oldest first.

        Args:
            payloads: Include each pickled request (``.request`` unpickles it); False
                gives only its text (for tools that cannot import its class).
            every: Include answered and expired ones (kept for the dedupe window).
        """
        found: list[PendingApproval] = self._block(self._pending(payloads, every))
        return found

    async def pending_async(self, *, payloads: bool = True, every: bool = False
                            ) -> list[PendingApproval]:
        found: list[PendingApproval] = await self._bridge(self._pending(payloads, every))
        return found

    async def _answer(self, approval_id: str, approved: bool, data: Any, reason: str | None,
                      by: str | None) -> PendingApproval:
        done: PendingApproval = await self._call(
            "answer_approval", approval_id, approved, _data_json(data), reason,
            by if by is not None else _who())
        return done

    def approve(self, approval_id: str, data: Any = None, *, by: str | None = None
                ) -> PendingApproval:
        """Approve a waiting approval; its handler runs again and gets the answer.

        Args:
            approval_id: The id ``pending()`` lists.
            data: Anything the handler should get with the answer (a JSON value).
            by: Who approves (default: this process's user name).

        Raises:
            ApprovalNotFoundError: No approval has that id.
            ApprovalConflictError: It was answered otherwise (the same answer again is
                accepted), or it expired.
        """
        done: PendingApproval = self._block(self._answer(approval_id, True, data, None, by))
        return done

    async def approve_async(self, approval_id: str, data: Any = None, *,
                            by: str | None = None) -> PendingApproval:
        done: PendingApproval = await self._bridge(
            self._answer(approval_id, True, data, None, by))
        return done

    def reject(self, approval_id: str, reason: str | None = None, *, by: str | None = None
               ) -> PendingApproval:
        """Reject a waiting approval; its handler runs again and gets ``approved=False``.

        Raises:
            ApprovalNotFoundError: No approval has that id.
            ApprovalConflictError: It was answered otherwise, or it expired.
        """
        done: PendingApproval = self._block(self._answer(approval_id, False, None, reason, by))
        return done

    async def reject_async(self, approval_id: str, reason: str | None = None, *,
                           by: str | None = None) -> PendingApproval:
        done: PendingApproval = await self._bridge(
            self._answer(approval_id, False, None, reason, by))
        return done


__all__ = ["ApprovalCalls"]
