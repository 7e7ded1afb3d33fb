"""The ``raygent`` command: run built-in scenarios, inspect a running system, manage its DLQ.

Every command that reaches a cluster takes ``--address``; expected failures (any
:class:`RaygentError`) end as one red ``error:`` line and exit code 1, usage mistakes as
exit code 2.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.text import Text

from actors import RaygentError, Runtime
from actors import _telemetry as tm
from scenarios._cli_edge import JsonOpt, console, edge, err_console, fail, print_json
from scenarios._cli_memory import memory_app
from scenarios._cli_trace import trace_cmd
from scenarios._connect import open_runtime, start_or_join
from scenarios._launch import spawn_agents, start_memory, with_overrides
from scenarios._render import (
    StatusView,
    dead_letter_json,
    dead_letter_table,
    scenarios_table,
    status_json,
)
from scenarios._scenario import Scenario
from scenarios.builtin import DEFAULT_SCENARIO, builtin_scenarios

F = TypeVar("F", bound=Callable[..., Any])


app = typer.Typer(
    name="raygent",
    help="raygent: an event-driven multi-agent runtime on Ray.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)
dlq_app = typer.Typer(
    help="Inspect, replay or purge the dead-letter queue of a running system.",
    no_args_is_help=True,
)
app.add_typer(dlq_app, name="dlq")


AddressOpt = Annotated[str, typer.Option(
    "--address", envvar="RAY_ADDRESS",
    help="Ray cluster to reach: auto, host:port or ray://host:port.")]
NamespaceOpt = Annotated[str | None, typer.Option(
    "--namespace", show_default="$RAYGENT_NAMESPACE or raygent",
    help="Ray namespace of the system.")]



@app.command()
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
) -> None:
    """Run a scenario and check its outcome (exit 0 on pass, 1 on fail)."""
    chosen = _choose(scenario)
    if (docs or questions or data_dir) and chosen.spec is not None:
        chosen = Scenario.from_spec(with_overrides(chosen.spec, docs=docs, data_dir=data_dir,
                                                   questions=questions))
    if keep and address is None:
        fail("--keep needs --address (e.g. --address auto after `ray start --head`): "
              "the local Ray this command starts ends with it", code=2)
    rounds = count if count is not None else chosen.default_count
    where = address or "a local Ray"
    console.print(f"running [bold cyan]{chosen.name}[/] (n={rounds}) on {where}")
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
            result = chosen.run(runtime, console=console, count=rounds)
            if not result.ok:
                tm.mark_error(span, None, result.summary)
        t_done = time.perf_counter()
    finally:
        _finish(runtime, chosen, keep=keep, created=created)
    timing = f"{t_done - t_ready:.2f}s (+{t_ready - t0:.1f}s to start)"
    verdict, style = ("PASS", "bold green") if result.ok else ("FAIL", "bold red")
    console.print(Text(f"{verdict} {chosen.name}: {result.summary} in {timing}", style=style),
                  soft_wrap=True)
    if trace_id.strip("0"):
        where = f" (`raygent trace {run_id}`)" if trace_dir else ""
        console.print(f"run {run_id}  trace {trace_id}{where}", markup=False)
    if keep:
        console.print(f"the system keeps running: `raygent status --address {address}`",
                      markup=False)
    raise typer.Exit(0 if result.ok else 1)


def _choose(scenario: str) -> Scenario:
    """A built-in by name, or a spec file by path (exit 2 when neither)."""
    if scenario.endswith((".yaml", ".yml", ".toml")) or os.sep in scenario:
        return Scenario.from_file(scenario)
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


@app.command()
@edge
def ask(
    question: Annotated[str, typer.Argument(help="The question.")],
    address: Annotated[str | None, typer.Option(
        "--address", envvar="RAY_ADDRESS", show_default=False,
        help="Ask a running system's retriever (auto, host:port) instead of starting "
             "a local one.")] = None,
    namespace: NamespaceOpt = None,
    data_dir: Annotated[str | None, typer.Option(
        "--data-dir", help="Memory data directory to answer from (default: rag-qa's, "
                           "~/.raygent/rag-qa).")] = None,
    k: Annotated[int, typer.Option("-k", min=1, help="Passages to retrieve.")] = 5,
    mode: Annotated[str, typer.Option(
        "--mode", help="Retrieval: hybrid, vector or keyword.")] = "hybrid",
    llm_url: Annotated[str | None, typer.Option(
        "--llm-url", envvar="OPENAI_BASE_URL", show_default=False,
        help="An OpenAI-compatible server (vLLM, Ollama, llama.cpp, OpenAI) instead of "
             "the offline extractive answerer.")] = None,
    model: Annotated[str | None, typer.Option(
        "--model", envvar="RAYGENT_LLM_MODEL", help="Model name for --llm-url.")] = None,
    as_json: JsonOpt = False,
    verbose: Annotated[bool, typer.Option("-v", "--verbose")] = False,
) -> None:
    """Answer one question, with citations, from an ingested store (rag-qa's agents)."""
    from scenarios._rag import Answer, Question, print_answer

    if not question.strip():
        fail("the question is empty: ask something", code=2)
    if mode not in ("hybrid", "vector", "keyword"):
        fail(f"unknown mode {mode!r}: use hybrid, vector or keyword", code=2)
    runtime, created = start_or_join(address, namespace, verbose=verbose)
    try:
        _ensure_rag_agents(runtime, data_dir=data_dir, llm_url=llm_url, model=model)
        answer: Answer = runtime.ask("retriever", Question(text=question, k=k, mode=mode),
                                     timeout_s=120)
    finally:
        if created:
            runtime.stop()
        else:
            runtime.disconnect()
    if as_json:
        print_json({"question": answer.question, "answer": answer.text,
                     "cited": list(answer.cited), "error": answer.error,
                     "sources": [{"id": s.id, "score": s.score, "vector_score": s.vector_score,
                                  "keyword_score": s.keyword_score, "text": s.text}
                                 for s in answer.sources]})
    else:
        print_answer(console, answer)
    raise typer.Exit(1 if answer.error else 0)


def _ensure_rag_agents(runtime: Runtime, *, data_dir: str | None, llm_url: str | None,
                       model: str | None) -> None:
    """Start rag-qa's memory and agents on an ingested store, unless they already run."""
    running = {a.name for a in runtime.status().agents if a.state == "running"}
    if "retriever" in running:
        return
    spec = builtin_scenarios()["rag-qa"].spec
    assert spec is not None
    llm = ({"kind": "openai", "base_url": llm_url, **({"model": model} if model else {})}
           if llm_url else None)
    spec = with_overrides(spec, data_dir=data_dir, llm=llm, ingest=False)
    quiet = Console(quiet=True)
    if start_memory(runtime, spec, console=quiet) == 0:
        where = (spec.memory or {}).get("config", {}).get("data_dir")
        fail(f"the memory store at {where} is empty: fill it with `raygent memory "
             f"ingest PATH --data-dir {where}` or `raygent run rag-qa`", code=1)
    spawn_agents(runtime, spec, console=quiet)


@app.command()
@edge
def chat(
    address: Annotated[str | None, typer.Option(
        "--address", envvar="RAY_ADDRESS", show_default=False,
        help="Talk to a running system's retriever instead of starting a local one.")
    ] = None,
    namespace: NamespaceOpt = None,
    data_dir: Annotated[str | None, typer.Option(
        "--data-dir", help="Memory data directory to answer from (default: rag-qa's).")
    ] = None,
    k: Annotated[int, typer.Option("-k", min=1, help="Passages to retrieve.")] = 5,
    llm_url: Annotated[str | None, typer.Option(
        "--llm-url", envvar="OPENAI_BASE_URL", show_default=False,
        help="An OpenAI-compatible server instead of the offline answerer.")] = None,
    model: Annotated[str | None, typer.Option(
        "--model", envvar="RAYGENT_LLM_MODEL", help="Model name for --llm-url.")] = None,
    verbose: Annotated[bool, typer.Option("-v", "--verbose")] = False,
) -> None:
    """Ask questions one after another; an empty line, `exit` or Ctrl-D ends the chat."""
    from scenarios._rag import Question, print_answer

    runtime, created = start_or_join(address, namespace, verbose=verbose)
    try:
        _ensure_rag_agents(runtime, data_dir=data_dir, llm_url=llm_url, model=model)
        console.print("ask a question (an empty line or 'exit' ends)")
        while True:
            try:
                line = input("? ")
            except EOFError:
                break
            question = line.strip()
            if not question or question.lower() in ("exit", "quit"):
                break
            try:
                print_answer(console, runtime.ask("retriever", Question(text=question, k=k),
                                                  timeout_s=120))
            except RaygentError as exc:
                # One bad question must not end the conversation.
                err_console.print(Text(f"error: {exc}", style="red"), soft_wrap=True)
    finally:
        if created:
            runtime.stop()
        else:
            runtime.disconnect()


@app.command("list")
def list_scenarios() -> None:
    """List the built-in scenarios."""
    console.print(scenarios_table(builtin_scenarios().values()))


@app.command()
@edge
def status(address: AddressOpt = "auto", namespace: NamespaceOpt = None,
           as_json: JsonOpt = False) -> None:
    """Show every agent of a running system and the dead-letter count."""
    runtime = open_runtime(address, namespace)
    try:
        view = runtime.status()
    finally:
        runtime.disconnect()
    if as_json:
        print_json(status_json(view))
    else:
        console.print(StatusView(view))


@dlq_app.command("list")
@edge
def dlq_list(
    address: AddressOpt = "auto", namespace: NamespaceOpt = None,
    limit: Annotated[int, typer.Option("--limit", min=1,
                                       help="Show at most this many, newest.")] = 20,
    as_json: JsonOpt = False,
) -> None:
    """List dead letters: messages that could not be delivered, and why."""
    runtime = open_runtime(address, namespace)
    try:
        # Payloads as text: this process need not import every agent's message classes.
        letters = runtime.dead_letters(limit, payloads=False)
        total = runtime.status().dead_letters
    finally:
        runtime.disconnect()
    if as_json:
        print_json({"total": total, "dead_letters": [dead_letter_json(d) for d in letters]})
    else:
        console.print(dead_letter_table(letters, total=total))


@dlq_app.command("replay")
@edge
def dlq_replay(
    ids: Annotated[list[str] | None, typer.Argument(
        help="Ids of the dead letters to queue again (see `raygent dlq list`).",
        show_default=False)] = None,
    replay_all: Annotated[bool, typer.Option("--all", help="Replay every dead letter.")
                          ] = False,
    address: AddressOpt = "auto", namespace: NamespaceOpt = None,
) -> None:
    """Queue dead letters again as first attempts (by id, or all with --all)."""
    if not ids and not replay_all:
        fail("give the ids of the dead letters to replay, or --all", code=2)
    if ids and replay_all:
        fail("give either ids or --all, not both", code=2)
    runtime = open_runtime(address, namespace)
    try:
        replayed = runtime.replay_dead_letters(None if replay_all else list(ids or []))
        left = runtime.status().dead_letters
    finally:
        runtime.disconnect()
    console.print(f"replayed {replayed} dead letters; {left} left in the queue")
    if ids and replayed < len(ids):
        err_console.print(
            f"[yellow]{len(ids) - replayed} of the given ids were not replayed: unknown ids, "
            "or their recipient is gone, failed or full (see `raygent dlq list`)[/]")


@dlq_app.command("purge")
@edge
def dlq_purge(address: AddressOpt = "auto", namespace: NamespaceOpt = None) -> None:
    """Delete every dead letter."""
    runtime = open_runtime(address, namespace)
    try:
        purged = runtime.purge_dead_letters()
    finally:
        runtime.disconnect()
    console.print(f"purged {purged} dead letters")


app.add_typer(memory_app, name="memory")
app.command("trace")(trace_cmd)


def main() -> None:
    """Entry point of the ``raygent`` console script."""
    # Nothing here downloads models; a missing cache must fail fast, not hang on the network.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    app()
