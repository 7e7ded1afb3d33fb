"""The ``recruitment`` scenario: bias-aware candidate matching with confidence and a
fairness audit.

Agents (``spec.yaml`` wires them, every hop through the supervisor): the parser reads
resumes and jobs (text, Markdown, JSON), the redactor masks demographic signals, the
scorer compares job and resume field by field with the shared MiniLM embedder, the
ranker keeps the pool in memory and ranks it per job with a calibrated confidence, and the
auditor re-scores counterfactual copies of every ranked candidate. ``data/`` holds the
bundled synthetic pool (made by ``generate.py``) and the confidence calibration.
"""

from __future__ import annotations

from scenarios.recruitment._auditor import AuditorAgent as AuditorAgent
from scenarios.recruitment._calibration import Calibration as Calibration
from scenarios.recruitment._calibration import (
    expected_calibration_error as expected_calibration_error,
)
from scenarios.recruitment._documents import load_documents as load_documents
from scenarios.recruitment._drive import drive as drive
from scenarios.recruitment._errors import DocumentError as DocumentError
from scenarios.recruitment._fairness import GroupRates as GroupRates
from scenarios.recruitment._fairness import adverse_impact as adverse_impact
from scenarios.recruitment._flow import LocalSteps as LocalSteps
from scenarios.recruitment._parser import ParserAgent as ParserAgent
from scenarios.recruitment._parser import parse_job as parse_job
from scenarios.recruitment._parser import parse_resume as parse_resume
from scenarios.recruitment._ranker import RankerAgent as RankerAgent
from scenarios.recruitment._redactor import RedactorAgent as RedactorAgent
from scenarios.recruitment._redactor import redact as redact
from scenarios.recruitment._scorer import Scorer as Scorer
from scenarios.recruitment._scorer import ScorerAgent as ScorerAgent

__all__ = ["AuditorAgent", "Calibration", "DocumentError", "GroupRates", "LocalSteps",
           "ParserAgent", "RankerAgent", "RedactorAgent", "Scorer", "ScorerAgent",
           "adverse_impact", "drive", "expected_calibration_error", "load_documents", "parse_job",
           "parse_resume", "redact"]
