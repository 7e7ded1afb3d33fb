"""Human approval on Ray: a parked approval survives killing the supervisor and the agent,
then completes after ``approve``; answers and their errors cross process boundaries."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
import ray

from actors import ApprovalConflictError, ApprovalNotFoundError, Runtime
from tests.approval_agents import LedgerRecruiter, ReviewDraft, ReviewHire, ledger
from tests.conftest import wait_for


def _kill(rt: Runtime, name: str, *, restart: bool = True) -> None:
    ray.kill(ray.get_actor(name, namespace=rt.config.namespace), no_restart=not restart)


def test_a_parked_approval_survives_killing_supervisor_and_agent(runtime, tmp_path: Path):
    book = str(tmp_path / "ledger")
    runtime.spawn(LedgerRecruiter, name="hr")
    pid = runtime.status().agent("hr").pid
    runtime.send("hr", ReviewHire(name="ann", ledger=book))
    (wait,) = wait_for(runtime.pending, message="the approval is pending")
    assert wait.agent == "hr" and wait.request == ReviewDraft(name="ann", salary=100)
    assert ledger(book) == ["run:ann", "draft:ann"]

    _kill(runtime, "hr", restart=False)
    _kill(runtime, runtime.config.supervisor_name)
    wait_for(lambda: runtime.status().supervisor_restarts == 1, timeout_s=60)
    wait_for(lambda: runtime.status().agent("hr").pid not in (None, pid), timeout_s=60,
             message="the agent is re-created")
    (still,) = runtime.pending(payloads=False)
    assert still.id == wait.id and still.data == b"" and "ReviewDraft" in still.text
    assert ledger(book) == ["run:ann", "draft:ann"]  # nothing ran it again meanwhile

    done = runtime.approve(wait.id, {"start": "May"}, by="alice")
    assert done.status == "approved"
    wait_for(lambda: len(ledger(book)) == 4, timeout_s=60)
    assert ledger(book) == ["run:ann", "draft:ann", "run:ann", "offer:ann:{'start': 'May'}"]
    assert runtime.pending() == []
    assert runtime.approve(wait.id, {"start": "May"}, by="alice").status == "approved"
    with pytest.raises(ApprovalConflictError):
        runtime.reject(wait.id, "no")


def test_an_ask_waits_for_a_rejection_and_unknown_ids_are_typed_errors(runtime, tmp_path):
    book = str(tmp_path / "ledger")
    runtime.spawn(LedgerRecruiter, name="hr")
    result: dict[str, Any] = {}

    def asker() -> None:
        result["reply"] = runtime.ask("hr", ReviewHire(name="bob", ledger=book), timeout_s=60)

    thread = threading.Thread(target=asker)
    thread.start()
    (wait,) = wait_for(runtime.pending)
    runtime.reject(wait.id, "too junior", by="carol")
    thread.join(timeout=60)
    assert result == {"reply": "not hired: too junior"}
    with pytest.raises(ApprovalNotFoundError):
        runtime.approve("ap-000000000000")
    # A default answer on expiry, through the Runtime's ask.
    reply = runtime.ask("hr", ReviewHire(name="cy", ledger=book, timeout_s=0.5,
                                         on_timeout="approve"), timeout_s=60)
    assert reply == "hired cy by timeout"
