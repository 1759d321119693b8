"""Serving the dashboard with uvicorn: in the foreground (`lamas dashboard`) or on a thread
beside a running demo (`lamas demo travel --dashboard`)."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterable
from pathlib import Path

from lamas.economy.ledger import Ledger
from lamas.errors import ConfigError

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765


class DashboardServer:
    """A uvicorn server for the dashboard over `ledger`; `start()` runs it on a thread."""

    def __init__(
        self,
        ledger: Ledger,
        *,
        host: str = DEFAULT_HOST,
        port: int = DEFAULT_PORT,
        networks: Iterable[Path] = (),
        token: str | None = None,
    ) -> None:
        import uvicorn

        from lamas.dashboard.access import check_token
        from lamas.dashboard.app import create_app

        check_token(host, token)  # beyond loopback, no token: refused (ConfigError)
        self.token = token
        self.app = create_app(ledger, networks=networks, token=token)
        self.host, self.port = host, port
        config = uvicorn.Config(self.app, host=host, port=port, log_level="warning")
        self.server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def run(self) -> None:
        """Serve in the foreground until interrupted (Ctrl-C)."""
        with contextlib.suppress(SystemExit):  # uvicorn exits when it cannot bind
            self.server.run()
        if not self.server.started:
            raise ConfigError(f"the dashboard could not listen on {self.url}; try --port")

    def start(self, timeout: float = 120.0) -> None:
        """Serve on a background thread; returns once the server has read the ledger and
        listens."""
        self._thread = threading.Thread(target=self.server.run, name="dashboard", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise ConfigError(f"the dashboard could not listen on {self.url}; try --port")
            time.sleep(0.02)

    def stop(self) -> None:
        self.server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
