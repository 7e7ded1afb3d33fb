"""``raygent run`` and ``raygent list``: run a scenario and check its outcome."""

from __future__ import annotations

import os
import time
from typing import Annotated

import typer
from rich.console import Console
from rich.text import Text

from actors import RaygentError, Runtime
from actors import _telemetry as tm
from scenarios._connect import start_or_join
from scenarios._launch import with_overrides
from scenarios._runs import auto_prune
from scenarios._scenario import Scenario
from scenarios._system import current
from scenarios.builtin import DEFAULT_SCENARIO, builtin_scenarios
from scenarios.cli._edge import (
    JsonOpt,
    NamespaceOpt,
    console,
    edge,
    err_console,
    fail,
    print_json,
)
from scenarios.cli.render import scenarios_table


@edge
def run(
    scenario: Annotated[str, typer.Argument(
        help="A built-in scenario (see `raygent list`) or a scenario file "
             "(.yaml/.yml/.toml).")] = DEFAULT_SCENARIO,
    address: Annotated[str | None, typer.Option(
        "--address", envvar="RAY_ADDRESS", show_default=False,
        help="Join this Ray cluster (auto, host:port, ray://host:port) instead of "
             "starting a local Ray for the run.")] = None,
    namespace: NamespaceOpt = None,
    count: Annotated[int | None, typer.Option(
        "-n", "--count", min=1, show_default="the scenario's",
        help="Rounds / messages to play.")] = None,
    keep: Annotated[bool, typer.Option(
        "--keep", help="Leave the system and its agents running afterwards "
                       "(needs --address: a local Ray ends with the command).")] = False,
    verbose: Annotated[bool, typer.Option(
        "-v", "--verbose", help="Show Ray's and the agents' logs.")] = False,
    docs: Annotated[list[str] | None, typer.Option(
        "--docs", help="Ingest these files/directories instead of the bundled documents "
                       "(scenarios with memory, e.g. rag-qa).")] = None,
    questions: Annotated[str | None, typer.Option(
        "--questions", help="JSON-lines questions ({\"question\": ..., \"answer_id\": "
                            "...}) instead of the bundled ones.")] = None,
    data_dir: Annotated[str | None, typer.Option(
        "--data-dir", help="Memory data directory (default: the scenario's).")] = None,
    jobs: Annotated[str | None, typer.Option(
        "--jobs", help="Job descriptions (a file or folder) instead of the bundled ones "
                       "(scenarios that rank documents, e.g. recruitment).")] = None,
    resumes: Annotated[str | None, typer.Option(
        "--resumes", help="Resumes (a file or folder of .txt/.md/.json) instead of the "
                          "bundled pool (e.g. recruitment).")] = None,
    json_out: JsonOpt = False,
    quiet: Annotated[bool, typer.Option(
        "-q", "--quiet", help="No progress bars or tables: only the verdict line.")] = False,
    trust: Annotated[list[str] | None, typer.Option(
        "--trust", help="Also allow a scenario file's classes and driver from this module "
                        "prefix (scenarios, actors and memory always are; see "
                        "RAYGENT_TRUSTED_MODULES).")] = None,
) -> None:
    """Run a scenario and check its outcome (exit 0 on pass, 1 on fail)."""
    chosen = _choose(scenario, tuple(trust or ()))
    inputs = {k: v for k, v in (("jobs", jobs), ("resumes", resumes)) if v is not None}
    if (docs or questions or data_dir or inputs) and chosen.spec is not None:
        chosen = Scenario.from_spec(with_overrides(chosen.spec, docs=docs, data_dir=data_dir,
                                                   questions=questions,
                                                   input_paths=inputs))
    system = current() if address in (None, "auto") else None
    if keep and address is None and system is None:
        fail("--keep needs --address or a system that outlives the command: start one "
             "with `raygent up` first (or `ray start --head`, then --address auto)", code=2)
    rounds = count if count is not None else chosen.default_count
    where = (f"the raygent system at {system.address} (`raygent up`)" if system is not None
             else address or "a local Ray")
    # --json and --quiet silence the scenario's progress and tables (a quiet console).
    out = Console(quiet=True) if (json_out or quiet) else console
    out.print(f"running [bold cyan]{chosen.name}[/] (n={rounds}) on {where}")
    t0 = time.perf_counter()
    runtime, created = start_or_join(address, namespace, verbose=verbose,
                                     overrides={"scenario": chosen.name,
                                                **chosen.runtime_overrides})
    run_id, trace_id, trace_dir = runtime.run_id, "", runtime.trace_dir
    try:
        t_ready = time.perf_counter()
        # One span around the whole run, so the run is one trace: scenario.run → ask → …
        with runtime.tracer.start_as_current_span(
                tm.SCENARIO_RUN, attributes={tm.SCENARIO: chosen.name,
                                             tm.RUN_ID: run_id}) as span:
            trace_id = format(span.get_span_context().trace_id, "032x")
            result = chosen.run(runtime, console=out, count=rounds)
            if not result.ok:
                tm.mark_error(span, None, result.summary)
        t_done = time.perf_counter()
    finally:
        _finish(runtime, chosen, keep=keep, created=created)
        # Retention: the runs directory must not grow without bound (this run is kept).
        tracing = runtime.config.tracing
        auto_prune(tracing.runs_dir, tracing.keep_runs, tracing.keep_days, active={run_id})
    timing = f"{t_done - t_ready:.2f}s (+{t_ready - t0:.1f}s to start)"
    if json_out:
        print_json({"scenario": chosen.name, "ok": result.ok, "summary": result.summary,
                    "elapsed_s": round(t_done - t_ready, 3), "run_id": run_id,
                    "trace_id": trace_id, "details": dict(result.details)})
        raise typer.Exit(0 if result.ok else 1)
    verdict, style = ("PASS", "bold green") if result.ok else ("FAIL", "bold red")
    console.print(Text(f"{verdict} {chosen.name}: {result.summary} in {timing}", style=style),
                  soft_wrap=True)
    if trace_id.strip("0") and not quiet:
        where = f" (`raygent trace {run_id}`)" if trace_dir else ""
        console.print(f"run {run_id}  trace {trace_id}{where}", markup=False)
    if keep:
        hint = "" if system is not None else f" --address {address}"
        console.print(f"the system keeps running: `raygent status{hint}`", markup=False)
    raise typer.Exit(0 if result.ok else 1)


def _choose(scenario: str, trusted: tuple[str, ...] = ()) -> Scenario:
    """A built-in by name, or a spec file by path (exit 2 when neither)."""
    if scenario.endswith((".yaml", ".yml", ".toml")) or os.sep in scenario:
        return Scenario.from_file(scenario, trusted=trusted)
    scenarios = builtin_scenarios()
    chosen = scenarios.get(scenario)
    if chosen is None:
        fail(f"unknown scenario {scenario!r}; built-in scenarios: {', '.join(scenarios)} "
              "(see `raygent list`), or give a path to a .yaml/.toml spec", code=2)
    return chosen


def _finish(runtime: Runtime, scenario: Scenario, *, keep: bool, created: bool) -> None:
    """Leave the system as the run found it, unless asked to keep it."""
    if keep:
        runtime.disconnect()
        return
    if created:
        runtime.stop()
        return
    # The system was running before: others may use it, so remove only this run's agents.
    try:
        present = {a.name for a in runtime.status().agents}
        for name in scenario.agents:
            if name in present:
                runtime.stop_agent(name)
    except RaygentError as exc:
        err_console.print(Text(f"warning: could not stop the scenario's agents: {exc}",
                               style="yellow"), soft_wrap=True)
    finally:
        runtime.disconnect()


def list_scenarios() -> None:
    """List the built-in scenarios."""
    console.print(scenarios_table(builtin_scenarios().values()))
