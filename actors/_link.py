"""The driver's line to the supervisor: one call path, retried while the supervisor restarts.

The supervisor is restarted by Ray when its process dies, and rebuilds from its journal.
A call that fails because it was away (``RayActorError``) is sent again, with the same
envelope and so the same message id, until it answers or ``supervisor_retry_s`` passes:
the supervisor recognises a message it already accepted, so a retry never doubles one.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import ray
from ray.exceptions import GetTimeoutError, RayActorError

from actors._errors import RaygentError, SupervisorUnavailableError
from actors._ray import call_with_retry
from actors._ray_errors import unwrap

RefFn = Callable[[Any], Any]  # supervisor handle -> ObjectRef


class SupervisorLink:
    """Calls one supervisor handle, blocking or async, with the same retry rule."""

    def __init__(self, handle: Any, retry_s: float) -> None:
        self.handle = handle
        self.retry_s = retry_s

    def call(self, make: RefFn, timeout_s: float | None = None) -> Any:
        """Run ``make(handle)`` and wait for its value (blocking)."""
        started = time.monotonic()
        pause = 0.05
        gate = threading.Event()
        while True:
            try:
                return ray.get(make(self.handle), timeout=timeout_s)
            except GetTimeoutError:
                raise RaygentError(
                    f"the supervisor did not answer within {timeout_s:g}s: check "
                    "`ray status` and the supervisor's log"
                ) from None
            except RayActorError as exc:
                waited = time.monotonic() - started
                if waited > self.retry_s:
                    raise SupervisorUnavailableError(waited, type(exc).__name__) from None
                gate.wait(pause)  # back off before the next attempt
                pause = min(pause * 2, 0.5)
            except Exception as exc:
                raise unwrap(exc) from None

    async def acall(self, make: RefFn) -> Any:
        """Run ``make(handle)`` and await its value."""
        try:
            return await call_with_retry(lambda: make(self.handle), self.retry_s)
        except RaygentError:
            raise
        except Exception as exc:
            raise unwrap(exc) from None
