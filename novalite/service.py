"""Service processes: an RPC server, a heartbeat, periodic tasks, and a clean stop.

A `Service` binds one manager to one (topic, host). A process may run several (the
all-in-one process; several fake compute hosts in one agent). `Launcher` starts them,
waits for SIGTERM or SIGINT, then stops taking new messages, lets in-flight ones
finish, and returns so the process exits 0.
"""

from __future__ import annotations

import logging
import signal
import threading
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

# Wake-up casts in flight at once when a process stops its RPC servers: each waits for
# the broker's confirm, and they share the process's RPC connection pool (30).
_WAKE_SLOTS = threading.BoundedSemaphore(8)


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
        self._stopping: threading.Thread | None = None
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
        """Stop taking new messages and stop periodic tasks; returns at once (wait() for
        the end), so that a process stops all its services together."""
        for periodic in self._periodics:
            periodic.stop()
        if self._rpcserver is not None and self._stopping is None:
            self._stopping = concurrency.spawn(
                self._stop_rpcserver, name=f"stop:{self.binary}:{self.host}"
            )

    def _stop_rpcserver(self) -> None:
        # oslo.messaging's stop() returns once the listener's poll loop has seen it, and an
        # idle rabbit listener sits in a poll of up to 5 s. A message to our own server ends
        # that poll, and after a message the loop polls in milliseconds, so the stop that
        # follows is seen at once.
        with _WAKE_SLOTS:
            self._wake_listener()
        self._rpcserver.stop()

    def _wake_listener(self) -> None:
        """Cast ping to our own server (a no-op every manager serves)."""
        assert self.manager is not None and self.topic
        try:
            client = rpc.get_client(self.topic, self.manager.RPC_API_VERSION, server=self.host)
            # No retries: with the broker gone, the poll's timeout ends the stop anyway.
            client.prepare(retry=0).cast(nl_context.get_admin_context(), "ping")
        except Exception as exc:  # best effort: without it the stop takes up to 5 s
            LOG.debug("Could not wake the RPC server of %s on %s: %s",
                      self.binary, self.host, exc)

    def wait(self) -> None:
        """Wait for in-flight messages, then release the manager's resources."""
        if self._stopping is not None:
            self._stopping.join()
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
            for group in _stop_groups(started):
                for service in group:
                    service.stop()
                _wait_all(group)
            rpc.cleanup()
        return 0


def _stop_groups(started: list[Runnable]) -> list[list[Runnable]]:
    """Newest first, in runs of consecutive services of one binary (the N fake hosts of an
    agent): a run stops together, each run finished before the next one stops. Together,
    because each idle RPC server takes seconds to notice its stop; in that order, because
    in one process (novalite-all) a compute host's in-flight work may still call the
    conductor started before it."""
    groups: list[list[Runnable]] = []
    for service in reversed(started):
        binary = getattr(service, "binary", None)
        if groups and binary is not None and getattr(groups[-1][0], "binary", None) == binary:
            groups[-1].append(service)
        else:
            groups.append([service])
    return groups


def _wait_all(group: list[Runnable]) -> None:
    """wait() for every service of a group at once: an RPC server that has handled a
    message winds down its worker threads in up to 1 s (futurist's idle poll)."""
    if len(group) == 1:
        group[0].wait()
        return

    def wait(service: Runnable) -> None:
        try:
            service.wait()
        except Exception:  # the others must still finish
            LOG.exception("Stopping %s failed", service)

    threads = [concurrency.spawn(wait, service, name="service-wait") for service in group]
    for thread in threads:
        thread.join()
