"""Fifty canary secrets — in the environment, a secrets file, agent config, OTLP headers,
handler errors and payloads — and not one of them in what the system writes or shows: span
exports, logs, snapshots, the journal, the dead-letter queue, status and CLI output.
"""

from __future__ import annotations

import json
import os
import pickle
import secrets
from pathlib import Path

import pytest
import ray

from actors import HandlerError, Secret
from actors._config import TracingConfig
from actors._secrets import load_secrets, redact
from scenarios.cli.render import dead_letter_json, status_json
from tests.conftest import wait_for
from tests.security.agents import Carry, SecretKeeper


def _canaries(n: int, tag: str) -> list[str]:
    return [f"canary{tag}{i}x{secrets.token_hex(8)}" for i in range(n)]


def _files_under(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


def _found(canaries: list[str], blobs: dict[str, bytes]) -> list[tuple[str, str]]:
    return [(c, where) for where, blob in blobs.items() for c in canaries
            if c.encode() in blob]


def test_fifty_canary_secrets_never_leak(make_runtime, runs_dir, tmp_path, monkeypatch):
    env_secrets = _canaries(10, "env")
    file_secrets = _canaries(10, "file")
    config_secrets = _canaries(10, "config")
    header_secrets = _canaries(5, "header")
    error_secrets = _canaries(10, "error")
    payload_secrets = _canaries(5, "payload")
    every = (env_secrets + file_secrets + config_secrets + header_secrets + error_secrets
             + payload_secrets)
    assert len(set(every)) == 50

    for i, value in enumerate(env_secrets):
        monkeypatch.setenv(f"RAYGENT_SECRET_CANARY{i}", value)
    secrets_file = tmp_path / "secrets.env"
    secrets_file.write_text("".join(f"FILE{i}={v}\n" for i, v in enumerate(file_secrets)))
    secrets_file.chmod(0o600)
    monkeypatch.setenv("RAYGENT_SECRETS_FILE", str(secrets_file))
    loaded = load_secrets()
    assert {s.reveal() for s in loaded.values()} >= set(env_secrets + file_secrets)

    tracing = TracingConfig(runs_dir=runs_dir, record_payloads=False,
                            otlp_headers={f"x-key-{i}": v for i, v in enumerate(header_secrets)})
    rt = make_runtime(tracing=tracing)
    keys = [Secret(v, f"config{i}") for i, v in enumerate(config_secrets)]
    keys += [loaded[f"CANARY{i}"] for i in range(10)] + [loaded[f"FILE{i}"] for i in range(10)]
    rt.spawn(SecretKeeper, name="keeper", config={"keys": keys})

    # Payloads carrying secrets, and handler errors quoting them.
    for i, value in enumerate(error_secrets):
        extra = Secret(payload_secrets[i % len(payload_secrets)], f"extra{i}")
        with pytest.raises(HandlerError) as err:
            rt.ask("keeper", Carry(token=Secret(value, f"payload{i}"), extra=extra))
        assert value not in str(err.value) and "***" in str(err.value)
    wait_for(lambda: rt.status().dead_letters >= len(error_secrets), timeout_s=60)
    assert "keeping" in ray.get(ray.get_actor("keeper", namespace=rt.config.namespace)
                                .invoke.remote("describe"))
    rt.flush_traces()

    ns = rt.config.namespace
    supervisor = ray.get_actor(rt.config.supervisor_name, namespace=ns)
    remote_config = ray.get(supervisor.config.remote())
    status = rt.status()
    letters = rt.dead_letters(payloads=False)
    journal = Path(status.journal.path)
    logs = Path(ray._private.worker._global_node.get_logs_dir_path())
    traces = Path(rt.trace_dir or runs_dir)
    blobs: dict[str, bytes] = {
        "config()": pickle.dumps(remote_config) + repr(remote_config).encode(),
        "status": repr(status).encode(),
        "status --json": json.dumps(status_json(status), default=str).encode(),
        "dlq list --json": redact(json.dumps([dead_letter_json(d) for d in letters],
                                             default=str)).encode(),
        "dlq repr": repr(letters).encode(),
    }
    for path in [journal, *journal.parent.glob(journal.name + "*")]:
        blobs[f"journal {path.name}"] = path.read_bytes()
    for path in _files_under(traces):
        blobs[f"trace {path.name}"] = path.read_bytes()
    for path in _files_under(logs):
        blobs[f"log {path.name}"] = path.read_bytes()
    assert any(name.startswith("trace") for name in blobs)
    assert any(name.startswith("log worker") for name in blobs)
    leaks = _found(every, blobs)
    print(f"\nsecrets: canaries={len(every)} places={len(blobs)} found={len(leaks)}")
    assert not leaks, leaks[:5]
    # The redaction is not blanket: the ordinary text around the secrets is still there.
    assert any("refusing token ***" in (d.error or "") for d in letters)


def test_a_secrets_file_others_can_read_is_refused(tmp_path, monkeypatch):
    path = tmp_path / "secrets.env"
    path.write_text("KEY=abcdefgh\n")
    path.chmod(0o644)
    monkeypatch.setenv("RAYGENT_SECRETS_FILE", str(path))
    from actors import ConfigError, secret

    with pytest.raises(ConfigError, match="chmod 600"):
        secret("KEY")
    path.chmod(0o600)
    assert secret("KEY").reveal() == "abcdefgh"
    assert "abcdefgh" not in repr(secret("KEY")) and "abcdefgh" not in str(secret("KEY"))
    with pytest.raises(ConfigError, match="RAYGENT_SECRET_MISSING"):
        secret("MISSING")
    assert os.environ.get("RAYGENT_SECRET_MISSING") is None
