"""Resize, cold migration, confirm, revert and auto-confirm through the REST API, with
every service its own process, RabbitMQ and PostgreSQL, on three fake hosts."""

from __future__ import annotations

import concurrent.futures
import threading
import time

import pytest

from tests.functional.fixtures import ADMIN_TOKEN, MEMBER_TOKEN, wait_for

pytestmark = pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)

HOSTS = ["c1", "c2", "c3"]
SIZE = {"vcpus": 8, "memory_mb": 8192, "local_gb": 100}


class Recorder:
    """Samples (status, vm_state, task_state, migration status) through the API while a
    flow runs, so the test can compare the sequence it saw with DESIGN §4."""

    def __init__(self, dep, server_id: str) -> None:
        self.dep, self.server_id = dep, server_id
        self.seen: list[tuple] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _states(self) -> tuple:
        server = self.dep.server(self.server_id)
        return server["OS-EXT-STS:vm_state"], server["OS-EXT-STS:task_state"]

    def _sample(self) -> tuple:
        """A consistent sample: the migration read while the server's state held still
        (two reads of it, equal, around the migration's)."""
        while True:
            before = self._states()
            migs = self.dep.api("GET", f"/os-migrations?instance_uuid={self.server_id}",
                                version="2.80").json()["migrations"]
            if self._states() == before:
                newest = max(migs, key=lambda m: m["id"])["status"] if migs else None
                return (*before, newest)

    def _run(self) -> None:
        while not self._stop.is_set():
            sample = self._sample()
            if not self.seen or self.seen[-1] != sample:
                self.seen.append(sample)
            time.sleep(0.005)

    def __enter__(self) -> Recorder:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(5)
        self.seen.append(self._sample())


def _is_subsequence(observed: list[tuple], allowed: list[tuple]) -> bool:
    """Every observed sample is in `allowed`, in that order (samples may be skipped)."""
    position = 0
    for sample in observed:
        while position < len(allowed) and allowed[position] != sample:
            position += 1
        if position == len(allowed):
            return False
    return True


def _setup(dep, **compute):
    dep.start_controller()
    for host in HOSTS:
        dep.start(host, "compute", dep.compute_config(host, compute=compute, **SIZE))
    dep.wait_computes_up(HOSTS)
    flavors = {}
    for name, ram, vcpus in (("small", 512, 1), ("big", 1024, 2)):
        resp = dep.api("POST", "/flavors", json={"flavor": {
            "name": name, "ram": ram, "vcpus": vcpus, "disk": 1, "id": None}})
        flavors[name] = resp.json()["flavor"]["id"]
    return flavors, dep.add_image()


def _boot(dep, flavor: str, image: str) -> dict:
    resp = dep.api("POST", "/servers", token=MEMBER_TOKEN, version="2.90", json={"server": {
        "name": "vm", "flavorRef": flavor, "imageRef": image, "networks": "none"}})
    assert resp.status_code == 202, resp.text
    return dep.wait_server(resp.json()["server"]["id"], "ACTIVE")


def _act(dep, server_id: str, body: dict, token: str = MEMBER_TOKEN,
         version: str = "2.90") -> int:
    return dep.api("POST", f"/servers/{server_id}/action", token=token, version=version,
                   json=body).status_code


def _memory_used(dep) -> dict[str, int]:
    resp = dep.api("GET", "/os-hypervisors/detail", version="2.87")
    return {h["hypervisor_hostname"]: h["memory_mb_used"] for h in resp.json()["hypervisors"]
            if h["memory_mb_used"]}


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
    server = _boot(dep, flavors["small"], image)
    sid, source = server["id"], server["OS-EXT-SRV-ATTR:host"]

    with Recorder(dep, sid) as rec:
        assert _act(dep, sid, {"resize": {"flavorRef": flavors["big"]}}) == 202
        resized = _stable(dep, sid, "VERIFY_RESIZE")
    assert _is_subsequence(rec.seen, RESIZE_SEQUENCE), rec.seen
    dest = resized["OS-EXT-SRV-ATTR:host"]
    assert dest != source and resized["flavor"]["original_name"] == "big"
    assert _memory_used(dep) == {source: 512, dest: 1024}

    with Recorder(dep, sid) as rec:
        assert _act(dep, sid, {"confirmResize": None}) == 204
        confirmed = _stable(dep, sid, "ACTIVE")
    assert _is_subsequence(rec.seen, [("resized", None, "finished"),
                                      ("resized", "resize_confirming", "confirming"),
                                      ("resized", "resize_confirming", "confirmed"),
                                      ("active", None, "confirmed")]), rec.seen
    assert confirmed["OS-EXT-SRV-ATTR:host"] == dest
    assert _memory_used(dep) == {dest: 1024}

    # Resize back down, then revert: the server returns to `dest` with the big flavor.
    assert _act(dep, sid, {"resize": {"flavorRef": flavors["small"]}}) == 202
    second = _stable(dep, sid, "VERIFY_RESIZE")["OS-EXT-SRV-ATTR:host"]
    with Recorder(dep, sid) as rec:
        assert _act(dep, sid, {"revertResize": None}) == 202
        reverted = _stable(dep, sid, "ACTIVE")
    assert _is_subsequence(rec.seen, [("resized", None, "finished"),
                                      ("resized", "resize_reverting", "reverting"),
                                      ("resized", "resize_reverting", "reverted"),
                                      ("active", None, "reverted")]), rec.seen
    assert reverted["OS-EXT-SRV-ATTR:host"] == dest != second
    assert reverted["flavor"]["original_name"] == "big"
    assert _memory_used(dep) == {dest: 1024}

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
    assert _memory_used(dep) == {target: 1024}

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
    assert _memory_used(dep) == {final["OS-EXT-SRV-ATTR:host"]: expected}


def test_resize_confirms_itself_after_the_window(deployment):
    dep = deployment
    flavors, image = _setup(dep, resize_confirm_window=2)
    sid = _boot(dep, flavors["small"], image)["id"]
    assert _act(dep, sid, {"resize": {"flavorRef": flavors["big"]}}) == 202
    _stable(dep, sid, "VERIFY_RESIZE")
    server = _stable(dep, sid, "ACTIVE")  # nobody confirms: the destination does
    migs = dep.api("GET", f"/os-migrations?instance_uuid={sid}").json()["migrations"]
    assert [m["status"] for m in migs] == ["confirmed"]
    assert _memory_used(dep) == {server["OS-EXT-SRV-ATTR:host"]: 1024}



def test_destination_failure_ends_in_error_with_allocations_where_it_lives(deployment):
    dep = deployment
    dep.start_controller()
    dep.start("c1", "compute", dep.compute_config("c1", **SIZE))
    dep.wait_computes_up(["c1"])
    flavors = {}
    for name, ram in (("small", 512), ("big", 1024)):
        flavors[name] = dep.api("POST", "/flavors", json={"flavor": {
            "name": name, "ram": ram, "vcpus": 1, "disk": 1, "id": None}}).json()["flavor"]["id"]
    sid = _boot(dep, flavors["small"], dep.add_image())["id"]
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
    assert _memory_used(dep) == {"c2": 1024}  # where it lives, with the flavor it has
