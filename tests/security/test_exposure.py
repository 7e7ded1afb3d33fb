"""What a private system exposes: nothing on a non-loopback address, a dashboard that
wants the token, and a runtime that attached to a shared system leaves it running."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
import psutil

from actors import Runtime
from actors.testing import isolated_ray_env
from tests.agents import EchoAgent
from tests.conftest import ROOT

LOOPBACK = ("127.0.0.1", "::1", "::ffff:127.0.0.1")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _system_processes(session: str, root_pid: int) -> set[int]:
    found = {root_pid}
    for proc in psutil.process_iter(["pid", "cmdline"]):
        try:
            if session in " ".join(proc.info["cmdline"] or []):
                found.add(proc.info["pid"])
                found.update(c.pid for c in proc.children(recursive=True))
        except psutil.Error:
            continue
    with contextlib.suppress(psutil.Error):
        found.update(c.pid for c in psutil.Process(root_pid).children(recursive=True))
    return found


def test_a_private_system_listens_on_loopback_only_and_its_dashboard_wants_the_token():
    port = _free_port()
    with isolated_ray_env("rgx") as env_vars:
        env = {**os.environ, **env_vars, "PYTHONPATH": ROOT}
        env.pop("RAY_ADDRESS", None)
        proc = subprocess.Popen(
            [sys.executable, "-m", "tests.security.private_system", f"x-{uuid.uuid4().hex[:6]}",
             str(port)], cwd=ROOT, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL, text=True)
        try:
            line = proc.stdout.readline() if proc.stdout else ""
            assert line, "the private system did not start"
            facts = json.loads(line)
            pids = _system_processes(facts["session"], proc.pid)
            listening = [(c.laddr.ip, c.laddr.port, c.pid) for c in
                         psutil.net_connections(kind="inet")
                         if c.status == psutil.CONN_LISTEN and c.pid in pids]
            assert len(listening) >= 5  # gcs, raylet, workers, dashboard: it did look
            exposed = [x for x in listening if x[0] not in LOOPBACK]
            print(f"\nexposure: listening={len(listening)} non_loopback={len(exposed)}")
            assert not exposed, exposed
            url = facts["dashboard"]
            assert url and "127.0.0.1" in url
            answer = httpx.get(f"{url}/api/v0/actors", timeout=10)
            assert answer.status_code == 401
            token = Path(env_vars["RAY_AUTH_TOKEN_PATH"]).read_text().strip()
            authorised = httpx.get(f"{url}/api/v0/actors", timeout=30,
                                   headers={"Authorization": f"Bearer {token}"})
            assert authorised.status_code == 200
        finally:
            if proc.stdin:
                proc.stdin.write("\n")
                proc.stdin.flush()
            proc.wait(timeout=120)


def test_a_runtime_that_attached_leaves_the_system_running(make_runtime):
    owner = make_runtime()
    owner.spawn(EchoAgent, name="echo")
    assert owner.owns_system
    with Runtime(namespace=owner.config.namespace) as guest:
        assert not guest.owns_system
        assert [a.name for a in guest.status().agents] == ["echo"]
    guest.stop()  # also only a detach
    assert owner.status().agent("echo").state == "running"
    from actors.messages import Echo

    assert owner.ask("echo", Echo(text="still")).text == "still"
