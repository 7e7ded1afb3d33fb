"""The workflow's messages: one step of one event, handed from agent to agent."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from actors import message


@message(kind="workflow.Step")
@dataclass(frozen=True, kw_only=True)
class StepRequest:
    """Run ``step`` of ``flow`` for one event.

    Attributes:
        flow: The flow's name.
        event_id: The event's id (unique per flow).
        step: The step to run.
        event: The event's JSON body, as parsed.
        received_at: When the webhook accepted the event (Unix seconds).
        trace_id: The trace the event's handling belongs to (hex), if tracing is on.
        replay: Counts replays of this step (``raygent workflow replay``), so a replayed
            message is new to the supervisor while its effects keep their keys.
    """

    flow: str
    event_id: str
    step: str
    event: dict[str, Any] = field(default_factory=dict)
    received_at: float = 0.0
    trace_id: str | None = None
    replay: int = 0


__all__ = ["StepRequest"]
