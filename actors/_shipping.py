"""Shipping raygent's code to cluster nodes that have only Ray installed.

Ray's ``runtime_env`` uploads local packages (``py_modules``) once per job and installs pip
requirements on each node that runs its tasks and actors, so agents can run on nodes that
never saw a raygent install.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Iterable
from typing import Any

PACKAGES = ("actors", "memory", "scenarios")


def code_runtime_env(*, extra_modules: Iterable[str] = (), pip: Iterable[str] | None = None,
                     env_vars: dict[str, str] | None = None) -> dict[str, Any]:
    """A ``runtime_env`` that ships raygent's packages (and yours) to every worker.

    Args:
        extra_modules: More packages or modules (import names or paths), e.g. the one
            defining your agents.
        pip: Requirements to install on the workers (e.g. ``["lancedb>=0.20"]``); None
            when the nodes' image already has raygent's dependencies.
        env_vars: Environment for the workers (``HF_HUB_OFFLINE=1`` is always set).

    Returns:
        A dict for ``Runtime(init_kwargs={"runtime_env": ...})`` or ``ray.init``.
    """
    modules = []
    for name in (*PACKAGES, *extra_modules):
        if os.path.exists(name):
            modules.append(os.path.abspath(name))
            continue
        module = importlib.import_module(name)
        path = getattr(module, "__file__", None)
        if path is None:
            raise ValueError(f"cannot locate module {name!r} on disk to ship it")
        modules.append(os.path.dirname(path) if path.endswith("__init__.py") else path)
    env: dict[str, Any] = {"py_modules": modules,
                           "env_vars": {"HF_HUB_OFFLINE": "1", **(env_vars or {})}}
    if pip is not None:
        env["pip"] = list(pip)
    return env
