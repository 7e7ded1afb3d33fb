"""The auditor agent: the counterfactual fairness audit of a ranking.

For every ranked candidate it takes the original document from memory, makes the
counterfactual copies (``_counterfactual``: other origin groups' names, the other gender,
an age 20 years away), sends them through the same parser, redactor and scorer as the
real resumes, and compares (``_fairness.compare``): how far each copy's
``adjusted_score`` moved, how many places the candidate would move in the ranking, and,
for contrast, how far the unredacted ``raw_score`` moved. The driver fails the run when a
move exceeds its tolerance.
"""

from __future__ import annotations

from actors import Agent, MessageContext, handles
from scenarios.recruitment._flow import audit
from scenarios.recruitment._ranker import agent_steps
from scenarios.recruitment.messages import Audit, AuditReport


class AuditorAgent(Agent):
    """Audits rankings. Config: ``parser``, ``redactor``, ``scorer`` (agent names),
    ``origins`` (other origin groups to try, 3), ``reference_year`` (ages are counted from
    it), ``timeout_s``."""

    async def on_start(self) -> None:
        self.steps = agent_steps(self)
        self.origins = int(self.config.get("origins", 3))
        self.reference_year = int(self.config.get("reference_year", 2025))

    @handles
    async def on_audit(self, msg: Audit, ctx: MessageContext) -> AuditReport:
        return await audit(self.steps, msg.ranking, origins=self.origins,
                           reference_year=self.reference_year)
