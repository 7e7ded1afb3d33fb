"""What the workflow tests share: real peers on loopback and a flow deployed on Ray."""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from scenarios.workflow import (
    CrmServer,
    EventLog,
    Flow,
    HistoryStore,
    SmtpSink,
    deploy_flow,
    encode,
    parse_flow,
    post,
    webhook_address,
)

ROOT = Path(__file__).resolve().parent.parent
BUNDLED = ROOT / "scenarios" / "workflow" / "data" / "workflow.flow.yaml"
SECRET = "whsec_test_" + "a" * 32


def flow_data(tmp: Path, *, smtp_port: int, crm_url: str, **crm: Any) -> dict[str, Any]:
    """The bundled flow, pointed at the test's peers and files (a free webhook port)."""
    data: dict[str, Any] = yaml.safe_load(BUNDLED.read_text(encoding="utf-8"))
    secret = tmp / "webhook.secret"
    secret.write_text(SECRET + "\n", encoding="utf-8")
    data["trigger"]["webhook"].update(port=0, secrets=[{"file": str(secret)}])
    data["connections"] = {
        "smtp": {"host": "127.0.0.1", "port": smtp_port, "security": "none",
                 "from": "shop <shop@example.com>"},
        "crm": {"base_url": crm_url, "max_attempts": 4, "backoff_s": 0.05,
                "max_backoff_s": 0.2, **crm},
        "event_log": {"url": f"sqlite:///{tmp / 'events.sqlite3'}"},
        "history": {"url": f"sqlite:///{tmp / 'history.sqlite3'}"},
    }
    return data


def order(event_id: str, *, amount: float = 420.0, tier: str = "gold",
          kind: str = "order.created", customer: str = "cus_ann") -> dict[str, Any]:
    """A sample event: true for the bundled condition unless told otherwise."""
    return {"id": event_id, "type": kind, "data": {
        "order_id": f"ord-{event_id}", "amount": amount, "currency": "EUR",
        "customer": {"id": customer, "name": "Ann Lee", "email": "ann@example.com",
                     "tier": tier}}}


@dataclass
class Peers:
    smtp: SmtpSink
    crm: CrmServer


@pytest.fixture(name="peers")
def peers_fixture() -> Iterator[Peers]:
    """A fresh SMTP sink and CRM (import ``peers_fixture`` to use ``peers`` in a test)."""
    with SmtpSink() as smtp, CrmServer() as crm:
        yield Peers(smtp=smtp, crm=crm)


@dataclass
class Deployed:
    """A flow running on a fresh system, with its peers and its databases."""

    runtime: Any
    flow: Flow
    url: str
    peers: Peers
    history: HistoryStore
    tmp: Path

    def post(self, event: dict[str, Any] | bytes, *, secrets: list[str] | None = None,
             timestamp: int | None = None) -> Any:
        body = event if isinstance(event, bytes) else encode(event)
        return post(self.url, body, secrets or [SECRET], timestamp=timestamp)

    def event(self, event_id: str) -> Any:
        return self.history.event(self.flow.name, event_id)

    def settled(self, event_id: str, status: str = "done") -> Any:
        record = self.event(event_id)
        return record if record is not None and record.status == status else None

    def log_rows(self) -> list[dict[str, Any]]:
        log = EventLog(self.flow.connections.event_log.resolved_url())
        try:
            return log.rows()
        finally:
            log.close()


def deploy(make_runtime: Any, peers: Peers, tmp: Path, *, extra: dict[str, Any] | None = None,
           data: dict[str, Any] | None = None, **runtime: Any) -> Deployed:
    base = data if data is not None else flow_data(tmp, smtp_port=peers.smtp.port,
                                                   crm_url=peers.crm.url)
    # A flow name per test: agent names, keys and history rows never meet another test's.
    base = copy.deepcopy(base)
    base["flow"] = f"wf-{uuid.uuid4().hex[:8]}"
    flow = parse_flow(base)
    rt = make_runtime(**runtime)
    deploy_flow(rt, flow, extra=extra)
    url = webhook_address(rt, flow)["url"]
    history = HistoryStore(flow.connections.history.resolved_url(), writer=False)
    return Deployed(runtime=rt, flow=flow, url=url, peers=peers, history=history, tmp=tmp)


def emails_for(smtp: SmtpSink, event_id: str) -> list[Any]:
    return [m for m in smtp.received() if m.headers.get("X-Raygent-Event") == event_id]


def dump(value: Any) -> str:
    return json.dumps(value, indent=1, default=str)


__all__ = ["BUNDLED", "SECRET", "Deployed", "Peers", "deploy", "dump", "emails_for",
           "flow_data", "order", "peers_fixture"]
