"""The ``raygent`` command line: help, listing, usage errors, no-system errors, one real run.

Only one test starts Ray (the end-to-end ``run``, ~10 s); the others stop before any
cluster is reached, or point at an address where nothing listens.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from actors import AgentStatus, SystemStatus
from actors._journal import JournalStats
from scenarios import RallyReport, builtin_scenarios
from scenarios._render import StatusView
from scenarios.cli import app
from scenarios.cli.render import status_json
from scenarios.ping_pong import check

RAYGENT = Path(sys.executable).with_name("raygent")
NOWHERE = "127.0.0.1:1"  # a port nothing listens on

runner = CliRunner()


def _raygent(*args: str, env: dict[str, str], timeout_s: float) -> subprocess.CompletedProcess[str]:
    """Run the installed console script, as a user would."""
    return subprocess.run([str(RAYGENT), *args], env=env, capture_output=True, text=True,
                          timeout=timeout_s, check=False)


def _env(**changes: str | None) -> dict[str, str]:
    env = dict(os.environ)
    for key, value in changes.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


# -- help and listing ----------------------------------------------------------------------


def test_help_lists_every_command() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("run", "list", "status", "dlq"):
        assert command in result.stdout


@pytest.mark.parametrize("command", [
    ["run"], ["list"], ["status"], ["dlq"], ["dlq", "list"], ["dlq", "replay"],
    ["dlq", "purge"],
])
def test_every_command_has_help(command: list[str]) -> None:
    result = runner.invoke(app, [*command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.stdout


def test_cluster_commands_take_an_address() -> None:
    for command in (["run"], ["status"], ["dlq", "list"], ["dlq", "replay"], ["dlq", "purge"]):
        assert "--address" in runner.invoke(app, [*command, "--help"]).stdout, command


def test_list_shows_builtins_with_descriptions() -> None:
    result = runner.invoke(app, ["list"])
    assert result.exit_code == 0
    for scenario in builtin_scenarios().values():
        assert scenario.name in result.stdout
    assert "Ping/Pong" in result.stdout


def test_console_script_runs() -> None:
    result = _raygent("list", env=_env(), timeout_s=60)
    assert result.returncode == 0, result.stderr
    assert "ping-pong" in result.stdout


# -- usage errors (exit 2, before any cluster is reached) ------------------------------------


def test_unknown_scenario_lists_the_builtins() -> None:
    result = runner.invoke(app, ["run", "nope"])
    assert result.exit_code == 2
    assert "error: unknown scenario 'nope'" in result.stderr
    assert "ping-pong" in result.stderr and "echo" in result.stderr


def test_keep_needs_an_address() -> None:
    result = runner.invoke(app, ["run", "--keep"], env={"RAY_ADDRESS": None})
    assert result.exit_code == 2
    assert "--keep needs --address" in result.stderr


@pytest.mark.parametrize("args", [[], ["some-id", "--all"]])
def test_replay_needs_ids_or_all(args: list[str]) -> None:
    result = runner.invoke(app, ["dlq", "replay", *args, "--address", NOWHERE])
    assert result.exit_code == 2
    assert result.stderr.startswith("error: ")


# -- no running system (exit 1, one red line, fast) -----------------------------------------


def test_status_without_a_system_fails_fast_with_a_hint() -> None:
    t0 = time.monotonic()
    result = _raygent("status", env=_env(RAY_ADDRESS=NOWHERE), timeout_s=60)
    elapsed = time.monotonic() - t0
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stderr.startswith("error: no Ray cluster answers at ")
    assert "ray start --head" in result.stderr
    assert "raygent run ping-pong --address auto --keep" in result.stderr
    assert "Traceback" not in result.stderr
    assert elapsed < 30, f"took {elapsed:.1f}s: ray.init must not be retried"


@pytest.mark.parametrize("command", [["status", "--json"], ["dlq", "list"], ["dlq", "purge"],
                                     ["dlq", "replay", "--all"]])
def test_cluster_commands_report_a_missing_cluster_as_one_error(command: list[str]) -> None:
    result = runner.invoke(app, [*command, "--address", NOWHERE])
    assert result.exit_code == 1
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert lines[0].startswith("error: no Ray cluster answers at ")
    assert "Traceback" not in result.stderr


def test_malformed_address_is_an_error_not_a_traceback() -> None:
    result = runner.invoke(app, ["status", "--address", "localhost:notaport"])
    assert result.exit_code == 1
    assert result.stderr.startswith("error: ")


# -- the ping-pong check --------------------------------------------------------------------


def _report(received: tuple[int, ...], *, by: str = "pong",
            errors: tuple[str, ...] = ()) -> RallyReport:
    return RallyReport(sent=5, received=received, responders=(by,),
                       rtt_ms=tuple(1.0 for _ in received), errors=errors)


def test_check_passes_when_all_round_trips_arrive_in_order() -> None:
    result = check(_report((1, 2, 3, 4, 5)), 5, "pong")
    assert result.ok
    assert result.summary.startswith("5/5 round trips in order")
    assert result.details["in_order"] is True


@pytest.mark.parametrize(("report", "problem"), [
    (_report((1, 3, 2, 4, 5)), "out of order"),
    (_report((1, 2, 4, 5), errors=("ping 3: boom",)), "4/5 replies arrived"),
    (_report((1, 2, 3, 4, 9)), "match no ping"),
    (_report((1, 2, 3, 4, 5), by="impostor"), "unexpected responders"),
])
def test_check_fails_and_says_why(report: RallyReport, problem: str) -> None:
    result = check(report, 5, "pong")
    assert not result.ok
    assert problem in result.summary


# -- rendering ------------------------------------------------------------------------------


def _status() -> SystemStatus:
    agent = AgentStatus(
        name="pingpong-ping", cls="scenarios.ping_pong._pingpong.PingAgent", state="running",
        mailbox_depth=2, mailbox_capacity=1000, inflight=0, handled=7, failed=1, retried=2,
        dead_lettered=1, restarts=1, last_error="HandlerError: boom", node_id="ab" * 28,
        pid=4242, actor_id="cd" * 16)
    journal = JournalStats(path="/data/journal/ns.sqlite3", size_bytes=2_500_000, pending=3,
                           done=40, dead_letters=1, evicted_dead_letters=0,
                           supervisor_restarts=2, synchronous="FULL")
    return SystemStatus(namespace="ns", supervisor="supervisor", strategy="one_for_one",
                        started_at=0.0, agents=[agent], dead_letters=1, journal=journal,
                        supervisor_restarts=2, recovered_s=0.4)


@pytest.mark.parametrize("width", [60, 80, 200])
def test_status_view_shows_every_fact_at_any_width(width: int) -> None:
    console = Console(width=width, record=True)
    console.print(StatusView(_status()))
    text = console.export_text()
    for fact in ("pingpong-ping", "PingAgent", "running", "abababab", "4242", "2/1000",
                 "HandlerError: boom", "1 dead letters", "ns.sqlite3", "3 pending",
                 "supervisor restarts 2"):
        assert fact in text, (width, fact)
    assert max(len(line) for line in text.splitlines()) <= width


def test_status_json_keeps_every_field() -> None:
    data = status_json(_status())
    assert data["dead_letters"] == 1
    (agent,) = data["agents"]
    assert agent["cls"] == "scenarios.ping_pong._pingpong.PingAgent"
    assert agent["node_id"] == "ab" * 28
    assert agent["last_error"] == "HandlerError: boom"
    assert data["journal"]["path"] == "/data/journal/ns.sqlite3"
    assert data["journal"]["pending"] == 3 and data["supervisor_restarts"] == 2


# -- end to end (starts its own local Ray) --------------------------------------------------


def test_run_ping_pong_end_to_end() -> None:
    # A namespace of its own: another system on this machine's Ray cannot collide with it.
    namespace = f"raygent-test-{uuid.uuid4().hex[:8]}"
    result = _raygent("run", "ping-pong", "-n", "20", "--namespace", namespace,
                      env=_env(RAY_ADDRESS=None), timeout_s=180)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "PASS ping-pong: 20/20 round trips in order" in result.stdout
    assert "pingpong-pong" in result.stdout  # the agents' status is shown
