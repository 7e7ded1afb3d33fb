"""system.json, run retention and ``raygent runs``, without Ray."""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from actors import ConfigError
from actors._config import TracingConfig
from scenarios import _runs
from scenarios import _system as sysm
from scenarios.cli import app

NOW = 2_000_000_000.0
DAY = 86_400.0


# -- system.json ----------------------------------------------------------------------


def test_system_file_round_trips(tmp_path: Path) -> None:
    info = sysm.SystemInfo(address="127.0.0.1:6390", namespace="ns", dashboard_url="http://x",
                           data_dir=str(tmp_path), pid=123, run_id="r1")
    path = sysm.write_info(info, tmp_path)
    assert path == tmp_path / "system.json"
    assert sysm.read_info(tmp_path) == info
    sysm.remove_info(tmp_path)
    assert sysm.read_info(tmp_path) is None
    sysm.remove_info(tmp_path)  # twice is fine


@pytest.mark.parametrize("text", ["", "{", "[]", '{"address": 1, "namespace": "n"}',
                                  '{"namespace": "n"}'])
def test_a_broken_system_file_reads_as_none(tmp_path: Path, text: str) -> None:
    (tmp_path / "system.json").write_text(text)
    assert sysm.read_info(tmp_path) is None


def test_unknown_keys_are_ignored(tmp_path: Path) -> None:
    (tmp_path / "system.json").write_text(json.dumps(
        {"address": "h:1", "namespace": "n", "from_a_newer_version": True}))
    info = sysm.read_info(tmp_path)
    assert info is not None and info.address == "h:1"


def test_liveness_needs_both_the_port_and_the_head_process() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        address = f"127.0.0.1:{server.getsockname()[1]}"
        joined = sysm.SystemInfo(address=address, namespace="n", owns_ray=False)
        assert sysm.is_alive(joined)
        mine = sysm.SystemInfo(address=address, namespace="n", pid=os.getpid())
        assert sysm.is_alive(mine)
        gone_head = sysm.SystemInfo(address=address, namespace="n", pid=0)
        assert not sysm.is_alive(gone_head)
    # The port is closed now: stale.
    assert not sysm.is_alive(joined)


def test_current_ignores_a_stale_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAYGENT_HOME", str(tmp_path))
    sysm.write_info(sysm.SystemInfo(address="127.0.0.1:1", namespace="n", owns_ray=False))
    assert sysm.current() is None


def test_free_port_avoids_a_taken_one() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        taken = s.getsockname()[1]
        assert sysm.free_port(taken) != taken


def test_ensure_token_creates_a_private_token(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RAY_AUTH_TOKEN", raising=False)
    path = tmp_path / "tok"
    monkeypatch.setenv("RAY_AUTH_TOKEN_PATH", str(path))
    assert sysm.ensure_token() == str(path)
    token = path.read_text()
    assert len(token) == 64 and path.stat().st_mode & 0o077 == 0
    sysm.ensure_token()
    assert path.read_text() == token  # an existing token is kept
    assert sysm.read_token() == token


# -- retention ------------------------------------------------------------------------


def _make_run(root: Path, run_id: str, mtime: float) -> Path:
    traces = root / run_id / "traces"
    traces.mkdir(parents=True)
    f = traces / "driver-1.jsonl"
    f.write_text("{}\n")
    for p in (f, traces):
        os.utime(p, (mtime, mtime))
    return root / run_id


def _non_runs(root: Path) -> set[Path]:
    root.mkdir(parents=True, exist_ok=True)
    (root / "notes.txt").write_text("mine")
    (root / "no-traces").mkdir()
    (root / "no-traces" / "x").write_text("x")
    (root / ".hidden" / "traces").mkdir(parents=True)
    return {root / "notes.txt", root / "no-traces", root / ".hidden"}


def test_prune_by_count_keeps_the_newest(tmp_path: Path) -> None:
    others = _non_runs(tmp_path)
    for i in range(6):
        _make_run(tmp_path, f"run{i}", NOW - DAY - i * 60)
    removed = _runs.prune(tmp_path, keep_runs=2, keep_days=30, now=NOW)
    assert {r.run_id for r in removed} == {"run2", "run3", "run4", "run5"}
    assert [r.run_id for r in _runs.list_runs(tmp_path)] == ["run0", "run1"]
    assert all(p.exists() for p in others)


def test_prune_by_age_and_the_active_run_is_kept(tmp_path: Path) -> None:
    _make_run(tmp_path, "new", NOW - DAY)
    _make_run(tmp_path, "old", NOW - 40 * DAY)
    _make_run(tmp_path, "old-but-active", NOW - 50 * DAY)
    _make_run(tmp_path, "just-written", NOW - 10)
    dry = _runs.prune(tmp_path, keep_runs=10, keep_days=30, active={"old-but-active"},
                      now=NOW, dry_run=True)
    assert [r.run_id for r in dry] == ["old"] and (tmp_path / "old").exists()
    _runs.prune(tmp_path, keep_runs=1, keep_days=30, active={"old-but-active"}, now=NOW)
    assert {r.run_id for r in _runs.list_runs(tmp_path)} == {
        "just-written", "old-but-active"}


def test_bad_retention_knobs_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="keep_runs"):
        _runs.prune(tmp_path, keep_runs=0, keep_days=1)
    with pytest.raises(ConfigError, match="keep_days"):
        _runs.prune(tmp_path, keep_runs=1, keep_days=0)
    with pytest.raises(ConfigError, match="keep_runs"):
        TracingConfig(keep_runs=0)
    with pytest.raises(ConfigError, match="RAYGENT_TRACE_KEEP_DAYS"):
        TracingConfig.from_env({"RAYGENT_TRACE_KEEP_DAYS": "soon"})
    cfg = TracingConfig.from_env({"RAYGENT_TRACE_KEEP_RUNS": "7",
                                  "RAYGENT_TRACE_KEEP_DAYS": "1.5"})
    assert (cfg.keep_runs, cfg.keep_days) == (7, 1.5)


def test_runs_dir_follows_raygent_home(monkeypatch: pytest.MonkeyPatch,
                                       tmp_path: Path) -> None:
    monkeypatch.setenv("RAYGENT_HOME", str(tmp_path))
    assert TracingConfig().runs_dir == str(tmp_path / "runs")


@settings(max_examples=40, deadline=None)
@given(ages=st.lists(st.floats(min_value=0, max_value=90 * DAY), min_size=0, max_size=12),
       keep_runs=st.integers(min_value=1, max_value=8),
       keep_days=st.floats(min_value=0.01, max_value=60))
def test_retention_properties(tmp_path_factory: pytest.TempPathFactory, ages: list[float],
                              keep_runs: int, keep_days: float) -> None:
    root = tmp_path_factory.mktemp("runs")
    others = _non_runs(root)
    for i, age in enumerate(ages):
        _make_run(root, f"r{i:02d}", NOW - age)
    before = _runs.list_runs(root)
    removed = {r.run_id for r in _runs.prune(root, keep_runs=keep_runs, keep_days=keep_days,
                                             now=NOW)}
    after = {r.run_id for r in _runs.list_runs(root)}
    # Never a non-run; exactly the removed runs are gone.
    assert all(p.exists() for p in others)
    assert after == {r.run_id for r in before} - removed
    for rank, rec in enumerate(before):
        recent = NOW - rec.mtime < _runs.ACTIVE_GRACE_S
        young = rec.age_days(NOW) <= keep_days
        if (rank < keep_runs and young) or recent:
            assert rec.run_id in after  # the newest keep_runs (within the age) stay
        else:
            assert rec.run_id in removed
    if keep_days >= 90:
        assert len(after) >= min(keep_runs, len(before))


# -- CLI ------------------------------------------------------------------------------


def test_cli_runs_prune_dry_run_and_prune(tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAYGENT_HOME", str(tmp_path / "home"))
    root = tmp_path / "runs"
    now = time.time()
    for i in range(4):
        _make_run(root, f"run{i}", now - DAY - i * 60)
    (root / "keep-me.txt").write_text("x")
    runner = CliRunner()
    dry = runner.invoke(app, ["runs", "prune", "--keep", "1", "--dry-run",
                              "--runs-dir", str(root), "--json"])
    assert dry.exit_code == 0, dry.output
    out = json.loads(dry.stdout)
    assert out["dry_run"] and sorted(out["removed"]) == ["run1", "run2", "run3"]
    assert out["left"] == 1 and len(_runs.list_runs(root)) == 4
    listed = runner.invoke(app, ["runs", "list", "--runs-dir", str(root), "--json"])
    assert [r["run_id"] for r in json.loads(listed.stdout)["runs"]] == [
        "run0", "run1", "run2", "run3"]
    real = runner.invoke(app, ["runs", "prune", "--keep", "2", "--runs-dir", str(root)])
    assert real.exit_code == 0 and "removed 2 runs" in real.stdout
    assert [r.run_id for r in _runs.list_runs(root)] == ["run0", "run1"]
    assert (root / "keep-me.txt").exists()
    bad = runner.invoke(app, ["runs", "prune", "--older-than", "0", "--runs-dir", str(root)])
    assert bad.exit_code == 1 and "keep_days" in bad.output


def test_cli_down_with_nothing_up(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAYGENT_HOME", str(tmp_path))
    result = CliRunner().invoke(app, ["down"])
    assert result.exit_code == 0 and "nothing is up" in result.stdout


# -- benchmark progress ---------------------------------------------------------------


@pytest.mark.parametrize("argv, quiet", [([], False), (["--quiet"], True), (["--json"], True)])
def test_benchmark_progress_flags(argv: list[str], quiet: bool) -> None:
    import argparse

    from benchmarks._progress import add_flags, silenced

    parser = argparse.ArgumentParser()
    add_flags(parser)
    assert silenced(parser.parse_args(argv)) is quiet


def test_benchmark_phases_count_each_phase_and_loop() -> None:
    from benchmarks._progress import Phases

    seen = []
    with Phases(["a", "b", "c"], title="t") as phases:
        with phases.phase("a"):
            seen.extend(phases.track(range(5), "items"))
        phases.next("b")
        phases.next("c")
        main = phases.bar.tasks[0]
        assert main.completed == 2 and main.description == "t: c"
        assert len(phases.bar.tasks) == 1  # the loop's own bar is gone
    assert seen == list(range(5))


# -- raygent up: failures before anything starts --------------------------------------


@pytest.fixture
def up_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("RAYGENT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("RAY_AUTH_TOKEN_PATH", str(tmp_path / "token"))
    monkeypatch.setenv("RAY_AUTH_MODE", "token")
    monkeypatch.delenv("RAY_AUTH_TOKEN", raising=False)
    return tmp_path


def test_up_refuses_a_taken_dashboard_port(up_env: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        result = CliRunner().invoke(app, ["up", "--dashboard-port", str(port)])
    assert result.exit_code == 1
    assert f"--dashboard-port {port} is taken" in result.stderr
    assert sysm.read_info(up_env / "home") is None


def test_up_joining_a_dead_address_fails_fast(up_env: Path) -> None:
    free = sysm.free_port()
    t0 = time.monotonic()
    result = CliRunner().invoke(app, ["up", "--address", f"127.0.0.1:{free}"])
    assert result.exit_code == 1 and "no Ray cluster answers" in result.stderr
    assert time.monotonic() - t0 < 30
    assert sysm.read_info(up_env / "home") is None
