"""The long-running local system behind ``raygent up`` / ``raygent down``.

``up`` starts a Ray head (``ray start --head --block`` in its own session, so it outlives
the command; SIGTERM to that process stops every Ray process it started, and only those:
``ray stop`` would also kill other users' clusters on the machine), with the dashboard on
127.0.0.1 and token authentication on, then the supervisor and the memory agent as detached
actors. What it started is written to ``$RAYGENT_HOME/system.json``; the other commands read
that file to use the system by default, and ``down`` to stop exactly what ``up`` started.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from actors import RaygentError
from actors._home import raygent_home

SYSTEM_FILE = "system.json"
DEFAULT_DASHBOARD_PORT = 8265


class SystemStartError(RaygentError):
    """``raygent up`` could not start (or ``down`` could not stop) the local system."""


@dataclass(frozen=True, kw_only=True)
class SystemInfo:
    """What ``raygent up`` started and where it is (the content of ``system.json``).

    Attributes:
        address: The Ray GCS address clients join (``host:port``).
        namespace: The raygent system's Ray namespace.
        dashboard_url: The Ray dashboard (token required), or None when joined remotely.
        data_dir: raygent's data root (journal, keys, memory, runs).
        trace_dir: Where runs write their jsonl traces.
        owns_ray: True when ``up`` started the Ray head (``down`` stops it).
        pid: Process id of the ``ray start --block`` process (0 when joined).
        temp_dir: Ray's temp root of the head (sessions and logs).
        log: Output of ``ray start``.
        token: Where the auth token is (a path, or ``$RAY_AUTH_TOKEN``); "" when auth is off.
        run_id: The system's run (its trace directory; retention never prunes it).
        started_at: Unix time of ``up``.
    """

    address: str
    namespace: str
    dashboard_url: str | None = None
    data_dir: str = ""
    trace_dir: str = ""
    owns_ray: bool = True
    pid: int = 0
    temp_dir: str = ""
    log: str = ""
    token: str = ""
    run_id: str = ""
    started_at: float = field(default_factory=time.time)

    @classmethod
    def from_json(cls, data: Any) -> SystemInfo:
        if not isinstance(data, dict):
            raise ValueError("system.json must hold an object")
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        if not isinstance(known.get("address"), str) or not isinstance(
                known.get("namespace"), str):
            raise ValueError("system.json needs address and namespace strings")
        return cls(**known)


def system_file(home: Path | None = None) -> Path:
    """``$RAYGENT_HOME/system.json``."""
    return (home or raygent_home()) / SYSTEM_FILE


def write_info(info: SystemInfo, home: Path | None = None) -> Path:
    """Write ``system.json`` atomically (a reader never sees half a file)."""
    path = system_file(home)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(asdict(info), indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path


def read_info(home: Path | None = None) -> SystemInfo | None:
    """The recorded system, or None when there is no (readable) ``system.json``."""
    try:
        data = json.loads(system_file(home).read_text(encoding="utf-8"))
        return SystemInfo.from_json(data)
    except (OSError, ValueError, TypeError):
        return None


def remove_info(home: Path | None = None) -> None:
    with contextlib.suppress(FileNotFoundError):
        system_file(home).unlink()


def port_open(address: str, timeout_s: float = 2.0) -> bool:
    """Whether something accepts TCP connections at ``host:port``."""
    host, _, port = address.removeprefix("ray://").rpartition(":")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s).close()
    except (OSError, ValueError):
        return False
    return True


def pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def is_alive(info: SystemInfo) -> bool:
    """Whether the recorded system still runs: its Ray answers (and its head process lives)."""
    if info.owns_ray and not pid_alive(info.pid):
        return False
    return port_open(info.address)


def current() -> SystemInfo | None:
    """The system ``raygent up`` left running, or None (no file, or a stale one)."""
    info = read_info()
    return info if info is not None and is_alive(info) else None


def free_port(preferred: int | None = None) -> int:
    """``preferred`` when nothing listens there, else a port the OS hands out."""
    if preferred:
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", preferred))
                return preferred
            except OSError:
                pass
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def token_location() -> tuple[str, Path | None]:
    """How clients get the token: (description, file or None when it is in the env)."""
    if os.environ.get("RAY_AUTH_TOKEN"):
        return "$RAY_AUTH_TOKEN", None
    path = Path(os.environ.get("RAY_AUTH_TOKEN_PATH") or "~/.ray/auth_token").expanduser()
    return str(path), path


def ensure_token() -> str:
    """Make sure an auth token exists (creating ``~/.ray/auth_token`` if needed).

    Returns:
        Where it is, for the message ``up`` prints.
    """
    where, path = token_location()
    if path is not None and not (path.is_file() and path.read_text().strip()):
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32))
    return where


def read_token() -> str | None:
    """The token clients present, or None when there is none."""
    if os.environ.get("RAY_AUTH_TOKEN"):
        return os.environ["RAY_AUTH_TOKEN"]
    _, path = token_location()
    try:
        return path.read_text().strip() or None if path else None
    except OSError:
        return None


def use_token_auth() -> None:
    """Make this process's Ray present the token (Ray caches the mode at import)."""
    if os.environ.get("RAY_AUTH_MODE"):
        return
    os.environ["RAY_AUTH_MODE"] = "token"
    with contextlib.suppress(Exception):  # private API: a Ray without it reads the env
        from ray._raylet import (  # type: ignore[attr-defined]
            AuthenticationTokenLoader,
            Config,
        )

        Config.initialize("")
        AuthenticationTokenLoader.instance().reset_cache()


def head_temp_dir(home: Path) -> str:
    """A short Ray temp root per raygent home (Unix socket paths must stay short)."""
    digest = hashlib.sha1(str(home).encode()).hexdigest()[:8]
    return os.path.join(tempfile.gettempdir(), f"rg-{os.getuid()}-{digest}")


def start_head(home: Path, *, dashboard_port: int | None, wait_s: float = 120.0
               ) -> tuple[str, str, int, str, str]:
    """Start a Ray head that outlives this process.

    Returns:
        (GCS address, dashboard URL, pid of ``ray start``, temp dir, log file).

    Raises:
        SystemStartError: Ray did not come up in time (the log says why).
    """
    ray_cli = os.path.join(os.path.dirname(sys.executable), "ray")
    gcs_port = free_port()
    dash_port = free_port(dashboard_port or DEFAULT_DASHBOARD_PORT)
    if dashboard_port and dash_port != dashboard_port:
        raise SystemStartError(f"--dashboard-port {dashboard_port} is taken: pick another one, "
                           "or leave it out to use a free port")
    temp_dir = head_temp_dir(home)
    log = home / "system" / "ray.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    cmd = [ray_cli, "start", "--head", "--block", "--disable-usage-stats",
           f"--port={gcs_port}", "--node-ip-address=127.0.0.1",
           "--include-dashboard=true", "--dashboard-host=127.0.0.1",
           f"--dashboard-port={dash_port}", f"--temp-dir={temp_dir}",
           # The defaults of these are fixed ports another cluster may hold already.
           f"--ray-client-server-port={free_port()}",
           f"--dashboard-agent-listen-port={free_port()}"]
    env = dict(os.environ)
    env.pop("RAY_ADDRESS", None)
    with open(log, "ab") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, env=env, start_new_session=True)
    address = f"127.0.0.1:{gcs_port}"
    url = f"http://127.0.0.1:{dash_port}"
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemStartError(f"`ray start` exited with code {proc.returncode}: see {log}")
        if port_open(address) and _healthy(url):
            return address, url, proc.pid, temp_dir, str(log)
        time.sleep(0.5)
    stop_head(proc.pid)
    raise SystemStartError(f"Ray did not come up within {wait_s:.0f}s: see {log}")


def _healthy(url: str) -> bool:
    import httpx

    try:
        return httpx.get(url + "/api/gcs_healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def stop_head(pid: int, *, wait_s: float = 60.0) -> bool:
    """Stop the ``ray start --block`` process (it stops its Ray processes on SIGTERM).

    Returns:
        Whether it is gone (killed hard after ``wait_s`` if it would not stop).
    """
    if not pid_alive(pid):
        return True
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        _reap(pid)
        if not pid_alive(pid):
            return True
        time.sleep(0.2)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)  # its own session: the group is only its processes
    _reap(pid)
    return not pid_alive(pid)


def _reap(pid: int) -> None:
    """Collect the exit status when this process is its parent (else it stays a zombie)."""
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


__all__ = [
    "SystemInfo",
    "SystemStartError",
    "current",
    "ensure_token",
    "free_port",
    "is_alive",
    "port_open",
    "read_info",
    "read_token",
    "remove_info",
    "start_head",
    "stop_head",
    "system_file",
    "token_location",
    "use_token_auth",
    "write_info",
]
