"""The scenario's typed settings, read from the spec's ``input`` and ``check`` sections."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from actors import ConfigError
from scenarios.recruitment._documents import MAX_BYTES
from scenarios.recruitment.messages import Review

if TYPE_CHECKING:
    from scenarios._spec import ScenarioSpec


def _number(data: Mapping[str, Any], key: str, default: float, where: str, *,
            integer: bool = False, low: float = 0.0) -> Any:
    value = data.get(key, default)
    ok = isinstance(value, int) if integer else isinstance(value, int | float)
    if not ok or isinstance(value, bool) or value < low:
        kind = "an integer" if integer else "a number"
        raise ConfigError(f"must be {kind} >= {low:g}, got {value!r}", field=f"{where}.{key}")
    return value


@dataclass(frozen=True, kw_only=True)
class RecruitmentInput:
    """``input``: where the documents are and how the run uses them.

    Attributes:
        jobs: A job file or folder.
        resumes: A resume file or folder.
        pool: The pool's label (its memory namespace adds a fingerprint of the files).
        shortlist: How many top candidates per job count as selected (for the
            adverse-impact ratio).
        top_n: Candidates retrieved by hybrid search and scored in full (None: the
            ranker's own setting).
        batch: Resumes per request to the ranker.
        max_file_bytes: The largest document file accepted.
        truth: Ground truth of the bundled pool (``input.labels.truth``), if any.
        groups: Group labels of the bundled pool (``input.labels.groups``), if any.
        ranker: The ranker agent's name.
        auditor: The auditor agent's name.
        approval: Whether each job's shortlist waits for a recruiter's approval
            (``raygent approve ID``) before it is reported (``input.approval``: ``true``,
            or ``{timeout_s, on_timeout}``); off by default.
    """

    jobs: str
    resumes: str
    pool: str = "pool"
    shortlist: int = 5
    top_n: int | None = None
    batch: int = 100
    max_file_bytes: int = MAX_BYTES
    truth: str | None = None
    groups: str | None = None
    ranker: str = "ranker"
    auditor: str = "auditor"
    approval: Review | None = None

    @classmethod
    def from_spec(cls, spec: ScenarioSpec) -> RecruitmentInput:
        """Read and check ``spec.input``.

        Raises:
            ConfigError: Naming the spec file and the field.
        """
        data = dict(spec.input)
        where = f"{spec.source}: input"
        for key in ("jobs", "resumes"):
            if not isinstance(data.get(key), str):
                raise ConfigError("is required: a file or folder", field=f"{where}.{key}")
        labels = data.get("labels") or {}
        if not isinstance(labels, Mapping):
            raise ConfigError("must be a mapping of truth/groups files",
                              field=f"{where}.labels")
        top_n = data.get("top_n")
        if top_n is not None:
            top_n = _number(data, "top_n", 0, where, integer=True, low=1)
        return cls(
            jobs=spec.resolve_path(data["jobs"]), resumes=spec.resolve_path(data["resumes"]),
            pool=str(data.get("pool") or Path(data["resumes"]).name or "pool"),
            shortlist=_number(data, "shortlist", 5, where, integer=True, low=1),
            top_n=top_n, batch=_number(data, "batch", 100, where, integer=True, low=1),
            max_file_bytes=_number(data, "max_file_bytes", MAX_BYTES, where, integer=True,
                                   low=1),
            truth=spec.resolve_path(labels["truth"]) if labels.get("truth") else None,
            groups=spec.resolve_path(labels["groups"]) if labels.get("groups") else None,
            ranker=str(data.get("ranker", "ranker")), auditor=str(data.get("auditor",
                                                                            "auditor")),
            approval=_approval(data.get("approval", False), where,
                               _number(data, "shortlist", 5, where, integer=True, low=1)))


def _approval(value: Any, where: str, shortlist: int) -> Review | None:
    """``input.approval``: false, true, or ``{timeout_s: seconds|null, on_timeout: ...}``."""
    if value is False or value is None:
        return None
    if value is True:
        return Review(shortlist=shortlist)
    if not isinstance(value, Mapping) or set(value) - {"timeout_s", "on_timeout"}:
        raise ConfigError("must be true, false or a mapping of timeout_s and on_timeout",
                          field=f"{where}.approval")
    timeout = value.get("timeout_s", 3600.0)
    if timeout is not None:
        timeout = float(_number(value, "timeout_s", 3600.0, f"{where}.approval", low=0.001))
    policy = value.get("on_timeout", "fail")
    if policy not in ("fail", "approve", "reject"):
        raise ConfigError(f"must be fail, approve or reject, not {policy!r}",
                          field=f"{where}.approval.on_timeout")
    return Review(shortlist=shortlist, timeout_s=timeout, on_timeout=policy)


@dataclass(frozen=True, kw_only=True)
class RecruitmentCheck:
    """``check``: what makes a run pass.

    Attributes:
        max_score_delta: The largest change of ``adjusted_score`` a counterfactual copy
            may cause.
        max_rank_change: The largest move in rank a counterfactual copy may cause.
        min_adverse_impact_ratio: The four-fifths rule (with group labels only): a lower
            ratio fails the run when the difference is also significant (Fisher's exact
            test, p < 0.05; see ``_fairness``).
        best_first: The known-best candidate must rank first (with ground truth only).
    """

    max_score_delta: float = 0.01
    max_rank_change: int = 0
    min_adverse_impact_ratio: float = 0.8
    best_first: bool = True

    @classmethod
    def from_spec(cls, spec: ScenarioSpec) -> RecruitmentCheck:
        data = dict(spec.check)
        where = f"{spec.source}: check"
        unknown = sorted(set(data) - {"max_score_delta", "max_rank_change",
                                      "min_adverse_impact_ratio", "best_first"})
        if unknown:
            raise ConfigError("unknown key", field=f"{where}.{unknown[0]}")
        return cls(max_score_delta=float(_number(data, "max_score_delta", 0.01, where)),
                   max_rank_change=_number(data, "max_rank_change", 0, where, integer=True),
                   min_adverse_impact_ratio=float(_number(data, "min_adverse_impact_ratio",
                                                          0.8, where)),
                   best_first=bool(data.get("best_first", True)))


@dataclass(frozen=True, kw_only=True)
class Labels:
    """What the bundled pool's generator knows: each job's best candidate, each
    candidate's groups."""

    best: dict[str, str] = field(default_factory=dict)
    groups: dict[str, dict[str, str]] = field(default_factory=dict)

    @classmethod
    def load(cls, truth: str | None, groups: str | None) -> Labels:
        """Read the label files (either may be absent).

        Raises:
            ConfigError: If a file named is missing or not the expected JSON.
        """
        best: dict[str, str] = {}
        labels: dict[str, dict[str, str]] = {}
        try:
            if truth:
                data = json.loads(Path(truth).read_text(encoding="utf-8"))
                best = {j: str(v["best"]) for j, v in data["jobs"].items()}
            if groups:
                labels = json.loads(Path(groups).read_text(encoding="utf-8"))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ConfigError(f"cannot read the label files ({type(exc).__name__}: {exc})",
                              field="input.labels") from None
        return cls(best=best, groups=labels)
