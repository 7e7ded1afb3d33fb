"""The action clients against real peers on loopback, without Ray: SMTP (aiosmtpd, plain,
STARTTLS with AUTH, implicit TLS), the HTTP CRM (retries, Retry-After, Idempotency-Key),
the SQL event log and the history."""

from __future__ import annotations

import asyncio
import datetime
import ssl
from pathlib import Path
from typing import Any

import httpx
import pytest

from scenarios.workflow import CrmClient, CrmConfig, CRMError, EmailError, EventLog, SmtpConfig
from scenarios.workflow._crm import retry_after
from scenarios.workflow._crm_server import CrmServer
from scenarios.workflow._email import build_message, message_id
from scenarios.workflow._history import HistoryStore
from scenarios.workflow._secrets import SecretRef
from scenarios.workflow._smtp import Mailer
from scenarios.workflow._smtp_sink import SmtpSink


def _cert(tmp: Path) -> tuple[str, str]:
    """A self-signed certificate for 127.0.0.1 (cert file, key file)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    import ipaddress

    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=1))
            .not_valid_after(now + datetime.timedelta(hours=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = tmp / "cert.pem", tmp / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return str(cert_file), str(key_file)


def _server_context(cert: str, key: str) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    return ctx


def _message(to: str = "sales@example.com", mid: str = "<m1@example.com>") -> Any:
    return build_message({"to": to, "subject": "Hello", "body": "Body text\n.\nafter dot"},
                         sender="shop <shop@example.com>", msg_id=mid, event_id="e1")


def test_plain_smtp_delivers_the_exact_message_and_reuses_the_connection() -> None:
    with SmtpSink() as sink:
        mailer = Mailer(SmtpConfig(port=sink.port, sender="shop <shop@example.com>"))
        calls: list[int] = []
        assert mailer.send(_message(), before_data=lambda: calls.append(1) or True)
        assert mailer.send(_message(mid="<m2@example.com>"), before_data=lambda: True)
        mailer.close()
        got = sink.received()
    assert calls == [1] and mailer.opened == 1
    assert [m.message_id for m in got] == ["<m1@example.com>", "<m2@example.com>"]
    assert got[0].mail_from == "shop@example.com" and got[0].rcpt_tos == ("sales@example.com",)
    assert got[0].body == "Body text\n.\nafter dot\n"  # dot-stuffing undone by the server
    assert got[0].headers["X-Raygent-Event"] == "e1"


def test_starttls_with_auth_uses_the_password_secret(tmp_path: Path) -> None:
    cert, key = _cert(tmp_path)
    (tmp_path / "smtp.pw").write_text("pa55\n")
    with SmtpSink(tls_context=_server_context(cert, key), require_starttls=True,
                  users={"robot": "pa55"}) as sink:
        config = SmtpConfig(port=sink.port, security="starttls", username="robot",
                            password=SecretRef(file=str(tmp_path / "smtp.pw")), ca_file=cert)
        mailer = Mailer(config, config.password.resolve() if config.password else None)
        assert mailer.send(_message(), before_data=lambda: True)
        bad = Mailer(config, "wrong")
        with pytest.raises(EmailError, match="login as 'robot' refused") as info:
            bad.send(_message(), before_data=lambda: True)
        assert info.value.retryable is False and "pa55" not in str(info.value)
        plain = Mailer(SmtpConfig(port=sink.port))
        with pytest.raises(EmailError):
            plain.send(_message(), before_data=lambda: True)  # the server insists on TLS
        unverified = Mailer(SmtpConfig(port=sink.port, security="starttls", username="robot",
                                       password=config.password), "pa55")
        with pytest.raises(EmailError, match="TLS failed"):
            unverified.send(_message(), before_data=lambda: True)  # unknown CA
        got = sink.received()
    assert len(got) == 1 and got[0].login == "robot" and got[0].tls


def test_implicit_tls(tmp_path: Path) -> None:
    cert, key = _cert(tmp_path)
    with SmtpSink(ssl_context=_server_context(cert, key)) as sink:
        mailer = Mailer(SmtpConfig(port=sink.port, security="ssl", ca_file=cert))
        assert mailer.send(_message(), before_data=lambda: True)
        assert len(sink.received()) == 1


def test_refusals_are_temporary_or_permanent_and_nothing_is_half_sent() -> None:
    with SmtpSink() as sink:
        mailer = Mailer(SmtpConfig(port=sink.port))
        sink.refuse = 1
        with pytest.raises(EmailError) as info:
            mailer.send(_message(), before_data=lambda: True)
        assert info.value.retryable is True and "451" in str(info.value)
        assert mailer.send(_message(), before_data=lambda: False) is False  # abandoned
        assert sink.received() == []
    down = Mailer(SmtpConfig(port=sink.port, timeout_s=2))
    with pytest.raises(EmailError, match="cannot connect") as info:
        down.send(_message(), before_data=lambda: True)
    assert info.value.retryable is True


def test_headers_cannot_be_injected_through_event_fields() -> None:
    from scenarios.workflow import TemplateError

    with pytest.raises(TemplateError):
        build_message({"to": "a@example.com", "subject": "x\r\nBcc: victim@example.com",
                       "body": "b"}, sender="s@example.com", msg_id="<m@x>", event_id="e")
    with pytest.raises(TemplateError, match="not a list of e-mail addresses"):
        build_message({"to": "nobody", "subject": "s", "body": "b"}, sender="s@example.com",
                      msg_id="<m@x>", event_id="e")
    assert message_id("f", "e", "s", "x.org") == message_id("f", "e", "s", "x.org")
    assert message_id("f", "e", "s", "x.org") != message_id("f", "e2", "s", "x.org")


# -- the CRM ---------------------------------------------------------------------------

def _crm_call(config: CrmConfig, key: str = "k1", body: Any = None) -> dict[str, Any]:
    async def go() -> dict[str, Any]:
        client = CrmClient(config)
        try:
            return await client.call("PATCH", "/contacts/c1", body or {"x": 1}, key=key)
        finally:
            await client.aclose()

    return asyncio.run(go())


def test_crm_failing_twice_then_succeeding_applies_one_update() -> None:
    with CrmServer() as crm:
        crm.fail(2, status=503)
        out = _crm_call(CrmConfig(base_url=crm.url, backoff_s=0.01, max_attempts=4))
        assert out["attempts"] == 3 and out["status"] == 201
        assert crm.stats()["applied"] == 1 and crm.stats()["requests"] == 3
        again = _crm_call(CrmConfig(base_url=crm.url))  # the same key: replayed, not applied
        assert again["replayed"] and crm.stats()["applied"] == 1
        assert crm.contact("c1") == {"id": "c1", "x": 1}
        with httpx.Client() as client:  # same key, other body: refused (Stripe's rule)
            r = client.patch(f"{crm.url}/contacts/c1", json={"x": 2},
                             headers={"Idempotency-Key": "k1"})
        assert r.status_code == 422


def test_crm_retry_after_is_honoured_and_a_long_one_ends_the_tries() -> None:
    import time

    with CrmServer() as crm:
        crm.fail(1, status=429, retry_after=0.5)
        t0 = time.monotonic()
        out = _crm_call(CrmConfig(base_url=crm.url, backoff_s=0.0, max_attempts=3))
        assert out["attempts"] == 2 and time.monotonic() - t0 >= 0.5
        crm.fail(1, status=503, retry_after=120)
        with pytest.raises(CRMError, match="retry after 120s") as info:
            _crm_call(CrmConfig(base_url=crm.url, max_retry_after_s=30), key="k2")
        assert info.value.retryable is False and info.value.status == 503
    assert retry_after("7") == 7.0 and retry_after(None) is None
    assert retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412470.0) == 10.0


def test_crm_down_or_refusing_raises_a_final_error() -> None:
    with CrmServer() as crm:
        crm.fail(10, status=500)
        with pytest.raises(CRMError, match="after 3 attempt") as info:
            _crm_call(CrmConfig(base_url=crm.url, backoff_s=0.01, max_attempts=3))
        assert info.value.status == 500 and crm.stats()["requests"] == 3
        crm.fail(0)
        with pytest.raises(CRMError, match="refused the update") as info:
            asyncio.run(_bad_body(crm.url))
        assert info.value.attempts == 1 and info.value.status == 400
        url = crm.url
    with pytest.raises(CRMError, match="unreachable"):
        _crm_call(CrmConfig(base_url=url, backoff_s=0.01, max_attempts=2))


async def _bad_body(url: str) -> None:
    client = CrmClient(CrmConfig(base_url=url))
    try:
        await client.call("POST", "/contacts/c2", ["not", "an", "object"], key="k3")
    finally:
        await client.aclose()


# -- SQL -------------------------------------------------------------------------------

def test_event_log_inserts_once_per_event_and_step(tmp_path: Path) -> None:
    log = EventLog(f"sqlite:///{tmp_path / 'deep' / 'events.db'}")
    args = {"flow": "f", "event_id": "e1", "step": "log", "event": {"type": "t", "id": "e1"},
            "received_at": 1.0, "fields": {"amount": 5}}
    assert log.insert("workflow_events", **args) is True
    assert log.insert("workflow_events", **args) is False
    assert log.insert("workflow_events", **{**args, "step": "log2"}) is True
    assert log.insert("other_table", **args) is True
    rows = log.rows()
    assert len(rows) == 2 and rows[0]["event_type"] == "t" and '"amount": 5' in rows[0]["fields"]
    log.close()


def test_history_tracks_steps_attempts_and_the_event_state(tmp_path: Path) -> None:
    h = HistoryStore(f"sqlite:///{tmp_path / 'h.db'}")
    assert h.claim("f", "e1", {"id": "e1"}, trace_id="ab") is None
    assert h.claim("f", "e1", {"id": "e1"}, trace_id="ab").status == "accepting"
    h.mark_received("f", "e1")
    assert h.record_step("f", "e1", "c", "if", ok=True, started_at=1.0, result=True,
                         then=[("crm", "crm")])
    assert h.event("f", "e1").status == "running"
    assert h.record_step("f", "e1", "crm", "crm", ok=False, started_at=2.0, error="down")
    assert h.event("f", "e1").status == "failed"
    assert h.record_step("f", "e1", "crm", "crm", ok=True, started_at=3.0, detail="ok")
    assert not h.record_step("f", "e1", "crm", "crm", ok=True, started_at=4.0)  # redelivery
    record = h.event("f", "e1")
    assert record.status == "done" and record.step("crm").attempts == 2
    assert record.payload == {"id": "e1"} and record.trace_id == "ab"
    assert h.outbox_begin("m", "f", "e1", "s") is None
    h.outbox_refused("m")
    assert h.outbox_begin("m", "f", "e1", "s") is None  # refused for certain: a fresh try
    assert h.outbox_begin("m", "f", "e1", "s") == "sending"  # a try left a doubt
    h.outbox_sent("m")
    assert h.outbox_begin("m", "f", "e1", "s") == "sent"
    assert [r.event_id for r in h.find("e1")] == ["e1"] and h.counts("f") == {"done": 1}
