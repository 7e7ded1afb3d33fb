"""Reading a run's jsonl trace files back: spans, trees and a terminal waterfall.

Used by ``raygent trace`` and by tests; it reads files only (no OpenTelemetry needed).
"""

from __future__ import annotations

import glob
import json
import os
from dataclasses import dataclass, field
from typing import Any


@dataclass
class SpanNode:
    """One span and its children, ordered by start time."""

    span: dict[str, Any]
    children: list[SpanNode] = field(default_factory=list)

    @property
    def name(self) -> str:
        return str(self.span["name"])

    @property
    def duration_ms(self) -> float:
        end = self.span.get("end_ns") or self.span["start_ns"]
        return float(end - self.span["start_ns"]) / 1e6

    @property
    def error(self) -> bool:
        return self.span.get("status") == "ERROR"

    def walk(self) -> list[SpanNode]:
        out = [self]
        for c in self.children:
            out.extend(c.walk())
        return out

    def to_dict(self) -> dict[str, Any]:
        return {**self.span, "duration_ms": round(self.duration_ms, 3),
                "children": [c.to_dict() for c in self.children]}


def list_runs(runs_dir: str) -> list[tuple[str, float]]:
    """Runs under ``runs_dir`` that have traces, newest last, with their mtime."""
    root = os.path.expanduser(runs_dir)
    runs = []
    for path in glob.glob(os.path.join(root, "*", "traces")):
        run = os.path.basename(os.path.dirname(path))
        runs.append((run, os.path.getmtime(path)))
    return sorted(runs, key=lambda r: r[1])


def load_spans(run_path: str) -> list[dict[str, Any]]:
    """Every span in a run directory's ``traces/*.jsonl`` files.

    Lines that are cut short (a process killed mid-write) are skipped, not fatal.
    """
    spans: list[dict[str, Any]] = []
    for path in sorted(glob.glob(os.path.join(run_path, "traces", "*.jsonl"))):
        with open(path, encoding="utf-8") as fh:
            for line in fh:
                line = line.strip()
                if not line:
                    continue
                try:
                    spans.append(json.loads(line))
                except json.JSONDecodeError:
                    continue
    return spans


def build_trees(spans: list[dict[str, Any]]) -> dict[str, list[SpanNode]]:
    """Roots per trace id; a span whose parent is missing becomes a root."""
    nodes = {s["span_id"]: SpanNode(s) for s in spans}
    roots: dict[str, list[SpanNode]] = {}
    for node in nodes.values():
        parent = nodes.get(node.span.get("parent_id") or "")
        if parent is not None and parent is not node:
            parent.children.append(node)
        else:
            roots.setdefault(node.span["trace_id"], []).append(node)
    for node in nodes.values():
        node.children.sort(key=lambda n: n.span["start_ns"])
    for trace_roots in roots.values():
        trace_roots.sort(key=lambda n: n.span["start_ns"])
    return roots


def render(roots: list[SpanNode], *, width: int = 40) -> list[str]:
    """A waterfall: indented names, durations, and a bar placed on the trace's timeline."""
    all_nodes = [n for r in roots for n in r.walk()]
    if not all_nodes:
        return []
    t0 = min(n.span["start_ns"] for n in all_nodes)
    t1 = max((n.span.get("end_ns") or n.span["start_ns"]) for n in all_nodes)
    total = max(1, t1 - t0)
    lines: list[str] = []

    def visit(node: SpanNode, depth: int) -> None:
        start = int((node.span["start_ns"] - t0) / total * width)
        length = max(1, int((node.duration_ms * 1e6) / total * width))
        bar = " " * start + "█" * min(length, width - start)
        agent = node.span.get("resource", {}).get("raygent.agent", "")
        mark = " ✗ ERROR" if node.error else ""
        events = [e["name"].removeprefix("raygent.") for e in node.span.get("events", [])]
        extra = f" [{', '.join(events)}]" if events else ""
        label = f"{'  ' * depth}{node.name} ({agent})"
        lines.append(f"{label:<48.48} {node.duration_ms:9.2f} ms |{bar:<{width}}|{mark}{extra}")
        for c in node.children:
            visit(c, depth + 1)

    for r in roots:
        visit(r, 0)
    return lines
