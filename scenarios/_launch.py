"""The generic launcher: from a validated spec to running, checked agents."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from actors import ConfigError
from scenarios._result import ScenarioResult
from scenarios._spec import DATA_DIR, ScenarioSpec

if TYPE_CHECKING:
    from rich.console import Console

    from actors import Agent, AgentStatus, Runtime
    from scenarios._result import ScenarioFn


def _memory_config(spec: ScenarioSpec) -> dict[str, Any]:
    config = dict((spec.memory or {}).get("config") or {})
    data_dir = config.get("data_dir")
    # "~" is left for the memory agent to expand on its own node (where the disk is).
    if isinstance(data_dir, str) and not data_dir.startswith("~"):
        config["data_dir"] = spec.resolve_path(data_dir)
    # The memory agent reads ingested files itself, and only under its ingest roots: the
    # scenario's own directory and the bundled data, plus what the spec (or --docs) adds.
    roots = config.get("ingest_roots") or []
    if isinstance(roots, list | tuple):
        own = [] if spec.source.startswith("<") else [str(Path(spec.source).parent)]
        config["ingest_roots"] = list(dict.fromkeys(
            [*(spec.resolve_path(str(r)) for r in roots), *own, str(DATA_DIR)]))
    return config


def start_memory(runtime: Runtime, spec: ScenarioSpec, *, console: Console) -> int:
    """Start (or reuse) the memory agent and ingest the spec's documents; return the
    record count.

    A memory agent already running with the same config is reused: other scenarios may be
    using it, so it is never stopped from here.

    Raises:
        ConfigError: A memory agent runs with another config (it is left alone).
    """
    from memory._agent import MemoryAgent

    wanted = _memory_config(spec)
    running = {a.name: a for a in runtime.status().agents}.get("memory")
    if running is not None and running.state == "running":
        current = runtime.memory.call("settings")
        if current != wanted:
            raise ConfigError(
                f"a memory agent already runs in namespace {runtime.config.namespace!r} with "
                f"another config ({current}); it may serve other scenarios, so it is left "
                "alone: run this scenario in another namespace (--namespace), or stop that "
                "memory agent first", field=f"{spec.source}: memory")
        console.print("reusing the running memory agent (same config)")
    else:
        if running is not None:
            runtime.stop_agent("memory")  # failed or stopping: nobody is served by it
        resources = (spec.memory or {}).get("resources")
        runtime.spawn(MemoryAgent, name="memory", config=wanted,
                      **({"resources": resources} if resources is not None else {}))
    ingest = dict((spec.memory or {}).get("ingest") or {})
    paths = ingest.pop("paths", [])
    if isinstance(paths, str):
        paths = [paths]
    if paths:
        resolved = [spec.resolve_path(p) for p in paths]
        ids = runtime.memory.call("ingest", resolved, **ingest)
        console.print(f"ingested {len(ids)} chunks from {len(resolved)} source(s)")
    return runtime.memory.count()


def agent_config(spec: ScenarioSpec, config: Mapping[str, Any]) -> dict[str, Any]:
    """An agent's config with the scenario's defaults filled in (the ``llm`` backend)."""
    out = dict(config)
    if spec.llm is not None and out.get("llm") in (None, "default"):
        out["llm"] = dict(spec.llm)
    return out


def spawn_agents(runtime: Runtime, spec: ScenarioSpec, *, console: Console) -> None:
    """Spawn (or replace) every agent of the spec, in order."""
    for entry in spec.agents:
        respawn(runtime, entry.cls, name=entry.name, config=agent_config(spec, entry.config),
                resources=entry.resources, restart=entry.restart, mailbox=entry.mailbox,
                topics=entry.topics)
    console.print("spawned " + ", ".join(f"[bold]{a.name}[/]" for a in spec.agents))


def launcher(spec: ScenarioSpec) -> ScenarioFn:
    """The run function of a spec: memory, agents, then its driver."""

    def run(runtime: Runtime, *, console: Console, count: int) -> ScenarioResult:
        if spec.memory is not None:
            start_memory(runtime, spec, console=console)
        spawn_agents(runtime, spec, console=console)
        if spec.driver is None:
            raise ConfigError("the spec names no driver", field=f"{spec.source}: driver")
        result = spec.driver(runtime, spec, console=console, count=count)
        if not isinstance(result, ScenarioResult):
            raise ConfigError(f"driver {spec.driver_name!r} returned "
                              f"{type(result).__name__}, not a ScenarioResult",
                              field=f"{spec.source}: driver")
        return result

    return run


def with_overrides(spec: ScenarioSpec, *, docs: list[str] | None = None,
                   data_dir: str | None = None, questions: str | None = None,
                   llm: dict[str, Any] | None = None, ingest: bool = True,
                   input_paths: Mapping[str, str] | None = None) -> ScenarioSpec:
    """A copy of a spec with the CLI's ``--docs``/``--data-dir``/``--questions``/LLM choices.

    ``--docs`` replaces the documents to ingest (and, unless ``--questions`` is given, the
    bundled questions, which are about the bundled documents); ``ingest=False`` ingests
    nothing (``raygent ask`` against a store filled earlier). ``input_paths`` replaces input
    paths the spec names (``--jobs``, ``--resumes``); the spec's ``input.labels`` (files
    that describe the bundled input, such as its ground truth) go with them.

    Raises:
        ConfigError: If the spec has no memory section to apply ``--docs``/``--data-dir`` to,
            or no input of a name in ``input_paths``, or a path does not exist.
    """
    import dataclasses
    import os

    memory = dict(spec.memory) if spec.memory is not None else None
    if (docs or data_dir) and memory is None:
        raise ConfigError(f"scenario {spec.name!r} has no memory to ingest into",
                          field="--docs")
    inputs = dict(spec.input)
    if memory is not None:
        config = dict(memory.get("config") or {})
        ingest_cfg = dict(memory.get("ingest") or {})
        if docs:
            missing = [d for d in docs if not os.path.exists(os.path.expanduser(d))]
            if missing:
                raise ConfigError(f"no such file or directory: {missing[0]}", field="--docs")
            ingest_cfg["paths"] = [os.path.abspath(os.path.expanduser(d)) for d in docs]
            # Named on the command line by the user who runs the system: allowed to read.
            config["ingest_roots"] = [*(config.get("ingest_roots") or []),
                                      *ingest_cfg["paths"]]
            if questions is None:
                inputs.pop("questions", None)
        if data_dir:
            config["data_dir"] = os.path.abspath(os.path.expanduser(data_dir))
        if not ingest:
            ingest_cfg = {}
        memory = {**memory, "config": config, "ingest": ingest_cfg}
    for key, path in (input_paths or {}).items():
        if key not in spec.input:
            raise ConfigError(f"scenario {spec.name!r} takes no {key} input", field=f"--{key}")
        if not os.path.exists(os.path.expanduser(path)):
            raise ConfigError(f"no such file or directory: {path}", field=f"--{key}")
        inputs[key] = os.path.abspath(os.path.expanduser(path))
        inputs.pop("labels", None)
    if questions is not None:
        if not os.path.isfile(os.path.expanduser(questions)):
            raise ConfigError(f"no such file: {questions}", field="--questions")
        inputs["questions"] = os.path.abspath(os.path.expanduser(questions))
    return dataclasses.replace(spec, memory=memory, input=inputs,
                               llm=llm if llm is not None else spec.llm)


def respawn(runtime: Runtime, cls: type[Agent], *, name: str,
            config: Mapping[str, Any] | None = None, **options: Any) -> AgentStatus:
    """Spawn an agent, first stopping one of the same name left by an earlier run.

    A run with ``--keep`` leaves its agents in the cluster; running the scenario again
    must start from fresh agents rather than fail on the taken names.

    Args:
        runtime: A started runtime.
        cls: The agent class.
        name: The agent's name.
        config: The agent's config mapping.
        **options: ``resources``, ``restart``, ``mailbox``, ``topics`` for ``spawn``.

    Returns:
        The new agent's status.
    """
    if name in {a.name for a in runtime.status().agents}:
        runtime.stop_agent(name)
    return runtime.spawn(cls, name=name, config=config,
                         **{k: v for k, v in options.items() if v is not None})
