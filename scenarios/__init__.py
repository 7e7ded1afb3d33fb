"""raygent's scenarios and the ``raygent`` command line."""

from scenarios._connect import open_runtime as open_runtime
from scenarios._connect import start_or_join as start_or_join
from scenarios._echo import ECHO as ECHO
from scenarios._echo import EchoAgent as EchoAgent
from scenarios._pingpong import PING_PONG as PING_PONG
from scenarios._pingpong import PingAgent as PingAgent
from scenarios._pingpong import PongAgent as PongAgent
from scenarios._pingpong import Rally as Rally
from scenarios._pingpong import RallyReport as RallyReport
from scenarios._scenario import Scenario as Scenario
from scenarios._scenario import ScenarioFn as ScenarioFn
from scenarios._scenario import ScenarioResult as ScenarioResult
from scenarios.builtin import builtin_scenarios as builtin_scenarios

__all__ = [
    "ECHO", "PING_PONG", "EchoAgent", "PingAgent", "PongAgent", "Rally", "RallyReport",
    "Scenario", "ScenarioFn", "ScenarioResult", "builtin_scenarios", "open_runtime",
    "start_or_join",
]
