"""Resize, cold migration, confirm, revert and auto-confirm through the REST API, with
every service its own process, RabbitMQ and PostgreSQL, on three fake hosts."""

from __future__ import annotations

import concurrent.futures

import pytest

from tests.functional.fixtures import (
    ADMIN_TOKEN,
    MEMBER_TOKEN,
    Recorder,
    is_subsequence,
    wait_for,
)

pytestmark = pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)

HOSTS = ["c1", "c2", "c3"]
SIZE = {"vcpus": 8, "memory_mb": 8192, "local_gb": 100}


def _setup(dep, **compute):
    dep.start_controller()
    for host in HOSTS:
        dep.start(host, "compute", dep.compute_config(host, compute=compute, **SIZE))
    dep.wait_computes_up(HOSTS)
    flavors = {"small": dep.add_flavor("small", ram=512),
               "big": dep.add_flavor("big", ram=1024, vcpus=2)}
    return flavors, dep.add_image()


def _act(dep, server_id: str, body: dict, token: str = MEMBER_TOKEN,
         version: str = "2.90") -> int:
    return dep.api("POST", f"/servers/{server_id}/action", token=token, version=version,
                   json=body).status_code


def _stable(dep, server_id: str, status: str) -> dict:
    dep.wait_server(server_id, status)
    return wait_for(lambda: (s := dep.server(server_id))["OS-EXT-STS:task_state"] is None
                    and s["status"] == status and s, 15, what=f"{status} with no task")


RESIZE_SEQUENCE = [
    ("active", None, None), ("active", "resize_prep", None),
    ("active", "resize_prep", "pre-migrating"), ("active", "resize_migrating", "pre-migrating"),
    ("active", "resize_migrating", "migrating"), ("active", "resize_migrated", "migrating"),
    ("active", "resize_migrated", "post-migrating"), ("active", "resize_finish", "post-migrating"),
    ("active", "resize_finish", "finished"), ("resized", None, "finished"),
]


def test_resize_confirm_revert_and_cold_migrate(deployment):
    dep = deployment
    flavors, image = _setup(dep)
    server = dep.boot(flavors["small"], image)
    sid, source = server["id"], server["OS-EXT-SRV-ATTR:host"]

    with Recorder(dep, sid) as rec:
        assert _act(dep, sid, {"resize": {"flavorRef": flavors["big"]}}) == 202
        resized = _stable(dep, sid, "VERIFY_RESIZE")
    assert is_subsequence(rec.seen, RESIZE_SEQUENCE), rec.seen
    dest = resized["OS-EXT-SRV-ATTR:host"]
    assert dest != source and resized["flavor"]["original_name"] == "big"
    assert dep.memory_used() == {source: 512, dest: 1024}

    with Recorder(dep, sid) as rec:
        assert _act(dep, sid, {"confirmResize": None}) == 204
        confirmed = _stable(dep, sid, "ACTIVE")
    assert is_subsequence(rec.seen, [("resized", None, "finished"),
                                      ("resized", "resize_confirming", "confirming"),
                                      ("resized", "resize_confirming", "confirmed"),
                                      ("active", None, "confirmed")]), rec.seen
    assert confirmed["OS-EXT-SRV-ATTR:host"] == dest
    assert dep.memory_used() == {dest: 1024}

    # Resize back down, then revert: the server returns to `dest` with the big flavor.
    assert _act(dep, sid, {"resize": {"flavorRef": flavors["small"]}}) == 202
    second = _stable(dep, sid, "VERIFY_RESIZE")["OS-EXT-SRV-ATTR:host"]
    with Recorder(dep, sid) as rec:
        assert _act(dep, sid, {"revertResize": None}) == 202
        reverted = _stable(dep, sid, "ACTIVE")
    assert is_subsequence(rec.seen, [("resized", None, "finished"),
                                      ("resized", "resize_reverting", "reverting"),
                                      ("resized", "resize_reverting", "reverted"),
                                      ("active", None, "reverted")]), rec.seen
    assert reverted["OS-EXT-SRV-ATTR:host"] == dest != second
    assert reverted["flavor"]["original_name"] == "big"
    assert dep.memory_used() == {dest: 1024}

    # Cold migration, scheduler's choice, then to a named host (admin), each confirmed.
    assert _act(dep, sid, {"migrate": None}, token=ADMIN_TOKEN) == 202
    moved = _stable(dep, sid, "VERIFY_RESIZE")["OS-EXT-SRV-ATTR:host"]
    assert moved != dest
    assert _act(dep, sid, {"confirmResize": None}) == 204
    _stable(dep, sid, "ACTIVE")
    target = next(h for h in HOSTS if h != moved)
    assert _act(dep, sid, {"migrate": {"host": target}}, token=ADMIN_TOKEN) == 202
    assert _stable(dep, sid, "VERIFY_RESIZE")["OS-EXT-SRV-ATTR:host"] == target
    assert _act(dep, sid, {"confirmResize": None}) == 204
    _stable(dep, sid, "ACTIVE")
    assert dep.memory_used() == {target: 1024}

    migrations = dep.api("GET", f"/os-migrations?instance_uuid={sid}",
                         version="2.80").json()["migrations"]
    assert sorted(m["status"] for m in migrations) == [
        "confirmed", "confirmed", "confirmed", "reverted"]

    # A stopped server resizes and confirms to SHUTOFF.
    assert _act(dep, sid, {"os-stop": None}) == 202
    _stable(dep, sid, "SHUTOFF")
    assert _act(dep, sid, {"resize": {"flavorRef": flavors["small"]}}) == 202
    assert _stable(dep, sid, "VERIFY_RESIZE")["OS-EXT-STS:power_state"] == 4
    assert _act(dep, sid, {"confirmResize": None}) == 204
    assert _stable(dep, sid, "SHUTOFF")["flavor"]["original_name"] == "small"

    # 10 concurrent confirm/revert requests: exactly one accepted.
    assert _act(dep, sid, {"os-start": None}) == 202
    _stable(dep, sid, "ACTIVE")
    assert _act(dep, sid, {"resize": {"flavorRef": flavors["big"]}}) == 202
    _stable(dep, sid, "VERIFY_RESIZE")
    bodies = [{"confirmResize": None}, {"revertResize": None}] * 5
    with concurrent.futures.ThreadPoolExecutor(10) as pool:
        codes = list(pool.map(lambda b: _act(dep, sid, b), bodies))
    assert sorted(c for c in codes if c != 409) in ([202], [204]), codes
    assert codes.count(409) == 9, codes
    final = _stable(dep, sid, "ACTIVE")
    expected = 1024 if 204 in codes else 512
    assert dep.memory_used() == {final["OS-EXT-SRV-ATTR:host"]: expected}


def test_resize_confirms_itself_after_the_window(deployment):
    dep = deployment
    flavors, image = _setup(dep, resize_confirm_window=2)
    sid = dep.boot(flavors["small"], image)["id"]
    assert _act(dep, sid, {"resize": {"flavorRef": flavors["big"]}}) == 202
    _stable(dep, sid, "VERIFY_RESIZE")
    server = _stable(dep, sid, "ACTIVE")  # nobody confirms: the destination does
    migs = dep.api("GET", f"/os-migrations?instance_uuid={sid}").json()["migrations"]
    assert [m["status"] for m in migs] == ["confirmed"]
    assert dep.memory_used() == {server["OS-EXT-SRV-ATTR:host"]: 1024}



def test_destination_failure_ends_in_error_with_allocations_where_it_lives(deployment):
    dep = deployment
    dep.start_controller()
    dep.start("c1", "compute", dep.compute_config("c1", **SIZE))
    dep.wait_computes_up(["c1"])
    flavors = {"small": dep.add_flavor("small", ram=512),
               "big": dep.add_flavor("big", ram=1024)}
    sid = dep.boot(flavors["small"], dep.add_image())["id"]
    # The only other host cannot finish a resize.
    dep.start("c2", "compute", dep.compute_config("c2", fail_operations="finish_migration",
                                                  **SIZE))
    dep.wait_computes_up(["c2"])

    assert _act(dep, sid, {"resize": {"flavorRef": flavors["big"]}}) == 202
    server = _stable(dep, sid, "ERROR")
    assert server["OS-EXT-SRV-ATTR:host"] == "c2"
    assert "finish_migration failure injected on c2" in server["fault"]["message"]
    migs = dep.api("GET", f"/os-migrations?instance_uuid={sid}").json()["migrations"]
    assert [m["status"] for m in migs] == ["error"]
    assert dep.memory_used() == {"c2": 1024}  # where it lives, with the flavor it has
