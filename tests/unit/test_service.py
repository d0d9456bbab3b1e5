"""Services over the fake:// transport: a compute agent registers, heartbeats and reports
its resources through the conductor only; services stop cleanly."""

from __future__ import annotations

import subprocess
import sys

import pytest

from novalite import context as nl_context
from novalite import rpc, service
from novalite.cmd import compute as compute_cmd
from novalite.cmd import conductor as conductor_cmd
from novalite.conf import CONF
from novalite.db import api as db


@pytest.fixture
def running(in_process):
    CONF.set_override("vcpus", 6, group="fake_driver")
    CONF.set_override("cpu_allocation_ratio", 2.5, group="compute")
    yield in_process
    CONF.clear_override("vcpus", group="fake_driver")
    CONF.clear_override("cpu_allocation_ratio", group="compute")


def test_compute_registers_and_reports_through_conductor(running):
    ctxt = nl_context.get_admin_context()
    for svc in (conductor_cmd.make_service("ctl"), compute_cmd.make_service("cmp1")):
        svc.start()
        running.append(svc)
    services = {(s.binary, s.host): s for s in db.service_get_all(ctxt)}
    assert ("novalite-conductor", "ctl") in services
    compute_row = services[("novalite-compute", "cmp1")]
    assert compute_row.last_seen_up is not None
    nodes = db.compute_node_get_all(ctxt)
    assert [(n.host, n.hypervisor_hostname, n.vcpus) for n in nodes] == [("cmp1", "cmp1", 6)]
    # The compute host's own overcommit setting travels with its report.
    assert nodes[0].cpu_allocation_ratio == 2.5
    assert nodes[0].service_id == compute_row.id

    # A second heartbeat bumps the report count.
    count = compute_row.report_count
    running[1].heartbeat()
    assert db.service_get(ctxt, compute_row.id).report_count == count + 1


def test_conductor_refuses_heartbeats_for_services_with_database_access(running):
    svc = conductor_cmd.make_service("ctl")
    svc.start()
    running.append(svc)
    from novalite.conductor import rpcapi

    with pytest.raises(Exception, match="novalite-compute"):
        rpcapi.ConductorAPI().service_heartbeat(
            nl_context.get_admin_context(), "x", "novalite-api", None, 1
        )


def test_compute_agent_never_imports_the_database_layer():
    code = (
        "import sys, novalite.cmd.compute, novalite.compute.manager, novalite.virt.fake;"
        "bad = [m for m in sys.modules if m.startswith(('novalite.db', 'sqlalchemy'))];"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_launcher_stops_services_in_reverse_order_and_returns_zero():
    events = []

    class Recorder:
        def __init__(self, name):
            self.name = name

        def start(self):
            events.append(("start", self.name))

        def stop(self):
            events.append(("stop", self.name))

        def wait(self):
            events.append(("wait", self.name))

    launcher = service.Launcher()
    launcher.add(Recorder("a"))
    launcher.add(Recorder("b"))
    launcher.install_signal_handlers = lambda: None
    launcher.request_stop()
    # A stop requested before start starts nothing.
    assert launcher.run() == 0
    assert events == []

    launcher = service.Launcher()
    launcher.add(Recorder("a"))
    launcher.add(Recorder("b"))
    launcher.install_signal_handlers = lambda: None
    original_start = Recorder.start

    def start_then_stop(self):
        original_start(self)
        if self.name == "b":
            launcher.request_stop()

    Recorder.start = start_then_stop
    assert launcher.run() == 0
    assert events == [
        ("start", "a"),
        ("start", "b"),
        ("stop", "b"),
        ("wait", "b"),
        ("stop", "a"),
        ("wait", "a"),
    ]


def test_stop_finishes_the_message_in_flight(running):
    from novalite.manager import Manager
    from novalite.utils import concurrency

    started, finished = concurrency.Event(), []

    class Slow(Manager):
        @rpc.expose
        def slow(self, ctxt):
            started.set()
            concurrency.sleep(0.5)
            finished.append(True)
            return "done"

    svc = service.Service("h", "novalite-test", "slowtopic", Slow("h"), heartbeat=lambda: None)
    svc.start()
    replies = []
    client = rpc.get_client("slowtopic", "1.0").prepare(server="h", timeout=10)
    caller = concurrency.spawn(lambda: replies.append(
        client.call(nl_context.get_admin_context(), "slow")))
    assert started.wait(5)
    svc.stop()  # what SIGTERM does: no new messages...
    svc.wait()  # ...and the one in flight runs to its end
    caller.join(10)
    assert finished == [True]
    assert replies == ["done"]
