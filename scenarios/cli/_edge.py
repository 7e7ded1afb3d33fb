"""What every ``raygent`` command shares: consoles, the error edge, JSON output.

Expected failures (any :class:`RaygentError`) end as one red ``error:`` line and exit code
1, never a traceback; usage mistakes exit 2.
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from typing import Annotated, Any, NoReturn, TypeVar

import typer
from rich.console import Console
from rich.text import Text

from actors import RaygentError, RuntimeNotStartedError
from actors._secrets import guard_process, redact
from scenarios._connect import START_HINT

F = TypeVar("F", bound=Callable[..., Any])

# Consoles look up sys.stdout/sys.stderr at each write, so test runners that swap the
# streams see the output.
console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]


def fail(message: str, *, code: int, hint: str | None = None) -> NoReturn:
    """Print one red error line (and an optional hint), then exit with ``code``."""
    # soft_wrap keeps the error on one line however narrow the terminal is.
    err_console.print(Text(f"error: {redact(message)}", style="red"), soft_wrap=True)
    if hint:
        err_console.print(f"hint: {redact(hint)}", soft_wrap=True, markup=False)
    raise typer.Exit(code)


def edge(fn: F) -> F:
    """Turn expected errors into one red line and an exit code instead of a traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        guard_process()
        try:
            return fn(*args, **kwargs)
        except RuntimeNotStartedError as exc:
            fail(str(exc), code=1,
                 hint=None if START_HINT in str(exc) else f"no system yet? {START_HINT}")
        except RaygentError as exc:
            fail(str(exc), code=1)
        except KeyboardInterrupt:
            fail("interrupted", code=130)

    return wrapper  # type: ignore[return-value]


def print_json(data: Any) -> None:
    """Plain stdout, not rich: no colour codes or line wrapping in machine-readable output."""
    sys.stdout.write(redact(json.dumps(data, indent=2, default=str)) + "\n")


AddressOpt = Annotated[str, typer.Option(
    "--address", envvar="RAY_ADDRESS",
    help="Ray cluster to reach: auto, host:port or ray://host:port.")]
NamespaceOpt = Annotated[str | None, typer.Option(
    "--namespace", show_default="$RAYGENT_NAMESPACE or raygent",
    help="Ray namespace of the system.")]
