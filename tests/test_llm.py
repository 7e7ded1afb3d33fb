"""LLM backends against a real loopback HTTP server, the extractive backend on real
MiniLM embeddings, and the LLM agent in a real Ray runtime."""

from __future__ import annotations

import asyncio
import email.utils
import json
import os
import pickle
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from actors._envelope import Envelope, MessageContext
from actors._errors import ConfigError
from actors._traces import load_spans
from actors.llm import (
    IDK,
    ChatMessage,
    Citation,
    Complete,
    Completion,
    ExtractiveBackend,
    LLMAgent,
    LLMBackend,
    LLMConnectionError,
    LLMError,
    LLMHTTPError,
    LLMRequestError,
    LLMResponseError,
    LLMTimeoutError,
    OpenAIBackend,
    OpenAIConfig,
    backend_from_config,
    format_context_prompt,
    rag_messages,
)
from actors.llm._extractive import default_embed_fn, split_sentences
from actors.llm._openai_config import parse_retry_after
from actors.llm._types import cite, parse_context_prompt, prepare
from tests.conftest import ROOT, wait_for
from tests.llm_server import CHAT_PATH, MODELS_PATH, LLMServer, Reply, openai_error

DATA = Path(__file__).parent / "data"
MODEL = "test-model"


def run(coro: Any) -> Any:
    return asyncio.run(coro)


@pytest.fixture(scope="module")
def server() -> Iterator[LLMServer]:
    with LLMServer(models=(MODEL, "other-model")) as srv:
        yield srv


@pytest.fixture
def srv(server: LLMServer) -> LLMServer:
    server.reset()
    return server


def openai(srv: LLMServer, **overrides: Any) -> OpenAIBackend:
    cfg: dict[str, Any] = {"base_url": srv.base_url, "model": MODEL, "api_key": "sk-test",
                           "timeout_s": 10.0, "backoff_s": 0.01, "max_backoff_s": 0.05}
    cfg.update(overrides)
    return OpenAIBackend(OpenAIConfig(**cfg))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- the OpenAI-compatible backend ----------------------------------------------------------


def test_completion_returns_text_and_usage_and_sends_key_and_params(srv):
    backend = openai(srv, params={"temperature": 0.5})
    assert isinstance(backend, LLMBackend)
    out = run(backend.complete([{"role": "system", "content": "be brief"},
                                ChatMessage(role="user", content="hello there")],
                               max_tokens=20, temperature=0))
    assert out == Completion(text="echo: hello there", model=MODEL, finish_reason="stop",
                             usage=out.usage, citations=())
    assert (out.usage.input_tokens, out.usage.output_tokens) == (4, 3)
    (req,) = srv.chat_requests()
    assert req.headers["authorization"] == "Bearer sk-test"
    assert req.json == {"model": MODEL, "temperature": 0, "max_tokens": 20, "messages": [
        {"role": "system", "content": "be brief"}, {"role": "user", "content": "hello there"}]}


def test_stream_deltas_join_to_the_full_text(srv):
    backend = openai(srv)

    async def both() -> tuple[list[str], Completion]:
        deltas = [d async for d in backend.stream("one two three four five")]
        return deltas, await backend.complete("one two three four five")

    deltas, full = run(both())
    assert len(deltas) == 6
    assert "".join(deltas) == full.text == "echo: one two three four five"
    body = srv.chat_requests()[0].json
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}


def test_stream_errors_are_typed_and_an_early_stop_is_clean(srv):
    async def consume(limit: int | None = None) -> list[str]:
        out: list[str] = []
        async for delta in openai(srv).stream("a b c d e f"):
            out.append(delta)
            if len(out) == limit:
                break
        return out

    srv.script(Reply(status=400, json=openai_error("stream not allowed")))
    with pytest.raises(LLMHTTPError, match="stream not allowed"):
        run(consume())
    srv.script(Reply(body=b"data: {not json\n\n", content_type="text/event-stream"))
    with pytest.raises(LLMResponseError, match="stream event is not JSON"):
        run(consume())
    srv.script(Reply(chunk_delay_s=0.05))
    assert run(consume(limit=2)) == ["echo:", " a"]
    assert run(consume()) == ["echo:", " a", " b", " c", " d", " e", " f"]


def test_429_waits_for_retry_after_then_succeeds(srv):
    srv.script(Reply(status=429, headers={"Retry-After": "1"},
                     json=openai_error("slow down", type_="rate_limit_error")))
    out = run(openai(srv).complete("again"))
    assert out.text == "echo: again"
    first, second = srv.chat_requests()
    assert second.at - first.at >= 1.0


def test_retry_after_forms():
    now = 1_000_000.0
    date = email.utils.formatdate(now + 5, usegmt=True)
    assert parse_retry_after({"retry-after": date}, now=now) == pytest.approx(5, abs=1)
    assert parse_retry_after({"retry-after": "2.5"}) == 2.5
    assert parse_retry_after({"retry-after-ms": "250", "retry-after": "9"}) == 0.25
    assert parse_retry_after({"retry-after": "soon"}) is None
    assert parse_retry_after({}) is None


def test_retry_after_beyond_the_budget_fails_at_once(srv):
    srv.script(Reply(status=429, headers={"Retry-After": "30"}))
    started = time.monotonic()
    with pytest.raises(LLMHTTPError) as err:
        run(openai(srv, timeout_s=2.0).complete("x"))
    assert err.value.status == 429 and time.monotonic() - started < 1.5
    assert len(srv.chat_requests()) == 1


def test_500_is_retried_until_the_retries_run_out(srv):
    srv.always(Reply(status=500, json=openai_error("engine exploded", type_="server_error")))
    with pytest.raises(LLMHTTPError) as err:
        run(openai(srv, max_retries=2).complete("x"))
    assert err.value.status == 500 and err.value.attempts == 3
    assert "engine exploded" in str(err.value) and "after 3 attempts" in str(err.value)
    assert len(srv.chat_requests()) == 3


def test_a_slow_server_raises_the_typed_timeout(srv):
    srv.always(Reply(delay_s=5.0))
    started = time.monotonic()
    with pytest.raises(LLMTimeoutError) as err:
        run(openai(srv).complete("x", timeout_s=0.3))
    assert time.monotonic() - started < 2.0
    assert err.value.timeout_s == 0.3 and CHAT_PATH in err.value.target


def test_400_fails_at_once_with_the_servers_message(srv):
    srv.script(Reply(status=400, json=openai_error(
        "Invalid value for 'temperature': must be <= 2", param="temperature")))
    with pytest.raises(LLMHTTPError) as err:
        run(openai(srv).complete("x", temperature=7))
    assert err.value.status == 400 and not err.value.retryable
    assert "Invalid value for 'temperature'" in str(err.value)
    assert len(srv.chat_requests()) == 1


@pytest.mark.parametrize("reply, problem", [
    (Reply(body=b"<html><body>502 Bad Gateway</body></html>", content_type="text/html"),
     "not JSON"),
    (Reply(json={"id": "x", "object": "chat.completion"}), "no choices"),
    (Reply(json={"choices": [{"index": 0}]}), "no message"),
])
def test_garbage_bodies_raise_response_errors(srv, reply, problem):
    srv.script(reply)
    with pytest.raises(LLMResponseError) as err:
        run(openai(srv).complete("x"))
    assert problem in err.value.problem and err.value.snippet
    assert len(srv.chat_requests()) == 1


def test_a_refused_connection_names_the_url_after_retries():
    url = f"http://127.0.0.1:{free_port()}/v1"
    backend = OpenAIBackend(OpenAIConfig(base_url=url, model=MODEL, max_retries=2,
                                         backoff_s=0.01))
    with pytest.raises(LLMConnectionError) as err:
        run(backend.complete("x"))
    assert err.value.url == f"{url}/chat/completions" and err.value.attempts == 3
    assert url in str(err.value) and "start the server" in str(err.value)


def test_context_is_sent_numbered_and_citations_map_to_doc_ids(srv):
    srv.script(Reply(text="It fits 2018 models [2], see also [1, 2] and [7]."))
    out = run(openai(srv).complete("which valve fits?", context=[
        ("d01", "Unrelated note."), {"id": "d03", "text": "Valve XJ-9027 fits 2018 models."}]))
    assert out.citations == (Citation(index=2, doc_id="d03",
                                      text="Valve XJ-9027 fits 2018 models."),
                             Citation(index=1, doc_id="d01", text="Unrelated note."))
    messages = srv.chat_requests()[0].json["messages"]
    assert messages[0]["role"] == "system" and IDK in messages[0]["content"]
    assert parse_context_prompt(messages[1]["content"]) == (
        "which valve fits?", (("d01", "Unrelated note."),
                              ("d03", "Valve XJ-9027 fits 2018 models.")))


def test_health_lists_models_and_falls_back_to_probing_chat(srv):
    run(openai(srv).health())
    with pytest.raises(LLMError, match="does not list model 'missing'"):
        run(openai(srv, model="missing").health())
    run(openai(srv, model="missing", check_model=False).health())
    srv.models_status = 404  # a server without /models: the chat endpoint decides
    run(openai(srv, model="missing").health())
    assert srv.requests(CHAT_PATH)[-1].json == {}
    with pytest.raises(LLMHTTPError) as err:
        run(openai(srv, base_url=srv.base_url + "/wrong").health())
    assert err.value.status == 404
    with pytest.raises(LLMConnectionError):
        run(OpenAIBackend(OpenAIConfig(base_url=f"http://127.0.0.1:{free_port()}/v1",
                                       model=MODEL)).health())


def test_chat_spans_carry_genai_attributes_and_errors(srv):
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    backend = OpenAIBackend(OpenAIConfig(base_url=srv.base_url, model=MODEL),
                            tracer=provider.get_tracer("raygent"))
    run(backend.complete("hello"))
    srv.script(Reply(status=400, json=openai_error("nope")))
    with pytest.raises(LLMHTTPError):
        run(backend.complete("hello"))
    ok, failed = exporter.get_finished_spans()
    assert ok.name == failed.name == f"chat {MODEL}" and ok.kind == SpanKind.CLIENT
    assert {k: ok.attributes[k] for k in (
        "gen_ai.operation.name", "gen_ai.system", "gen_ai.request.model",
        "gen_ai.usage.input_tokens", "gen_ai.usage.output_tokens", "server.address")} == {
        "gen_ai.operation.name": "chat", "gen_ai.system": "openai",
        "gen_ai.request.model": MODEL, "gen_ai.usage.input_tokens": 1,
        "gen_ai.usage.output_tokens": 2, "server.address": "127.0.0.1"}
    assert ok.status.status_code == StatusCode.UNSET
    assert failed.status.status_code == StatusCode.ERROR
    assert failed.attributes["error.type"] == "LLMHTTPError"


# -- configuration, prompt format, errors ---------------------------------------------------


def test_backend_from_config_picks_by_kind_and_names_bad_fields(srv):
    env = {"OPENAI_BASE_URL": srv.base_url, "OPENAI_API_KEY": "sk-env",
           "RAYGENT_LLM_MODEL": "env-model"}
    backend = backend_from_config({"kind": "openai"}, environ=env)
    assert isinstance(backend, OpenAIBackend) and backend.model == "env-model"
    assert backend.config.api_key is not None
    assert backend.config.api_key.reveal() == "sk-env" and "sk-env" not in repr(backend.config)
    assert isinstance(backend_from_config({"kind": "extractive", "threshold": 0.5}),
                      ExtractiveBackend)
    cases = [
        ({}, "llm.kind"), ({"kind": "gpt"}, "llm.kind"),
        ({"kind": "openai"}, "llm.model"),
        ({"kind": "openai", "model": "m", "timeout": 3}, "llm.timeout"),
        ({"kind": "openai", "model": "m", "timeout_s": 0}, "llm.timeout_s"),
        ({"kind": "openai", "model": "m", "base_url": "localhost:8000"}, "llm.base_url"),
        ({"kind": "openai", "model": "m", "params": {"stream": True}}, "llm.params.stream"),
        ({"kind": "extractive", "threshold": "high"}, "llm.threshold"),
    ]
    for values, field in cases:
        with pytest.raises(ConfigError) as err:
            backend_from_config(values, environ={})
        assert err.value.field == field, (values, err.value)


def test_the_context_prompt_round_trips_and_cites():
    context = (("a/1", "First passage.\nIt has two lines."), ("b", "Second."))
    text = format_context_prompt("what is first?", context)
    assert parse_context_prompt(text) == ("what is first?", context)
    assert parse_context_prompt("just a question") == ("just a question", ())
    prepared = prepare(rag_messages("what is first?", context))
    assert (prepared.question, prepared.context) == ("what is first?", context)
    assert [c.doc_id for c in cite("x [2] y [1,2] z [3] [0]", context)] == ["b", "a/1"]
    with pytest.raises(LLMRequestError):
        prepare([])
    with pytest.raises(LLMRequestError):
        ChatMessage(role="wizard", content="x")
    with pytest.raises(LLMRequestError):
        Complete.question("q", context=[42])


def test_errors_survive_pickling():
    errors = [
        LLMError("plain"), LLMRequestError("bad"),
        LLMHTTPError("http://h/v1/chat/completions", 503, "busy", attempts=4),
        LLMTimeoutError("http://h", 1.5), LLMConnectionError("http://h", "refused", attempts=2),
        LLMResponseError("http://h", "not JSON", "<html>"),
    ]
    for err in errors:
        back = pickle.loads(pickle.dumps(err))
        assert type(back) is type(err) and str(back) == str(err)
        assert vars(back) == vars(err)


# -- the extractive backend -----------------------------------------------------------------

CONTEXT = (
    ("d03", "The replacement valve XJ-9027 fits the 2018 and later models of the AquaPure "
            "water softener. It is sold in packs of two."),
    ("d95", "The replacement valve XJ-9072 fits the compact AquaPure softeners built before "
            "2015."),
    ("d23", "Flight LX318 from Zurich to London Heathrow departs daily at 07:40 from "
            "terminal E."),
)


@pytest.fixture(scope="module")
def embed() -> Any:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    return default_embed_fn()


def test_extractive_cites_the_passage_that_answers(embed):
    backend = ExtractiveBackend(embed=embed)
    out = run(backend.complete("When does flight LX318 leave?", context=CONTEXT))
    assert out.citations == (Citation(index=3, doc_id="d23", text=CONTEXT[2][1]),)
    assert out.text == ("Flight LX318 from Zurich to London Heathrow departs daily at 07:40 "
                        "from terminal E [3].")
    valve = run(backend.complete("Which softener does valve XJ-9027 fit?", context=CONTEXT))
    assert valve.citations[0].doc_id == "d03" and "[1]" in valve.text
    # The context may also come inside the messages, in the prompt format.
    assert run(backend.complete(rag_messages("When does flight LX318 leave?",
                                             CONTEXT))) == out


def test_extractive_says_i_dont_know_when_the_context_does_not_answer(embed):
    backend = ExtractiveBackend(embed=embed)
    for question in ("Who painted the Mona Lisa?", "What is the capital of Australia?"):
        out = run(backend.complete(question, context=CONTEXT))
        assert (out.text, out.citations) == (IDK, ())
    assert run(backend.complete("Which valve fits?")).text == IDK  # no context at all


def test_extractive_is_deterministic(embed):
    question = "Which AquaPure valve fits my softener?"
    first = run(ExtractiveBackend(embed=embed).complete(question, context=CONTEXT))
    again = [run(ExtractiveBackend(embed=embed).complete(question, context=CONTEXT))
             for _ in range(3)]
    assert all(a == first for a in again)
    assert len(first.citations) == 2  # two passages pass, so the tie-break order matters

    async def deltas() -> list[str]:
        return [d async for d in ExtractiveBackend(embed=embed).stream(question,
                                                                       context=CONTEXT)]

    assert "".join(run(deltas())) == first.text


def test_sentences_split_at_stops_paragraphs_and_list_items():
    text = ("Ray runs actors. Each one is a\nprocess, e.g. a worker. 2 GPUs fit!\n\n"
            "Steps:\n- install ray\n- start it with\n  ray start\n1. done")
    assert split_sentences(text) == [
        "Ray runs actors.", "Each one is a process, e.g. a worker.", "2 GPUs fit!",
        "Steps:", "- install ray", "- start it with ray start", "1. done"]
    assert split_sentences("Ok. Fine then.", min_chars=4) == ["Fine then."]


def test_extractive_checks_params_and_health(embed):
    backend = ExtractiveBackend(embed=embed)
    run(backend.health())
    out = run(backend.complete("When does flight LX318 leave?", context=CONTEXT,
                               temperature=0.2, max_tokens=50))  # ignored, not errors
    assert out.citations[0].doc_id == "d23"
    with pytest.raises(LLMRequestError, match="treshold"):
        run(backend.complete("q", context=CONTEXT, treshold=0.5))
    strict = run(backend.complete("When does flight LX318 leave?", context=CONTEXT,
                                  threshold=1.9))
    assert strict.text == IDK

    def broken(texts: Any) -> np.ndarray:
        return np.full((len(texts), 4), np.nan, dtype=np.float32)

    with pytest.raises(LLMError, match="invalid vector"):
        run(ExtractiveBackend(embed=broken).health())


UNRELATED = (
    "Who painted the Mona Lisa?", "What is the capital of Australia?",
    "How many moons does Mars have?", "What is the boiling point of mercury?",
    "Who wrote Pride and Prejudice?", "How do I change a bicycle tyre?",
    "What is the population of Brazil?", "How tall is Mount Kilimanjaro?",
    "What time does the pharmacy open on Sunday?", "Which team won the 2014 World Cup?",
    "How do I knit a scarf?", "What is the speed of sound in water?",
    "Who invented the telephone?", "What is the best wine with fish?",
    "How do I renew my passport?", "What is the tallest building in the world?",
    "How long do elephants live?", "What is quantum entanglement?",
    "What does the stock ticker AAPL stand for?", "How do I install a ceiling fan?",
)
NEAR_CODES = (
    ("Which softeners does valve XJ-9027 fit?", "d03", ("d03", "d95", "d97")),
    ("What does error E4021 on the Kestrel router mean?", "d02", ("d01", "d02", "d91")),
    ("Is invoice INV-20913 paid?", "d98", ("d42", "d98", "d99")),
    ("When does flight LX813 depart?", "d105", ("d23", "d105")),
    ("What does the valve XJ-9072 fit?", "d95", ("d03", "d95", "d96", "d97")),
)


def test_extractive_defaults_hold_on_the_bundled_data(embed):
    """The tuning check of actors/llm/_extractive.py's docstring, as a regression test."""
    docs = [json.loads(line) for line in (DATA / "eval_docs.jsonl").read_text().splitlines()]
    queries = [json.loads(line)
               for line in (DATA / "eval_queries.jsonl").read_text().splitlines()]
    ids = [d["id"] for d in docs]
    text = {d["id"]: d["text"] for d in docs}
    # The documents are single sentences: embed each text once, for retrieval and answers.
    memo: dict[str, np.ndarray] = {}

    def cached(texts: Any) -> np.ndarray:
        new = [t for t in dict.fromkeys(texts) if t not in memo]
        if new:
            memo.update(zip(new, embed(new), strict=True))
        return np.stack([memo[t] for t in texts])

    vectors = cached([d["text"] for d in docs])
    qvecs = cached([q["query"] for q in queries] + list(UNRELATED))

    def nearest(vec: np.ndarray, k: int, skip: Any = ()) -> list[str]:
        order = np.argsort(-(vectors @ vec), kind="stable")
        return [ids[i] for i in order if ids[i] not in skip][:k]

    cases = []
    for q, vec in zip(queries, qvecs, strict=False):
        relevant = next(d for d, grade in q["relevant"].items() if grade == 2)
        cases.append((q["query"], relevant, [relevant, *nearest(vec, 2, q["relevant"])]))
    cases += [(q, rel, list(ctx)) for q, rel, ctx in NEAR_CODES]
    backend = ExtractiveBackend(embed=cached)
    first = [backend.answer(q, [(i, text[i]) for i in ctx]) for q, _, ctx in cases]
    right = sum(c[0].doc_id == rel for (_, rel, _), (_, c) in zip(cases, first, strict=True)
                if c)
    wrong = sum(c[0].doc_id != rel for (_, rel, _), (_, c) in zip(cases, first, strict=True)
                if c)
    answered = [q for q, vec in zip(UNRELATED, qvecs[len(queries):], strict=True)
                if backend.answer(q, [(i, text[i]) for i in nearest(vec, 3)])[0] != IDK]
    assert right >= 41 and wrong == 0, (right, wrong)
    assert len(answered) <= 1, answered


def test_actors_do_not_import_memory():
    code = ("import sys, actors.llm; "
            "assert 'memory' not in sys.modules, 'memory imported'")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT,
                   env={**os.environ, "PYTHONPATH": ROOT}, timeout=60)


# -- the agent, without Ray -----------------------------------------------------------------


def ctx_for(msg: Complete, deadline: float | None = None) -> MessageContext:
    ttl = None if deadline is None else deadline - time.time()
    return MessageContext.of(Envelope.wrap(msg, kind="llm.Complete", recipient="llm",
                                           ttl_s=ttl))


def test_llm_agent_checks_its_config():
    for config, field in [({"llm": {"kind": "openai", "model": "m"}, "timeout": 3},
                           "config.timeout"),
                          ({"concurrency": 0}, "concurrency"),
                          ({"concurrency": 65}, "concurrency"),
                          ({"llm": "openai"}, "llm")]:
        with pytest.raises(ConfigError) as err:
            LLMAgent("llm", config)
        assert err.value.field == field
    with pytest.raises(ConfigError) as err:
        run(LLMAgent("llm", {"llm": {"kind": "nope"}}).on_start())
    assert err.value.field == "llm.kind"


def test_llm_agent_times_out_with_a_typed_error(srv):
    srv.always(Reply(delay_s=5.0))
    agent = LLMAgent("llm", {"llm": {"kind": "openai", "base_url": srv.base_url,
                                     "model": MODEL}, "timeout_s": 0.3})

    async def go(msg: Complete, deadline: float | None = None) -> Completion:
        await agent.on_start()
        try:
            return await agent.on_complete(msg, ctx_for(msg, deadline))
        finally:
            await agent.on_stop()

    started = time.monotonic()
    with pytest.raises(LLMTimeoutError) as err:
        run(go(Complete.question("hi")))
    assert err.value.timeout_s == pytest.approx(0.3) and time.monotonic() - started < 2.0
    with pytest.raises(LLMTimeoutError):  # the ask's deadline caps a longer budget
        run(go(Complete.question("hi", timeout_s=30), deadline=time.time() + 0.2))


# -- the agent in a real runtime ------------------------------------------------------------


def spawn_llm(runtime: Any, srv: LLMServer, **config: Any) -> None:
    runtime.spawn(LLMAgent, name="llm", config={
        "llm": {"kind": "openai", "base_url": srv.base_url, "model": MODEL,
                "api_key": "sk-ray", "backoff_s": 0.01},
        "timeout_s": 10.0, **config})


def test_llm_agent_answers_through_the_runtime(runtime, srv):
    spawn_llm(runtime, srv)
    out = runtime.ask("llm", Complete.question("what is ray?", context=[
        ("ray-doc", "Ray actors are stateful workers.")], temperature=0), timeout_s=20)
    assert isinstance(out, Completion) and out.model == MODEL
    assert out.text.startswith("echo: Context:\n[1] source: ray-doc")
    assert out.citations == (Citation(index=1, doc_id="ray-doc",
                                      text="Ray actors are stateful workers."),)
    (req,) = srv.chat_requests()
    assert req.headers["authorization"] == "Bearer sk-ray" and req.json["temperature"] == 0
    # The model call is a CLIENT span inside the agent's process span.
    def chat_span() -> Any:
        runtime.flush_traces()
        spans = load_spans(runtime.trace_dir)
        chats = [s for s in spans if s["name"] == f"chat {MODEL}"]
        return (chats[0], spans) if chats else None

    chat, spans = wait_for(chat_span, timeout_s=20, interval_s=0.3, message="a chat span")
    parent = next(s for s in spans if s["span_id"] == chat["parent_id"])
    assert parent["name"] == "process llm" and chat["kind"] == "CLIENT"
    assert chat["attributes"]["gen_ai.usage.output_tokens"] == len(out.text.split())
    # The supervisor's health checks reach the server's model list.
    wait_for(lambda: srv.requests(MODELS_PATH), timeout_s=10, message="a health check")
    # Errors come back typed, across processes.
    srv.always(Reply(status=400, json=openai_error("bad request, really")))
    with pytest.raises(LLMHTTPError, match="bad request, really"):
        runtime.ask("llm", Complete.question("again"), timeout_s=20)


def test_llm_agent_runs_slow_requests_concurrently(runtime, srv):
    spawn_llm(runtime, srv, concurrency=4)
    srv.always(Reply(delay_s=1.0))
    started = time.monotonic()
    replies = runtime.ask_many([("llm", Complete.question(f"q{i}")) for i in range(4)],
                               timeout_s=20)
    elapsed = time.monotonic() - started
    assert sorted(r.text for r in replies) == [f"echo: q{i}" for i in range(4)]
    assert srv.max_inflight == 4
    assert elapsed < 2.5, elapsed  # one at a time would take 4 s
