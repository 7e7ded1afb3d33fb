"""What a scenario is: a name, a description and a function that runs it.

Scenarios are data (``Scenario.from_file("my.yaml")``, see ``scenarios/_spec.py``): the
launcher spawns the spec's memory and agents, then hands over to its driver, which feeds
the input and runs the check. The CLI only sees this interface.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from scenarios._spec import ScenarioSpec, load_spec

if TYPE_CHECKING:
    from rich.console import Console

    from actors import Agent, AgentStatus, Runtime


@dataclass(frozen=True, kw_only=True)
class ScenarioResult:
    """The outcome of one scenario run.

    Attributes:
        ok: Whether the scenario's check passed.
        summary: One line saying what was checked and what came out.
        details: Figures worth keeping (counts, latencies), JSON-serialisable.
    """

    ok: bool
    summary: str
    details: Mapping[str, Any] = field(default_factory=dict)


class ScenarioFn(Protocol):
    """The signature of a scenario body."""

    def __call__(self, runtime: Runtime, *, console: Console, count: int) -> ScenarioResult:
        """Run against a started runtime, print progress to ``console``, return the check."""
        ...


@dataclass(frozen=True, kw_only=True)
class Scenario:
    """A runnable, self-checking scenario.

    Attributes:
        name: What ``raygent run NAME`` selects it by.
        description: One line for ``raygent list``.
        run: The body; it spawns its agents, drives them and checks the outcome. Agents it
            leaves behind are stopped by the caller (unless asked to keep them).
        agents: Names of the agents ``run`` spawns, so that a run on a shared system can
            remove its own agents afterwards and leave everyone else's alone.
        default_count: The ``--count`` used when none is given.
    """

    name: str
    description: str
    run: ScenarioFn
    agents: tuple[str, ...] = ()
    default_count: int = 10
    spec: ScenarioSpec | None = None

    @property
    def runtime_overrides(self) -> dict[str, Any]:
        """RuntimeConfig fields the scenario sets (its spec's ``runtime`` section)."""
        return dict(self.spec.runtime) if self.spec is not None else {}

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> Scenario:
        """Load and validate a YAML/TOML scenario spec.

        Raises:
            ConfigError: Naming the file and the bad field.
        """
        return cls.from_spec(load_spec(path))

    @classmethod
    def from_spec(cls, spec: ScenarioSpec) -> Scenario:
        from scenarios._launch import launcher

        return cls(name=spec.name, description=spec.description, run=launcher(spec),
                   agents=spec.agent_names(), default_count=spec.count, spec=spec)

    def launch(self, runtime: Runtime, *, console: Console | None = None,
               count: int | None = None) -> ScenarioResult:
        """Run against a started runtime (``runtime.launch(scenario)`` calls this)."""
        from rich.console import Console as RichConsole

        return self.run(runtime, console=console or RichConsole(),
                        count=count or self.default_count)


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
