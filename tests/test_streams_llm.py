"""An OpenAI-compatible SSE stream through the runtime (tests/llm_server.py on loopback)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from actors import HandlerError, RaygentError
from actors.llm import LLMAgent, StreamComplete
from tests.llm_server import LLMServer, Reply, openai_error

MODEL = "test-model"


@pytest.fixture(scope="module")
def server() -> Iterator[LLMServer]:
    with LLMServer(models=(MODEL,)) as srv:
        yield srv


@pytest.fixture
def srv(server: LLMServer) -> LLMServer:
    server.reset()
    return server


def spawn_llm(runtime: Any, srv: LLMServer) -> None:
    runtime.spawn(LLMAgent, name="llm", config={
        "llm": {"kind": "openai", "base_url": srv.base_url, "model": MODEL,
                "api_key": "sk-ray", "backoff_s": 0.01},
        "timeout_s": 20.0})


def test_tokens_stream_through_the_runtime_in_order(make_runtime: Any, srv: LLMServer) -> None:
    rt = make_runtime()
    spawn_llm(rt, srv)
    text = "Ray actors are stateful workers that keep their state"
    srv.always(Reply(text=text, chunk_delay_s=0.005))
    chunks = list(rt.stream("llm", StreamComplete.question("what is ray?"), timeout_s=30))
    assert "".join(chunks) == text
    assert len(chunks) == len(text.split(" "))  # one delta per server event, not one blob
    (req,) = srv.chat_requests()
    assert req.json["stream"] is True


def test_leaving_early_ends_the_model_stream(make_runtime: Any, srv: LLMServer) -> None:
    rt = make_runtime()
    spawn_llm(rt, srv)
    srv.always(Reply(text=" ".join(f"w{i}" for i in range(2000)), chunk_delay_s=0.002))
    got = []
    for chunk in rt.stream("llm", StreamComplete.question("long"), timeout_s=30):
        got.append(chunk)
        if len(got) == 3:
            break
    assert got == ["w0", " w1", " w2"]
    # The agent is free again: a new stream is answered in full.
    srv.always(Reply(text="short answer"))
    assert "".join(rt.stream("llm", StreamComplete.question("again"), timeout_s=30)) \
        == "short answer"


def test_a_server_error_reaches_the_reader(make_runtime: Any, srv: LLMServer) -> None:
    rt = make_runtime()
    spawn_llm(rt, srv)
    srv.always(Reply(status=400, json=openai_error("bad model")))
    with pytest.raises((HandlerError, RaygentError), match=r"bad model|400"):
        list(rt.stream("llm", StreamComplete.question("x"), timeout_s=30))


@pytest.mark.cluster  # the CLI starts its own Ray
def test_raygent_ask_prints_the_streamed_tokens(srv: LLMServer, tmp_path: Any) -> None:
    import os
    import subprocess
    import sys

    from tests.conftest import ROOT

    raygent = os.path.join(os.path.dirname(sys.executable), "raygent")
    env = {**os.environ, "RAYGENT_HOME": str(tmp_path), "HF_HUB_OFFLINE": "1",
           "TOKENIZERS_PARALLELISM": "false"}
    env.pop("RAY_ADDRESS", None)
    store = str(tmp_path / "mem")
    corpus = os.path.join(ROOT, "scenarios", "rag_qa", "data", "rag_corpus.jsonl")
    done = subprocess.run([raygent, "memory", "ingest", corpus, "--data-dir", store],
                          env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    text = "Ray actors keep state between calls [1]"
    srv.always(Reply(text=text, chunk_delay_s=0.01))
    done = subprocess.run([raygent, "ask", "what is a ray actor?", "--data-dir", store,
                           "--llm-url", srv.base_url, "--model", MODEL],
                          env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert f"A: {text}" in done.stdout
    assert "citations: [1] " in done.stdout
    assert any(r.json.get("stream") is True for r in srv.chat_requests())
