"""The ``rag-qa`` scenario: question → hybrid search → LLM over the context → cited answer.

Three agents, every hop through the supervisor: the retriever searches the shared memory
(top-k, hybrid by default) and asks the answerer, which asks the LLM agent (its own actor,
so a slow model never blocks retrieval) and maps the model's ``[n]`` citations back to
document ids. A failing model does not fail the question: the answer says what went wrong
and still lists the retrieved sources.
"""

from __future__ import annotations

import json
import re
import statistics
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.table import Table

from actors import Agent, MessageContext, RaygentError, handles
from actors._errors import InvalidQueryError
from actors.llm import Complete, Completion, StreamComplete
from scenarios._result import ScenarioResult
from scenarios.rag_qa.messages import (
    Answer,
    Compose,
    ComposeStream,
    Question,
    Source,
    StreamQuestion,
)

if TYPE_CHECKING:
    from rich.console import Console

    from actors import Runtime
    from scenarios._spec import ScenarioSpec

DONT_KNOW = "I don't know"
DATA_DIR = Path(__file__).parent / "data"
DATA_QUESTIONS = DATA_DIR / "rag_questions.jsonl"


class RetrieverAgent(Agent):
    """Searches memory, then asks the answerer. Config: answerer, k, mode, max_chars.

    Questions are independent, so several are in progress at once (memory and the model
    serve them concurrently); replies may finish out of order.
    """

    concurrency = 4

    async def on_start(self) -> None:
        self.answerer = str(self.config.get("answerer", "answerer"))
        self.k = int(self.config.get("k", 5))
        self.mode = str(self.config.get("mode", "hybrid"))
        self.max_chars = int(self.config.get("max_chars", 2000))
        self.timeout_s = float(self.config.get("timeout_s", 60.0))

    async def _search(self, msg: Question) -> tuple[str, tuple[Source, ...], float]:
        text = msg.text.strip() if isinstance(msg.text, str) else ""
        if not text:
            raise InvalidQueryError("the question is empty: ask something")
        if len(text) > self.max_chars:
            raise InvalidQueryError(
                f"the question is {len(text)} characters, over the limit of "
                f"{self.max_chars}: shorten it, or raise the retriever's max_chars")
        t0 = time.perf_counter()
        hits = await self.memory.search_async(text, k=msg.k or self.k,
                                              mode=msg.mode or self.mode)
        return text, tuple(Source.of(h) for h in hits), (time.perf_counter() - t0) * 1000

    @handles
    async def on_stream_question(self, msg: StreamQuestion, ctx: MessageContext
                                 ) -> AsyncIterator[str | Answer]:
        """The answer's text deltas as the model makes them, then the whole Answer."""
        text, sources, retrieval_ms = await self._search(msg)
        t0 = time.perf_counter()
        parts: list[str] = []
        async for delta in self.stream_async(self.answerer, ComposeStream(
                question=text, sources=sources), timeout_s=self.timeout_s):
            parts.append(str(delta))
            yield str(delta)
        whole = "".join(parts)
        marks = [int(n) for n in re.findall(r"\[(\d+)\]", whole)]
        cited = tuple(dict.fromkeys(sources[n - 1].id for n in marks if 0 < n <= len(sources)))
        yield Answer(question=text, text=whole, cited=cited, sources=sources,
                     retrieval_ms=round(retrieval_ms, 3),
                     answer_ms=round((time.perf_counter() - t0) * 1000, 3))

    @handles
    async def on_question(self, msg: Question, ctx: MessageContext) -> Answer:
        text, sources, retrieval_ms = await self._search(msg)
        answer: Answer = await self.ask_async(
            self.answerer, Compose(question=text, sources=sources), timeout_s=self.timeout_s)
        return Answer(question=answer.question, text=answer.text, cited=answer.cited,
                      sources=answer.sources, error=answer.error,
                      retrieval_ms=round(retrieval_ms, 3), answer_ms=answer.answer_ms)


class AnswererAgent(Agent):
    """Asks the LLM agent to answer from the sources. Config: llm_agent, timeout_s."""

    concurrency = 4

    async def on_start(self) -> None:
        self.llm_agent = str(self.config.get("llm_agent", "llm"))
        self.timeout_s = float(self.config.get("timeout_s", 30.0))

    @handles
    async def on_compose(self, msg: Compose, ctx: MessageContext) -> Answer:
        t0 = time.perf_counter()
        request = Complete.question(msg.question,
                                    context=[(s.id, s.text) for s in msg.sources],
                                    timeout_s=self.timeout_s)
        try:
            completion: Completion = await self.ask_async(
                self.llm_agent, request, timeout_s=self.timeout_s + 5)
        except RaygentError as exc:
            # The model being down must not lose the retrieval: answer with the error.
            return Answer(question=msg.question, text="", sources=msg.sources,
                          error=f"{type(exc).__name__}: {exc}",
                          answer_ms=round((time.perf_counter() - t0) * 1000, 3))
        cited = tuple(dict.fromkeys(c.doc_id for c in completion.citations))
        return Answer(question=msg.question, text=completion.text, cited=cited,
                      sources=msg.sources,
                      answer_ms=round((time.perf_counter() - t0) * 1000, 3))


    @handles
    async def on_compose_stream(self, msg: ComposeStream, ctx: MessageContext
                                ) -> AsyncIterator[str]:
        """The model's text deltas for the answer, as they come."""
        request = StreamComplete.question(msg.question,
                                          context=[(s.id, s.text) for s in msg.sources],
                                          timeout_s=self.timeout_s)
        async for delta in self.stream_async(self.llm_agent, request,
                                             timeout_s=self.timeout_s + 5):
            yield str(delta)


def load_questions(path: str) -> list[dict[str, Any]]:
    """Questions from a JSON-lines file: ``{"question": ..., "answer_id": ...|null}``."""
    items = []
    for n, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InvalidQueryError(f"{path}:{n}: not JSON ({exc})") from None
        if not isinstance(item, dict) or not isinstance(item.get("question"), str):
            raise InvalidQueryError(f"{path}:{n}: needs a \"question\" string")
        items.append(item)
    return items


def judge(answer: Answer | None, expected: str | None) -> bool:
    """Right when the first cited document is the expected one (or, when no document
    answers the question, when the answer is "I don't know" with no citation)."""
    if answer is None or answer.error:
        return False
    if expected is None:
        return answer.text.strip().startswith(DONT_KNOW) and not answer.cited
    return bool(answer.cited) and doc_of(answer.cited[0]) == expected


def doc_of(chunk_id: str) -> str:
    """The document a chunk came from (the loader names chunks ``<doc id>#<n>``)."""
    return chunk_id.rsplit("#", 1)[0] if "#" in chunk_id else chunk_id


def sources_table(answer: Answer) -> Table:
    table = Table(show_header=True, header_style="dim", box=None, pad_edge=False)
    widths = {"#": 2, "id": 8, "fused": 5, "vector": 12, "keyword": 13}
    for col in ("#", "id", "fused", "vector", "keyword", "text"):
        table.add_column(col, justify="right" if col in ("#", "fused") else "left",
                         no_wrap=True, overflow="ellipsis", min_width=widths.get(col),
                         ratio=1 if col == "text" else None)

    def fmt(score: float | None, rank: int | None) -> str:
        return "-" if score is None else f"{score:.3f} (#{rank})"

    for i, s in enumerate(answer.sources, 1):
        mark = "*" if s.id in answer.cited else ""
        table.add_row(str(i), f"{s.id}{mark}", f"{s.score:.3f}",
                      fmt(s.vector_score, s.vector_rank), fmt(s.keyword_score, s.keyword_rank),
                      s.text[:70])
    return table


def print_answer(console: Console, answer: Answer, *, verdict: bool | None = None) -> None:
    mark = "" if verdict is None else (" [green]✓[/]" if verdict else " [red]✗[/]")
    console.print(f"[bold]Q:[/] {answer.question}")
    if answer.error:
        console.print(f"[red]A: (no answer: {answer.error})[/]")
    else:
        cites = ", ".join(f"[{i}] {d}" for i, d in enumerate(answer.cited, 1)) or "none"
        console.print(f"[bold]A:[/] {answer.text}{mark}")
        console.print(f"   [dim]citations: {cites}; retrieval {answer.retrieval_ms:.1f} ms, "
                      f"answer {answer.answer_ms:.1f} ms[/]")
    console.print(sources_table(answer))


def drive(runtime: Runtime, spec: ScenarioSpec, *, console: Console,
          count: int) -> ScenarioResult:
    """Ask the scenario's questions one by one; each answer must cite the right document."""
    retriever = str(spec.input.get("retriever", "retriever"))
    questions_path = spec.input.get("questions")
    if not questions_path:
        n = runtime.memory.count()
        return ScenarioResult(ok=n > 0, summary=f"{n} chunks in memory; no questions given "
                              "(ask with `raygent ask \"...\"`)", details={"records": n})
    questions = load_questions(spec.resolve_path(str(questions_path)))[:count]
    right = 0
    failures: list[str] = []
    latencies: list[float] = []
    for item in questions:
        expected = item.get("answer_id")
        t0 = time.perf_counter()
        try:
            answer: Answer | None = runtime.ask(retriever, Question(text=item["question"]),
                                                timeout_s=120)
        except RaygentError as exc:
            answer = None
            console.print(f"[bold]Q:[/] {item['question']}\n[red]error: {exc}[/]")
            failures.append(f"{item['question'][:40]}: {exc}")
        latencies.append((time.perf_counter() - t0) * 1000)
        ok = judge(answer, expected) if "answer_id" in item else None
        if answer is not None:
            print_answer(console, answer, verdict=ok)
            if answer.error:
                failures.append(f"{item['question'][:40]}: {answer.error}")
        right += bool(ok)
        console.print()
    judged = sum(1 for q in questions if "answer_id" in q)
    need = float(spec.check.get("min_correct", 0.8))
    p50 = statistics.median(latencies) if latencies else 0.0
    details = {"questions": len(questions), "judged": judged, "correct": right,
               "errors": failures[:5], "p50_ms": round(p50, 1),
               "max_ms": round(max(latencies), 1) if latencies else 0.0}
    ok = judged == 0 or right >= need * judged
    summary = (f"{right}/{judged} answers cite the right document (need {need:.0%}); "
               f"p50 {p50:.0f} ms per question")
    if failures:
        summary += f"; {len(failures)} failed (first: {failures[0]})"
    return ScenarioResult(ok=ok and not failures, summary=summary, details=details)
