"""The flow on Ray with real peers: aiosmtpd, a SQLite file, the HTTP CRM, over loopback.

Each test deploys the bundled flow (pointed at its own peers and files) on a fresh
system, posts signed events to the webhook over HTTP, and checks the side effects.
"""

from __future__ import annotations

import concurrent.futures
import json
import time
from pathlib import Path
from typing import Any

import httpx

from scenarios.workflow import encode, sign
from scenarios.workflow._email import message_id
from scenarios.workflow._replay import replay_event
from tests.conftest import wait_for
from tests.workflow_support import (
    SECRET,
    Deployed,
    Peers,
    deploy,
    emails_for,
    order,
    peers_fixture,  # noqa: F401  (the `peers` fixture)
)


def _crm_applied(d: Deployed, event_id: str) -> int:
    applied: dict[str, int] = d.peers.crm.stats()["applied_by_key"]
    return applied.get(d.flow.key(event_id, "update_crm"), 0)


def test_true_branch_sends_one_email_with_the_right_content(make_runtime: Any, peers: Peers,
                                                            tmp_path: Path) -> None:
    d = deploy(make_runtime, peers, tmp_path)
    r = d.post(order("t-1", amount=420.0, tier="gold"))
    assert r.status_code == 202 and r.json()["status"] == "accepted"
    record = wait_for(lambda: d.settled("t-1"), message="event t-1 done")
    mails = emails_for(peers.smtp, "t-1")
    assert len(mails) == 1
    mail = mails[0]
    assert mail.rcpt_tos == ("sales@example.com",) and mail.mail_from == "shop@example.com"
    assert mail.subject == "Big order ord-t-1: 420.0 EUR from Ann Lee"
    assert mail.headers["Reply-To"] == "ann@example.com"
    assert mail.message_id == message_id(d.flow.name, "t-1", "notify_sales", "example.com")
    assert "Ann Lee (gold) ordered 420.0 EUR." in mail.body and "Event: t-1" in mail.body
    assert [(s.step, s.status, s.attempts) for s in record.steps] == [
        ("big_order", "done", 1), ("notify_sales", "done", 1), ("update_crm", "done", 1)]
    assert record.step("big_order").result is True
    # One trace from the webhook's accept through every step (`raygent trace`).
    assert record.trace_id is not None and len(record.trace_id) == 32
    assert {s.trace_id for s in record.steps} == {record.trace_id}
    assert d.log_rows() == []
    assert _crm_applied(d, "t-1") == 1
    contact = peers.crm.contact("cus_ann")
    assert contact is not None and contact["last_order_id"] == "ord-t-1"
    assert contact["last_order_amount"] == 420.0  # a whole-field template keeps its type


def test_false_branch_writes_exactly_one_row(make_runtime: Any, peers: Peers,
                                             tmp_path: Path) -> None:
    d = deploy(make_runtime, peers, tmp_path)
    assert d.post(order("f-1", amount=250, tier="silver")).status_code == 202
    assert d.post(order("f-2", kind="order.refunded")).status_code == 202
    for eid in ("f-1", "f-2"):
        record = wait_for(lambda eid=eid: d.settled(eid), message=f"event {eid} done")
        assert [s.step for s in record.steps] == ["big_order", "log_event", "update_crm"]
        assert record.step("big_order").result is False
        assert _crm_applied(d, eid) == 1
    rows = sorted(d.log_rows(), key=lambda r: r["event_id"])
    assert [(r["event_id"], r["step"]) for r in rows] == [("f-1", "log_event"),
                                                         ("f-2", "log_event")]
    assert json.loads(rows[0]["fields"]) == {"order_id": "ord-f-1", "amount": 250,
                                             "tier": "silver"}
    assert json.loads(rows[1]["payload"])["type"] == "order.refunded"
    assert peers.smtp.received() == []


def test_bad_requests_are_rejected_with_their_status_and_no_effect(
        make_runtime: Any, peers: Peers, tmp_path: Path) -> None:
    d = deploy(make_runtime, peers, tmp_path, max_message_bytes=20_000)
    good = encode(order("r-1"))
    assert d.post(good, secrets=["wrong-secret"]).status_code == 401
    assert d.post(good, timestamp=int(time.time()) - 301).status_code == 401
    assert d.post(good, timestamp=int(time.time()) + 400).status_code == 401
    with httpx.Client() as client:
        assert client.post(d.url, content=good).status_code == 401  # unsigned
        big = encode({**order("r-2"), "pad": "x" * 70_000})
        r = client.post(d.url, content=big,
                        headers={"Raygent-Signature": sign([SECRET], big)})
        assert r.status_code == 413
        # Under the flow's limit but over the runtime's message limit: 413 too, not 503.
        mid = encode({**order("r-6"), "pad": "x" * 30_000})
        r = client.post(d.url, content=mid, headers={"Raygent-Signature": sign([SECRET], mid)})
        assert r.status_code == 413 and "max_message_bytes" in r.text
        other = d.url.rsplit("/", 1)[0] + "/another-flow"
        assert client.post(other, content=good, headers={
            "Raygent-Signature": sign([SECRET], good)}).status_code == 404
    assert d.post(b'{"id": "r-3", "type": ').status_code == 400
    assert d.post(b'["r-4"]').status_code == 400
    assert d.post(b'{"type": "no id"}').status_code == 400
    assert d.post('{"id": "r-5"}'.encode("utf-16")).status_code == 400
    # An accepted event is claimed in the history before its answer is sent: none was
    # (r-6 was claimed, refused by the runtime, and its claim dropped).
    assert d.history.events(flow=d.flow.name) == []
    assert peers.smtp.received() == [] and peers.crm.stats()["requests"] == 0
    assert d.runtime.status().agent(d.flow.agent("condition")).handled == 0
    assert d.post(good).status_code == 202  # and it still serves
    wait_for(lambda: d.settled("r-1"))


def test_the_same_event_posted_four_times_has_one_set_of_effects(
        make_runtime: Any, peers: Peers, tmp_path: Path) -> None:
    d = deploy(make_runtime, peers, tmp_path)
    answers = [d.post(order("d-1")) for _ in range(4)]
    assert [a.status_code for a in answers] == [202, 200, 200, 200]
    assert answers[1].json()["status"] == "duplicate"
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        together = list(pool.map(lambda _: d.post(order("d-2", tier="silver")).status_code,
                                 range(4)))
    assert sorted(together) == [200, 200, 200, 202]
    for eid in ("d-1", "d-2"):
        wait_for(lambda eid=eid: d.settled(eid))
    late = d.post(order("d-1"))
    assert late.status_code == 200 and late.json()["state"] == "done"
    assert late.json()["steps"] == {"big_order": "done", "notify_sales": "done",
                                    "update_crm": "done"}
    assert len(emails_for(peers.smtp, "d-1")) == 1
    assert [r["event_id"] for r in d.log_rows()] == ["d-2"]
    assert _crm_applied(d, "d-1") == 1 and _crm_applied(d, "d-2") == 1
    assert peers.crm.stats()["requests"] == 2


def test_crm_failing_twice_then_succeeding_gives_one_update(
        make_runtime: Any, peers: Peers, tmp_path: Path) -> None:
    d = deploy(make_runtime, peers, tmp_path)
    peers.crm.fail(2, status=503, retry_after=0.05)
    assert d.post(order("c-1")).status_code == 202
    record = wait_for(lambda: d.settled("c-1"))
    crm_step = record.step("update_crm")
    assert crm_step.result["attempts"] == 3 and crm_step.attempts == 1
    assert peers.crm.stats()["requests"] == 3 and _crm_applied(d, "c-1") == 1


def test_smtp_refusing_once_is_retried_and_sends_once(
        make_runtime: Any, peers: Peers, tmp_path: Path) -> None:
    d = deploy(make_runtime, peers, tmp_path)
    peers.smtp.refuse = 1
    assert d.post(order("s-1")).status_code == 202
    record = wait_for(lambda: d.settled("s-1"))
    assert record.step("notify_sales").attempts == 2  # one 451, then sent
    assert peers.smtp.refused == 1 and len(emails_for(peers.smtp, "s-1")) == 1
    assert record.notes == ()  # a refusal is certain: no possible duplicate to report


def test_crm_down_past_the_retries_goes_to_the_dlq_and_replay_completes_it(
        make_runtime: Any, peers: Peers, tmp_path: Path) -> None:
    d = deploy(make_runtime, peers, tmp_path)
    peers.crm.stop()
    assert d.post(order("q-1")).status_code == 202
    failed = wait_for(lambda: d.settled("q-1", "failed"), message="q-1 failed")
    assert failed.step("notify_sales").status == "done"
    assert "CRMError" in (failed.step("update_crm").error or "")
    letters = wait_for(lambda: [x for x in d.runtime.dead_letters(payloads=False)
                                if x.envelope.idempotency_key == d.flow.key("q-1",
                                                                             "update_crm")])
    assert letters[0].envelope.attempt == 1  # not retried by the supervisor: final error
    peers.crm.start()  # back, on the same port
    report = replay_event(d.runtime, failed)
    assert report.replayed == ("update_crm",) and report.done == ("big_order", "notify_sales")
    done = wait_for(lambda: d.settled("q-1"), message="q-1 done after replay")
    assert done.step("update_crm").attempts == 2
    assert _crm_applied(d, "q-1") == 1 and len(emails_for(peers.smtp, "q-1")) == 1
    assert d.runtime.dead_letters() == []
    assert replay_event(d.runtime, done).queued == 0  # nothing failed: nothing re-runs


def test_a_crash_after_smtp_took_the_message_is_reported_as_possible_duplicate(
        make_runtime: Any, peers: Peers, tmp_path: Path) -> None:
    fault = tmp_path / "fault"
    d = deploy(make_runtime, peers, tmp_path, extra={"fault_file": str(fault)})
    fault.write_text("email.after_data")
    assert d.post(order("p-1")).status_code == 202
    record = wait_for(lambda: d.settled("p-1"), timeout_s=60, message="p-1 done")
    assert not fault.exists()  # the crash happened (the file is removed when it fires)
    mails = emails_for(peers.smtp, "p-1")
    assert len(mails) == 2 and mails[0].message_id == mails[1].message_id
    assert [n.kind for n in record.notes] == ["possible_duplicate"]
    assert record.step("notify_sales").result["possible_duplicate"] is True
    assert _crm_applied(d, "p-1") == 1
    assert d.runtime.status().agent(d.flow.agent("email")).restarts == 1
