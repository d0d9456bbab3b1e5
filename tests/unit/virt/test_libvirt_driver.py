"""The libvirt driver against libvirt's in-process test driver (test:///default), with
real qemu-img disks under tmp_path.

test:///default keeps its state while any connection to it is open in this process and
resets when the last one closes: the `conn` fixture holds one open for the whole test
(and checks that the test left no domain behind). Every driver of a test talks to that
same "host", so two drivers ("src" and "dst") share their domains; the migration tests
check the disk side, which is per driver (each has its own instances path).
"""

from __future__ import annotations

import json
import os
import threading
import time
import uuid as uuid_lib
import xml.etree.ElementTree as ET
from pathlib import Path
from types import SimpleNamespace
from unittest import mock

import pytest

from novalite import exception
from novalite.image import api as image_api
from novalite.objects.instance import Instance
from novalite.states import PowerState
from novalite.virt.libvirt import disk

libvirt = pytest.importorskip("libvirt")

from novalite.virt.libvirt import driver as libvirt_driver  # noqa: E402
from novalite.virt.libvirt import host as libvirt_host  # noqa: E402

GIB = 2**30
MIB = 2**20
URI = "test:///default"
FLAVOR = {"name": "m1.small", "memory_mb": 128, "vcpus": 2, "root_gb": 1,
          "ephemeral_gb": 1, "swap": 64}
BIGGER = {"name": "m1.medium", "memory_mb": 256, "vcpus": 3, "root_gb": 2,
          "ephemeral_gb": 2, "swap": 64}


# -- fixtures ----------------------------------------------------------------------------

@pytest.fixture(autouse=True)
def fast(monkeypatch):
    monkeypatch.setattr(libvirt_driver, "POWER_POLL", 0.01)


def instance_domains(conn) -> list:
    return [d for d in conn.listAllDomains(0) if d.name().startswith("instance-")]


@pytest.fixture
def conn():
    """A connection to test:///default held open for the test (so its state persists);
    at teardown no instance domain may be left."""
    libvirt_host._start_event_loop()  # before the first connection, as the driver does
    conn = libvirt.open(URI)
    assert instance_domains(conn) == []
    yield conn
    leftovers = instance_domains(conn)
    names = [d.name() for d in leftovers]
    for domain in leftovers:
        if domain.isActive():
            domain.destroy()
        domain.undefine()
    conn.close()
    assert names == [], "the test left domains behind"


@pytest.fixture
def images(tmp_path, flags) -> SimpleNamespace:
    """An image store with a 1 MiB raw disk image, a kernel, a ramdisk and a
    kernel-boot image that names them."""
    store = tmp_path / "images"
    store.mkdir()
    flags("local_dir", str(store), group="image")
    root = store / "root.raw"
    with open(root, "wb") as handle:
        handle.write(b"bootloader")
        handle.truncate(MIB)
    (store / "vmlinuz").write_bytes(b"kernel image " * 100)
    (store / "initrd").write_bytes(b"initramfs " * 100)
    kernel = image_api.add(store / "vmlinuz", "kernel")
    ramdisk = image_api.add(store / "initrd", "ramdisk")
    return SimpleNamespace(
        disk=image_api.add(root, "disk-image"),
        kernel_boot=image_api.add(root, "kernel-image", properties={
            "kernel_id": kernel["id"], "ramdisk_id": ramdisk["id"],
            "os_command_line": "console=ttyS0 quiet"}),
        kernel=kernel, ramdisk=ramdisk, root=root)


@pytest.fixture
def make_driver(conn, flags, tmp_path):
    """make(host="src", path=None): an initialised LibvirtDriver on test:///default with
    its own instances path (default tmp_path/instances)."""
    flags("connection_uri", URI)
    flags("virt_type", "qemu")
    drivers: list = []

    def make(host: str = "src", path: Path | None = None, init: bool = True):
        flags("instances_path", str(path or tmp_path / "instances"))
        drv = libvirt_driver.LibvirtDriver(host)
        if init:
            drv.init_host()
        drivers.append(drv)
        return drv

    yield make
    for drv in drivers:
        drv.cleanup_host()


@pytest.fixture
def drv(make_driver):
    return make_driver()


def new_instance(flavor: dict | None = None, **fields) -> Instance:
    fields.setdefault("host", "src")
    return Instance(uuid=str(uuid_lib.uuid4()), name="vm-1", flavor=dict(flavor or FLAVOR),
                    **fields)


@pytest.fixture
def inst() -> Instance:
    return new_instance()


def domain_of(conn, instance):
    return conn.lookupByUUIDString(instance.uuid)


def xml_of(conn, instance) -> ET.Element:
    return ET.fromstring(domain_of(conn, instance).XMLDesc(0))


def memory_mib(conn, instance) -> int:
    return int(xml_of(conn, instance).findtext("memory")) // 1024


def virtual_size(path: Path) -> int:
    return disk.info(path)["virtual-size"]


def wait_for(predicate, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


def files(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


# -- host ----------------------------------------------------------------------------------

@pytest.mark.parametrize("configured, direct_io, expected", [
    ("auto", True, "none"), ("auto", False, "writeback"),
    ("writethrough", True, "writethrough"), ("unsafe", False, "unsafe")])
def test_init_host_picks_the_cache_mode(make_driver, flags, tmp_path, configured, direct_io,
                                        expected) -> None:
    flags("disk_cachemode", configured)
    drv = make_driver(path=tmp_path / "new" / "instances", init=False)
    with mock.patch.object(libvirt_driver.disk, "supports_direct_io",
                           return_value=direct_io) as probe:
        drv.init_host()
    assert drv.cache_mode == expected
    assert (tmp_path / "new" / "instances").is_dir()
    if configured == "auto":
        probe.assert_called_once_with(tmp_path / "new" / "instances")
    else:
        probe.assert_not_called()


def test_init_host_probes_the_real_directory(drv, tmp_path) -> None:
    assert drv.cache_mode == ("none" if disk.supports_direct_io(tmp_path) else "writeback")
    assert drv.uri == URI and drv.instances_path == tmp_path / "instances"


def test_init_host_fails_on_a_bad_uri(make_driver, flags) -> None:
    flags("connection_uri", "test:///no/such/node.xml")
    drv = libvirt_driver.LibvirtDriver("src")
    with pytest.raises(exception.VirtDriverError, match="cannot connect"):
        drv.init_host()


def test_get_available_resource(drv, conn, flags) -> None:
    model, memory, cpus, *_ = conn.getInfo()
    res = drv.get_available_resource()
    assert (res.vcpus, res.memory_mb) == (cpus, memory)
    assert res.hypervisor_type == "QEMU"
    assert res.hypervisor_hostname == conn.getHostname()
    assert res.hypervisor_version == conn.getVersion()
    assert res.local_gb > 0 and 0 <= res.disk_available_least <= res.local_gb
    assert res.cpu_info["arch"] == model == "i686"
    assert res.host_ip == drv.inbound_address()
    flags("live_migration_inbound_addr", "192.0.2.7")
    assert drv.get_available_resource().host_ip == "192.0.2.7"


def test_list_instances(drv, images) -> None:
    assert drv.list_instances() == []  # the test host's own "test" domain is not ours
    first, second = new_instance(), new_instance()
    drv.spawn(first, images.disk, first.flavor)
    drv.spawn(second, images.disk, second.flavor)
    assert sorted(drv.list_instances()) == sorted([first.uuid, second.uuid])
    drv.power_off(second)
    assert sorted(drv.list_instances()) == sorted([first.uuid, second.uuid])  # defined
    drv.destroy(first)
    drv.destroy(second)
    assert drv.list_instances() == []


def test_lifecycle_events(drv, inst, images) -> None:
    events: list = []
    drv.register_lifecycle_listener(lambda uuid, state: events.append((uuid, state)))
    drv.spawn(inst, images.disk, inst.flavor)
    assert wait_for(lambda: (inst.uuid, PowerState.RUNNING) in events), events
    drv.power_off(inst)
    assert wait_for(lambda: (inst.uuid, PowerState.SHUTDOWN) in events), events
    assert events.index((inst.uuid, PowerState.RUNNING)) < \
        events.index((inst.uuid, PowerState.SHUTDOWN))
    del events[:]
    drv.power_on(inst)
    assert wait_for(lambda: (inst.uuid, PowerState.RUNNING) in events), events
    drv.destroy(inst)
    assert wait_for(lambda: events[-1] == (inst.uuid, PowerState.SHUTDOWN)), events
    assert {uuid for uuid, _ in events} == {inst.uuid}


def test_lifecycle_listener_errors_do_not_stop_events(drv, inst, images) -> None:
    events: list = []

    def listener(uuid, state):
        events.append((uuid, state))
        raise RuntimeError("listener bug")

    drv.register_lifecycle_listener(listener)
    drv.spawn(inst, images.disk, inst.flavor)
    assert wait_for(lambda: (inst.uuid, PowerState.RUNNING) in events), events
    drv.destroy(inst)
    assert wait_for(lambda: (inst.uuid, PowerState.SHUTDOWN) in events), events


# -- spawn and the instance directory -----------------------------------------------------

def test_spawn_disk_boot(drv, conn, inst, images, tmp_path) -> None:
    drv.spawn(inst, images.disk, inst.flavor)
    directory = tmp_path / "instances" / inst.uuid
    assert drv.instance_dir(inst) == directory
    assert files(directory) == ["disk", "disk.eph0", "disk.info", "disk.swap"]
    root = disk.info(directory / "disk")
    assert root["format"] == "qcow2" and root["virtual-size"] == 1 * GIB
    base = tmp_path / "instances" / "_base" / images.disk["id"]
    assert root["backing-filename"] == str(base)
    assert base.read_bytes() == images.root.read_bytes()
    assert disk.info(directory / "disk.eph0")["virtual-size"] == 1 * GIB
    assert disk.info(directory / "disk.swap")["virtual-size"] == 64 * MIB
    info = json.loads((directory / "disk.info").read_text())
    assert info["image_id"] == images.disk["id"] and info["image_format"] == "raw"
    assert info["kernel_id"] is None and info["ramdisk_id"] is None
    assert [(d["file"], d["kind"]) for d in info["disks"]] == [
        ("disk", "root"), ("disk.eph0", "ephemeral"), ("disk.swap", "swap")]

    domain = domain_of(conn, inst)
    assert domain.name() == f"instance-{inst.uuid}"
    assert domain.isActive() and domain.isPersistent()
    assert drv.get_info(inst) == PowerState.RUNNING
    xml = xml_of(conn, inst)
    assert xml.get("type") == "qemu"
    assert int(xml.findtext("memory")) == 128 * 1024
    assert xml.findtext("vcpu") == "2"
    assert xml.find("os/kernel") is None
    assert xml.find("cpu").get("mode") == "custom" and xml.findtext("cpu/model") == "qemu64"
    disks = xml.findall("devices/disk")
    assert [(d.find("source").get("file"), d.find("target").get("dev")) for d in disks] == [
        (str(directory / "disk"), "vda"), (str(directory / "disk.eph0"), "vdb"),
        (str(directory / "disk.swap"), "vdc")]
    assert {d.find("driver").get("cache") for d in disks} == {drv.cache_mode}
    assert xml.find("devices/serial/source").get("path") == str(directory / "console.log")
    ns = {"n": "http://novalite.dev/xmlns/libvirt/instance/1.0"}
    assert xml.findtext("metadata/n:instance/n:name", namespaces=ns) == "vm-1"
    assert xml.find("metadata/n:instance/n:flavor", ns).get("name") == "m1.small"
    drv.destroy(inst)


def test_spawn_kernel_boot(drv, conn, images, tmp_path, flags) -> None:
    flags("cpu_mode", "none")
    inst = new_instance({**FLAVOR, "ephemeral_gb": 0, "swap": 0, "memory_mb": 192,
                         "vcpus": 1})
    drv.spawn(inst, images.kernel_boot, inst.flavor)
    directory = tmp_path / "instances" / inst.uuid
    assert files(directory) == ["disk", "disk.info", "kernel", "ramdisk"]
    assert (directory / "kernel").read_bytes() == b"kernel image " * 100
    assert (directory / "ramdisk").read_bytes() == b"initramfs " * 100
    info = json.loads((directory / "disk.info").read_text())
    assert (info["kernel_id"], info["ramdisk_id"]) == (images.kernel["id"],
                                                       images.ramdisk["id"])
    assert info["cmdline"] == "console=ttyS0 quiet"
    assert [d["file"] for d in info["disks"]] == ["disk"]
    xml = xml_of(conn, inst)
    assert int(xml.findtext("memory")) == 192 * 1024 and xml.findtext("vcpu") == "1"
    assert xml.findtext("os/kernel") == str(directory / "kernel")
    assert xml.findtext("os/initrd") == str(directory / "ramdisk")
    assert xml.findtext("os/cmdline") == "console=ttyS0 quiet"
    assert xml.find("cpu") is None
    assert drv.get_info(inst) == PowerState.RUNNING
    drv.destroy(inst)


def test_spawn_kernel_boot_default_cmdline(drv, conn, images, flags) -> None:
    flags("kernel_cmdline", "console=ttyS0 panic=1")
    image = image_api.add(images.root, "no-cmdline", properties={
        "kernel_id": images.kernel["id"]})
    inst = new_instance()
    drv.spawn(inst, image, inst.flavor)
    xml = xml_of(conn, inst)
    assert xml.findtext("os/cmdline") == "console=ttyS0 panic=1"
    assert xml.find("os/initrd") is None
    drv.destroy(inst)


def test_spawn_root_gb_zero_uses_the_image_size(drv, images, tmp_path) -> None:
    inst = new_instance({**FLAVOR, "root_gb": 0, "ephemeral_gb": 0, "swap": 0})
    drv.spawn(inst, images.disk, inst.flavor)
    directory = tmp_path / "instances" / inst.uuid
    assert virtual_size(directory / "disk") == MIB
    assert files(directory) == ["disk", "disk.info"]
    drv.destroy(inst)


def test_spawn_shares_one_base_image(drv, images, tmp_path) -> None:
    first, second = new_instance(), new_instance()
    drv.spawn(first, images.disk, first.flavor)
    drv.spawn(second, images.disk, second.flavor)
    base_dir = tmp_path / "instances" / "_base"
    assert [p.name for p in base_dir.iterdir() if p.is_file()] == [images.disk["id"]]
    drv.destroy(first)
    drv.destroy(second)


# -- power -----------------------------------------------------------------------------

def test_get_info_without_a_domain(drv, inst) -> None:
    assert drv.get_info(inst) == PowerState.NOSTATE


def test_power_off_clean_shutdown(drv, conn, inst, images) -> None:
    drv.spawn(inst, images.disk, inst.flavor)
    with mock.patch.object(drv, "_hard_stop", wraps=drv._hard_stop) as hard_stop, \
            mock.patch.object(drv, "_clean_shutdown",
                              wraps=drv._clean_shutdown) as clean_shutdown:
        drv.power_off(inst)
    clean_shutdown.assert_called_once()
    assert clean_shutdown.call_args.args[1] == 60
    hard_stop.assert_not_called()
    assert drv.get_info(inst) == PowerState.SHUTDOWN
    assert domain_of(conn, inst).isPersistent()  # stopped, still defined
    drv.power_off(inst)  # already off
    assert drv.get_info(inst) == PowerState.SHUTDOWN
    drv.destroy(inst)


def test_power_off_timeout_zero_destroys(drv, conn, inst, images) -> None:
    drv.spawn(inst, images.disk, inst.flavor)
    with mock.patch.object(drv, "_hard_stop", wraps=drv._hard_stop) as hard_stop, \
            mock.patch.object(drv, "_clean_shutdown") as clean_shutdown:
        drv.power_off(inst, timeout=0)
    clean_shutdown.assert_not_called()
    hard_stop.assert_called_once()
    assert drv.get_info(inst) == PowerState.SHUTDOWN
    drv.destroy(inst)


def test_power_off_guest_ignoring_the_power_button_is_destroyed(drv, inst) -> None:
    domain = mock.Mock()
    domain.isActive.return_value = True
    with mock.patch.object(drv._host, "get_domain", return_value=domain):
        started = time.monotonic()
        drv.power_off(inst, timeout=0.1)
    assert time.monotonic() - started < 2
    domain.shutdown.assert_called_once_with()
    domain.destroy.assert_called_once_with()


def test_power_off_without_a_domain(drv, inst) -> None:
    drv.power_off(inst)
    drv.power_off(inst, timeout=0)
    assert drv.get_info(inst) == PowerState.NOSTATE


def test_power_on_regenerates_the_definition(drv, conn, inst, images) -> None:
    drv.spawn(inst, images.disk, inst.flavor)
    drv.power_off(inst)
    inst.flavor = {**inst.flavor, "memory_mb": 384, "vcpus": 4}
    drv.power_on(inst)
    assert drv.get_info(inst) == PowerState.RUNNING
    assert memory_mib(conn, inst) == 384 and xml_of(conn, inst).findtext("vcpu") == "4"
    # On a running guest it is a hard reboot.
    inst.flavor = {**inst.flavor, "memory_mb": 512}
    drv.power_on(inst)
    assert drv.get_info(inst) == PowerState.RUNNING and memory_mib(conn, inst) == 512
    drv.destroy(inst)


def test_power_on_redefines_a_vanished_domain(drv, conn, inst, images) -> None:
    drv.spawn(inst, images.disk, inst.flavor)
    domain = domain_of(conn, inst)
    domain.destroy()
    domain.undefine()
    assert drv.get_info(inst) == PowerState.NOSTATE
    drv.power_on(inst)
    assert drv.get_info(inst) == PowerState.RUNNING
    drv.destroy(inst)


def test_power_on_without_disks_fails(drv, inst) -> None:
    with pytest.raises(exception.VirtDriverError, match="disk.info"):
        drv.power_on(inst)


def test_reboot_soft_keeps_the_definition(drv, conn, inst, images) -> None:
    events: list = []
    drv.register_lifecycle_listener(
        lambda uuid, state: events.append(state) if uuid == inst.uuid else None)
    drv.spawn(inst, images.disk, inst.flavor)
    assert wait_for(lambda: events == [PowerState.RUNNING]), events
    inst.flavor = {**inst.flavor, "memory_mb": 256}
    with mock.patch.object(drv, "power_on") as power_on:
        drv.reboot(inst, "SOFT")
    power_on.assert_not_called()
    assert drv.get_info(inst) == PowerState.RUNNING
    assert memory_mib(conn, inst) == 128  # a soft reboot does not redefine the guest
    assert wait_for(lambda: events == [PowerState.RUNNING, PowerState.SHUTDOWN,
                                       PowerState.RUNNING]), events
    drv.destroy(inst)


def test_reboot_hard_regenerates_the_definition(drv, conn, inst, images) -> None:
    drv.spawn(inst, images.disk, inst.flavor)
    inst.flavor = {**inst.flavor, "memory_mb": 256}
    with mock.patch.object(drv, "_clean_shutdown") as clean_shutdown:
        drv.reboot(inst, "HARD")
    clean_shutdown.assert_not_called()
    assert drv.get_info(inst) == PowerState.RUNNING
    assert memory_mib(conn, inst) == 256
    drv.destroy(inst)


def test_reboot_soft_falls_back_to_hard(drv, conn, inst, images, flags) -> None:
    flags("wait_soft_reboot_seconds", 7)
    drv.spawn(inst, images.disk, inst.flavor)
    inst.flavor = {**inst.flavor, "memory_mb": 256}
    with mock.patch.object(drv, "_clean_shutdown", return_value=False) as clean_shutdown:
        drv.reboot(inst, "soft")
    assert clean_shutdown.call_args.args[1] == 7
    assert drv.get_info(inst) == PowerState.RUNNING
    assert memory_mib(conn, inst) == 256
    drv.destroy(inst)


def test_reboot_without_a_domain(drv, inst) -> None:
    with pytest.raises(exception.VirtDriverError, match="no guest"):
        drv.reboot(inst, "SOFT")


def test_destroy(drv, conn, inst, images, tmp_path) -> None:
    drv.spawn(inst, images.disk, inst.flavor)
    directory = tmp_path / "instances" / inst.uuid
    drv.destroy(inst)
    assert drv.get_info(inst) == PowerState.NOSTATE
    assert inst.uuid not in [d.UUIDString() for d in conn.listAllDomains(0)]
    assert not directory.exists()
    assert (tmp_path / "instances" / "_base" / images.disk["id"]).exists()  # cache stays
    drv.destroy(inst)  # idempotent
    drv.destroy(new_instance())  # never existed


def test_destroy_a_stopped_guest(drv, conn, inst, images) -> None:
    drv.spawn(inst, images.disk, inst.flavor)
    drv.power_off(inst)
    drv.destroy(inst)
    assert drv.get_info(inst) == PowerState.NOSTATE


def test_paused_guest_state(drv, conn, inst, images) -> None:
    drv.spawn(inst, images.disk, inst.flavor)
    domain_of(conn, inst).suspend()
    assert drv.get_info(inst) == PowerState.PAUSED
    drv.destroy(inst)


# -- cold migration ------------------------------------------------------------------------

@pytest.fixture
def two(make_driver, tmp_path) -> SimpleNamespace:
    """Drivers of hosts src and dst with their own instances paths (one test host)."""
    return SimpleNamespace(src=make_driver("src", tmp_path / "src"),
                           dst=make_driver("dst", tmp_path / "dst"))


def resize_to_dst(two, inst, images, flavor=BIGGER, power_on=True) -> dict:
    """spawn on src, then prep_resize / migrate_disk_and_power_off / finish_migration."""
    two.src.spawn(inst, images.disk, inst.flavor)
    target = two.dst.prep_resize(inst, flavor)
    disk_info = two.src.migrate_disk_and_power_off(inst, "dst", flavor, target)
    inst.host = "dst"
    two.dst.finish_migration(inst, disk_info, flavor, power_on=power_on)
    return disk_info


def test_prep_resize_advertises_a_probe(two, inst, tmp_path, flags) -> None:
    flags("live_migration_inbound_addr", "192.0.2.9")
    target = two.dst.prep_resize(inst, BIGGER)
    assert target["dest_host"] == "dst"
    assert target["instances_path"] == str(tmp_path / "dst")
    assert target["migration_address"] == "192.0.2.9"
    assert target["probe"].startswith(libvirt_driver.PROBE_PREFIX)
    assert (tmp_path / "dst" / target["probe"]).is_file()


def test_old_probes_are_forgotten(two, inst, tmp_path) -> None:
    stale = tmp_path / "dst" / f"{libvirt_driver.PROBE_PREFIX}stale"
    fresh = tmp_path / "dst" / f"{libvirt_driver.PROBE_PREFIX}fresh"
    stale.touch()
    fresh.touch()
    old = time.time() - libvirt_driver.PROBE_MAX_AGE - 10
    os.utime(stale, (old, old))
    two.dst.prep_resize(inst, BIGGER)
    assert not stale.exists() and fresh.exists()


def test_cold_migration(two, conn, inst, images, tmp_path) -> None:
    two.src.spawn(inst, images.disk, inst.flavor)
    src_dir, dst_dir = tmp_path / "src" / inst.uuid, tmp_path / "dst" / inst.uuid
    resize_dir = tmp_path / "src" / f"{inst.uuid}_resize"
    (src_dir / "console.log").write_text("boot log\n")
    src_files = files(src_dir)

    target = two.dst.prep_resize(inst, BIGGER)
    probe = tmp_path / "dst" / target["probe"]
    assert probe.exists()

    disk_info = two.src.migrate_disk_and_power_off(inst, "dst", BIGGER, target)
    assert disk_info == {"transport": "local", "dest_dir": str(dst_dir)}
    assert not probe.exists()  # consumed: it proved dst's path is visible here
    assert two.src.get_info(inst) == PowerState.SHUTDOWN
    assert not src_dir.exists() and files(resize_dir) == src_files
    assert files(dst_dir) == src_files
    assert (dst_dir / "console.log").read_text() == "boot log\n"
    # The copy still uses src's base until finish_migration adopts it.
    assert disk.info(dst_dir / "disk")["backing-filename"] == \
        str(tmp_path / "src" / "_base" / images.disk["id"])

    inst.host = "dst"
    two.dst.finish_migration(inst, disk_info, BIGGER, power_on=False)
    root = disk.info(dst_dir / "disk")
    assert root["virtual-size"] == 2 * GIB
    dst_base = tmp_path / "dst" / "_base" / images.disk["id"]
    assert root["backing-filename"] == str(dst_base) and dst_base.is_file()
    assert virtual_size(dst_dir / "disk.eph0") == 2 * GIB
    assert virtual_size(dst_dir / "disk.swap") == 64 * MIB
    # Not started; defined with the new flavor and dst's paths.
    assert two.dst.get_info(inst) == PowerState.SHUTDOWN
    xml = xml_of(conn, inst)
    assert int(xml.findtext("memory")) == 256 * 1024 and xml.findtext("vcpu") == "3"
    assert [d.find("source").get("file") for d in xml.findall("devices/disk")] == [
        str(dst_dir / "disk"), str(dst_dir / "disk.eph0"), str(dst_dir / "disk.swap")]
    assert xml.find("devices/serial/source").get("path") == str(dst_dir / "console.log")
    # The source's own disks are untouched.
    assert virtual_size(resize_dir / "disk") == 1 * GIB

    inst.flavor = dict(BIGGER)
    two.src.confirm_migration(inst)
    assert not resize_dir.exists() and dst_dir.exists()
    # (On two real hosts this removes src's old domain; here src and dst share one.)
    two.dst.destroy(inst)
    assert not dst_dir.exists()


def test_finish_migration_power_on(two, conn, inst, images) -> None:
    resize_to_dst(two, inst, images, power_on=True)
    assert two.dst.get_info(inst) == PowerState.RUNNING
    assert memory_mib(conn, inst) == 256
    two.dst.destroy(inst)
    two.src.confirm_migration(inst)


def test_resize_to_the_same_host(drv, conn, inst, images, tmp_path) -> None:
    """Source and destination are one driver: the directory goes to _resize and back."""
    drv.spawn(inst, images.disk, inst.flavor)
    target = drv.prep_resize(inst, BIGGER)
    disk_info = drv.migrate_disk_and_power_off(inst, "src", BIGGER, target)
    assert disk_info["transport"] == "local"
    directory = tmp_path / "instances" / inst.uuid
    assert (tmp_path / "instances" / f"{inst.uuid}_resize").is_dir() and directory.is_dir()
    drv.finish_migration(inst, disk_info, BIGGER, power_on=True)
    assert virtual_size(directory / "disk") == 2 * GIB
    assert drv.get_info(inst) == PowerState.RUNNING and memory_mib(conn, inst) == 256
    drv.confirm_migration(inst)  # instance.host is this host: the guest stays
    assert not (tmp_path / "instances" / f"{inst.uuid}_resize").exists()
    assert drv.get_info(inst) == PowerState.RUNNING
    drv.destroy(inst)


def test_revert_migration(two, conn, inst, images, tmp_path) -> None:
    old_flavor = dict(inst.flavor)
    resize_to_dst(two, inst, images, power_on=True)
    src_dir, dst_dir = tmp_path / "src" / inst.uuid, tmp_path / "dst" / inst.uuid
    resize_dir = tmp_path / "src" / f"{inst.uuid}_resize"
    assert memory_mib(conn, inst) == 256

    two.dst.revert_migration_at_destination(inst)
    assert not dst_dir.exists()
    assert two.dst.get_info(inst) == PowerState.NOSTATE

    inst.host, inst.flavor = "src", old_flavor
    two.src.finish_revert_migration(inst, power_on=True)
    assert not resize_dir.exists()
    assert files(src_dir) == ["disk", "disk.eph0", "disk.info", "disk.swap"]
    assert virtual_size(src_dir / "disk") == 1 * GIB
    assert disk.info(src_dir / "disk")["backing-filename"] == \
        str(tmp_path / "src" / "_base" / images.disk["id"])
    assert two.src.get_info(inst) == PowerState.RUNNING
    xml = xml_of(conn, inst)
    assert int(xml.findtext("memory")) == 128 * 1024 and xml.findtext("vcpu") == "2"
    assert xml.find("devices/disk/source").get("file") == str(src_dir / "disk")
    two.src.destroy(inst)


def test_finish_revert_migration_power_off(two, conn, inst, images, tmp_path) -> None:
    old_flavor = dict(inst.flavor)
    resize_to_dst(two, inst, images, power_on=False)
    two.dst.revert_migration_at_destination(inst)
    inst.host, inst.flavor = "src", old_flavor
    two.src.finish_revert_migration(inst, power_on=False)
    assert two.src.get_info(inst) == PowerState.SHUTDOWN
    assert memory_mib(conn, inst) == 128
    two.src.destroy(inst)


def test_resize_down_is_refused_before_powering_off(two, conn, images, tmp_path) -> None:
    inst = new_instance({**FLAVOR, "root_gb": 2})
    two.src.spawn(inst, images.disk, inst.flavor)
    target = two.dst.prep_resize(inst, FLAVOR)
    with mock.patch.object(two.src, "power_off") as power_off, \
            pytest.raises(exception.CannotResizeDisk, match="cannot shrink"):
        two.src.migrate_disk_and_power_off(inst, "dst", FLAVOR, target)
    power_off.assert_not_called()
    assert two.src.get_info(inst) == PowerState.RUNNING
    assert (tmp_path / "src" / inst.uuid / "disk").exists()
    assert not (tmp_path / "src" / f"{inst.uuid}_resize").exists()
    assert not (tmp_path / "dst" / inst.uuid).exists()
    two.src.destroy(inst)


def test_ephemeral_resize_down_is_refused_before_powering_off(two, conn, images,
                                                              tmp_path) -> None:
    inst = new_instance({**FLAVOR, "ephemeral_gb": 2})
    two.src.spawn(inst, images.disk, inst.flavor)
    for flavor in ({**FLAVOR, "ephemeral_gb": 1}, {**FLAVOR, "ephemeral_gb": 0}):
        target = two.dst.prep_resize(inst, flavor)
        with pytest.raises(exception.CannotResizeDisk):
            two.src.migrate_disk_and_power_off(inst, "dst", flavor, target)
        assert two.src.get_info(inst) == PowerState.RUNNING
        assert not (tmp_path / "dst" / inst.uuid).exists()
    two.src.destroy(inst)


def test_migrate_same_root_size_is_allowed(two, conn, inst, images, tmp_path) -> None:
    flavor = {**FLAVOR, "memory_mb": 256}
    resize_to_dst(two, inst, images, flavor=flavor, power_on=False)
    assert virtual_size(tmp_path / "dst" / inst.uuid / "disk") == 1 * GIB
    assert memory_mib(conn, inst) == 256
    two.dst.destroy(inst)
    two.src.confirm_migration(inst)


def test_migrate_without_a_visible_target_uses_rsync(two, inst, images, flags) -> None:
    two.src.spawn(inst, images.disk, inst.flavor)
    target = two.dst.prep_resize(inst, BIGGER)
    target = {**target, "probe": f"{libvirt_driver.PROBE_PREFIX}not-here"}
    with mock.patch.object(libvirt_driver.disk, "copy_dir") as copy_dir:
        result = two.src.migrate_disk_and_power_off(inst, "dst", BIGGER, target)
    assert result["transport"] == "rsync"
    copy_dir.assert_called_once()
    assert copy_dir.call_args.kwargs == {"transport": "rsync",
                                         "address": target["migration_address"]}
    two.src.destroy(inst)


# -- live migration: checks and preparation -----------------------------------------------

def spawn_on(drv, images, image=None) -> Instance:
    inst = new_instance()
    drv.spawn(inst, image or images.disk, inst.flavor)
    return inst


def test_live_migration_checks_shared_path(make_driver, images, tmp_path) -> None:
    src, dst = make_driver("src"), make_driver("dst")  # one instances path
    inst = spawn_on(src, images)
    dest_data = dst.check_can_live_migrate_destination(inst, "auto")
    probe = tmp_path / "instances" / dest_data["probe"]
    assert probe.exists()
    assert dest_data["block_migration"] == "auto"
    assert dest_data["libvirt_uri"] == f"qemu+tcp://{dst.inbound_address()}/system"
    data = src.check_can_live_migrate_source(inst, dest_data)
    assert data["shared_storage"] is True and data["block_migration"] is False
    assert not probe.exists()
    assert data["source_instances_path"] == data["dest_instances_path"] == \
        str(tmp_path / "instances" / inst.uuid)
    assert data["disk_sizes"] == {"disk": GIB, "disk.eph0": GIB, "disk.swap": 64 * MIB}
    assert data["disk_info"]["image_id"] == images.disk["id"]
    dst.cleanup_live_migration_destination_check(dest_data)
    # Nothing to prepare on a shared path.
    assert dst.pre_live_migration(inst, data) is data
    src.destroy(inst)


def test_live_migration_checks_separate_paths(two, images, tmp_path, flags) -> None:
    flags("live_migration_inbound_uri", "qemu+tls://dst.example/system")
    inst = spawn_on(two.src, images)
    dest_data = two.dst.check_can_live_migrate_destination(inst, "auto")
    assert dest_data["libvirt_uri"] == "qemu+tls://dst.example/system"
    data = two.src.check_can_live_migrate_source(inst, dest_data)
    assert data["shared_storage"] is False and data["block_migration"] is True
    assert data["source_instances_path"] == str(tmp_path / "src" / inst.uuid)
    assert data["dest_instances_path"] == str(tmp_path / "dst" / inst.uuid)
    two.dst.cleanup_live_migration_destination_check(dest_data)
    assert [p for p in (tmp_path / "dst").iterdir()
            if p.name.startswith(libvirt_driver.PROBE_PREFIX)] == []
    two.src.destroy(inst)


@pytest.mark.parametrize("requested", [True, "auto", None])
def test_block_migration_allowed_without_shared_path(two, images, requested) -> None:
    inst = spawn_on(two.src, images)
    dest_data = two.dst.check_can_live_migrate_destination(inst, requested)
    data = two.src.check_can_live_migrate_source(inst, dest_data)
    assert data["block_migration"] is True and data["shared_storage"] is False
    two.src.destroy(inst)


def test_block_migration_refused_with_shared_path(make_driver, images) -> None:
    src, dst = make_driver("src"), make_driver("dst")
    inst = spawn_on(src, images)
    dest_data = dst.check_can_live_migrate_destination(inst, True)
    with pytest.raises(exception.MigrationPreCheckError, match="shared"):
        src.check_can_live_migrate_source(inst, dest_data)
    dst.cleanup_live_migration_destination_check(dest_data)
    # The same check without block migration passes.
    data = src.check_can_live_migrate_source(
        inst, dst.check_can_live_migrate_destination(inst, False))
    assert data["shared_storage"] is True and data["block_migration"] is False
    src.destroy(inst)


def test_non_block_migration_refused_without_shared_path(two, images) -> None:
    inst = spawn_on(two.src, images)
    dest_data = two.dst.check_can_live_migrate_destination(inst, False)
    with pytest.raises(exception.MigrationPreCheckError, match="not shared with dst"):
        two.src.check_can_live_migrate_source(inst, dest_data)
    two.dst.cleanup_live_migration_destination_check(dest_data)
    two.src.destroy(inst)


def test_same_path_without_the_probe_is_not_shared(make_driver, images, tmp_path) -> None:
    """Equal paths prove nothing by themselves: the probe file must be seen."""
    src, dst = make_driver("src"), make_driver("dst")
    inst = spawn_on(src, images)
    dest_data = dst.check_can_live_migrate_destination(inst, "auto")
    dst.cleanup_live_migration_destination_check(dest_data)
    assert not (tmp_path / "instances" / dest_data["probe"]).exists()
    data = src.check_can_live_migrate_source(inst, dest_data)
    assert data["shared_storage"] is False and data["block_migration"] is True
    src.destroy(inst)


def test_cleanup_destination_check_removes_the_probe(two, inst, tmp_path) -> None:
    dest_data = two.dst.check_can_live_migrate_destination(inst, "auto")
    probe = tmp_path / "dst" / dest_data["probe"]
    assert probe.exists()
    two.dst.cleanup_live_migration_destination_check(dest_data)
    assert not probe.exists()
    two.dst.cleanup_live_migration_destination_check(dest_data)  # idempotent
    two.dst.cleanup_live_migration_destination_check({})


def test_cpu_compare_unsupported_is_skipped_incompatible_refused(drv, inst) -> None:
    # test:///default does not implement CPU comparison: the check is skipped.
    drv.check_can_live_migrate_destination(inst, "auto")
    with pytest.raises(exception.MigrationPreCheckError, match="not compatible"):
        drv._compare_cpu(lambda conn: libvirt.VIR_CPU_COMPARE_INCOMPATIBLE, "qemu64")
    drv._compare_cpu(lambda conn: libvirt.VIR_CPU_COMPARE_IDENTICAL, "qemu64")
    drv._compare_cpu(lambda conn: libvirt.VIR_CPU_COMPARE_SUPERSET, "qemu64")


def test_pre_live_migration_recreates_the_directory(two, images, tmp_path) -> None:
    inst = new_instance({**FLAVOR, "root_gb": 2})
    two.src.spawn(inst, images.kernel_boot, inst.flavor)
    src_dir, dst_dir = tmp_path / "src" / inst.uuid, tmp_path / "dst" / inst.uuid
    disk.resize(src_dir / "disk.eph0", 3 * GIB)  # sizes come from the disks, not the flavor
    data = two.src.check_can_live_migrate_source(
        inst, two.dst.check_can_live_migrate_destination(inst, "auto"))
    assert data["block_migration"] is True

    assert two.dst.pre_live_migration(inst, data) == data
    assert files(dst_dir) == files(src_dir) == ["disk", "disk.eph0", "disk.info",
                                                "disk.swap", "kernel", "ramdisk"]
    for name in ("disk", "disk.eph0", "disk.swap"):
        assert virtual_size(dst_dir / name) == virtual_size(src_dir / name), name
    assert virtual_size(dst_dir / "disk.eph0") == 3 * GIB
    assert disk.info(dst_dir / "disk")["backing-filename"] == \
        str(tmp_path / "dst" / "_base" / images.kernel_boot["id"])
    assert (dst_dir / "kernel").read_bytes() == (src_dir / "kernel").read_bytes()
    assert json.loads((dst_dir / "disk.info").read_text()) == \
        json.loads((src_dir / "disk.info").read_text())

    two.dst.rollback_live_migration_at_destination(inst, data)
    assert not dst_dir.exists()
    two.src.destroy(inst)  # (the rollback removed the one shared domain already)
    assert not src_dir.exists()


def test_check_source_without_disks_fails(two, inst) -> None:
    dest_data = two.dst.check_can_live_migrate_destination(inst, "auto")
    with pytest.raises(exception.VirtDriverError, match="disk.info"):
        two.src.check_can_live_migrate_source(inst, dest_data)


# -- live migration: the job ---------------------------------------------------------------

@pytest.fixture
def migrate_data(two, images):
    """(instance running on src, migrate data for a block migration to dst)."""
    inst = spawn_on(two.src, images)
    data = two.src.check_can_live_migrate_source(
        inst, two.dst.check_can_live_migrate_destination(inst, "auto"))
    yield inst, data
    two.src.destroy(inst)


def test_live_migration_runs_a_job(two, migrate_data, tmp_path) -> None:
    inst, data = migrate_data
    release, running = threading.Event(), threading.Event()
    progress = mock.Mock()

    def run(callback):
        running.set()
        callback({"memory_total": 1})
        assert release.wait(5)

    with mock.patch.object(libvirt_driver, "LiveMigrationJob") as job_class:
        job = job_class.return_value
        job.run.side_effect = run
        thread = threading.Thread(target=two.src.live_migration,
                                  args=(inst, "dst", data, progress))
        thread.start()
        assert running.wait(5)
        two.src.live_migration_abort(inst)
        job.abort.assert_called_once_with()
        two.src.live_migration_force_complete(inst)
        job.force_complete.assert_called_once_with()
        release.set()
        thread.join(5)
        assert not thread.is_alive()

    progress.assert_called_once_with({"memory_total": 1})
    host, uuid, uri, flags, params = job_class.call_args.args
    assert host is two.src._host and uuid == inst.uuid and uri == data["libvirt_uri"]
    assert flags & libvirt.VIR_MIGRATE_NON_SHARED_INC
    assert params[libvirt.VIR_MIGRATE_PARAM_MIGRATE_DISKS] == ["vda", "vdb", "vdc"]
    dest_xml = ET.fromstring(params[libvirt.VIR_MIGRATE_PARAM_DEST_XML])
    assert dest_xml.find("devices/disk/source").get("file") == \
        str(tmp_path / "dst" / inst.uuid / "disk")
    # The job is forgotten once it ends: later requests are no-ops.
    two.src.live_migration_abort(inst)
    two.src.live_migration_force_complete(inst)
    assert job.abort.call_count == 1 and job.force_complete.call_count == 1


def test_live_migration_job_failure_is_raised_and_forgotten(two, migrate_data) -> None:
    inst, data = migrate_data
    with mock.patch.object(libvirt_driver, "LiveMigrationJob") as job_class:
        job_class.return_value.run.side_effect = exception.LiveMigrationAborted(
            instance_uuid=inst.uuid)
        with pytest.raises(exception.LiveMigrationAborted):
            two.src.live_migration(inst, "dst", data, mock.Mock())
    assert two.src._jobs == {}


def test_abort_and_force_complete_without_a_job(drv, inst) -> None:
    drv.live_migration_abort(inst)
    drv.live_migration_force_complete(inst)


def test_live_migration_without_a_domain(two, inst) -> None:
    with mock.patch.object(libvirt_driver, "LiveMigrationJob") as job_class, \
            pytest.raises(exception.VirtDriverError, match="no guest"):
        two.src.live_migration(inst, "dst", {"libvirt_uri": "x"}, mock.Mock())
    job_class.assert_not_called()


def test_live_migration_on_the_test_driver_fails(two, migrate_data, monkeypatch) -> None:
    """test:///default has no migration: the real job reports a VirtDriverError and the
    guest stays where it was."""
    from novalite.virt.libvirt import migration
    monkeypatch.setattr(migration, "POLL_INTERVAL", 0.01)
    inst, data = migrate_data
    with pytest.raises(exception.VirtDriverError, match="live migration to"):
        two.src.live_migration(inst, "dst", {**data, "libvirt_uri": URI}, mock.Mock())
    assert two.src.get_info(inst) == PowerState.RUNNING


# -- after a live migration ----------------------------------------------------------------

def test_post_live_migration_source(two, conn, migrate_data, tmp_path) -> None:
    inst, data = migrate_data
    two.src.power_off(inst)  # (the guest "left"; here it is still defined)
    two.src.post_live_migration(inst, data)
    assert two.src.get_info(inst) == PowerState.NOSTATE
    assert not (tmp_path / "src" / inst.uuid).exists()


def test_post_live_migration_source_shared_keeps_the_directory(two, migrate_data,
                                                               tmp_path) -> None:
    inst, data = migrate_data
    two.src.power_off(inst)
    two.src.post_live_migration(inst, {**data, "shared_storage": True})
    assert (tmp_path / "src" / inst.uuid / "disk").exists()


def test_post_live_migration_at_destination(two, conn, migrate_data) -> None:
    inst, data = migrate_data
    domain = domain_of(conn, inst)
    xml = domain.XMLDesc(0)
    domain.destroy()
    domain.undefine()
    conn.createXML(xml, 0)  # arrived transient and paused by a force-complete
    domain_of(conn, inst).suspend()
    assert not domain_of(conn, inst).isPersistent()
    inst.vm_state = "active"
    two.dst.post_live_migration_at_destination(inst, data)
    domain = domain_of(conn, inst)
    assert domain.isPersistent() and two.dst.get_info(inst) == PowerState.RUNNING


def test_post_live_migration_at_destination_keeps_a_paused_instance(two, conn,
                                                                     migrate_data) -> None:
    inst, data = migrate_data
    domain_of(conn, inst).suspend()
    inst.vm_state = "paused"
    two.dst.post_live_migration_at_destination(inst, data)
    assert two.dst.get_info(inst) == PowerState.PAUSED


def test_post_live_migration_at_destination_without_the_guest(two, inst) -> None:
    with pytest.raises(exception.VirtDriverError, match="did not arrive"):
        two.dst.post_live_migration_at_destination(inst, {})


@pytest.mark.parametrize("cache_mode, unsafe", [("none", True), ("writeback", False)])
def test_live_migration_shared_path_flags(make_driver, images, cache_mode, unsafe) -> None:
    src, dst = make_driver("src"), make_driver("dst")
    src.cache_mode = cache_mode
    inst = spawn_on(src, images)
    data = src.check_can_live_migrate_source(
        inst, dst.check_can_live_migrate_destination(inst, "auto"))
    with mock.patch.object(libvirt_driver, "LiveMigrationJob") as job_class:
        src.live_migration(inst, "dst", data, mock.Mock())
    flags, params = job_class.call_args.args[3:]
    assert bool(flags & libvirt.VIR_MIGRATE_UNSAFE) is unsafe
    assert not flags & libvirt.VIR_MIGRATE_NON_SHARED_INC
    assert libvirt.VIR_MIGRATE_PARAM_MIGRATE_DISKS not in params
    assert params[libvirt.VIR_MIGRATE_PARAM_DEST_XML] == \
        domain_of(src._host.get_connection(), inst).XMLDesc(libvirt.VIR_DOMAIN_XML_MIGRATABLE)
    job_class.return_value.run.assert_called_once()
    src.destroy(inst)


def test_resize_adds_ephemeral_and_remakes_swap(two, conn, images, tmp_path) -> None:
    """A flavor with an ephemeral disk where the old had none gets one; swap is made
    anew at the new size (and dropped when the new flavor has none)."""
    inst = new_instance({**FLAVOR, "ephemeral_gb": 0, "swap": 0})
    resize_to_dst(two, inst, images, flavor={**BIGGER, "swap": 32}, power_on=False)
    dst_dir = tmp_path / "dst" / inst.uuid
    assert virtual_size(dst_dir / "disk.eph0") == 2 * GIB
    assert virtual_size(dst_dir / "disk.swap") == 32 * MIB
    xml = xml_of(conn, inst)
    assert [d.find("source").get("file") for d in xml.findall("devices/disk")] == [
        str(dst_dir / "disk"), str(dst_dir / "disk.eph0"), str(dst_dir / "disk.swap")]
    two.dst.finish_migration(inst, {}, {**BIGGER, "swap": 0}, power_on=False)
    assert not (dst_dir / "disk.swap").exists()
    assert len(xml_of(conn, inst).findall("devices/disk")) == 2
    two.dst.destroy(inst)
    two.src.confirm_migration(inst)
