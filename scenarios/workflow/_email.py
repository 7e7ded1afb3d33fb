"""The email agent: sends a flow's ``email`` steps through SMTP, once per event.

Three records keep a message from going out twice. The runtime's effect record
(``ctx.effect``) answers a redelivered step with the result of the first send. Under it,
the history's outbox holds each Message-ID (derived from flow, event and step, so every
retry carries the same one): ``sending`` is written just before ``DATA`` and ``sent`` just
after the server's 250, so a retry after a crash between the two records finds ``sent``
and does not send. The one window left is a crash after the server took the message and
before ``sent`` was written: a retry then cannot know, sends again with the *same*
Message-ID (mail systems and clients drop such duplicates), and notes a
``possible_duplicate`` event in the history and the log, instead of hiding it.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from email.message import EmailMessage
from email.utils import formatdate, getaddresses
from typing import Any

from actors import MessageContext
from scenarios.workflow._errors import EmailError, TemplateError
from scenarios.workflow._flow import Step
from scenarios.workflow._runner import StepAgent, StepOutcome
from scenarios.workflow._smtp import AmbiguousSend, Mailer
from scenarios.workflow._template import as_text, render
from scenarios.workflow.messages import StepRequest

log = logging.getLogger("raygent.workflow")


def message_id(flow: str, event_id: str, step: str, domain: str) -> str:
    """A Message-ID that is the same for every try of one step of one event."""
    digest = hashlib.sha256(f"{flow}\0{event_id}\0{step}".encode()).hexdigest()[:32]
    return f"<wf.{digest}@{domain}>"


def _addresses(value: Any, source: str) -> list[str]:
    items = value if isinstance(value, list) else [value]
    text = ", ".join(str(i) for i in items if i not in (None, ""))
    found = [a for _, a in getaddresses([text]) if a]
    if not found or any("@" not in a for a in found):
        raise TemplateError(source, f"{text!r} is not a list of e-mail addresses")
    return found


def build_message(params: dict[str, Any], *, sender: str, msg_id: str,
                  event_id: str) -> EmailMessage:
    """The message for rendered step parameters.

    Raises:
        TemplateError: A rendered address is not one, or a header would hold a line break
            (an event must not be able to add headers).
    """
    msg = EmailMessage()
    try:
        msg["From"] = sender
        msg["To"] = ", ".join(_addresses(params["to"], "email.to"))
        if params.get("cc"):
            msg["Cc"] = ", ".join(_addresses(params["cc"], "email.cc"))
        if params.get("reply_to"):
            msg["Reply-To"] = ", ".join(_addresses(params["reply_to"], "email.reply_to"))
        msg["Subject"] = as_text(params["subject"])
        msg["Message-ID"] = msg_id
        msg["Date"] = formatdate(localtime=False, usegmt=True)
        msg["X-Raygent-Event"] = event_id
    except ValueError as exc:  # the email package refuses CR/LF in header values
        raise TemplateError("email headers", str(exc)) from None
    msg.set_content(as_text(params["body"]))
    return msg


class EmailAgent(StepAgent):
    """Runs ``email`` steps (connection settings: the flow's ``connections.smtp``)."""

    role = "email"

    async def setup(self) -> None:
        smtp = self.flow.connections.smtp
        password = smtp.password.resolve() if smtp.password is not None else None
        self.mailer = Mailer(smtp, password)
        self.domain = smtp.message_id_domain or (
            smtp.sender.rpartition("@")[2].strip(" >") or "localhost")

    async def teardown(self) -> None:
        await asyncio.to_thread(self.mailer.close)

    async def run_step(self, step: Step, msg: StepRequest, ctx: MessageContext
                       ) -> StepOutcome:
        params = render(step.params, msg.event)
        msg_id = message_id(msg.flow, msg.event_id, step.id, self.domain)
        email = build_message(params, sender=self.flow.connections.smtp.sender,
                              msg_id=msg_id, event_id=msg.event_id)

        def send() -> dict[str, Any]:
            return self._send(email, msg_id, msg, step)

        result: dict[str, Any] = await self.effect(
            ctx, step, msg, lambda: asyncio.to_thread(send))
        how = "sent" if result.get("sent") else "already sent"
        return StepOutcome(result=result, next=step.next,
                           detail=f"{how} {msg_id} to {', '.join(result['to'])}")

    def _send(self, email: EmailMessage, msg_id: str, msg: StepRequest,
              step: Step) -> dict[str, Any]:
        """The effect (in a worker thread): the outbox around one SMTP transaction.

        Outbox writes go through the agent's history writer (batched with the other
        handlers' writes), from this thread to the agent's loop and back.
        """
        loop = self._loop
        assert loop is not None
        writer = self.writer

        def wait(coro: Any) -> Any:
            return asyncio.run_coroutine_threadsafe(coro, loop).result()
        to = [a for _, a in getaddresses([str(email["To"]), str(email.get("Cc", ""))]) if a]
        began = False
        prior: str | None = None

        def before_data() -> bool:
            nonlocal began, prior
            prior = wait(writer.outbox_begin(msg_id, msg.flow, msg.event_id, step.id))
            began = True
            return prior != "sent"

        try:
            handed = self.mailer.send(email, before_data=before_data)
        except AmbiguousSend:
            raise  # "sending" stays: a retry will report the possible duplicate
        except EmailError:
            # Refused for certain, and no earlier try left a doubt: nothing went out.
            if began and prior is None:
                wait(writer.outbox_refused(msg_id))
            raise
        if not handed:
            return {"message_id": msg_id, "to": to, "sent": False}
        self.crash_point("email.after_data")
        wait(writer.outbox_sent(msg_id))
        if prior == "sending":
            detail = (f"{msg_id} was handed to the SMTP server again: an earlier try "
                      "ended after DATA without a record, so the server may hold two "
                      "copies (same Message-ID)")
            log.warning("possible duplicate email for event %s: %s", msg.event_id, detail)
            wait(writer.add_note(msg.flow, msg.event_id, step.id, "possible_duplicate",
                                 detail))
        return {"message_id": msg_id, "to": to, "sent": True,
                "possible_duplicate": prior == "sending"}


__all__ = ["EmailAgent", "build_message", "message_id"]
