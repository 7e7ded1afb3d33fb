"""``raygent webhook send``, ``raygent workflow events|show|replay`` and the bundled
``raygent run workflow``, as a user runs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import ray
import yaml
from typer.testing import CliRunner

from scenarios.cli import app
from tests.conftest import wait_for
from tests.workflow_support import (
    Peers,
    deploy,
    flow_data,
    order,
    peers_fixture,  # noqa: F401  (the `peers` fixture)
)

RAYGENT = Path(sys.executable).with_name("raygent")
runner = CliRunner()


def _cli(*args: str, env: dict[str, str] | None = None) -> Any:
    result = runner.invoke(app, list(args), env=env)
    return result


def test_send_events_show_and_replay_from_the_command_line(make_runtime: Any, peers: Peers,
                                                          tmp_path: Path) -> None:
    data = flow_data(tmp_path, smtp_port=peers.smtp.port, crm_url=peers.crm.url)
    d = deploy(make_runtime, peers, tmp_path, data=data)
    flow_file = tmp_path / "my.flow.yaml"
    flow_file.write_text(yaml.safe_dump(d.flow.data), encoding="utf-8")
    event_file = tmp_path / "event.json"
    event_file.write_text(json.dumps(order("cli-1")), encoding="utf-8")

    sent = _cli("webhook", "send", str(flow_file), str(event_file), "--url", d.url)
    assert sent.exit_code == 0 and sent.stdout.startswith("202 "), sent.output
    again = _cli("webhook", "send", str(flow_file), str(event_file), "--url", d.url)
    assert again.exit_code == 0 and '"duplicate"' in again.stdout
    forged = _cli("webhook", "send", str(flow_file), str(event_file), "--url", d.url,
                  "--secret-env", "WF_CLI_SECRET", env={"WF_CLI_SECRET": "not-it"})
    assert forged.exit_code == 1 and forged.stdout.startswith("401 ")
    # Without --url the webhook's address file is found (it wrote it on start).
    fresh = _cli("webhook", "send", str(flow_file), str(event_file), "--id", "cli-2")
    assert fresh.exit_code == 0 and "cli-2" in fresh.stdout
    for eid in ("cli-1", "cli-2"):
        wait_for(lambda eid=eid: d.settled(eid))

    listed = _cli("workflow", "events", "--flow", str(flow_file))
    assert listed.exit_code == 0 and "cli-1" in listed.stdout and "cli-2" in listed.stdout
    shown = _cli("workflow", "show", "cli-1", "--flow", str(flow_file), "--json")
    assert shown.exit_code == 0
    record = json.loads(shown.stdout)
    assert record["status"] == "done" and [s["step"] for s in record["steps"]] == [
        "big_order", "notify_sales", "update_crm"]
    table = _cli("workflow", "show", "cli-1", "--flow", str(flow_file))
    assert table.exit_code == 0 and "notify_sales" in table.stdout
    missing = _cli("workflow", "show", "nope", "--flow", str(flow_file))
    assert missing.exit_code == 1 and "no event 'nope'" in missing.output

    # A step that failed past its retries is replayed from the dead-letter queue.
    peers.crm.stop()
    event_file.write_text(json.dumps(order("cli-3")), encoding="utf-8")
    assert _cli("webhook", "send", str(flow_file), str(event_file), "--url", d.url
                ).exit_code == 0
    wait_for(lambda: d.settled("cli-3", "failed"), message="cli-3 failed")
    wait_for(lambda: d.runtime.dead_letters(payloads=False))
    peers.crm.start()
    address = ray.get_runtime_context().gcs_address
    replayed = _cli("workflow", "replay", "cli-3", "--flow", str(flow_file), "--address",
                    address, "--namespace", d.runtime.config.namespace)
    assert replayed.exit_code == 0, replayed.output
    assert "replayed from the dead-letter queue: update_crm" in replayed.stdout
    assert "left alone (done): big_order, notify_sales" in replayed.stdout
    assert "is now done" in replayed.stdout
    nothing = _cli("workflow", "replay", "cli-1", "--flow", str(flow_file))
    assert nothing.exit_code == 0 and "nothing to replay" in nothing.stdout
    applied = peers.crm.stats()["applied_by_key"]
    assert applied[d.flow.key("cli-3", "update_crm")] == 1
    assert len(peers.smtp.by_message_id()) == 3  # cli-1, cli-2, cli-3: once each


def test_send_refuses_what_it_cannot_sign(tmp_path: Path) -> None:
    event = tmp_path / "e.json"
    event.write_text("[1, 2]", encoding="utf-8")
    assert _cli("webhook", "send", "unknown-flow", str(event)).exit_code == 2
    assert _cli("webhook", "send", "workflow", str(event)).exit_code == 2  # not an object
    event.write_text("{", encoding="utf-8")
    assert _cli("webhook", "send", "workflow", str(event)).exit_code == 2


def test_raygent_run_workflow_passes(tmp_path: Path) -> None:
    """The bundled run, as a user types it: its own Ray, the local peers on their fixed
    ports (8780, 8025, 8781), eight sample events, one duplicate, one forgery."""
    env = dict(os.environ, RAYGENT_HOME=str(tmp_path / "home"), RAY_ADDRESS="")
    env.pop("RAY_ADDRESS")
    done = subprocess.run([str(RAYGENT), "run", "workflow"], env=env, capture_output=True,
                          text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "PASS workflow: 8 events: 3 emails, 5 event-log rows, 8 CRM updates" in done.stdout
    assert "duplicate -> 200, forged -> 401" in done.stdout
    history = f"sqlite:///{tmp_path / 'home' / 'workflow' / 'history.sqlite3'}"
    listed = _cli("workflow", "events", "--db", history, "--json")
    assert listed.exit_code == 0 and len(json.loads(listed.stdout)) == 8
