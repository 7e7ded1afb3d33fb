"""An agent that waits for a person, for the Ray and CLI tests of human approval.

It runs in its own Ray worker, so what it did is written to a ledger file named in the
message: one line per run of the handler and one per effect that really happened.
"""

from __future__ import annotations

from dataclasses import dataclass

from actors import Agent, MessageContext, handles, message


@message
@dataclass(frozen=True, kw_only=True)
class ReviewHire:
    name: str
    ledger: str
    timeout_s: float | None = None
    on_timeout: str = "fail"


@message
@dataclass(frozen=True, kw_only=True)
class ReviewDraft:
    name: str
    salary: int


def _write(path: str, line: str) -> None:
    with open(path, "a", encoding="utf-8") as f:
        f.write(line + "\n")


class LedgerRecruiter(Agent):
    @handles
    async def on_hire(self, msg: ReviewHire, ctx: MessageContext) -> str:
        _write(msg.ledger, f"run:{msg.name}")
        await ctx.effect("draft", lambda: _write(msg.ledger, f"draft:{msg.name}"))
        answer = await ctx.approval(ReviewDraft(name=msg.name, salary=100),
                                    timeout_s=msg.timeout_s, on_timeout=msg.on_timeout)
        if not answer.approved:
            return f"not hired: {answer.reason}"
        await ctx.effect("send", lambda: _write(msg.ledger, f"offer:{msg.name}:{answer.data}"))
        return f"hired {msg.name} by {answer.by}"


def ledger(path: str) -> list[str]:
    try:
        with open(path, encoding="utf-8") as f:
            return f.read().splitlines()
    except FileNotFoundError:
        return []
