"""One connected trace across the driver, the supervisor and the agents' processes."""

from __future__ import annotations

import gzip
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from actors import HandlerError
from actors._config import TracingConfig
from actors._traces import build_trees, load_spans, render
from tests.agents import CrashOnce, EchoAgent, Flaky, LogAgent, Relay, RelayAgent
from tests.conftest import wait_for


def _spans_of(runtime: Any, predicate: Any) -> list[dict[str, Any]]:
    def ready() -> list[dict[str, Any]] | None:
        runtime.flush_traces()
        spans = load_spans(runtime.trace_dir)
        return spans if predicate(spans) else None

    return wait_for(ready, timeout_s=20, interval_s=0.3)


def _trace_of(spans: list[dict[str, Any]], root_name: str) -> list[dict[str, Any]]:
    root = next(s for s in spans if s["name"] == root_name and not s["parent_id"])
    return [s for s in spans if s["trace_id"] == root["trace_id"]]


def _chain(node: Any) -> list[tuple[str, str]]:
    out = [(node.name, node.span["resource"]["raygent.agent"])]
    while node.children:
        node = node.children[0]
        out.append((node.name, node.span["resource"]["raygent.agent"]))
    return out


def test_a_request_across_three_actors_is_one_trace(runtime):
    runtime.spawn(EchoAgent, name="echo")
    runtime.spawn(RelayAgent, name="relay")
    assert runtime.ask("relay", Relay(to="echo", text="hi")).text == "via relay: hi"
    spans = _spans_of(runtime, lambda ss: any(s["name"] == "process echo" for s in ss))
    trace = _trace_of(spans, "ask relay")
    assert len({s["trace_id"] for s in trace}) == 1
    roots = build_trees(trace)[trace[0]["trace_id"]]
    assert len(roots) == 1, [r.name for r in roots]
    assert _chain(roots[0]) == [
        ("ask relay", "driver"), ("route relay", "supervisor"), ("process relay", "relay"),
        ("ask echo", "relay"), ("route echo", "supervisor"), ("process echo", "echo"),
    ]
    processes = {s["resource"]["process.pid"] for s in trace}
    assert len(processes) == 4  # driver, supervisor, relay, echo
    process = next(s for s in trace if s["name"] == "process echo")
    attrs = process["attributes"]
    assert attrs["messaging.system"] == "raygent" and attrs["raygent.message.kind"] == "Echo"
    assert attrs["ray.task_id"] and process["resource"]["ray.actor_id"]
    assert "raygent.message.payload" not in attrs  # payloads stay private by default
    assert any("process echo" in line for line in render(roots))


def test_retries_and_dead_letters_show_as_events_and_error_spans(runtime):
    runtime.spawn(LogAgent, name="log")
    assert runtime.ask("log", Flaky(key="a", succeed_on=2)) == "a ok on attempt 2"
    with pytest.raises(HandlerError):
        runtime.ask("log", Flaky(key="b"))
    spans = _spans_of(runtime, lambda ss: any(s["name"] == "dead_letter log" for s in ss)
                      and sum(s["name"] == "process log" for s in ss) >= 5)
    ok_trace = _trace_of(spans, "ask log")
    tries = sorted((s for s in ok_trace if s["name"] == "process log"),
                   key=lambda s: s["start_ns"])
    assert [(s["attributes"]["raygent.message.attempt"], s["status"]) for s in tries] == [
        (1, "ERROR"), (2, "UNSET")]
    assert any(e["name"] == "exception" and "ValueError" in str(e["attributes"])
               for e in tries[0]["events"])
    route = next(s for s in ok_trace if s["name"] == "route log")
    assert all(s["parent_id"] == route["span_id"] for s in tries)
    retry = next(s for s in ok_trace if s["name"] == "retry log")
    assert retry["parent_id"] == route["span_id"]
    assert retry["attributes"]["raygent.retry.next_attempt"] == 2
    dead = next(s for s in spans if s["name"] == "dead_letter log")
    assert dead["status"] == "ERROR" and "failed 3 attempts" in dead["status_description"]
    dead_trace = [s for s in spans if s["trace_id"] == dead["trace_id"]]
    assert sum(s["name"] == "retry log" for s in dead_trace) == 2
    assert sum(s["name"] == "process log" and s["status"] == "ERROR" for s in dead_trace) == 3
    assert len(build_trees(dead_trace)[dead["trace_id"]]) == 1  # one connected tree


def test_the_trace_survives_a_restart_of_the_receiving_agent(runtime):
    runtime.spawn(LogAgent, name="log")
    assert runtime.ask("log", CrashOnce(key="k"), timeout_s=60) == "k survived on attempt 2"
    spans = _spans_of(runtime, lambda ss: any(
        s["name"] == "process log" and s["attributes"].get("raygent.message.kind") ==
        "CrashOnce" for s in ss))
    trace = _trace_of(spans, "ask log")
    route = next(s for s in trace if s["name"] == "route log")
    redeliver = next(s for s in trace if s["name"] == "redeliver log")
    assert redeliver["parent_id"] == route["span_id"]
    retried = next(s for s in trace if s["name"] == "process log")
    assert retried["parent_id"] == route["span_id"]
    assert retried["attributes"]["raygent.message.attempt"] == 2
    restart = next(s for s in spans if s["name"] == "restart log")
    assert restart["attributes"]["raygent.restart.reason"]
    # The retried delivery ran in a new process, still in the same trace.
    assert retried["resource"]["process.pid"] != restart["resource"]["process.pid"]


class _Collector(BaseHTTPRequestHandler):
    received: list[Any] = []

    def do_POST(self) -> None:
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
            ExportTraceServiceRequest,
        )

        body = self.rfile.read(int(self.headers["Content-Length"]))
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        req = ExportTraceServiceRequest()
        req.ParseFromString(body)
        for rs in req.resource_spans:
            service = {a.key: a.value.string_value for a in rs.resource.attributes}
            for ss in rs.scope_spans:
                for span in ss.spans:
                    self.received.append((service.get("raygent.agent"), span.name,
                                          span.trace_id.hex(), self.path))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        return None


def test_spans_reach_a_real_otlp_http_receiver(make_runtime):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Collector)
    _Collector.received = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        endpoint = f"http://127.0.0.1:{server.server_address[1]}/v1/traces"
        runtime = make_runtime(tracing=TracingConfig(exporter="otlp", otlp_endpoint=endpoint))
        runtime.spawn(EchoAgent, name="echo")
        runtime.spawn(RelayAgent, name="relay")
        runtime.ask("relay", Relay(to="echo", text="otlp"))
        runtime.flush_traces()
        got = wait_for(lambda: {(a, n) for a, n, _, _ in _Collector.received} >= {
            ("driver", "ask relay"), ("supervisor", "route relay"),
            ("relay", "process relay"), ("echo", "process echo")} and _Collector.received,
            timeout_s=20, interval_s=0.3)
        assert len({t for _, _, t, _ in got}) == 1
        assert {p for *_, p in got} == {"/v1/traces"}
    finally:
        server.shutdown()


def test_a_question_through_memory_is_one_trace(runtime, tmp_path):
    from memory import MemoryAgent
    from tests.test_memory_actor import DOCS, Librarian, Lookup

    runtime.spawn(MemoryAgent, name="memory", config={"data_dir": str(tmp_path / "m")})
    runtime.memory.add(DOCS)
    runtime.spawn(Librarian, name="librarian")
    assert runtime.ask("librarian", Lookup(query="where do vectors live on disk?")) == "lance"
    spans = _spans_of(runtime, lambda ss: any(s["name"] == "memory.search" for s in ss)
                      and any(s["name"] == "process librarian" for s in ss))
    trace = _trace_of(spans, "ask librarian")
    roots = build_trees(trace)[trace[0]["trace_id"]]
    assert len(roots) == 1
    names = [(n.name, n.span["resource"]["raygent.agent"]) for n in roots[0].walk()]
    assert names[:3] == [("ask librarian", "driver"), ("route librarian", "supervisor"),
                         ("process librarian", "librarian")]
    assert ("memory.search", "memory") in names and ("embed", "memory") in names
    search = next(n for n in roots[0].walk() if n.name == "memory.search")
    assert search.span["attributes"]["raygent.memory.hits"] == 1
    assert [c.name for c in search.children] == ["embed"]
