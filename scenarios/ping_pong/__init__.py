"""The ``ping-pong`` scenario: two agents exchange Ping/Pong round trips via the supervisor."""

from __future__ import annotations

from scenarios.ping_pong._pingpong import PingAgent as PingAgent
from scenarios.ping_pong._pingpong import PongAgent as PongAgent
from scenarios.ping_pong._pingpong import Rally as Rally
from scenarios.ping_pong._pingpong import RallyReport as RallyReport
from scenarios.ping_pong._pingpong import check as check
from scenarios.ping_pong._pingpong import drive as drive

__all__ = ["PingAgent", "PongAgent", "Rally", "RallyReport", "check", "drive"]
