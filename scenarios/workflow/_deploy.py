"""Putting a flow on a running system: one agent per role, the webhook last.

The step agents come first so that the webhook, once it listens, can hand every event
on; each gets the flow itself (plain data) in its config, so no agent needs the file.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from actors import Agent, RestartPolicy
from scenarios.workflow._condition import ConditionAgent
from scenarios.workflow._crm import CRMAgent
from scenarios.workflow._email import EmailAgent
from scenarios.workflow._eventlog import EventLogAgent
from scenarios.workflow._flow import Flow
from scenarios.workflow._webhook import WebhookAgent

if TYPE_CHECKING:
    from actors import Runtime

AGENTS: dict[str, type[Agent]] = {
    "condition": ConditionAgent, "email": EmailAgent, "event_log": EventLogAgent,
    "crm": CRMAgent, "webhook": WebhookAgent,
}


def deploy_flow(runtime: Runtime, flow: Flow, *, extra: Mapping[str, Any] | None = None,
                restart: RestartPolicy | None = None) -> dict[str, str]:
    """Spawn the flow's agents (replacing any of the same names); return role -> name.

    Args:
        runtime: A started runtime.
        flow: The flow.
        extra: More config for every agent (tests: ``fault_file``).
        restart: Restart policy of the agents (default: the runtime's).
    """
    present = {a.name for a in runtime.status().agents}
    names: dict[str, str] = {}
    roles = [r for r in flow.roles() if r != "webhook"] + ["webhook"]
    for role in roles:
        name = flow.agent(role)
        if name in present:
            runtime.stop_agent(name)
        config = {"flow": flow.data, **dict(extra or {})}
        runtime.spawn(AGENTS[role], name=name, config=config, restart=restart)
        names[role] = name
    return names


def webhook_address(runtime: Runtime, flow: Flow) -> dict[str, Any]:
    """``{"host", "port", "url"}`` of the flow's running webhook (asked of the agent)."""
    import ray

    handle = runtime.agent_handle(flow.agent("webhook"))
    address: dict[str, Any] = ray.get(handle.invoke.remote("address"), timeout=30)
    return address


def remove_flow(runtime: Runtime, flow: Flow) -> None:
    """Stop the flow's agents that run."""
    present = {a.name for a in runtime.status().agents}
    for role in ("webhook", *[r for r in flow.roles() if r != "webhook"]):
        if flow.agent(role) in present:
            runtime.stop_agent(flow.agent(role))


__all__ = ["AGENTS", "deploy_flow", "remove_flow", "webhook_address"]
