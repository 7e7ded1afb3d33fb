"""Start a private raygent system the way `raygent run` does, report where it is, wait.

Run by ``test_exposure.py`` in its own process (a fresh Ray): prints one JSON line with
the Ray session directory and the dashboard URL, then waits for a line on stdin and stops.
"""

from __future__ import annotations

import json
import sys

import ray

from actors import Runtime, RuntimeConfig
from actors._config import TracingConfig
from tests.agents import EchoAgent


def main() -> None:
    namespace, port = sys.argv[1], int(sys.argv[2])
    rt = Runtime(config=RuntimeConfig(namespace=namespace, tracing=TracingConfig(
        exporter="none")), init_kwargs={"include_dashboard": True, "dashboard_port": port,
                                        "num_cpus": 1, "log_to_driver": False}).start()
    rt.spawn(EchoAgent, name="echo")
    session = ray._private.worker._global_node.get_session_dir_path()
    print(json.dumps({"session": session, "dashboard": rt.dashboard_url}), flush=True)
    sys.stdin.readline()
    rt.stop()


if __name__ == "__main__":
    main()
