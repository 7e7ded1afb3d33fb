"""One Ray per test session; each test gets its own raygent system (namespace)."""

from __future__ import annotations

import asyncio
import inspect
import os
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
# Journals, runs and memory of the tests' systems go to a scratch home, never the user's
# ~/.raygent (CLI subprocesses and Ray workers inherit it).
if "RAYGENT_HOME" not in os.environ:
    import tempfile

    os.environ["RAYGENT_HOME"] = tempfile.mkdtemp(prefix="raygent-test-home-")


def wait_for(predicate: Callable[[], Any], *, timeout_s: float = 20.0,
             interval_s: float = 0.05, message: str = "") -> Any:
    """Poll ``predicate`` until it returns a truthy value or the deadline passes."""
    import threading

    deadline = time.monotonic() + timeout_s
    last: Any = None
    pause = threading.Event()
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        pause.wait(interval_s)  # a bounded poll interval, not a sleep standing in for sync
    raise AssertionError(f"condition not met within {timeout_s}s: {message or predicate}")


async def until(predicate: Callable[[], Any], *, timeout_s: float = 10.0,
                interval_s: float = 0.01, message: str = "") -> Any:
    """``wait_for`` for coroutines: poll ``predicate`` (plain or async) on the running loop.

    Returns the first truthy value; raises AssertionError when the deadline passes.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        last = predicate()
        if inspect.isawaitable(last):
            last = await last
        if last:
            return last
        if time.monotonic() > deadline:
            raise AssertionError(
                f"condition not met within {timeout_s}s: {message or predicate} (last: {last!r})")
        await asyncio.sleep(interval_s)  # the poll interval, bounded by the deadline above


@pytest.fixture(scope="session")
def ray_session() -> Iterator[Any]:
    import ray

    ray.init(
        num_cpus=2, include_dashboard=False, namespace="raygent-tests",
        runtime_env={"env_vars": {"PYTHONPATH": ROOT, "HF_HUB_OFFLINE": "1",
                                  "RAYGENT_HOME": os.environ["RAYGENT_HOME"]}},
        logging_level="WARNING", log_to_driver=False,
    )
    try:
        yield ray
    finally:
        ray.shutdown()


@pytest.fixture(scope="session")
def runs_dir(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Where the tests' runs write their jsonl traces (not the user's ~/.raygent)."""
    return str(tmp_path_factory.mktemp("runs"))


@pytest.fixture
def make_runtime(ray_session: Any, runs_dir: str) -> Iterator[Callable[..., Any]]:
    """Build runtimes in fresh namespaces with quick supervision; stop them afterwards."""
    from actors import RetryPolicy, Runtime, RuntimeConfig
    from actors._config import TracingConfig

    made: list[Any] = []

    def make(**overrides: Any) -> Any:
        base: dict[str, Any] = {
            "namespace": f"t-{uuid.uuid4().hex[:8]}",
            "health_interval_s": 0.3,
            "health_timeout_s": 10.0,
            "retry": RetryPolicy(max_attempts=3, backoff_s=0.01, max_backoff_s=0.05),
            "tracing": TracingConfig(runs_dir=runs_dir),
        }
        base.update(overrides)
        rt = Runtime(config=RuntimeConfig(**base)).start()
        made.append(rt)
        return rt

    yield make
    for rt in made:
        rt.stop(timeout_s=5.0)


@pytest.fixture
def runtime(make_runtime: Callable[..., Any]) -> Any:
    return make_runtime()
