"""``raygent up`` → ``run`` → ``status`` → ``down``, through the real console script.

Runs in a fresh RAYGENT_HOME and HOME (so the auth token ``up`` creates under
``~/.ray`` is this test's own) and starts its own Ray head, so it is marked ``cluster``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from scenarios import _system as sysm
from scenarios._system import pid_alive, port_open
from tests.conftest import ROOT, wait_for

pytestmark = pytest.mark.cluster

RAYGENT = os.path.join(ROOT, ".venv", "bin", "raygent")


class Home:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.data = root / "raygent"
        self.env = {k: v for k, v in os.environ.items()
                    if not k.startswith(("RAY_", "RAYGENT_"))}
        self.env.update(HOME=str(root / "home"), RAYGENT_HOME=str(self.data),
                        HF_HUB_OFFLINE="1", PYTHONPATH=ROOT)

    def raygent(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return subprocess.run([RAYGENT, *args], capture_output=True, text=True,
                              timeout=timeout, env=self.env, cwd=ROOT)

    def info(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads((self.data / "system.json").read_text())
        return data


@pytest.fixture
def home(tmp_path: Path) -> Iterator[Home]:
    h = Home(tmp_path)
    yield h
    temp_dir = h.info().get("temp_dir") if (h.data / "system.json").exists() else None
    # Whatever a failed assertion left running is stopped (only this test's head).
    if temp_dir is not None:
        h.raygent("down", timeout=120)
    shutil.rmtree(temp_dir or sysm.head_temp_dir(h.data), ignore_errors=True)


def test_up_run_status_down_in_a_fresh_home(home: Home) -> None:
    up = home.raygent("up", "--no-memory")
    assert up.returncode == 0, up.stderr[-3000:]
    assert "raygent is up" in up.stdout
    info = home.info()
    assert info["owns_ray"] and pid_alive(info["pid"]) and port_open(info["address"])
    url = info["dashboard_url"]
    assert url.startswith("http://127.0.0.1:") and url in up.stdout
    token_file = home.root / "home" / ".ray" / "auth_token"
    assert info["token"] == str(token_file) and f"cat {token_file}" in up.stdout
    assert str(home.data) in up.stdout

    again = home.raygent("up", "--no-memory", timeout=60)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "already up" in again.stdout and info["address"] in again.stdout
    assert home.info()["pid"] == info["pid"]  # nothing new was started

    # No --address: the run goes to the system that is up, and --keep is allowed.
    run = home.raygent("run", "echo", "--keep")
    assert run.returncode == 0, run.stderr[-3000:]
    assert info["address"] in run.stdout and "PASS echo" in run.stdout

    status = home.raygent("status", "--json", timeout=120)
    assert status.returncode == 0, status.stderr[-3000:]
    view = json.loads(status.stdout)
    assert view["dashboard_url"] == url
    assert {a["name"]: a["state"] for a in view["agents"]} == {"echo": "running"}
    table = home.raygent("status", timeout=120)
    assert "echo" in table.stdout and url in table.stdout.replace("\n", "")

    token = token_file.read_text().strip()
    assert httpx.get(url + "/api/v0/actors", timeout=30).status_code == 401
    reply = httpx.get(url + "/api/v0/actors", params={"limit": 100, "detail": "false"},
                      headers={"Authorization": f"Bearer {token}"}, timeout=30)
    assert reply.status_code == 200
    names = {a["name"] for a in reply.json()["data"]["result"]["result"]}
    assert {"supervisor", "echo"} <= names

    down = home.raygent("down", timeout=180)
    assert down.returncode == 0, down.stderr[-3000:]
    assert "stopped" in down.stdout and str(home.data) in down.stdout
    assert not (home.data / "system.json").exists()
    wait_for(lambda: not pid_alive(info["pid"]), timeout_s=60, message="ray start exits")
    wait_for(lambda: not port_open(info["address"]), timeout_s=60, message="GCS port closes")
    # Data kept: the journal and this system's run traces.
    assert (home.data / "journal" / "raygent.sqlite3").is_file()
    assert (home.data / "runs" / info["run_id"] / "traces").is_dir()

    again_down = home.raygent("down", timeout=60)
    assert again_down.returncode == 0 and "nothing is up" in again_down.stdout


def test_a_stale_system_file_is_replaced_and_memory_starts(home: Home) -> None:
    home.data.mkdir(parents=True)
    (home.data / "system.json").write_text(json.dumps(
        {"address": "127.0.0.1:1", "namespace": "raygent", "owns_ray": True, "pid": 0}))
    up = home.raygent("up")
    assert up.returncode == 0, up.stderr[-3000:]
    assert "gone" in up.stderr and "raygent is up" in up.stdout
    assert home.info()["address"] != "127.0.0.1:1"
    status = home.raygent("status", "--json", timeout=120)
    assert status.returncode == 0, status.stderr[-3000:]
    agents = {a["name"]: a for a in json.loads(status.stdout)["agents"]}
    assert agents["memory"]["state"] == "running"
    assert agents["memory"]["cls"].endswith("MemoryAgent")
    down = home.raygent("down", timeout=180)
    assert down.returncode == 0, down.stderr[-3000:]
