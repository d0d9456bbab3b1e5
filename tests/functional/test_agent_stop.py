"""A compute agent of many fake hosts stops cleanly, and in the time an agent of one host
takes, on a real RabbitMQ: it stops all its RPC servers together, and wakes each idle
one (whose listener otherwise sits in a poll of up to 5 s) with a message of its own, as
rpc.cleanup() does its reply poller.

Times are asserted only against what stopping one server after another would cost
(tens of seconds), never as a target.
"""

from __future__ import annotations

import logging
import signal
import time

import pytest

from novalite import context as nl_context
from novalite import rpc, service
from novalite.conf import CONF
from novalite.manager import Manager
from novalite.utils import concurrency
from tests.functional.fixtures import Deployment

HOSTS = 20
IDLE = 10  # seconds: long enough for every idle listener to poll in 5-s steps


def test_agent_of_many_fake_hosts_exits_cleanly_and_together(tmp_path, rabbit_url):
    dep = Deployment(tmp_path, f"sqlite:///{tmp_path}/agent-stop.sqlite", rabbit_url)
    try:
        dep.start_controller()
        dep.start("agent", "compute", dep.compute_config(
            "agent", compute={"fake_hosts": HOSTS}))
        hosts = [f"agent-{i}" for i in range(1, HOSTS + 1)]
        dep.wait_computes_up(hosts, timeout=60)
        time.sleep(IDLE)

        started = time.monotonic()
        dep.signal("agent", signal.SIGTERM)
        code = dep.processes["agent"].wait(60)
        seconds = time.monotonic() - started
        log = dep.log("agent")
        assert code == 0, log[-3000:]
        for host in hosts:
            assert f"novalite-compute on host {host} stopped" in log, host
        # One after the other, 20 idle servers take 20 × 0-5 s (45-67 s for 16 before).
        assert seconds < HOSTS * 5 / 4, seconds
    finally:
        dep.stop_all()


class PingCounter(Manager):
    def __init__(self, host: str, pings: list) -> None:
        super().__init__(host)
        self.pings = pings

    @rpc.expose
    def ping(self, ctxt: object) -> str:
        self.pings.append(self.host)
        return "pong"


@pytest.fixture
def rabbit_transport(rabbit_url):
    rpc.register_opts(CONF)
    CONF.set_override("transport_url", rabbit_url)
    rpc.cleanup()
    rpc.init(CONF)
    yield
    rpc.cleanup()
    CONF.clear_override("transport_url")


def test_stop_wakes_each_idle_rpc_server_and_the_reply_poller(rabbit_transport, caplog):
    pings: list[str] = []
    services = [service.Service(f"w{i}", "novalite-test", "waketopic",
                                PingCounter(f"w{i}", pings), heartbeat=lambda: None)
                for i in range(5)]
    for svc in services:
        svc.start()
    # A call, so that this process has a reply queue and its poller.
    client = rpc.get_client("waketopic", "1.0", server="w0").prepare(timeout=10)
    assert client.call(nl_context.get_admin_context(), "ping") == "pong"
    pings.clear()
    concurrency.sleep(IDLE)  # every listener, and the reply poller, idle in 5-s polls

    started = time.monotonic()
    for svc in services:
        svc.stop()
    for svc in services:
        svc.wait()
    seconds = time.monotonic() - started
    # Each server got its own wake-up ping, so none waited for its poll to time out (one
    # whose poll happened to end just as it was told to stop may not have needed it).
    assert len(set(pings)) >= len(services) - 1, pings
    assert seconds < 5 * 5 / 2, seconds

    # rpc.cleanup() ends the reply poller's poll with a message of its own, too.
    caplog.set_level(logging.INFO, logger="oslo_messaging._drivers.amqpdriver")
    rpc.cleanup()
    assert "novalite-cleanup" in caplog.text
