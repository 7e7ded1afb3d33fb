"""``raygent trace`` on the traces of a real run: driver, supervisor and two agents."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from actors import RaygentError
from actors._config import TracingConfig
from actors._traces import load_spans
from scenarios.cli.trace import load_traces, trace_cmd, trace_lines
from tests.agents import EchoAgent, Relay, RelayAgent
from tests.conftest import wait_for

runner = CliRunner()
# Wide enough that no line of the waterfall wraps in the captured output.
ENV = {"COLUMNS": "200", "RAYGENT_TRACE_EXPORTER": None, "OTEL_TRACES_EXPORTER": None,
       "OTEL_SDK_DISABLED": None, "RAYGENT_TRACE_DIR": None}


def _trace(*args: str, env: dict[str, str | None] | None = None) -> Any:
    import typer

    # The command alone, as `raygent trace` will be once registered in scenarios.cli.
    app = typer.Typer()
    app.command()(trace_cmd)
    return runner.invoke(app, list(args), env={**ENV, **(env or {})})


@pytest.fixture
def traced_run(make_runtime: Any, tmp_path: Path) -> tuple[str, str]:
    """A run with one good request through two agents and one failing request.

    Returns:
        The runs directory (holding only this run) and the run id.
    """
    runs = str(tmp_path / "runs")
    runtime = make_runtime(tracing=TracingConfig(runs_dir=runs))
    runtime.spawn(EchoAgent, name="echo")
    runtime.spawn(RelayAgent, name="relay")
    assert runtime.ask("relay", Relay(to="echo", text="hi")).text == "via relay: hi"
    with pytest.raises(RaygentError):
        runtime.ask("relay", Relay(to="nobody", text="lost"))

    def exported() -> bool:
        runtime.flush_traces()
        spans = load_spans(runtime.trace_dir)
        return any(s["name"] == "process echo" for s in spans) and any(
            s["status"] == "ERROR" for s in spans)

    wait_for(exported, timeout_s=20, interval_s=0.3, message="the run's spans exported")
    return runs, runtime.run_id


def test_trace_of_a_real_run(traced_run: tuple[str, str]) -> None:
    runs, run_id = traced_run
    traces, n_spans = load_traces(runs, run_id)
    good = next(t for t in traces if any(n.name == "process echo" for n in t.nodes))
    bad = next(t for t in traces if t.errors)

    # The newest run by default; header, one waterfall per trace, newest last.
    result = _trace("--runs-dir", runs)
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert f"run {run_id}" in out
    assert f"{len(traces)} traces, {n_spans} spans" in out
    assert "agents: driver, echo, relay, supervisor" in out
    assert out.index(f"trace {good.trace_id}") < out.index(f"trace {bad.trace_id}")
    lines = out.splitlines()
    chain = ["ask relay (driver)", "route relay (supervisor)", "process relay (relay)",
             "ask echo (relay)", "route echo (supervisor)", "process echo (echo)"]
    start = next(i for i, line in enumerate(lines) if line.startswith("ask relay (driver)"))
    for depth, (line, label) in enumerate(zip(lines[start:], chain, strict=False)):
        assert line.startswith("  " * depth + label), line
        assert " ms |" in line and "█" in line  # duration and waterfall bar
    assert "✗ ERROR" in out and "failed" in out

    # The same run by id prefix, one trace only, as JSON.
    result = _trace(run_id[:20], "--runs-dir", runs, "--trace", good.trace_id[:12], "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["run_id"] == run_id
    assert data["agents"] == ["driver", "echo", "relay", "supervisor"]
    assert [t["trace_id"] for t in data["traces"]] == [good.trace_id]
    node = data["traces"][0]["roots"][0]
    names = []
    while True:
        names.append((node["name"], node["resource"]["raygent.agent"]))
        assert node["duration_ms"] >= 0 and node["trace_id"] == good.trace_id
        if not node["children"]:
            break
        node = node["children"][0]
    assert names[:6] == [tuple(c.removesuffix(")").split(" (")) for c in chain]

    # --last keeps the newest traces only.
    result = _trace(run_id, "--runs-dir", runs, "--last", "1", "--json")
    assert [t["trace_id"] for t in json.loads(result.stdout)["traces"]] == [
        traces[-1].trace_id]

    # Failed spans are drawn in red.
    styled = trace_lines(bad, bar_width=20)
    assert any(line.style == "bold red" and "✗ ERROR" in line.plain for line in styled)
    assert all(line.style == "" for line in trace_lines(good, bar_width=20))

    # Unknown ids fail, listing what there is.
    result = _trace("no-such-run", "--runs-dir", runs)
    assert result.exit_code == 1
    assert "error: no run 'no-such-run'" in result.stderr and run_id in result.stderr
    result = _trace(run_id, "--runs-dir", runs, "--trace", "ffff0000")
    assert result.exit_code == 1
    assert "has no trace 'ffff0000'" in result.stderr and good.trace_id in result.stderr


def test_no_runs_fails_with_a_hint(tmp_path: Path) -> None:
    result = _trace("--runs-dir", str(tmp_path))
    assert result.exit_code == 1
    assert result.stderr.startswith(f"error: no traced runs in {tmp_path}")
    assert "RAYGENT_TRACE_EXPORTER" in result.stderr

    result = _trace("--runs-dir", str(tmp_path / "missing"),
                    env={"RAYGENT_TRACE_EXPORTER": "otlp"})
    assert result.exit_code == 1
    assert "the trace exporter is 'otlp' here" in result.stderr


def test_default_runs_dir_follows_the_environment(tmp_path: Path) -> None:
    result = _trace(env={"RAYGENT_TRACE_DIR": str(tmp_path)})
    assert result.exit_code == 1
    assert f"no traced runs in {tmp_path}" in result.stderr


def test_a_run_without_spans_yet(tmp_path: Path) -> None:
    # What a run looks like between its processes opening their files and the first export,
    # plus what a killed process and a stray writer may leave behind.
    (tmp_path / "01EMPTYRUN" / "traces").mkdir(parents=True)
    (tmp_path / "01EMPTYRUN" / "traces" / "driver-1.jsonl").write_text("")
    (tmp_path / "01EMPTYRUN" / "traces" / "echo-2.jsonl").write_text(
        '{"not": "a span"}\n[1, 2]\n{"name": "process echo", "trace_')
    result = _trace("--runs-dir", str(tmp_path))
    assert result.exit_code == 1
    assert "run 01EMPTYRUN has no spans yet" in result.stderr
    assert "flush_traces" in result.stderr


def test_help() -> None:
    result = _trace("--help")
    assert result.exit_code == 0
    for option in ("--runs-dir", "--trace", "--last", "--json"):
        assert option in result.stdout
