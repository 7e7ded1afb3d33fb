"""raygent's scenarios (specs as data, built-ins) and the ``raygent`` command line."""

from scenarios._connect import open_runtime as open_runtime
from scenarios._connect import start_or_join as start_or_join
from scenarios._result import ScenarioFn as ScenarioFn
from scenarios._result import ScenarioResult as ScenarioResult
from scenarios._scenario import Scenario as Scenario
from scenarios._spec import AgentEntry as AgentEntry
from scenarios._spec import ScenarioSpec as ScenarioSpec
from scenarios._spec import load_spec as load_spec
from scenarios._spec import parse_spec as parse_spec
from scenarios.builtin import builtin_scenarios as builtin_scenarios
from scenarios.echo import EchoAgent as EchoAgent
from scenarios.ping_pong import PingAgent as PingAgent
from scenarios.ping_pong import PongAgent as PongAgent
from scenarios.ping_pong import Rally as Rally
from scenarios.ping_pong import RallyReport as RallyReport

__all__ = [
    "AgentEntry", "EchoAgent", "PingAgent", "PongAgent", "Rally", "RallyReport", "Scenario",
    "ScenarioFn", "ScenarioResult", "ScenarioSpec", "builtin_scenarios", "load_spec",
    "open_runtime", "parse_spec", "start_or_join",
]
