"""The scorer: a redacted resume against a job, field by field, with the shared embedder.

Fields (weights come from the spec, ``scorer.config.weights``):

- ``requirements``: for each requirement, the cosine of its embedding with the closest
  sentence of the resume (a skill, a summary sentence, a role, a bullet, a degree), averaged;
  the closest sentence is the evidence, and the requirement is *matched* when the cosine
  reaches ``match_threshold``. A years requirement ("at least 5 years") is judged on the
  parsed years instead, since embeddings do not compare numbers;
- ``skills``: the requirements as one text against the skills list;
- ``experience``: the responsibilities against the roles and what was done in them;
- ``whole``: the job text against the whole redacted resume;
- ``years``: ``min(1, years / required years)``.

``adjusted_score`` is their weighted mean. ``raw_score`` is the cosine of the job text and
the *unredacted* resume text: it is never used to rank, only kept so the audit can show
what the redaction protects against.

Every text is embedded once: vectors are cached by exact text (an LRU), so the same
resume scored for another job, or a counterfactual copy whose redacted text is unchanged,
costs no model call; a copy whose text differs is embedded afresh.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from actors import Agent, ConfigError, MessageContext, handles
from scenarios.recruitment import _text as tx
from scenarios.recruitment.messages import Candidate, CandidateScore, Evidence, Job, Score, Scores

FIELDS = ("requirements", "skills", "experience", "whole", "years")
#: Chosen on a generated development pool (seed 3, 2,000 resumes, 16 jobs; not the
#: bundled, calibration or benchmark seeds): the highest rank correlation with the
#: generator's utility among weightings that rank every job's best first.
DEFAULT_WEIGHTS: dict[str, float] = {"requirements": 0.6, "skills": 0.1, "experience": 0.05,
                                     "whole": 0.05, "years": 0.15}

Encode = Callable[[Sequence[str]], np.ndarray]


def check_weights(weights: Mapping[str, Any]) -> dict[str, float]:
    """Validated field weights (unknown fields and negative or all-zero weights refused).

    Raises:
        ConfigError: Naming the bad field.
    """
    out = dict(DEFAULT_WEIGHTS)
    for name, value in weights.items():
        if name not in FIELDS:
            raise ConfigError(f"unknown field {name!r}; fields: {', '.join(FIELDS)}",
                              field=f"scorer.weights.{name}")
        if not isinstance(value, int | float) or value < 0:
            raise ConfigError("must be a number >= 0", field=f"scorer.weights.{name}")
        out[name] = float(value)
    if sum(out.values()) <= 0:
        raise ConfigError("at least one weight must be > 0", field="scorer.weights")
    return out


class Scorer:
    """Scores candidates for a job. Thread-safe; plain Python, no Ray.

    Args:
        encode: Texts → ``(n, dim)`` unit vectors (the shared MiniLM embedder's ``encode``).
        weights: Field weights (see :data:`FIELDS`).
        match_threshold: Cosine from which a requirement counts as matched.
        cache_size: Text vectors kept.
    """

    def __init__(self, encode: Encode, *, weights: Mapping[str, Any] | None = None,
                 match_threshold: float = 0.55, cache_size: int = 200_000) -> None:
        self.encode = encode
        self.weights = check_weights(weights or {})
        self.match_threshold = float(match_threshold)
        self.cache_size = cache_size
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()
        self.embedded = 0
        self.cache_hits = 0

    def vectors(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        """Unit vectors of the texts: new ones embedded in one batch, the rest from cache."""
        with self._lock:
            wanted = list(dict.fromkeys(texts))
            out = {t: self._cache[t] for t in wanted if t in self._cache}
            for t in out:
                self._cache.move_to_end(t)
            self.cache_hits += len(out)
        missing = [t for t in wanted if t not in out]
        if missing:
            vecs = np.asarray(self.encode(missing), dtype=np.float32)
            with self._lock:
                self.embedded += len(missing)
                for t, v in zip(missing, vecs, strict=True):
                    out[t] = v
                    self._cache[t] = v
                while len(self._cache) > self.cache_size:
                    self._cache.popitem(last=False)
        return out

    def score(self, job: Job, candidates: Sequence[Candidate]) -> list[CandidateScore]:
        """Score every candidate for ``job`` (one embedding batch for all new texts)."""
        reqs = [r for r in job.requirements if not tx.YEARS_REQUIREMENT.search(r)] or list(
            job.requirements)
        years_reqs = [r for r in job.requirements if r not in reqs]
        job_texts = [tx.job_text(job), tx.requirements_text(job), tx.responsibilities_text(job)]
        per_cand = [(tx.evidence_units(c.resume), tx.skills_text(c.resume),
                     tx.experience_text(c.resume), tx.whole_text(c.resume), c.raw_text)
                    for c in candidates]
        texts = [*job_texts, *reqs]
        for units, *rest in per_cand:
            texts.extend(units)
            texts.extend(t for t in rest if t)
        vec = self.vectors(texts)
        job_vec, req_all, resp_vec = (vec[t] for t in job_texts)
        req_mat = np.stack([vec[r] for r in reqs])
        out = []
        for c, (units, skills, experience, whole, raw) in zip(candidates, per_cand,
                                                              strict=True):
            fields: dict[str, float] = {}
            matched: list[Evidence] = []
            missing: list[Evidence] = []
            if units:
                sims = req_mat @ np.stack([vec[u] for u in units]).T
                best = sims.argmax(axis=1)
                for i, req in enumerate(reqs):
                    ev = Evidence(requirement=req, sentence=units[best[i]],
                                  similarity=round(float(sims[i, best[i]]), 4))
                    (matched if ev.similarity >= self.match_threshold else missing).append(ev)
                fields["requirements"] = float(sims.max(axis=1).mean())
            else:
                fields["requirements"] = 0.0
                missing.extend(Evidence(requirement=r, sentence="", similarity=0.0)
                               for r in reqs)
            fields["skills"] = float(vec[skills] @ req_all) if skills else 0.0
            fields["experience"] = float(vec[experience] @ resp_vec) if experience else 0.0
            fields["whole"] = float(vec[whole] @ job_vec) if whole else 0.0
            have = c.resume.years
            need = job.min_years
            fields["years"] = 1.0 if not need else min(1.0, have / need)
            for req in years_reqs:
                ev = Evidence(requirement=req, sentence=_years_evidence(c), similarity=round(
                    fields["years"], 4))
                (matched if not need or have >= need else missing).append(ev)
            adjusted = sum(self.weights[f] * fields[f] for f in FIELDS) / sum(
                self.weights.values())
            out.append(CandidateScore(
                candidate_id=c.id, raw_score=round(float(vec[raw] @ job_vec), 6),
                adjusted_score=round(float(adjusted), 6),
                fields={f: round(v, 6) for f, v in fields.items()},
                matched=tuple(matched), missing=tuple(missing)))
        return out


def _years_evidence(c: Candidate) -> str:
    roles = ", ".join(f"{e.title} ({e.period or f'{e.years:g} years'})"
                      for e in c.resume.experience)
    return f"{c.resume.years:g} years in total" + (f": {roles}" if roles else "")


class ScorerAgent(Agent):
    """Scores candidates with the shared MiniLM embedder loaded in this process.

    Config: ``weights`` (field → weight), ``match_threshold``, ``model`` (default the
    packaged MiniLM), ``cache_size``. Scoring is CPU-bound and holds the model: one request
    at a time, in a worker thread, so health checks are answered meanwhile.
    """

    scorer_class: type[Scorer] = Scorer

    async def on_start(self) -> None:
        import asyncio

        from memory import MemoryConfig, shared_embedder

        embedder = shared_embedder(MemoryConfig(model=str(self.config.get(
            "model", MemoryConfig().model))))
        self.scorer = self.scorer_class(
            embedder.encode, weights=self.config.get("weights") or {},
            match_threshold=float(self.config.get("match_threshold", 0.55)),
            cache_size=int(self.config.get("cache_size", 200_000)))
        # Load the model now, not on the first request (whose deadline it would eat).
        await asyncio.to_thread(embedder.encode, ["warm up"])
        self.embedder = embedder

    async def health(self) -> bool:
        """The model is loaded (embedding a probe would queue behind a long batch)."""
        return bool(getattr(self, "embedder", None) is not None and self.embedder.loaded)

    @handles
    def on_score(self, msg: Score, ctx: MessageContext) -> Scores:
        return Scores(scores=tuple(self.scorer.score(msg.job, msg.candidates)))
