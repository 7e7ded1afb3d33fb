"""What a built-in scenario is: a name, a description and a function that runs it.

Built-ins are Python until scenarios become YAML data; the CLI only sees this interface, so
that change will not touch it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

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


def respawn(runtime: Runtime, cls: type[Agent], *, name: str,
            config: Mapping[str, Any] | None = None) -> AgentStatus:
    """Spawn an agent, first stopping one of the same name left by an earlier run.

    A run with ``--keep`` leaves its agents in the cluster; running the scenario again
    must start from fresh agents rather than fail on the taken names.

    Args:
        runtime: A started runtime.
        cls: The agent class.
        name: The agent's name.
        config: The agent's config mapping.

    Returns:
        The new agent's status.
    """
    if name in {a.name for a in runtime.status().agents}:
        runtime.stop_agent(name)
    return runtime.spawn(cls, name=name, config=config)
