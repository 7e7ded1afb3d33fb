"""The ranker agent: keeps the pool in memory and matches jobs against it.

Adding resumes: parser → redactor → memory (the pool's namespace). Ranking a job: the
parser reads it, memory keeps it beside the pool, a hybrid search (BM25 + MiniLM vectors)
picks the ``top_n`` candidates, the scorer scores them in full, and they are sorted by
``adjusted_score`` with a calibrated confidence (``_calibration``). Every hop to another
agent goes through the supervisor; memory is called directly, as a service. The
procedures themselves are in ``_flow``, shared with the in-process baseline.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from actors import Agent, Approval, MessageContext, handles
from scenarios.recruitment._calibration import Calibration
from scenarios.recruitment._flow import add_candidates, rank_job
from scenarios.recruitment.messages import (
    AddCandidates,
    Added,
    Candidate,
    Document,
    Job,
    Parse,
    Parsed,
    Ranking,
    RankJob,
    Redact,
    Redacted,
    Resume,
    Review,
    Score,
    Scores,
    ShortlistReview,
)


class AgentSteps:
    """The ``_flow`` steps of an agent: asks to the named agents, calls to memory."""

    def __init__(self, agent: Agent, *, parser: str, redactor: str, scorer: str,
                 timeout_s: float) -> None:
        self.agent = agent
        self.names = {"parser": parser, "redactor": redactor, "scorer": scorer}
        self.timeout_s = timeout_s

    async def _ask(self, role: str, payload: Any) -> Any:
        return await self.agent.ask_async(self.names[role], payload, timeout_s=self.timeout_s)

    async def parse(self, documents: tuple[Document, ...]) -> Parsed:
        parsed: Parsed = await self._ask("parser", Parse(documents=documents))
        return parsed

    async def redact(self, resumes: tuple[Resume, ...]) -> Redacted:
        redacted: Redacted = await self._ask("redactor", Redact(resumes=resumes))
        return redacted

    async def score(self, job: Job, candidates: tuple[Candidate, ...]) -> Scores:
        scores: Scores = await self._ask("scorer", Score(job=job, candidates=candidates))
        return scores

    async def upsert(self, records: list[dict[str, Any]]) -> list[str]:
        return list(await self.agent.memory.upsert_async(records))

    async def search(self, query: str, *, k: int, namespace: str,
                     mode: str) -> list[Any]:
        return list(await self.agent.memory.search_async(query, k=k, mode=mode,
                                                         namespace=namespace))

    async def get(self, ids: list[str]) -> list[Any]:
        return list(await self.agent.memory.get_async(ids))


def agent_steps(agent: Agent) -> AgentSteps:
    """Steps from an agent's config: ``parser``, ``redactor``, ``scorer``, ``timeout_s``."""
    return AgentSteps(agent, parser=str(agent.config.get("parser", "parser")),
                      redactor=str(agent.config.get("redactor", "redactor")),
                      scorer=str(agent.config.get("scorer", "scorer")),
                      timeout_s=float(agent.config.get("timeout_s", 600.0)))


class RankerAgent(Agent):
    """Adds resumes to a pool and ranks jobs against it.

    Config: ``parser``, ``redactor``, ``scorer`` (agent names), ``top_n`` (candidates
    scored in full, 20), ``calibration`` (a path, a mapping of parameters, or by default
    the bundled ``data/calibration.json``), ``timeout_s`` per ask. Requests are
    independent, so several run at once (a batch of resumes is parsed while another is
    embedded).
    """

    concurrency = 4

    async def on_start(self) -> None:
        self.steps = agent_steps(self)
        self.top_n = int(self.config.get("top_n", 20))
        self.calibration = Calibration.from_config(self.config.get("calibration"))

    @handles
    async def on_add(self, msg: AddCandidates, ctx: MessageContext) -> Added:
        return await add_candidates(self.steps, msg.pool, msg.documents)

    @handles
    async def on_rank(self, msg: RankJob, ctx: MessageContext) -> Ranking:
        if msg.review is None:
            return await rank_job(self.steps, msg.pool, msg.job,
                                  top_n=msg.top_n or self.top_n, calibration=self.calibration)
        # The handler runs again once the recruiter answers: the ranking is recorded, so
        # the shortlist they approved is the one reported, computed once.
        ranking: Ranking = await ctx.effect("ranking", lambda: rank_job(
            self.steps, msg.pool, msg.job, top_n=msg.top_n or self.top_n,
            calibration=self.calibration))
        if ranking.job is None:
            return ranking
        answer = await ctx.approval(shortlist_review(ranking, msg.review),
                                    timeout_s=msg.review.timeout_s,
                                    on_timeout=msg.review.on_timeout)
        return dataclasses.replace(ranking, review=review_text(answer))


def shortlist_review(ranking: Ranking, review: Review) -> ShortlistReview:
    """What the recruiter approves: the job and its top ``review.shortlist``."""
    assert ranking.job is not None
    return ShortlistReview(job_id=ranking.job.id, title=ranking.job.title, shortlist=tuple(
        (x.candidate_id, round(x.adjusted_score, 3))
        for x in ranking.results[:review.shortlist]))


def review_text(answer: Approval) -> str:
    """The recruiter's answer in a line (``approved by ana``, ``rejected by bo: why``)."""
    verdict = "approved" if answer.approved else "rejected"
    who = "the timeout's default" if answer.expired else (answer.by or "someone")
    return f"{verdict} by {who}" + (f": {answer.reason}" if answer.reason else "")
