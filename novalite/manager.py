"""Base class for the objects that serve a service's RPC API."""

from __future__ import annotations

from collections.abc import Callable

import oslo_messaging as messaging

from novalite import rpc


class Manager:
    """An RPC endpoint plus the per-process work around it (init, periodic tasks)."""

    RPC_API_VERSION = "1.0"

    def __init__(self, host: str) -> None:
        self.host = host
        # oslo.messaging dispatches only to endpoints whose target version is compatible.
        self.target = messaging.Target(version=self.RPC_API_VERSION)

    def init_host(self) -> None:
        """Runs once before the RPC server starts taking messages."""

    def cleanup_host(self) -> None:
        """Runs once after the RPC server has finished its in-flight messages."""

    def periodic_tasks(self) -> list[tuple[Callable[[], None], float]]:
        """(function, interval in seconds) pairs run while the service is up."""
        return []

    @rpc.expose
    def ping(self, ctxt: object) -> str:
        """Liveness probe: a peer waits for this to answer before relying on us."""
        return "pong"
