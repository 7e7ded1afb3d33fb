"""``raygent ask`` and ``raygent chat``: questions to rag-qa's agents, with citations."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.console import Console
from rich.text import Text

from actors import RaygentError, Runtime
from scenarios._connect import start_or_join
from scenarios._launch import spawn_agents, start_memory, with_overrides
from scenarios.builtin import builtin_scenarios
from scenarios.cli._edge import (
    JsonOpt,
    NamespaceOpt,
    console,
    edge,
    err_console,
    fail,
    print_json,
)


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
    from scenarios.rag_qa import Answer, Question

    if not question.strip():
        fail("the question is empty: ask something", code=2)
    if mode not in ("hybrid", "vector", "keyword"):
        fail(f"unknown mode {mode!r}: use hybrid, vector or keyword", code=2)
    runtime, created = start_or_join(address, namespace, verbose=verbose)
    try:
        _ensure_rag_agents(runtime, data_dir=data_dir, llm_url=llm_url, model=model)
        if as_json:
            answer: Answer = runtime.ask("retriever", Question(text=question, k=k, mode=mode),
                                         timeout_s=120)
        else:
            answer = stream_answer(runtime, question, k=k, mode=mode)
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
    raise typer.Exit(1 if answer.error else 0)


def stream_answer(runtime: Runtime, question: str, *, k: int, mode: str | None = None) -> Any:
    """Print the answer's tokens as the model makes them, then its citations and sources."""
    from scenarios.rag_qa import StreamQuestion
    from scenarios.rag_qa._rag import sources_table

    console.print(f"[bold]Q:[/] {question}")
    console.print("[bold]A:[/] ", end="")
    answer: Any = None
    for chunk in runtime.stream("retriever", StreamQuestion(text=question, k=k, mode=mode),
                                timeout_s=120):
        if isinstance(chunk, str):
            console.print(chunk, end="", markup=False, highlight=False, soft_wrap=True)
            console.file.flush()
        else:
            answer = chunk
    console.print()
    if answer is None:
        raise RaygentError("the retriever's stream ended without its answer: check the "
                           "rag-qa agents' versions")
    cites = ", ".join(f"[{i}] {d}" for i, d in enumerate(answer.cited, 1)) or "none"
    console.print(f"   [dim]citations: {cites}; retrieval {answer.retrieval_ms:.1f} ms, "
                  f"answer {answer.answer_ms:.1f} ms[/]")
    console.print(sources_table(answer))
    return answer


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
                stream_answer(runtime, question, k=k)
            except RaygentError as exc:
                # One bad question must not end the conversation.
                err_console.print(Text(f"error: {exc}", style="red"), soft_wrap=True)
    finally:
        if created:
            runtime.stop()
        else:
            runtime.disconnect()
