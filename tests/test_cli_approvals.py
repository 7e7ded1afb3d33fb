"""``raygent pending``, ``raygent approve`` and ``raygent reject`` against a running system,
driven in this process through typer (the system is the test's own, on the session Ray)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import ray
from typer.testing import CliRunner

from scenarios.cli import app
from tests.approval_agents import LedgerRecruiter, ReviewHire, ledger
from tests.conftest import wait_for

runner = CliRunner()


def _cli(rt: Any, *args: str) -> Any:
    address = ray.get_runtime_context().gcs_address
    return runner.invoke(app, [*args, "--address", address, "--namespace",
                               rt.config.namespace])


def test_pending_approve_and_reject_from_the_command_line(runtime: Any, tmp_path: Path):
    book = str(tmp_path / "ledger")
    runtime.spawn(LedgerRecruiter, name="hr")
    empty = _cli(runtime, "pending")
    assert empty.exit_code == 0 and "nothing waits" in empty.stdout
    runtime.send("hr", ReviewHire(name="ann", ledger=book))
    runtime.send("hr", ReviewHire(name="bob", ledger=book, timeout_s=3600))
    wait_for(lambda: len(runtime.pending()) == 2)

    listed = _cli(runtime, "pending", "--json")
    assert listed.exit_code == 0, listed.output
    rows = {("ann" if "name='ann'" in r["request"] else "bob"): r
            for r in json.loads(listed.stdout)["approvals"]}
    assert set(rows) == {"ann", "bob"}
    assert rows["ann"]["expires_at"] is None and rows["bob"]["expires_at"] is not None
    assert rows["ann"]["agent"] == "hr" and rows["ann"]["on_timeout"] == "fail"
    table = _cli(runtime, "pending")
    assert table.exit_code == 0 and rows["ann"]["id"] in table.stdout

    bad = _cli(runtime, "approve", rows["ann"]["id"], "--data", "{oops")
    assert bad.exit_code == 2 and "not valid JSON" in bad.output
    ok = _cli(runtime, "approve", rows["ann"]["id"], "--data", '{"salary": 120}', "--by",
              "alice")
    assert ok.exit_code == 0, ok.output
    assert "approved by alice" in ok.stdout
    no = _cli(runtime, "reject", rows["bob"]["id"], "--reason", "not now", "--json")
    assert no.exit_code == 0, no.output
    answer = json.loads(no.stdout)["answer"]
    assert answer["approved"] is False and answer["reason"] == "not now"
    wait_for(lambda: "offer:ann:{'salary': 120}" in ledger(book))
    assert "offer:bob" not in " ".join(ledger(book))

    again = _cli(runtime, "reject", rows["ann"]["id"])
    assert again.exit_code == 1 and "already approved" in again.output
    unknown = _cli(runtime, "approve", "ap-000000000000")
    assert unknown.exit_code == 1 and "no approval with id" in unknown.output
    done = _cli(runtime, "pending", "--all", "--json")
    assert {r["status"] for r in json.loads(done.stdout)["approvals"]} == {"approved",
                                                                           "rejected"}


def test_the_approval_commands_have_help_and_take_an_address() -> None:
    for command in ("pending", "approve", "reject"):
        result = runner.invoke(app, [command, "--help"])
        assert result.exit_code == 0 and "--address" in result.stdout, command
    assert "pending" in runner.invoke(app, ["--help"]).stdout


def test_approve_without_a_system_says_how_to_start_one() -> None:
    result = runner.invoke(app, ["approve", "ap-1", "--address", "127.0.0.1:1"])
    assert result.exit_code == 1 and "error:" in result.output
