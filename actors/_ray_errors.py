"""Ray's errors, seen from raygent: the raygent error a remote call raised, unwrapped."""

from __future__ import annotations

from ray.exceptions import RayTaskError

from actors._errors import RaygentError


def unwrap(exc: BaseException) -> BaseException:
    """Return the raygent error inside a Ray task error, or the error itself."""
    if isinstance(exc, RayTaskError):
        cause = getattr(exc, "cause", None)
        if isinstance(cause, RaygentError):
            return cause
    return exc
