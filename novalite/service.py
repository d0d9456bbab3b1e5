"""Service processes: an RPC server, a heartbeat, periodic tasks, and a clean stop.

A `Service` binds one manager to one (topic, host). A process may run several (the
all-in-one process; several fake compute hosts in one agent). `Launcher` starts them,
waits for SIGTERM or SIGINT, then stops taking new messages, lets in-flight ones
finish, and returns so the process exits 0.
"""

from __future__ import annotations

import logging
import signal
from collections.abc import Callable
from typing import Protocol

from novalite import context as nl_context
from novalite import rpc
from novalite.conf import CONF
from novalite.manager import Manager
from novalite.utils import concurrency

LOG = logging.getLogger(__name__)

# Bumped when a service's behaviour changes in a way peers must know about.
SERVICE_VERSION = 1


class Runnable(Protocol):
    def start(self) -> None: ...

    def stop(self) -> None: ...

    def wait(self) -> None: ...


class DatabaseHeartbeat:
    """Heartbeat for services that have database access (API, conductor, scheduler)."""

    def __init__(self, host: str, binary: str, topic: str | None) -> None:
        self.host, self.binary, self.topic = host, binary, topic

    def __call__(self) -> None:
        from novalite.db import api as db  # not imported by compute agents

        db.service_heartbeat(
            nl_context.get_admin_context(), self.host, self.binary, self.topic, SERVICE_VERSION
        )


class Service:
    """One manager served on RPC topic `topic` as server `host`, with its heartbeat."""

    def __init__(
        self,
        host: str,
        binary: str,
        topic: str | None,
        manager: Manager | None,
        heartbeat: Callable[[], None],
    ) -> None:
        self.host, self.binary, self.topic = host, binary, topic
        self.manager = manager
        self.heartbeat = heartbeat
        self._rpcserver = None
        self._periodics: list[concurrency.Periodic] = []

    def start(self) -> None:
        self._report()  # register first, so os-services lists us at once
        if self.manager is not None:
            self.manager.init_host()
        if self.manager is not None and self.topic:
            self._rpcserver = rpc.get_server(
                self.topic, self.host, self.manager.RPC_API_VERSION, [self.manager]
            )
            self._rpcserver.start()
        tasks = [(self._report, CONF.report_interval)]
        if self.manager is not None:
            tasks += self.manager.periodic_tasks()
        for func, interval in tasks:
            periodic = concurrency.Periodic(func, interval, name=f"{self.binary}:{self.host}")
            periodic.start(initial_delay=interval)
            self._periodics.append(periodic)
        LOG.info("%s started on host %s (topic %s)", self.binary, self.host, self.topic)

    def _report(self) -> None:
        try:
            self.heartbeat()
        except Exception as exc:  # keep beating; the next one may get through
            LOG.warning("Heartbeat of %s on %s failed: %s", self.binary, self.host, exc)

    def stop(self) -> None:
        """Stop taking new messages and stop periodic tasks."""
        for periodic in self._periodics:
            periodic.stop()
        if self._rpcserver is not None:
            self._rpcserver.stop()

    def wait(self) -> None:
        """Wait for in-flight messages, then release the manager's resources."""
        if self._rpcserver is not None:
            self._rpcserver.wait()
        for periodic in self._periodics:
            periodic.wait()
        if self.manager is not None:
            self.manager.cleanup_host()
        LOG.info("%s on host %s stopped", self.binary, self.host)


class Launcher:
    """Runs services until SIGTERM/SIGINT, then stops them all cleanly."""

    def __init__(self) -> None:
        self.services: list[Runnable] = []
        self._stop_requested = concurrency.Event()

    def add(self, service: Runnable) -> None:
        self.services.append(service)

    def request_stop(self, *_: object) -> None:
        self._stop_requested.set()

    def install_signal_handlers(self) -> None:
        signal.signal(signal.SIGTERM, self.request_stop)
        signal.signal(signal.SIGINT, self.request_stop)

    @property
    def stop_requested(self) -> concurrency.Event:
        return self._stop_requested

    def run(self) -> int:
        """Start everything, block until asked to stop, stop everything; returns 0."""
        self.install_signal_handlers()
        started: list[Runnable] = []
        try:
            for service in self.services:
                if self._stop_requested.is_set():
                    break
                service.start()
                started.append(service)
            while not self._stop_requested.wait(1.0):
                pass
        finally:
            LOG.info("Stopping: no new messages; finishing those in flight")
            # Newest first, each finished before the next stops: in one process, a compute
            # host's in-flight work may still call the conductor started before it.
            for service in reversed(started):
                service.stop()
                service.wait()
            rpc.cleanup()
        return 0
