"""The control plane's processes register, heartbeat, report resources and stop cleanly.

api, conductor, scheduler and two compute agents (c1, c2) run as separate processes
against RabbitMQ and a real database; the compute agents have no [database] section.
"""

from __future__ import annotations

import signal

from tests.functional.fixtures import MEMBER_TOKEN, wait_for

CONTROLLER = {"api": "api", "conductor": "conductor", "scheduler": "scheduler"}
COMPUTE_SIZES = {
    "c1": {"vcpus": 8, "memory_mb": 16384, "local_gb": 100},
    "c2": {"vcpus": 24, "memory_mb": 65536, "local_gb": 800},
}


def _services(dep) -> dict[tuple[str, str], dict]:
    resp = dep.api("GET", "/os-services")
    assert resp.status_code == 200, resp.text
    return {(s["binary"], s["host"]): s for s in resp.json()["services"]}


def _start_everything(dep) -> None:
    controller = dep.controller_config()
    result = dep.manage(controller, "db", "sync")
    assert result.returncode == 0, result.stderr
    for name, module in CONTROLLER.items():
        dep.start(name, module, controller)
    for host, sizes in COMPUTE_SIZES.items():
        dep.start(host, "compute", dep.compute_config(host, **sizes))


def test_services_up_down_hypervisors_and_clean_stop(deployment):
    dep = deployment
    _start_everything(dep)
    expected = {
        ("novalite-api", "controller"),
        ("novalite-conductor", "controller"),
        ("novalite-scheduler", "controller"),
        ("novalite-compute", "c1"),
        ("novalite-compute", "c2"),
    }

    def all_up():
        services = _services(dep)
        return expected <= set(services) and all(services[k]["state"] == "up" for k in expected)

    wait_for(all_up, timeout=15, what="every service up in os-services")

    # Admin-only listing: a member is refused.
    assert dep.api("GET", "/os-services", token=MEMBER_TOKEN).status_code == 403

    # Both hosts' resources, as their own fake drivers report them (a compute heartbeats
    # before its first resource report reaches the database: wait for both).
    dep.wait_computes_up(list(COMPUTE_SIZES))
    resp = dep.api("GET", "/os-hypervisors/detail")
    assert resp.status_code == 200, resp.text
    hypervisors = {h["hypervisor_hostname"]: h for h in resp.json()["hypervisors"]}
    for host, sizes in COMPUTE_SIZES.items():
        assert hypervisors[host]["vcpus"] == sizes["vcpus"]
        assert hypervisors[host]["memory_mb"] == sizes["memory_mb"]
        assert hypervisors[host]["local_gb"] == sizes["local_gb"]
        assert hypervisors[host]["state"] == "up"
        assert hypervisors[host]["status"] == "enabled"
        assert hypervisors[host]["hypervisor_type"] == "fake"

    # A compute agent killed outright is shown down once service_down_time passes.
    dep.signal("c2", signal.SIGKILL)
    dep.processes["c2"].wait(10)
    wait_for(
        lambda: _services(dep)[("novalite-compute", "c2")]["state"] == "down",
        timeout=15,
        what="c2 reported down",
    )
    services = _services(dep)
    assert services[("novalite-compute", "c1")]["state"] == "up"
    resp = dep.api("GET", "/os-hypervisors/detail")
    states = {h["hypervisor_hostname"]: h["state"] for h in resp.json()["hypervisors"]}
    assert states == {"c1": "up", "c2": "down"}

    # The compute agents never opened a database: no SQLite file in their state dirs.
    for host in COMPUTE_SIZES:
        assert not list((dep.workdir / host).glob("*.sqlite*")), host

    # Request ids reach the logs.
    resp = dep.api("GET", "/os-services")
    request_id = resp.headers["x-openstack-request-id"]
    assert request_id.startswith("req-")

    # SIGTERM: every remaining process stops cleanly with exit code 0.
    for name in ("c1", "api", "scheduler", "conductor"):
        assert dep.stop(name) == 0, dep.log(name)[-3000:]
    assert request_id in dep.log("api")
