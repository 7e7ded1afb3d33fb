"""Errors of human approvals (``ctx.approval``), kept beside the main tree in
``actors/_errors.py``, whose diagram lists them::

    RaygentError
    └── ApprovalError               an approval cannot be given, found or waited for
        ├── ApprovalNotFoundError   no approval with that id
        ├── ApprovalConflictError   already answered, differently
        └── ApprovalExpiredError    the wait ran out and its policy is "fail"

Each survives a pickle round trip (the base records its constructor's arguments).
"""

from __future__ import annotations

from actors._errors import RaygentError


class ApprovalError(RaygentError):
    """A human approval could not be asked for, given or waited for."""

    retryable = False


class ApprovalNotFoundError(ApprovalError):
    def __init__(self, approval_id: str) -> None:
        super().__init__(f"no approval with id {approval_id!r}: list the waiting ones with "
                         "`raygent pending` (answered ones are kept for the dedupe window)")
        self.approval_id = approval_id


class ApprovalConflictError(ApprovalError):
    def __init__(self, approval_id: str, status: str) -> None:
        super().__init__(f"approval {approval_id!r} is already {status}: an answer cannot be "
                         "changed (giving the same answer again is accepted)")
        self.approval_id = approval_id
        self.status = status


class ApprovalExpiredError(ApprovalError):
    """The wait for an approval ran past its ``timeout_s`` and its policy is ``fail``: the
    handler gets this error, so its message is dead-lettered and an asker gets it too."""

    def __init__(self, approval_id: str, timeout_s: float) -> None:
        super().__init__(f"approval {approval_id!r} was not answered within {timeout_s:g}s: "
                         "answer sooner, raise timeout_s, or give on_timeout a default answer; "
                         "the message is in the dead-letter queue (`raygent dlq replay`)")
        self.approval_id = approval_id
        self.timeout_s = timeout_s


__all__ = ["ApprovalConflictError", "ApprovalError", "ApprovalExpiredError",
           "ApprovalNotFoundError"]
