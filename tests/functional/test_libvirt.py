"""The libvirt driver for real: API, conductor and scheduler as processes, RabbitMQ,
PostgreSQL, and three compute agents each driving its own libvirtd "host" running real
QEMU (TCG) guests that print a tick counter on their serial console.

hosta and hostb share one instances path (a live migration between them moves only
memory); hostc has its own (block migration), and caps its live-migration bandwidth so
that a migration from it is slow enough to watch and abort.
"""

from __future__ import annotations

import re
import time
import uuid
from pathlib import Path

import pytest

from tests.functional.fixtures import ADMIN_TOKEN, wait_for
from tests.functional.libvirt_hosts import (
    LibvirtHost,
    booted_lines,
    build_guest,
    console_ticks,
    read_console,
    require_libvirt,
    wait_for_console,
)

pytestmark = pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)

HOSTS = ("hosta", "hostb", "hostc")
CMDLINE = "console=ttyS0 quiet panic=-1"
SLOW_SOURCE = "hostc"
SLOW_BANDWIDTH = 1  # MiB/s: the filled guest needs about a minute to move
FILL_MB = 48
MIB = 2**20


@pytest.fixture
def plane(deployment, tmp_path):
    """Three libvirt hosts with a compute agent each, and the controller."""
    require_libvirt()
    guest = build_guest()
    dep = deployment
    shared = tmp_path / "shared-instances"
    paths = {"hosta": shared, "hostb": shared, "hostc": tmp_path / "hostc-instances"}
    hosts = {name: LibvirtHost(name, tmp_path / "libvirt", host_uuid=str(uuid.uuid4()))
             for name in HOSTS}
    try:
        for host in hosts.values():
            host.start()
        dep.start_controller()
        for name, host in hosts.items():
            libvirt_opts = {
                "connection_uri": host.uri, "virt_type": "qemu",
                "instances_path": paths[name],
                "live_migration_inbound_addr": "127.0.0.1",
                "live_migration_inbound_uri": host.uri,
            }
            if name == SLOW_SOURCE:
                libvirt_opts["live_migration_bandwidth"] = SLOW_BANDWIDTH
            dep.start(name, "compute", dep.compute_config(name, libvirt=libvirt_opts,
                                                          driver="libvirt"))
        dep.wait_computes_up(list(HOSTS), timeout=60)
        kernel = dep.add_image("tick-kernel", path=guest.kernel)
        ramdisk = dep.add_image("tick-ramdisk", path=guest.initrd)
        boot = {"kernel_id": kernel, "ramdisk_id": ramdisk}
        images = {
            "tick": dep.add_image("tick", path=guest.root,
                                  properties={**boot, "os_command_line": CMDLINE}),
            "busy": dep.add_image("tick-busy", path=guest.root, properties={
                **boot, "os_command_line": f"{CMDLINE} novalite_fill_mb={FILL_MB}"}),
        }
        flavors = {"small": dep.add_flavor("small", ram=128, vcpus=1, disk=1),
                   "large": dep.add_flavor("large", ram=192, vcpus=2, disk=2)}
        yield Plane(dep, dict(hosts), paths, images, flavors)
    finally:
        dep.stop_all()
        for host in hosts.values():
            host.stop()


class Plane:
    def __init__(self, dep, hosts: dict[str, LibvirtHost], paths: dict[str, Path],
                 images: dict[str, str], flavors: dict[str, str]) -> None:
        self.dep, self.hosts, self.paths = dep, hosts, paths
        self.images, self.flavors = images, flavors

    def boot(self, image: str, host: str) -> str:
        resp = self.dep.api("POST", "/servers", version="2.90", json={"server": {
            "name": f"{image}-vm", "flavorRef": self.flavors["small"],
            "imageRef": self.images[image], "networks": "none", "host": host}})
        assert resp.status_code == 202, resp.text
        sid = resp.json()["server"]["id"]
        self.dep.wait_server(sid, "ACTIVE", timeout=120)
        return sid

    def console(self, sid: str, host: str) -> Path:
        return self.paths[host] / sid / "console.log"

    def action(self, sid: str, body: dict, version: str = "2.90") -> None:
        resp = self.dep.api("POST", f"/servers/{sid}/action", token=ADMIN_TOKEN,
                            version=version, json=body)
        assert resp.status_code in (202, 204), resp.text

    def settle(self, sid: str, status: str, timeout: float = 120) -> dict:
        """Wait for `status` with no task in progress."""
        def done():
            server = self.dep.server(sid)
            if server["status"] == "ERROR":
                raise AssertionError(f"server went to ERROR: {server.get('fault')}")
            ok = server["status"] == status and server["OS-EXT-STS:task_state"] is None
            return server if ok else None

        return wait_for(done, timeout, interval=0.5, what=f"server {sid} {status}")

    def running_on(self, sid: str) -> list[str]:
        return [name for name, host in self.hosts.items() if host.running(sid)]

    def defined_on(self, sid: str) -> list[str]:
        return [name for name, host in self.hosts.items()
                if f"instance-{sid}" in host.domain_names()]

    def migrations(self, sid: str) -> list[dict]:
        resp = self.dep.api("GET", f"/os-migrations?instance_uuid={sid}", version="2.80")
        return sorted(resp.json()["migrations"], key=lambda m: m["id"])


def _host_of(server: dict) -> str:
    return server["OS-EXT-SRV-ATTR:host"]


def _continues(before: list[tuple[int, str]], after_path: Path, offset: int = 0) -> None:
    """The guest kept running: ticks after the move continue the count of the same boot."""
    wait_for_console(after_path, "tick ", timeout=30, after=offset)
    last_tick, boot = before[-1]
    text = read_console(after_path)[offset:]
    later = [(int(n), b) for n, b in re.findall(r"tick (\d+) up=\S+ boot=(\S+)", text)]
    assert later, text[-500:]
    assert later[0][1] == boot, (before[-3:], later[:3])
    assert last_tick < later[0][0] <= last_tick + 3, (before[-3:], later[:3])
    assert "GUEST-BOOTED" not in text


def _live_migrate(plane: Plane, sid: str, dest: str) -> dict:
    plane.action(sid, {"os-migrateLive": {"host": dest, "block_migration": "auto"}})
    server = plane.settle(sid, "ACTIVE")
    assert plane.migrations(sid)[-1]["status"] == "completed", plane.migrations(sid)[-1]
    assert _host_of(server) == dest
    return server


def test_a_real_guest_through_every_flow(plane):
    dep = plane.dep
    sid = plane.boot("tick", "hosta")
    console_a = plane.console(sid, "hosta")
    wait_for_console(console_a, "tick 1 ")
    first = booted_lines(console_a)
    assert len(first) == 1 and first[0]["marker"] == "NOVALITE-ROOT-MARKER", first
    assert first[0]["cpus"] == 1 and first[0]["vda_bytes"] == 1 * 2**30
    assert plane.running_on(sid) == ["hosta"]

    # stop / start: the guest boots again.
    plane.action(sid, {"os-stop": None})
    plane.settle(sid, "SHUTOFF")
    assert plane.running_on(sid) == []
    plane.action(sid, {"os-start": None})
    plane.settle(sid, "ACTIVE")
    wait_for(lambda: len(booted_lines(console_a)) == 2, 60, what="second boot")
    wait_for_console(console_a, "tick 2 ", after=read_console(console_a).rindex("GUEST-BOOTED"))

    # The guest powers itself off: libvirt's lifecycle event, not the API, tells the
    # compute agent (its periodic sync runs only every minute).
    plane.hosts["hosta"].connection().lookupByUUIDString(sid).shutdown()
    plane.settle(sid, "SHUTOFF", timeout=20)
    plane.action(sid, {"os-start": None})
    plane.settle(sid, "ACTIVE")
    wait_for(lambda: len(booted_lines(console_a)) == 3, 60, what="third boot")
    wait_for_console(console_a, "tick 2 ", after=read_console(console_a).rindex("GUEST-BOOTED"))

    # Live migration over the shared instances path: same console file, no reboot.
    before = console_ticks(console_a)
    offset = len(read_console(console_a))
    _live_migrate(plane, sid, "hostb")
    assert plane.running_on(sid) == ["hostb"] and plane.defined_on(sid) == ["hostb"]
    _continues(before, plane.console(sid, "hostb"), offset)

    # Block migration to a host with its own instances path.
    before = console_ticks(plane.console(sid, "hostb"))
    _live_migrate(plane, sid, "hostc")
    assert plane.running_on(sid) == ["hostc"] and plane.defined_on(sid) == ["hostc"]
    assert not (plane.paths["hostb"] / sid).exists() or plane.paths["hostb"] == plane.paths[
        "hostc"]
    _continues(before, plane.console(sid, "hostc"))
    boots = len(booted_lines(plane.console(sid, "hostc")))

    # Cold migration to hosta, confirmed: the guest boots there from the copied disk.
    plane.action(sid, {"migrate": {"host": "hosta"}}, version="2.56")
    server = plane.settle(sid, "VERIFY_RESIZE")
    assert _host_of(server) == "hosta" and plane.running_on(sid) == ["hosta"]
    plane.action(sid, {"confirmResize": None})
    plane.settle(sid, "ACTIVE")
    assert plane.defined_on(sid) == ["hosta"]
    assert not (plane.paths["hostc"] / sid).exists()
    assert not (plane.paths["hostc"] / f"{sid}_resize").exists()
    wait_for(lambda: len(booted_lines(console_a)) > boots, 60, what="boot on hosta")
    after_move = booted_lines(console_a)[-1]
    assert after_move["boot"] != first[0]["boot"] and after_move["cpus"] == 1

    # Resize to a larger flavor, reverted: back on hosta with the old size.
    boots = len(booted_lines(console_a))
    plane.action(sid, {"resize": {"flavorRef": plane.flavors["large"]}})
    server = plane.settle(sid, "VERIFY_RESIZE")
    target = _host_of(server)
    assert target != "hosta" and plane.running_on(sid) == [target]
    resized = plane.console(sid, target)
    wait_for(lambda: booted_lines(resized) and booted_lines(resized)[-1]["cpus"] == 2, 60,
             what="the resized guest booting")
    grown = booted_lines(resized)[-1]
    assert grown["vda_bytes"] == 2 * 2**30 and grown["mem_kb"] > first[0]["mem_kb"]
    plane.action(sid, {"revertResize": None})
    server = plane.settle(sid, "ACTIVE")
    assert _host_of(server) == "hosta" and plane.running_on(sid) == ["hosta"]
    assert plane.defined_on(sid) == ["hosta"]
    wait_for(lambda: len(booted_lines(console_a)) > boots, 60, what="boot after revert")
    assert booted_lines(console_a)[-1]["cpus"] == 1
    assert booted_lines(console_a)[-1]["vda_bytes"] == 1 * 2**30

    # Delete: the domain and the instance directory go.
    assert dep.api("DELETE", f"/servers/{sid}").status_code == 204
    wait_for(lambda: dep.api("GET", f"/servers/{sid}").status_code == 404, 60,
             what="server deleted")
    assert plane.defined_on(sid) == []
    assert not (plane.paths["hosta"] / sid).exists()


def test_abort_a_bandwidth_capped_live_migration(plane):
    dep = plane.dep
    sid = plane.boot("busy", SLOW_SOURCE)
    console = plane.console(sid, SLOW_SOURCE)
    wait_for_console(console, f"FILLED {FILL_MB}", timeout=120)
    plane.action(sid, {"os-migrateLive": {"host": "hosta", "block_migration": "auto"}})

    def progress() -> list[dict]:
        resp = dep.api("GET", f"/servers/{sid}/migrations", version="2.80")
        assert resp.status_code == 200, resp.text
        migs = resp.json()["migrations"]
        return migs if migs and (migs[0]["memory_processed_bytes"] or 0) > 0 else []

    seen = wait_for(progress, 60, interval=0.3, what="memory progress")[0]
    assert seen["memory_total_bytes"] >= 128 * MIB
    assert seen["memory_remaining_bytes"] > 0
    time.sleep(2)
    later = wait_for(progress, 10, interval=0.3, what="memory progress")[0]
    assert later["memory_processed_bytes"] > seen["memory_processed_bytes"], (seen, later)
    # Capped at 1 MiB/s: a couple of seconds move a few MiB, far from the filled memory.
    assert later["memory_processed_bytes"] < (FILL_MB // 2) * MIB + seen[
        "memory_processed_bytes"]

    resp = dep.api("DELETE", f"/servers/{sid}/migrations/{later['id']}", version="2.24")
    assert resp.status_code == 202, resp.text
    server = plane.settle(sid, "ACTIVE", timeout=60)
    assert _host_of(server) == SLOW_SOURCE
    assert plane.migrations(sid)[-1]["status"] == "cancelled"
    assert plane.running_on(sid) == [SLOW_SOURCE] and plane.defined_on(sid) == [SLOW_SOURCE]
    assert not (plane.paths["hosta"] / sid).exists()
    ticks = console_ticks(console)
    wait_for(lambda: console_ticks(console)[-1][0] > ticks[-1][0], 10,
             what="the guest still ticking on the source")


def test_destination_dies_during_a_live_migration(plane):
    """hosta's libvirtd (and the half-arrived guest) disappear mid-way: the guest runs on
    at the source, the migration fails, and hosta holds no memory for it."""
    dep = plane.dep
    sid = plane.boot("busy", SLOW_SOURCE)
    console = plane.console(sid, SLOW_SOURCE)
    wait_for_console(console, f"FILLED {FILL_MB}", timeout=120)
    plane.action(sid, {"os-migrateLive": {"host": "hosta", "block_migration": "auto"}})

    def running() -> bool:
        migs = dep.api("GET", f"/servers/{sid}/migrations", version="2.80").json()
        return bool(migs["migrations"]) and migs["migrations"][0]["status"] == "running"

    wait_for(running, 60, interval=0.3, what="the migration running")
    time.sleep(1)
    plane.hosts.pop("hosta").stop()

    server = plane.settle(sid, "ACTIVE", timeout=90)
    assert _host_of(server) == SLOW_SOURCE
    assert plane.migrations(sid)[-1]["status"] == "failed"
    assert plane.running_on(sid) == [SLOW_SOURCE]
    assert "hosta" not in dep.memory_used()
    actions = dep.api("GET", f"/servers/{sid}/os-instance-actions", version="2.90").json()
    live = next(a for a in actions["instanceActions"] if a["action"] == "live-migration")
    events = dep.api("GET", f"/servers/{sid}/os-instance-actions/{live['request_id']}",
                     version="2.90").json()["instanceAction"]["events"]
    assert any(e["result"] == "Error" for e in events), events
    ticks = console_ticks(console)
    wait_for(lambda: console_ticks(console)[-1][0] > ticks[-1][0], 10,
             what="the guest still ticking on the source")
