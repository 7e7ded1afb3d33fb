"""The pool in memory: one namespace per pool, one record per candidate (and per job).

A candidate record's text is the redacted profile (roles and skills), so retrieval never
sees a name either; its metadata holds the redacted record, the unredacted text for
``raw_score`` and the original document for the audit's counterfactual copies. Jobs are
kept in a namespace beside the pool's (``<pool>.jobs``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

from scenarios.recruitment._redactor import mask_counts
from scenarios.recruitment._text import job_text, profile_text
from scenarios.recruitment.messages import Candidate, Document, Job, Resume


def pool_namespace(pool: str, *, jobs: bool = False) -> str:
    """The memory namespace of a pool's candidates (or, beside it, of its jobs)."""
    return f"recruit-{pool}"[:120] + (".jobs" if jobs else "")


def pool_name(label: str, documents: Sequence[Document]) -> str:
    """A pool name that changes when its documents do, so a changed folder is never mixed
    with what an earlier run stored under the same label."""
    digest = hashlib.sha1()
    for d in sorted(documents, key=lambda d: d.source):
        digest.update(d.source.encode())
        digest.update(b"\0")
        digest.update(d.text.encode())
    return f"{label}-{digest.hexdigest()[:10]}"


def candidate_record(pool: str, cand: Candidate, doc: Document) -> dict[str, Any]:
    """The memory record of a candidate (see the module docstring)."""
    return {"id": f"{pool}/{cand.id}", "namespace": pool_namespace(pool),
            "text": profile_text(cand.resume),
            "metadata": {"kind": "candidate", "candidate_id": cand.id, "source": cand.source,
                         "format": doc.format, "document": doc.text,
                         "record": cand.resume.to_dict(), "raw_text": cand.raw_text,
                         "masked": mask_counts([cand])}}


def candidate_of(metadata: Mapping[str, Any]) -> Candidate:
    """The scoreable candidate a memory record holds."""
    return Candidate(id=str(metadata["candidate_id"]), source=str(metadata["source"]),
                     resume=Resume.from_dict(metadata["record"]),
                     raw_text=str(metadata["raw_text"]))


def document_of(metadata: Mapping[str, Any]) -> Document:
    """The original document a memory record keeps."""
    return Document(source=str(metadata["source"]), format=str(metadata["format"]),
                    kind="resume", text=str(metadata["document"]))


def job_record(pool: str, job: Job) -> dict[str, Any]:
    return {"id": f"{pool}/job/{job.id}", "namespace": pool_namespace(pool, jobs=True),
            "text": job_text(job),
            "metadata": {"kind": "job", "job_id": job.id, "source": job.source}}
