"""raygent's scenarios (specs as data, built-ins) and the ``raygent`` command line."""

from scenarios._connect import open_runtime as open_runtime
from scenarios._connect import start_or_join as start_or_join
from scenarios._result import ScenarioFn as ScenarioFn
from scenarios._result import ScenarioResult as ScenarioResult
from scenarios._runs import RunRecord as RunRecord
from scenarios._runs import list_runs as list_runs
from scenarios._runs import prune as prune_runs
from scenarios._scenario import Scenario as Scenario
from scenarios._spec import AgentEntry as AgentEntry
from scenarios._spec import ScenarioSpec as ScenarioSpec
from scenarios._spec import load_spec as load_spec
from scenarios._spec import parse_spec as parse_spec
from scenarios._system import SystemInfo as SystemInfo
from scenarios._system import SystemStartError as SystemStartError
from scenarios._system import current as current_system
from scenarios.builtin import builtin_scenarios as builtin_scenarios
from scenarios.echo import EchoAgent as EchoAgent
from scenarios.ping_pong import PingAgent as PingAgent
from scenarios.ping_pong import PongAgent as PongAgent
from scenarios.ping_pong import Rally as Rally
from scenarios.ping_pong import RallyReport as RallyReport

__all__ = [
    "AgentEntry", "EchoAgent", "PingAgent", "PongAgent", "Rally", "RallyReport", "RunRecord",
    "Scenario", "ScenarioFn", "ScenarioResult", "ScenarioSpec", "SystemInfo",
    "SystemStartError", "builtin_scenarios", "current_system", "list_runs", "load_spec",
    "open_runtime", "parse_spec", "prune_runs", "start_or_join",
]
