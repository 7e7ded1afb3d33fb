"""The condition agent: evaluates a flow's ``if`` steps and picks the branch."""

from __future__ import annotations

from actors import MessageContext
from scenarios.workflow._flow import Step
from scenarios.workflow._runner import StepAgent, StepOutcome
from scenarios.workflow.messages import StepRequest


class ConditionAgent(StepAgent):
    """Runs ``if`` steps. A condition is a pure function of the event, so it needs no
    effect record: evaluating it again after a redelivery gives the same branch."""

    role = "condition"

    async def run_step(self, step: Step, msg: StepRequest, ctx: MessageContext
                       ) -> StepOutcome:
        assert step.condition is not None
        verdict = step.condition(msg.event)
        branch = step.then if verdict else step.otherwise
        shown = ", ".join(branch) or "(end)"
        return StepOutcome(result=verdict, next=branch,
                           detail=f"{str(verdict).lower()} -> {shown}")


__all__ = ["ConditionAgent"]
