"""Time to first token through the runtime versus the model server alone, same run.

    python benchmarks/stream.py [--quick] [--prefill-ms 150]

The server is tests/llm_server.py, a real OpenAI-compatible SSE server on loopback. It
waits ``--prefill-ms`` before its first event, standing in for a real backend's prefill
(150 ms by default: what a small local model on CPU takes for a short prompt), then sends
one word per event. "Backend" reads the SSE stream with httpx directly; "runtime" is
``rt.stream("llm", StreamComplete)``: driver → supervisor → LLM agent → the same server,
each delta back through the supervisor's stream buffer. The two alternate, request by
request, and the medians are compared.

Prints the figures; the LAST line is one JSON object: ``stream_ttft_ms`` (through the
runtime), ``backend_ttft_ms``, ``stream_ttft_ratio`` (backend / runtime; 1.0 means the
runtime adds nothing) and ``added_ms`` (runtime - backend), plus ``prefill_ms``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import httpx

from actors import Runtime, RuntimeConfig
from actors._config import TracingConfig
from actors.llm import LLMAgent, StreamComplete
from tests.llm_server import LLMServer, Reply

MODEL = "bench-model"
TEXT = " ".join(f"token{i}" for i in range(20))


def backend_ttft(client: httpx.Client, url: str) -> float:
    """Milliseconds from the request to the first content delta, read with httpx."""
    body = {"model": MODEL, "stream": True,
            "messages": [{"role": "user", "content": "what is ray?"}]}
    t0 = time.perf_counter()
    first = None
    with client.stream("POST", f"{url}/chat/completions", json=body) as response:
        for line in response.iter_lines():
            if first is None and line.startswith("data: ") and '"content": "token' in line:
                first = (time.perf_counter() - t0) * 1000
    assert first is not None, "the server sent no content"
    return first


def runtime_ttft(rt: Runtime) -> float:
    t0 = time.perf_counter()
    first = None
    n = 0
    for _ in rt.stream("llm", StreamComplete.question("what is ray?"), timeout_s=60):
        if first is None:
            first = (time.perf_counter() - t0) * 1000
        n += 1
    assert first is not None and n == 20, n
    return first


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer repetitions (< 1 minute)")
    ap.add_argument("--prefill-ms", type=float, default=150.0,
                    help="the stand-in server's wait before its first token")
    args = ap.parse_args()
    reps = 15 if args.quick else 60
    srv = LLMServer(models=(MODEL,)).start()
    srv.always(Reply(text=TEXT, delay_s=args.prefill_ms / 1000))
    config = RuntimeConfig(namespace="raygent-bench-stream",
                           tracing=TracingConfig(exporter="none"))
    rt = Runtime(config=config, init_kwargs={"include_dashboard": False,
                                             "logging_level": "WARNING"}).start()
    try:
        rt.spawn(LLMAgent, name="llm", config={
            "llm": {"kind": "openai", "base_url": srv.base_url, "model": MODEL,
                    "api_key": "sk-bench"}, "timeout_s": 30.0})
        with httpx.Client(timeout=30) as client:
            for _ in range(3):  # warm connections, imports and the actor's first calls
                backend_ttft(client, srv.base_url)
                runtime_ttft(rt)
            back: list[float] = []
            through: list[float] = []
            for _ in range(reps):
                back.append(backend_ttft(client, srv.base_url))
                through.append(runtime_ttft(rt))
    finally:
        rt.stop()
        srv.stop()
    b, r = statistics.median(back), statistics.median(through)
    print(f"prefill (stand-in server)  {args.prefill_ms:.0f} ms")
    print(f"backend alone   TTFT p50 {b:7.1f} ms  ({reps} requests, httpx SSE)")
    print(f"through runtime TTFT p50 {r:7.1f} ms  (rt.stream -> LLM agent -> server)")
    print(f"stream_ttft_ratio {b / r:.3f}  added {r - b:.1f} ms")
    print(json.dumps({"stream_ttft_ms": round(r, 1), "backend_ttft_ms": round(b, 1),
                      "stream_ttft_ratio": round(b / r, 3), "added_ms": round(r - b, 1),
                      "prefill_ms": args.prefill_ms, "repetitions": reps,
                      "quick": args.quick}))


if __name__ == "__main__":
    main()
