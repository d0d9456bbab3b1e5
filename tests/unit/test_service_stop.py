"""A process stops its services together: an agent of N fake hosts must not take N times
as long to stop as an agent of one (each idle RPC server takes seconds to notice its
stop). Services of different binaries still stop one after the other, newest first."""

from __future__ import annotations

import time

from novalite import service
from novalite.manager import Manager


class Recorder:
    def __init__(self, events: list, name: str, binary: str | None = None) -> None:
        self.events, self.name = events, name
        if binary is not None:
            self.binary = binary

    def start(self) -> None:
        self.events.append(("start", self.name))

    def stop(self) -> None:
        self.events.append(("stop", self.name))

    def wait(self) -> None:
        self.events.append(("wait", self.name))


def _run_until_started(launcher: service.Launcher) -> float:
    """Launcher.run(), asked to stop as its last service starts; seconds it took to stop."""
    launcher.install_signal_handlers = lambda: None  # type: ignore[method-assign]
    last = launcher.services[-1]
    original = last.start
    asked: list[float] = []

    def start_then_stop() -> None:
        original()
        asked.append(time.monotonic())
        launcher.request_stop()

    last.start = start_then_stop  # type: ignore[method-assign]
    assert launcher.run() == 0
    return time.monotonic() - asked[0]


def test_one_binary_stops_together_binaries_one_after_the_other():
    # The order of novalite-all: conductor, scheduler, N compute hosts, API, its heartbeat.
    events: list = []
    launcher = service.Launcher()
    for name, binary in [("conductor", "novalite-conductor"),
                         ("scheduler", "novalite-scheduler"),
                         ("c1", "novalite-compute"), ("c2", "novalite-compute"),
                         ("c3", "novalite-compute"),
                         ("api", None), ("api-heartbeat", "novalite-api")]:
        launcher.add(Recorder(events, name, binary))
    _run_until_started(launcher)

    stopping = events[7:]
    assert stopping[:4] == [("stop", "api-heartbeat"), ("wait", "api-heartbeat"),
                            ("stop", "api"), ("wait", "api")]
    # Every compute host told to stop before any is waited for...
    assert stopping[4:7] == [("stop", "c3"), ("stop", "c2"), ("stop", "c1")]
    assert sorted(stopping[7:10]) == [("wait", "c1"), ("wait", "c2"), ("wait", "c3")]
    # ...and all of them finished before the scheduler and the conductor stop: in one
    # process a compute host's in-flight work may still call the conductor.
    assert stopping[10:] == [("stop", "scheduler"), ("wait", "scheduler"),
                             ("stop", "conductor"), ("wait", "conductor")]


SLOW = 0.5  # seconds each RPC server takes to stop, and again to wind down
HOSTS = 10


class SlowRPCServer(service.Service):
    """A Service whose RPC server is as slow to stop as an idle rabbit one (up to 5 s) and
    to finish (its worker threads' idle poll, up to 1 s), scaled down."""

    def start(self) -> None:
        super().start()
        server = self._rpcserver
        stop, wait = server.stop, server.wait

        def slow_stop() -> None:
            time.sleep(SLOW)
            stop()

        def slow_wait() -> None:
            time.sleep(SLOW)
            wait()

        server.stop, server.wait = slow_stop, slow_wait


def test_an_agent_of_n_hosts_stops_in_the_time_of_one(in_process):
    launcher = service.Launcher()
    for i in range(HOSTS):
        host = f"h{i}"
        launcher.add(SlowRPCServer(host, "novalite-compute", "stoptopic", Manager(host),
                                   heartbeat=lambda: None))
    seconds = _run_until_started(launcher)
    # One after the other this takes HOSTS × 2 × SLOW = 10 s; together about 2 × SLOW.
    assert seconds < HOSTS * SLOW / 2, seconds
    assert all(not svc._stopping.is_alive() for svc in launcher.services)
