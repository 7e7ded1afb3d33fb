"""``raygent up`` / ``raygent down``: a long-running local system, started and stopped."""

from __future__ import annotations

import logging
import os
from typing import Annotated, Any

import typer
from rich.text import Text

from actors import RaygentError, Runtime, RuntimeConfig
from actors._home import raygent_home
from scenarios import _system as sysm
from scenarios._connect import probe
from scenarios.cli._edge import JsonOpt, NamespaceOpt, console, edge, err_console, print_json


def _info_json(info: sysm.SystemInfo, state: str) -> dict[str, Any]:
    return {"state": state, "address": info.address, "namespace": info.namespace,
            "dashboard_url": info.dashboard_url, "data_dir": info.data_dir,
            "trace_dir": info.trace_dir, "token": info.token, "owns_ray": info.owns_ray,
            "pid": info.pid, "log": info.log}


def _show(info: sysm.SystemInfo, headline: str) -> None:
    console.print(Text(headline, style="bold green"), soft_wrap=True)
    rows = [("Ray address", info.address), ("namespace", info.namespace)]
    if info.dashboard_url:
        rows.append(("dashboard", info.dashboard_url))
    if info.token:
        how = ("export RAY_AUTH_TOKEN=..." if info.token.startswith("$")
               else f"cat {info.token}")
        rows.append(("auth token", f"{info.token}  (`{how}`; send it as "
                                   "`Authorization: Bearer <token>`)"))
    rows += [("data dir", info.data_dir), ("traces", f"{info.trace_dir}  (`raygent trace`)")]
    if info.log:
        rows.append(("Ray log", info.log))
    for key, value in rows:
        console.print(f"  {key:<12} {value}", markup=False, soft_wrap=True)
    console.print("  next: `raygent run echo`, `raygent status`, `raygent down`", markup=False)


def _start_agents(address: str, namespace: str | None, memory: bool) -> RuntimeConfig:
    """The supervisor (detached) and, unless told not to, the memory agent."""
    runtime = Runtime(address, namespace=namespace, config=RuntimeConfig.from_env(),
                      init_kwargs={"log_to_driver": False, "logging_level": logging.WARNING})
    try:
        runtime.start()
        if memory and "memory" not in {a.name for a in runtime.status().agents}:
            _spawn_memory(runtime)
        return runtime.config
    finally:
        runtime.disconnect()


def _spawn_memory(runtime: Runtime) -> None:
    """The memory agent the bundled rag-qa scenario uses, so its runs reuse it."""
    from memory._agent import MemoryAgent
    from scenarios._launch import _memory_config
    from scenarios.builtin import builtin_scenarios

    spec = builtin_scenarios()["rag-qa"].spec
    config = _memory_config(spec) if spec is not None else {}
    runtime.spawn(MemoryAgent, name="memory", config=config)


@edge
def up(
    address: Annotated[str | None, typer.Option(
        "--address", show_default=False,
        help="Join this Ray cluster (host:port, ray://host:port) instead of starting a "
             "local Ray head; `down` then stops only raygent's actors.")] = None,
    namespace: NamespaceOpt = None,
    dashboard_port: Annotated[int | None, typer.Option(
        "--dashboard-port", min=1, max=65535, show_default="8265, or a free port",
        help="Port of the Ray dashboard (on 127.0.0.1).")] = None,
    memory: Annotated[bool, typer.Option(
        "--memory/--no-memory", help="Start the memory agent too.")] = True,
    as_json: JsonOpt = False,
) -> None:
    """Start a long-running local system (Ray head, dashboard, supervisor, memory agent)."""
    home = raygent_home()
    recorded = sysm.read_info()
    if recorded is not None:
        if sysm.is_alive(recorded):
            if as_json:
                print_json(_info_json(recorded, "already up"))
            else:
                _show(recorded, "raygent is already up")
            raise typer.Exit(0)
        err_console.print(f"[yellow]{sysm.system_file()} names a system that is gone "
                          f"(Ray at {recorded.address} does not answer): replacing it[/]")
        if recorded.owns_ray:
            sysm.stop_head(recorded.pid, wait_s=10)
        sysm.remove_info()
    token = ""
    if os.environ.get("RAY_AUTH_MODE", "").lower() == "disabled":
        err_console.print("[yellow]warning: RAY_AUTH_MODE=disabled: the cluster runs "
                          "without token authentication[/]")
    else:
        token = sysm.ensure_token()
        sysm.use_token_auth()
    pid, temp_dir, log, url = 0, "", "", None
    if address is None:
        if not as_json:
            console.print("starting a Ray head on 127.0.0.1 ...")
        gcs, url, pid, temp_dir, log = sysm.start_head(home, dashboard_port=dashboard_port)
    else:
        probe(address)  # ray.init would retry a dead address for minutes
        gcs = address
    try:
        config = _start_agents(gcs, namespace, memory)
    except BaseException:
        if pid:
            sysm.stop_head(pid)
        raise
    info = sysm.SystemInfo(
        address=gcs, namespace=config.namespace, dashboard_url=url, data_dir=str(home),
        trace_dir=os.path.expanduser(config.tracing.runs_dir), owns_ray=address is None,
        pid=pid, temp_dir=temp_dir, log=log, token=token, run_id=config.run_id or "")
    sysm.write_info(info)
    if as_json:
        print_json(_info_json(info, "up"))
    else:
        _show(info, "raygent is up")


@edge
def down(as_json: JsonOpt = False) -> None:
    """Stop the system `raygent up` started (agents, supervisor, its Ray); keep the data."""
    info = sysm.read_info()
    if info is None:
        if as_json:
            print_json({"state": "down", "stopped": False})
        else:
            console.print("nothing is up (no system.json under "
                          f"{raygent_home()}): nothing to stop")
        raise typer.Exit(0)
    problems: list[str] = []
    if sysm.is_alive(info):
        if info.token:
            sysm.use_token_auth()
        runtime = Runtime(info.address, namespace=info.namespace,
                          init_kwargs={"log_to_driver": False,
                                       "logging_level": logging.WARNING})
        try:
            runtime.attach()
            # Agents first (their on_stop runs), then the supervisor flushes its journal.
            runtime.stop(force=True)
        except RaygentError as exc:
            problems.append(str(exc))
            runtime.disconnect()
    if info.owns_ray and not sysm.stop_head(info.pid):
        problems.append(f"the Ray head (pid {info.pid}) would not stop")
    sysm.remove_info()
    if as_json:
        print_json({"state": "down", "stopped": True, "problems": problems,
                    "data_dir": info.data_dir})
    else:
        for p in problems:
            err_console.print(Text(f"warning: {p}", style="yellow"), soft_wrap=True)
        what = "raygent and its Ray head" if info.owns_ray else "raygent's actors"
        console.print(f"stopped {what}; data kept in {info.data_dir}", markup=False)
