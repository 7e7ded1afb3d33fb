"""``raygent trace``: show a run's traces, read back from its jsonl files, as waterfalls.

Every process of a run (the driver, the supervisor, each agent) appends its spans to
``<runs dir>/<run id>/traces/<component>-<pid>.jsonl`` when tracing uses the default
``jsonl`` exporter. This command only reads those files: no cluster, no OpenTelemetry.

Expected failures end as one red ``error:`` line with exit code 1.
"""

from __future__ import annotations

import datetime as dt
import functools
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.text import Text

from actors._config import TracingConfig
from actors._traces import SpanNode, build_trees, list_runs, load_spans, render
from scenarios.cli._edge import console, fail, print_json

# Own consoles rather than scenarios.cli's: cli imports this module to register the
# command, so importing cli from here would be circular.

#: Runs and traces listed in an "unknown id" error before it says "and N more".
MAX_LISTED = 10

_SPAN_KEYS = frozenset({"name", "trace_id", "span_id", "start_ns"})

# render() prints a 48-character label, the duration and the bar's frame: 65 columns.
_FIXED_COLUMNS = 65


@dataclass
class TraceView:
    """One trace of a run: its root spans (several when a parent span was never exported)."""

    trace_id: str
    roots: list[SpanNode]

    @functools.cached_property
    def nodes(self) -> list[SpanNode]:
        """Every span, in the order :func:`actors._traces.render` prints them."""
        return [n for r in self.roots for n in r.walk()]

    @property
    def start_ns(self) -> int:
        return min(int(n.span["start_ns"]) for n in self.nodes)

    @property
    def duration_ms(self) -> float:
        end = max(int(n.span.get("end_ns") or n.span["start_ns"]) for n in self.nodes)
        return (end - self.start_ns) / 1e6

    @property
    def errors(self) -> int:
        return sum(n.error for n in self.nodes)

    def to_dict(self) -> dict[str, Any]:
        """The trace as JSON-compatible data, span trees included."""
        return {"trace_id": self.trace_id, "root": self.roots[0].name,
                "start_ns": self.start_ns, "duration_ms": round(self.duration_ms, 3),
                "spans": len(self.nodes), "errors": self.errors,
                "roots": [r.to_dict() for r in self.roots]}


def _fail(message: str, *, hint: str | None = None) -> NoReturn:
    fail(message, code=1, hint=hint)


def default_runs_dir() -> str:
    """Where runs write their traces unless told otherwise.

    Returns:
        ``$RAYGENT_TRACE_DIR`` when set, else ``TracingConfig.runs_dir`` (the rule of
        ``TracingConfig.from_env``, without failing on unrelated bad tracing settings).
    """
    return os.environ.get("RAYGENT_TRACE_DIR") or TracingConfig().runs_dir


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _listing(items: Sequence[str]) -> str:
    shown = ", ".join(items[-MAX_LISTED:])
    more = len(items) - MAX_LISTED
    return f"{shown} (and {more} older)" if more > 0 else shown


def _no_runs(runs_dir: str) -> NoReturn:
    exporter = os.environ.get("RAYGENT_TRACE_EXPORTER") or os.environ.get(
        "OTEL_TRACES_EXPORTER")
    if os.environ.get("OTEL_SDK_DISABLED", "").lower() == "true":
        why = "OTEL_SDK_DISABLED=true turns tracing off here"
    elif exporter and exporter.split(",")[0].strip() != "jsonl":
        why = f"the trace exporter is {exporter!r} here, so spans do not go to files"
    else:
        why = ("is tracing off (RAYGENT_TRACE_EXPORTER=none)? runs write jsonl files only "
               "with RAYGENT_TRACE_EXPORTER=jsonl, the default")
    _fail(f"no traced runs in {runs_dir}",
          hint=f"{why}; or the runs wrote elsewhere: pass --runs-dir or set RAYGENT_TRACE_DIR")


def _pick(wanted: str, available: Sequence[str], what: str) -> str | None:
    """The one id equal to ``wanted``, or the only one it is a prefix of."""
    if wanted in available:
        return wanted
    matches = [a for a in available if a.startswith(wanted)]
    if len(matches) > 1:
        _fail(f"{what} {wanted!r} matches several: {', '.join(matches[:MAX_LISTED])}; "
              "give more characters")
    return matches[0] if matches else None


def _resolve_run(runs_dir: str, run_id: str | None) -> str:
    runs = [name for name, _ in list_runs(runs_dir)]
    if not runs:
        _no_runs(runs_dir)
    if run_id is None:
        return runs[-1]
    found = _pick(run_id, runs, "run id")
    if found is None:
        _fail(f"no run {run_id!r} in {runs_dir}; runs with traces (newest last): "
              f"{_listing(runs)}")
    return found


def load_traces(runs_dir: str, run_id: str) -> tuple[list[TraceView], int]:
    """Read a run's spans and group them into traces, oldest first.

    Args:
        runs_dir: Root of the run directories.
        run_id: The run.

    Returns:
        The traces, and the number of spans read.
    """
    spans = load_spans(os.path.join(os.path.expanduser(runs_dir), run_id))
    # Any JSON object parses; only span records can be placed in a tree.
    spans = [s for s in spans if isinstance(s, dict) and s.keys() >= _SPAN_KEYS]
    traces = [TraceView(tid, roots) for tid, roots in build_trees(spans).items()]
    traces.sort(key=lambda t: t.start_ns)
    return traces, len(spans)


def _agents(traces: Sequence[TraceView]) -> list[str]:
    seen = {n.span.get("resource", {}).get("raygent.agent") for t in traces for n in t.nodes}
    return sorted(a for a in seen if a)


def _when(ns: int) -> str:
    return dt.datetime.fromtimestamp(ns / 1e9).strftime("%Y-%m-%d %H:%M:%S")


def trace_lines(view: TraceView, *, bar_width: int) -> list[Text]:
    """The waterfall of one trace, failed spans in red.

    Args:
        view: The trace.
        bar_width: Columns of the timeline bar.

    Returns:
        One styled line per span, parents before their children.
    """
    # render() walks the spans in the same order as view.nodes, line for line.
    lines = render(view.roots, width=bar_width)
    return [Text(line, style="bold red" if node.error else "")
            for line, node in zip(lines, view.nodes, strict=True)]


def _print_trace(view: TraceView, bar_width: int) -> None:
    # Text, not markup: span and agent names are user data and may hold brackets.
    head = Text.assemble("\n", (f"trace {view.trace_id}", "bold"), " ",
                         (_when(view.start_ns), "dim"),
                         f": {view.roots[0].name}, {view.duration_ms:.2f} ms, ",
                         _plural(len(view.nodes), "span"))
    if view.errors:
        head.append(f" ({view.errors} failed)", style="red")
    console.print(head, soft_wrap=True)
    for line in trace_lines(view, bar_width=bar_width):
        console.print(line, soft_wrap=True)


def trace_cmd(
    run_id: Annotated[str | None, typer.Argument(
        help="Run to show (a unique prefix is enough).",
        show_default="the newest run")] = None,
    runs_dir: Annotated[str | None, typer.Option(
        "--runs-dir", show_default="$RAYGENT_TRACE_DIR or $RAYGENT_HOME/runs",
        help="Directory holding the runs' trace files.")] = None,
    trace_id: Annotated[str | None, typer.Option(
        "--trace", show_default=False,
        help="Show only this trace of the run (a unique prefix is enough).")] = None,
    last: Annotated[int | None, typer.Option(
        "--last", min=1, show_default="all",
        help="Show only the newest N traces of the run.")] = None,
    as_json: Annotated[bool, typer.Option(
        "--json", help="Print the span trees as JSON.")] = False,
) -> None:
    """Show a run's traces as waterfalls: each span's agent, duration and failures."""
    root = str(Path(runs_dir if runs_dir is not None else default_runs_dir()
                    ).expanduser().absolute())
    run = _resolve_run(root, run_id)
    try:
        traces, n_spans = load_traces(root, run)
    except OSError as exc:
        _fail(f"cannot read the traces of run {run}: {exc}")
    if not traces:
        _fail(f"run {run} has no spans yet",
              hint="processes export spans every 0.5 s (TracingConfig.export_delay_ms) and "
                   "on stop: try again in a moment, or call runtime.flush_traces()")
    if trace_id is not None:
        found = _pick(trace_id, [t.trace_id for t in traces], "trace id")
        if found is None:
            listed = [f"{t.trace_id} ({t.roots[0].name})" for t in traces]
            _fail(f"run {run} has no trace {trace_id!r}; its traces (newest last): "
                  f"{_listing(listed)}")
        traces = [t for t in traces if t.trace_id == found]
    elif last is not None:
        traces = traces[-last:]
    shown_spans = sum(len(t.nodes) for t in traces)
    errors = sum(t.errors for t in traces)
    agents = _agents(traces)
    if as_json:
        print_json({"run_id": run, "path": os.path.join(root, run),
                     "spans": shown_spans, "errors": errors, "agents": agents,
                     "traces": [t.to_dict() for t in traces]})
        return
    head = Text.assemble((f"run {run}", "bold"), " ",
                         (os.path.join(root, run), "dim"),
                         f"\n{_plural(len(traces), 'trace')}, {_plural(shown_spans, 'span')}")
    if shown_spans != n_spans:
        head.append(f" of {n_spans}")
    if errors:
        head.append(f" ({errors} failed)", style="bold red")
    head.append(f"; agents: {', '.join(agents) or '-'}")
    console.print(head, soft_wrap=True)
    bar_width = max(10, min(60, console.width - _FIXED_COLUMNS))
    for view in traces:
        _print_trace(view, bar_width)
