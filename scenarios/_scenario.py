"""What a scenario is: a name, a description and a function that runs it.

Scenarios are data (``Scenario.from_file("my.yaml")``, see ``scenarios/_spec.py``): the
launcher spawns the spec's memory and agents, then hands over to its driver, which feeds
the input and runs the check. The CLI only sees this interface.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from scenarios._launch import launcher
from scenarios._result import ScenarioFn, ScenarioResult
from scenarios._spec import ScenarioSpec, load_spec

if TYPE_CHECKING:
    from rich.console import Console

    from actors import Runtime


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
    def from_file(cls, path: str | os.PathLike[str], *, trusted: tuple[str, ...] = ()
                  ) -> Scenario:
        """Load and validate a YAML/TOML scenario spec (``trusted``: module prefixes its
        classes and driver may come from, beyond scenarios/actors/memory).

        Raises:
            ConfigError: Naming the file and the bad field.
            UntrustedModuleError: It names code outside the allowed modules.
        """
        return cls.from_spec(load_spec(path, trusted=trusted))

    @classmethod
    def from_spec(cls, spec: ScenarioSpec) -> Scenario:
        return cls(name=spec.name, description=spec.description, run=launcher(spec),
                   agents=spec.agent_names(), default_count=spec.count, spec=spec)

    def launch(self, runtime: Runtime, *, console: Console | None = None,
               count: int | None = None) -> ScenarioResult:
        """Run against a started runtime (``runtime.launch(scenario)`` calls this)."""
        from rich.console import Console as RichConsole

        return self.run(runtime, console=console or RichConsole(),
                        count=count or self.default_count)
