"""The ``echo`` scenario: the driver asks one agent N times in one batch; replies must match.

Where ``ping-pong`` exercises agent-to-agent asks, this one exercises the driver's
``ask_many`` path (many requests in one supervisor call).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from actors import Agent, MessageContext, handles
from actors.messages import Echo, EchoReply
from scenarios._render import StatusView
from scenarios._result import ScenarioResult

if TYPE_CHECKING:
    from rich.console import Console

    from actors import Runtime
    from scenarios._spec import ScenarioSpec

ECHO_NAME = "echo"


class EchoAgent(Agent):
    """Returns each text unchanged, signed with its name."""

    @handles
    async def on_echo(self, msg: Echo, ctx: MessageContext) -> EchoReply:
        return EchoReply(text=msg.text, by=self.name)


def drive(runtime: Runtime, spec: ScenarioSpec, *, console: Console,
          count: int) -> ScenarioResult:
    """Ask the spec's echo agent (``input.agent``) ``count`` texts in one batch; check them.

    Args:
        runtime: A started runtime with the spec's agents.
        spec: The scenario spec.
        console: Where progress and tables go.
        count: Requests to send.

    Returns:
        Whether every reply carried its request's text.
    """
    name = str(spec.input.get("agent", ECHO_NAME))
    console.print(f"asking [bold]{name}[/] {count} echoes in one batch")
    texts = [f"hello {i}" for i in range(1, count + 1)]
    t0 = time.perf_counter()
    replies = runtime.ask_many([(name, Echo(text=t)) for t in texts])
    elapsed = time.perf_counter() - t0
    errors = [r for r in replies if isinstance(r, Exception)]
    wrong = [i for i, (t, r) in enumerate(zip(texts, replies, strict=True))
             if not isinstance(r, Exception) and r.text != t]
    console.print(StatusView(runtime.status()))
    details = {"count": count, "errors": [str(e) for e in errors[:5]],
               "mismatched": len(wrong), "elapsed_s": round(elapsed, 3)}
    if errors or wrong:
        parts = []
        if errors:
            parts.append(f"{len(errors)}/{count} asks failed (first: {errors[0]})")
        if wrong:
            parts.append(f"{len(wrong)}/{count} replies carried the wrong text")
        return ScenarioResult(ok=False, summary="; ".join(parts), details=details)
    return ScenarioResult(
        ok=True, summary=f"{count}/{count} echoes matched (one ask_many call, "
                         f"{elapsed * 1000:.0f} ms)",
        details=details)
