"""Servers live and die through every layer: API → conductor → scheduler → compute agent
→ fake driver, over RabbitMQ, on PostgreSQL, with every service its own process."""

from __future__ import annotations

import collections
import concurrent.futures
import signal

import pytest

from tests.functional.fixtures import (
    ADMIN_TOKEN,
    MEMBER_TOKEN,
    OTHER_PROJECT_TOKEN,
    wait_for,
)

pytestmark = pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)

HOST_SIZE = {"vcpus": 8, "memory_mb": 8192, "local_gb": 100}


def _create(dep, name: str, flavor: str, image: str, token: str = MEMBER_TOKEN,
            **extra) -> tuple[int, dict]:
    body = {"server": {"name": name, "flavorRef": flavor, "imageRef": image,
                       "networks": "none", **extra}}
    resp = dep.api("POST", "/servers", token=token, version="2.90", json=body)
    return resp.status_code, resp.json()


def _action(dep, server_id: str, body: dict, token: str = MEMBER_TOKEN) -> int:
    return dep.api("POST", f"/servers/{server_id}/action", token=token, version="2.90",
                   json=body).status_code


def _used(dep) -> dict[str, tuple[int, int]]:
    """(vcpus_used, memory_mb_used) per hypervisor (reserved memory is 0 in these hosts)."""
    resp = dep.api("GET", "/os-hypervisors/detail", version="2.87")
    return {h["hypervisor_hostname"]: (h["vcpus_used"], h["memory_mb_used"])
            for h in resp.json()["hypervisors"]}


def _events(dep, server_id: str) -> dict[str, list[dict]]:
    resp = dep.api("GET", f"/servers/{server_id}/os-instance-actions", version="2.90")
    assert resp.status_code == 200, resp.text
    out = {}
    for action in resp.json()["instanceActions"]:
        detail = dep.api("GET", f"/servers/{server_id}/os-instance-actions/"
                                f"{action['request_id']}", version="2.90").json()
        out[action["action"]] = detail["instanceAction"]["events"]
    return out


def test_lifecycle_spread_actions_and_concurrent_stop(deployment):
    dep = deployment
    dep.start_controller()
    hosts = ["c1", "c2", "c3"]
    for host in hosts:
        dep.start(host, "compute", dep.compute_config(host, **HOST_SIZE))
    dep.wait_computes_up(hosts)
    flavor = dep.add_flavor("m1.small", ram=512)
    image = dep.add_image()

    ids = []
    for i in range(12):
        status, body = _create(dep, f"vm-{i}", flavor, image)
        assert status == 202, body
        ids.append(body["server"]["id"])
    servers = [dep.wait_server(i, "ACTIVE") for i in ids]

    placed = collections.Counter(s["OS-EXT-SRV-ATTR:host"] for s in servers)
    assert set(placed) == set(hosts), placed
    used = _used(dep)
    for host in hosts:
        assert used[host] == (placed[host], 512 * placed[host])

    # A member sees its own server without host fields; another project gets a 404.
    own = dep.api("GET", f"/servers/{ids[0]}", token=MEMBER_TOKEN, version="2.90").json()
    assert "OS-EXT-SRV-ATTR:host" not in own["server"]
    assert dep.api("GET", f"/servers/{ids[0]}", token=OTHER_PROJECT_TOKEN).status_code == 404
    assert _action(dep, ids[0], {"os-stop": None}, token=OTHER_PROJECT_TOKEN) == 404
    assert dep.api("GET", "/os-services", token=MEMBER_TOKEN).status_code == 403
    assert dep.api("GET", "/os-hypervisors", token=MEMBER_TOKEN).status_code == 403

    target = ids[0]
    assert _action(dep, target, {"os-stop": None}) == 202
    assert dep.wait_server(target, "SHUTOFF")["OS-EXT-STS:power_state"] == 4
    assert _action(dep, target, {"os-start": None}) == 202
    assert dep.wait_server(target, "ACTIVE")["OS-EXT-STS:power_state"] == 1
    assert _action(dep, target, {"reboot": {"type": "SOFT"}}) == 202
    dep.wait_server(target, "ACTIVE")
    wait_for(lambda: dep.server(target)["OS-EXT-STS:task_state"] is None, 10,
             what="reboot finished")
    expected = {"create": "compute_build_and_run_instance", "stop": "compute_stop_instance",
                "start": "compute_start_instance", "reboot": "compute_reboot_instance"}

    def all_recorded():
        # An event's finish is recorded right after the state it leads to: poll briefly.
        events = _events(dep, target)
        return all({e["event"]: e["result"] for e in events.get(action, [])}.get(event)
                   == "Success" for action, event in expected.items())

    wait_for(all_recorded, 10, what="each action's compute event recorded as Success")

    # 20 concurrent stops of one ACTIVE server: exactly one wins.
    victim = ids[1]
    with concurrent.futures.ThreadPoolExecutor(20) as pool:
        codes = list(pool.map(lambda _: _action(dep, victim, {"os-stop": None}), range(20)))
    assert sorted(codes) == [202] + [409] * 19, codes
    dep.wait_server(victim, "SHUTOFF")

    # Delete frees every allocation.
    for server_id in ids:
        assert dep.api("DELETE", f"/servers/{server_id}", token=MEMBER_TOKEN).status_code == 204
    wait_for(lambda: all(dep.api("GET", f"/servers/{i}").status_code == 404 for i in ids),
             30, what="every server deleted")
    assert _used(dep) == {h: (0, 0) for h in hosts}


def test_concurrent_creates_never_overbook_and_no_host_explains(deployment):
    dep = deployment
    dep.start_controller()
    hosts = ["c1", "c2", "c3"]
    for host in hosts:
        dep.start(host, "compute", dep.compute_config(host, **HOST_SIZE))
    dep.wait_computes_up(hosts)
    big = dep.add_flavor("m1.big", ram=3000)  # two fit on a host, six in all
    image = dep.add_image()

    with concurrent.futures.ThreadPoolExecutor(20) as pool:
        results = list(pool.map(lambda i: _create(dep, f"big-{i}", big, image,
                                                  token=ADMIN_TOKEN), range(20)))
    ids = [body["server"]["id"] for status, body in results if status == 202]
    assert len(ids) == 20, results

    def settled():
        servers = [dep.server(i) for i in ids]
        return servers if all(s["status"] in ("ACTIVE", "ERROR") for s in servers) else None

    servers = wait_for(settled, 60, what="every create settled")
    active = [s for s in servers if s["status"] == "ACTIVE"]
    errors = [s for s in servers if s["status"] == "ERROR"]
    assert len(active) == 6 and len(errors) == 14
    for host, (_, memory_used) in _used(dep).items():
        assert memory_used <= HOST_SIZE["memory_mb"], (host, memory_used)
    for server in errors:  # lost the race for room, or found none: either way, explained
        assert server["fault"]["message"].startswith("No valid host was found."), server

    # Once the hosts are full, a create that fits nowhere says which filter removed whom.
    status, body = _create(dep, "one-too-many", big, image, token=ADMIN_TOKEN)
    assert status == 202, body
    fault = dep.wait_server(body["server"]["id"], "ERROR")["fault"]["message"]
    assert "ResourceFilter removed 3" in fault and "memory_mb" in fault, fault


def test_reschedule_after_spawn_failure_and_host_down(deployment):
    dep = deployment
    dep.start_controller()
    # c1 is the roomiest host, so the scheduler tries it first; its spawns fail.
    dep.start("c1", "compute", dep.compute_config("c1", vcpus=32, memory_mb=65536,
                                                  local_gb=1000, fail_operations="spawn"))
    dep.start("c2", "compute", dep.compute_config("c2", **HOST_SIZE))
    dep.wait_computes_up(["c1", "c2"])
    flavor = dep.add_flavor("m1.small", ram=512)
    image = dep.add_image()

    status, body = _create(dep, "phoenix", flavor, image)
    assert status == 202, body
    server = dep.wait_server(body["server"]["id"], "ACTIVE")
    assert server["OS-EXT-SRV-ATTR:host"] == "c2"
    def build_results():
        build_events = _events(dep, server["id"])["create"]
        return sorted((e.get("host"), e["result"]) for e in build_events
                      if e["event"] == "compute_build_and_run_instance")

    wait_for(lambda: build_results() == [("c1", "Error"), ("c2", "Success")], 10,
             what="a failed build on c1 and a successful one on c2")
    assert _used(dep)["c1"] == (0, 0)

    # Its host goes down: actions that need the host are refused, delete still works.
    dep.signal("c2", signal.SIGKILL)
    dep.processes["c2"].wait(10)
    wait_for(lambda: _used_state(dep)["c2"] == "down", 15, what="c2 down")
    assert _action(dep, server["id"], {"os-stop": None}) == 409
    assert dep.server(server["id"])["status"] == "ACTIVE"  # nothing half-changed
    assert dep.api("DELETE", f"/servers/{server['id']}", token=MEMBER_TOKEN).status_code == 204
    wait_for(lambda: dep.api("GET", f"/servers/{server['id']}").status_code == 404, 10,
             what="local delete")
    assert _used(dep)["c2"] == (0, 0)


def _used_state(dep) -> dict[str, str]:
    resp = dep.api("GET", "/os-hypervisors")
    return {h["hypervisor_hostname"]: h["state"] for h in resp.json()["hypervisors"]}
