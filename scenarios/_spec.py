"""Scenario specs as data: a YAML (or TOML) file naming agents, wiring, memory, LLM, input
and check, validated with errors that point at the bad field.

A spec looks like this (every key but ``name``, ``agents`` and ``driver`` is optional)::

    name: rag-qa
    description: answer questions over documents, citing sources
    runtime: {strategy: one_for_one, batch_size: 256}   # RuntimeConfig fields
    memory:                                             # spawns memory.MemoryAgent "memory"
      config: {data_dir: ~/.raygent/rag-qa}             # MemoryConfig fields; "~" is the
                                                        # memory node's home, not the driver's
      resources: {custom: {memory_node: 1}}             # put it on the node with the disk
      ingest: {paths: [data/rag_corpus.jsonl], chunk_size: 800, overlap: 100}
    llm: {kind: extractive}                             # default backend for LLM agents
    agents:
      - name: retriever
        class: scenarios.rag_qa:RetrieverAgent              # module:Class (or module.Class)
        config: {answerer: answerer, k: 5}
        resources: {num_cpus: 0.5, custom: {embedder: 1}, scheduling_strategy: SPREAD}
        restart: {mode: permanent, max_restarts: 3, within_s: 60}
        mailbox: {capacity: 1000, policy: reject}
        topics: [questions]
    wiring:                                             # checked: every end must exist
      - {from: driver, to: retriever}
      - {from: retriever, to: memory}
    driver: scenarios.rag_qa:drive                         # feeds input, runs the check
    input: {questions: data/rag_questions.jsonl}
    check: {min_cited: 0.8}
    count: 10                                           # default for --count

``builtin:NAME`` paths point into the shared ``scenarios/data``; other relative paths are
relative to the spec file (a built-in scenario keeps its data in its own package).

A spec names code to run, so it is only as trustworthy as its author: classes and drivers
resolve only from allowed module prefixes — ``scenarios``, ``actors``, ``memory``, plus
those listed in ``RAYGENT_TRUSTED_MODULES`` (comma-separated) or passed as ``trusted``
(``raygent run --trust PREFIX``). Files over 1 MB and YAML anchors/aliases (the "billion
laughs" bomb) are refused before anything is built.
"""

from __future__ import annotations

import dataclasses
import importlib
import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from actors import (
    Agent,
    ConfigError,
    MailboxConfig,
    Resources,
    RestartPolicy,
    RuntimeConfig,
    UntrustedModuleError,
)

DATA_DIR = Path(__file__).parent / "data"
TRUSTED_ENV = "RAYGENT_TRUSTED_MODULES"
DEFAULT_TRUSTED = ("scenarios", "actors", "memory")
MAX_SPEC_BYTES = 1 << 20
_TOP_KEYS = {"name", "description", "runtime", "memory", "llm", "agents", "wiring", "driver",
             "input", "check", "count"}
_AGENT_KEYS = {"name", "class", "config", "resources", "restart", "mailbox", "topics"}
_RUNTIME_KEYS = {f.name for f in dataclasses.fields(RuntimeConfig)} - {
    "mailbox", "retry", "restart", "tracing", "run_id"}


@dataclass(frozen=True, kw_only=True)
class AgentEntry:
    """One agent of a scenario, validated."""

    name: str
    cls: type[Agent]
    config: dict[str, Any] = field(default_factory=dict)
    resources: Resources = field(default_factory=Resources)
    restart: RestartPolicy | None = None
    mailbox: MailboxConfig | None = None
    topics: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class ScenarioSpec:
    """A validated scenario spec."""

    name: str
    description: str = ""
    agents: tuple[AgentEntry, ...] = ()
    wiring: tuple[tuple[str, str], ...] = ()
    memory: dict[str, Any] | None = None
    llm: dict[str, Any] | None = None
    runtime: dict[str, Any] = field(default_factory=dict)
    driver: Callable[..., Any] | None = None
    driver_name: str = ""
    input: dict[str, Any] = field(default_factory=dict)
    check: dict[str, Any] = field(default_factory=dict)
    count: int = 10
    source: str = "<memory>"

    def resolve_path(self, path: str) -> str:
        """A path from the spec: ``builtin:`` data, relative to the spec, or absolute."""
        if path.startswith("builtin:"):
            return str(DATA_DIR / path.removeprefix("builtin:"))
        expanded = os.path.expanduser(path)
        if os.path.isabs(expanded) or self.source.startswith("<"):
            return expanded
        return str(Path(self.source).parent / expanded)

    def agent_names(self) -> tuple[str, ...]:
        names = tuple(a.name for a in self.agents)
        return ("memory", *names) if self.memory is not None else names


def _err(source: str, path: str, message: str) -> ConfigError:
    return ConfigError(message, field=f"{source}: {path}" if path else source)


def _mapping(value: Any, source: str, path: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise _err(source, path, f"must be a mapping, got {type(value).__name__}")
    return dict(value)


def _unknown(data: Mapping[str, Any], allowed: set[str], source: str, path: str) -> None:
    extra = sorted(set(data) - allowed)
    if extra:
        where = f"{path}." if path else ""
        raise _err(source, f"{where}{extra[0]}",
                   f"unknown key; allowed here: {', '.join(sorted(allowed))}")


def trusted_modules(extra: tuple[str, ...] = ()) -> tuple[str, ...]:
    """The module prefixes a spec may name: the defaults, the environment's, ``extra``."""
    env = tuple(p.strip() for p in os.environ.get(TRUSTED_ENV, "").split(",") if p.strip())
    return tuple(dict.fromkeys([*DEFAULT_TRUSTED, *env, *extra]))


def _allowed(module_name: str, trusted: tuple[str, ...]) -> bool:
    return any(module_name == p or module_name.startswith(p.rstrip(".") + ".")
               for p in trusted)


def import_object(ref: str, source: str, path: str,
                  trusted: tuple[str, ...] = DEFAULT_TRUSTED) -> Any:
    """Import ``module:attr`` (or ``module.attr``) from a trusted module.

    Raises:
        ConfigError: The reference is malformed or does not import.
        UntrustedModuleError: The module is outside ``trusted`` (nothing is imported).
    """
    if not isinstance(ref, str) or not ref.strip():
        raise _err(source, path, "must be a 'module:Name' string")
    module_name, sep, attr = ref.partition(":")
    if not sep:
        module_name, _, attr = ref.rpartition(".")
    if not module_name or not attr:
        raise _err(source, path, f"{ref!r} is not 'module:Name'")
    if not _allowed(module_name, trusted):
        raise UntrustedModuleError(f"{source}: {path}: {ref}", trusted)
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise _err(source, path, f"cannot import {module_name!r}: {exc}") from None
    try:
        return getattr(module, attr)
    except AttributeError:
        raise _err(source, path, f"module {module_name!r} has no {attr!r}") from None


def _dataclass_from(cls: type, data: Any, source: str, path: str) -> Any:
    values = _mapping(data, source, path)
    allowed = {f.name for f in dataclasses.fields(cls)}
    _unknown(values, allowed, source, path)
    try:
        return cls(**values)
    except ConfigError as exc:
        # The config classes name their fields "resources.num_cpus" etc.: keep one copy.
        sub = exc.field or ""
        last = path.rsplit(".", 1)[-1]
        if sub.startswith(last + "."):
            sub = sub[len(last) + 1:]
        raise _err(source, f"{path}.{sub}".rstrip("."), exc._raw) from None
    except TypeError as exc:
        raise _err(source, path, str(exc)) from None


def _agent(data: Any, index: int, source: str, trusted: tuple[str, ...]) -> AgentEntry:
    path = f"agents[{index}]"
    values = _mapping(data, source, path)
    _unknown(values, _AGENT_KEYS, source, path)
    name = values.get("name")
    if not isinstance(name, str) or not name or "/" in name:
        raise _err(source, f"{path}.name", "must be a non-empty string without '/'")
    if "class" not in values:
        raise _err(source, f"{path}.class", "is required ('module:AgentClass')")
    cls = import_object(values["class"], source, f"{path}.class", trusted)
    if not (isinstance(cls, type) and issubclass(cls, Agent)):
        raise _err(source, f"{path}.class", f"{values['class']!r} is not an Agent subclass")
    topics = values.get("topics") or []
    if not isinstance(topics, list) or not all(isinstance(t, str) for t in topics):
        raise _err(source, f"{path}.topics", "must be a list of topic names")
    return AgentEntry(
        name=name, cls=cls, config=_mapping(values.get("config"), source, f"{path}.config"),
        resources=_dataclass_from(Resources, values.get("resources"), source,
                                  f"{path}.resources"),
        restart=(None if values.get("restart") is None else _dataclass_from(
            RestartPolicy, values["restart"], source, f"{path}.restart")),
        mailbox=(None if values.get("mailbox") is None else _dataclass_from(
            MailboxConfig, values["mailbox"], source, f"{path}.mailbox")),
        topics=tuple(topics),
    )


def parse_spec(data: Any, *, source: str = "<memory>",
               trusted: tuple[str, ...] = ()) -> ScenarioSpec:
    """Validate a spec given as plain data (what YAML or TOML load to).

    ``trusted`` adds module prefixes to the allowed ones (see the module docstring).

    Raises:
        ConfigError: Naming the file and the field, e.g. ``my.yaml: agents[1].class``.
        UntrustedModuleError: A class or driver outside the allowed modules.
    """
    allowed = trusted_modules(tuple(trusted))
    top = _mapping(data, source, "")
    _unknown(top, _TOP_KEYS, source, "")
    name = top.get("name")
    if not isinstance(name, str) or not name.strip():
        raise _err(source, "name", "is required: a non-empty string")
    raw_agents = top.get("agents")
    if not isinstance(raw_agents, list) or not raw_agents:
        raise _err(source, "agents", "is required: a non-empty list of agents")
    agents = tuple(_agent(a, i, source, allowed) for i, a in enumerate(raw_agents))
    names = [a.name for a in agents]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise _err(source, "agents", f"duplicate agent name {dupes[0]!r}")
    memory = top.get("memory")
    if memory is not None:
        memory = _mapping(memory, source, "memory")
        _unknown(memory, {"config", "ingest", "resources"}, source, "memory")
        if memory.get("resources") is not None:
            memory["resources"] = _dataclass_from(Resources, memory["resources"], source,
                                                  "memory.resources")
        if "memory" in names:
            raise _err(source, "agents", "'memory' is reserved for the memory section")
    runtime = _mapping(top.get("runtime"), source, "runtime")
    _unknown(runtime, _RUNTIME_KEYS, source, "runtime")
    known = {*names, "driver", *(("memory",) if memory is not None else ())}
    wiring: list[tuple[str, str]] = []
    for i, edge in enumerate(top.get("wiring") or []):
        edge_map = _mapping(edge, source, f"wiring[{i}]")
        _unknown(edge_map, {"from", "to"}, source, f"wiring[{i}]")
        for end in ("from", "to"):
            target = edge_map.get(end)
            if not isinstance(target, str):
                raise _err(source, f"wiring[{i}].{end}", "is required: an agent name")
            if not target.startswith("topic:") and target not in known:
                raise _err(source, f"wiring[{i}].{end}",
                           f"no agent named {target!r}; known: {', '.join(sorted(known))}")
        wiring.append((edge_map["from"], edge_map["to"]))
    driver_name = top.get("driver")
    if not isinstance(driver_name, str):
        raise _err(source, "driver", "is required: 'module:function' that feeds the input")
    driver = import_object(driver_name, source, "driver", allowed)
    if not callable(driver):
        raise _err(source, "driver", f"{driver_name!r} is not callable")
    count = top.get("count", 10)
    if not isinstance(count, int) or isinstance(count, bool) or count < 1:
        raise _err(source, "count", "must be an integer >= 1")
    llm = top.get("llm")
    spec = ScenarioSpec(
        name=name.strip(), description=str(top.get("description") or ""), agents=agents,
        wiring=tuple(wiring), memory=memory,
        llm=None if llm is None else _mapping(llm, source, "llm"),
        runtime=runtime, driver=driver, driver_name=driver_name,
        input=_mapping(top.get("input"), source, "input"),
        check=_mapping(top.get("check"), source, "check"), count=count, source=source,
    )
    try:
        RuntimeConfig(**runtime)
    except ConfigError as exc:
        raise _err(source, f"runtime.{exc.field}", exc._raw) from None
    except TypeError as exc:
        raise _err(source, "runtime", str(exc)) from None
    return spec


def _safe_yaml(text: str, source: str) -> Any:
    """YAML without anchors and aliases: an alias bomb expands to gigabytes in memory."""
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, yaml.AliasEvent):
            raise ConfigError(f"{source}: YAML aliases (*name) are not allowed in a "
                              "scenario spec: write the value out")
    return yaml.safe_load(text)


def load_spec(path: str | os.PathLike[str], *, trusted: tuple[str, ...] = ()) -> ScenarioSpec:
    """Read and validate a ``.yaml``/``.yml``/``.toml`` scenario file.

    Raises:
        ConfigError: If the file is missing, too large, unreadable, not UTF-8, not valid
            YAML/TOML, or invalid.
        UntrustedModuleError: It names code outside the allowed modules.
    """
    p = Path(path)
    source = str(p)
    if not p.is_file():
        raise ConfigError(f"no scenario file at {source!r}")
    if p.suffix not in (".toml", ".yaml", ".yml"):
        raise ConfigError(f"{source}: use a .yaml, .yml or .toml file")
    size = p.stat().st_size
    if size > MAX_SPEC_BYTES:
        raise ConfigError(f"{source}: {size} bytes is too large for a scenario spec (limit "
                          f"{MAX_SPEC_BYTES}); keep data in files the spec names")
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{source}: cannot read it as UTF-8 text ({exc})") from None
    try:
        data = tomllib.loads(text) if p.suffix == ".toml" else _safe_yaml(text, source)
    except (yaml.YAMLError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{source}: not valid {p.suffix[1:].upper()}: {exc}") from None
    except RecursionError:
        raise ConfigError(f"{source}: nested too deeply to be a scenario spec") from None
    return parse_spec(data, source=source, trusted=trusted)
