"""uvicorn the way raygent runs it: inside someone else's process and event loop.

The webhook agent serves on its Ray actor's loop; the local CRM server of the bundled run
and of the tests serves from a thread. Neither may take over the process's signals.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator
from typing import Any

import uvicorn


class QuietServer(uvicorn.Server):
    """uvicorn without its signal handlers: the process belongs to Ray or to a test."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    def install_signal_handlers(self) -> None:
        return None

    @property
    def port(self) -> int:
        """The port it listens on (after start-up; useful when it was asked for 0)."""
        return int(self.servers[0].sockets[0].getsockname()[1])


def server_for(app: Any, host: str, port: int) -> QuietServer:
    config = uvicorn.Config(app, host=host, port=port, log_level="warning",
                            access_log=False, lifespan="off", timeout_keep_alive=30)
    return QuietServer(config)


class ThreadedServer:
    """Serves an ASGI app from a daemon thread; ``start``/``stop`` may repeat (same port)."""

    def __init__(self, app: Any, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.app = app
        self.host = host
        self.port = port
        self._server: QuietServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout_s: float = 10.0) -> ThreadedServer:
        """Start serving; the first start fixes the port (so a restart keeps it).

        Raises:
            OSError: If the port cannot be bound.
        """
        server = server_for(self.app, self.host, self.port)
        failed: list[BaseException] = []

        def run() -> None:
            try:
                asyncio.run(server.serve())
            except BaseException as exc:  # reported to start(), which raises it
                failed.append(exc)

        thread = threading.Thread(target=run, name=f"http-{self.host}:{self.port}",
                                  daemon=True)
        thread.start()
        ready = threading.Event()
        while not server.started:
            if not thread.is_alive() or ready.wait(0.01) or failed:
                break
        if not server.started:
            thread.join(1.0)
            raise OSError(f"cannot serve on {self.host}:{self.port}: "
                          f"{failed[0] if failed else 'server did not start'}")
        self.port = server.port
        self._server, self._thread = server, thread
        return self

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop serving (connections refused until the next ``start``)."""
        if self._server is None or self._thread is None:
            return
        self._server.should_exit = True
        self._thread.join(timeout_s)
        self._server = self._thread = None


__all__ = ["QuietServer", "ThreadedServer", "server_for"]
