"""The libvirt driver's domain XML model: GuestConfig.to_xml, rewrite_paths, disk_targets."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from novalite.virt.libvirt import config

libvirt = pytest.importorskip("libvirt")

UUID = "6f1c2f5e-0d7a-4a3e-9d55-0123456789ab"
NS = {"novalite": config.NOVALITE_NS}


def guest(directory: str = "/srv/instances/" + UUID, **overrides) -> config.GuestConfig:
    values = dict(
        virt_type="qemu", uuid=UUID, name=f"instance-{UUID}", memory_mib=128, vcpus=2,
        console_log=f"{directory}/console.log",
        disks=[config.GuestDisk(f"{directory}/disk", "vda", cache="none"),
               config.GuestDisk(f"{directory}/disk.eph0", "vdb", cache="writeback"),
               config.GuestDisk(f"{directory}/disk.swap", "vdc", cache="writeback")],
        display_name="web-1", flavor_name="m1.small")
    values.update(overrides)
    return config.GuestConfig(**values)


def kernel_guest(directory: str = "/srv/instances/" + UUID, **overrides) -> config.GuestConfig:
    return guest(directory, kernel=f"{directory}/kernel", initrd=f"{directory}/ramdisk",
                 cmdline="console=ttyS0 root=/dev/vda", **overrides)


def parse(cfg: config.GuestConfig) -> ET.Element:
    return ET.fromstring(cfg.to_xml())


@pytest.fixture
def conn():
    conn = libvirt.open("test:///default")
    yield conn
    conn.close()


def test_basic_domain() -> None:
    root = parse(guest())
    assert root.tag == "domain" and root.get("type") == "qemu"
    assert root.findtext("name") == f"instance-{UUID}"
    assert root.findtext("uuid") == UUID
    memory = root.find("memory")
    assert (memory.text, memory.get("unit")) == ("128", "MiB")
    assert root.findtext("vcpu") == "2"
    os_type = root.find("os/type")
    assert (os_type.text, os_type.get("arch"), os_type.get("machine")) == ("hvm", "x86_64", "pc")
    assert root.find("features/acpi") is not None and root.find("features/apic") is not None
    assert root.find("clock").get("offset") == "utc"
    assert root.findtext("on_poweroff") == "destroy"
    assert root.findtext("on_reboot") == "restart"
    assert root.find("devices/memballoon").get("model") == "none"


def test_kernel_boot() -> None:
    directory = "/srv/instances/" + UUID
    os_element = parse(kernel_guest(directory)).find("os")
    assert os_element.findtext("kernel") == f"{directory}/kernel"
    assert os_element.findtext("initrd") == f"{directory}/ramdisk"
    assert os_element.findtext("cmdline") == "console=ttyS0 root=/dev/vda"
    assert os_element.find("boot") is None


def test_kernel_boot_without_initrd_or_cmdline() -> None:
    os_element = parse(guest(kernel="/k")).find("os")
    assert os_element.findtext("kernel") == "/k"
    assert os_element.find("initrd") is None and os_element.find("cmdline") is None
    assert os_element.find("boot") is None


def test_disk_boot() -> None:
    os_element = parse(guest(initrd="/ignored", cmdline="ignored")).find("os")
    assert os_element.find("boot").get("dev") == "hd"
    for tag in ("kernel", "initrd", "cmdline"):
        assert os_element.find(tag) is None


def test_cpu_custom() -> None:
    cpu = parse(guest(cpu=config.GuestCPU("custom", "Nehalem"))).find("cpu")
    assert (cpu.get("mode"), cpu.get("match")) == ("custom", "exact")
    model = cpu.find("model")
    assert (model.text, model.get("fallback")) == ("Nehalem", "allow")
    # The default is custom qemu64, which TCG runs anywhere.
    assert parse(guest()).find("cpu/model").text == "qemu64"


@pytest.mark.parametrize("mode", ["host-model", "host-passthrough"])
def test_cpu_host_modes(mode) -> None:
    cpu = parse(guest(cpu=config.GuestCPU(mode))).find("cpu")
    assert cpu.attrib == {"mode": mode}
    assert cpu.find("model") is None


def test_cpu_none() -> None:
    assert parse(guest(cpu=config.GuestCPU("none"))).find("cpu") is None


def test_disks() -> None:
    directory = "/srv/instances/" + UUID
    disks = parse(guest(directory)).findall("devices/disk")
    assert [d.find("target").get("dev") for d in disks] == ["vda", "vdb", "vdc"]
    assert [d.find("source").get("file") for d in disks] == [
        f"{directory}/disk", f"{directory}/disk.eph0", f"{directory}/disk.swap"]
    assert [d.find("driver").get("cache") for d in disks] == ["none", "writeback", "writeback"]
    for element in disks:
        assert (element.get("type"), element.get("device")) == ("file", "disk")
        assert element.find("driver").get("name") == "qemu"
        assert element.find("driver").get("type") == "qcow2"
        assert element.find("target").get("bus") == "virtio"
    raw = config.GuestDisk("/d.raw", "sda", driver_format="raw", bus="scsi", cache="unsafe")
    element = parse(guest(disks=[raw])).find("devices/disk")
    assert element.find("driver").attrib == {"name": "qemu", "type": "raw", "cache": "unsafe"}
    assert element.find("target").attrib == {"dev": "sda", "bus": "scsi"}


def test_no_disks() -> None:
    assert parse(guest(disks=[])).findall("devices/disk") == []


def test_serial_and_console_append_to_the_log() -> None:
    devices = parse(guest("/i/x")).find("devices")
    serial, console = devices.find("serial"), devices.find("console")
    assert serial.get("type") == "file" and console.get("type") == "file"
    for element in (serial, console):
        assert element.find("source").attrib == {"path": "/i/x/console.log", "append": "on"}
    assert serial.find("target").get("port") == "0"
    assert console.find("target").attrib == {"type": "serial", "port": "0"}


def test_metadata() -> None:
    instance = parse(guest()).find("metadata/novalite:instance", NS)
    assert instance is not None
    assert instance.findtext("novalite:name", namespaces=NS) == "web-1"
    assert instance.find("novalite:flavor", NS).get("name") == "m1.small"
    assert f'xmlns:novalite="{config.NOVALITE_NS}"' in guest().to_xml()


def test_metadata_without_names() -> None:
    instance = parse(guest(display_name=None, flavor_name=None)).find(
        "metadata/novalite:instance", NS)
    assert instance is not None and len(instance) == 0


def test_to_xml_is_to_element() -> None:
    cfg = kernel_guest()
    assert cfg.to_xml() == ET.tostring(cfg.to_element(), encoding="unicode")


@pytest.mark.parametrize("cfg", [
    guest(),
    kernel_guest(),
    guest(cpu=config.GuestCPU("host-model")),
    guest(cpu=config.GuestCPU("host-passthrough")),
    guest(cpu=config.GuestCPU("none"), disks=[]),
    guest(virt_type="kvm"),
], ids=["disk-boot", "kernel-boot", "host-model", "host-passthrough", "no-cpu", "kvm"])
def test_libvirt_accepts_the_xml(conn, cfg) -> None:
    domain = conn.defineXML(cfg.to_xml())
    try:
        assert domain.UUIDString() == UUID and domain.name() == cfg.name
        defined = ET.fromstring(domain.XMLDesc(0))
        assert defined.get("type") == cfg.virt_type
        assert int(defined.findtext("memory")) == cfg.memory_mib * 1024  # KiB
        assert defined.findtext("vcpu") == str(cfg.vcpus)
        assert [d.find("source").get("file") for d in defined.findall("devices/disk")] == \
            [d.source for d in cfg.disks]
        assert defined.findtext("os/kernel") == cfg.kernel
        # libvirt keeps our metadata element.
        assert defined.find("metadata/novalite:instance/novalite:name", NS).text == "web-1"
    finally:
        domain.undefine()
    assert UUID not in [d.UUIDString() for d in conn.listAllDomains(0)]


# -- rewrite_paths ---------------------------------------------------------------------

def paths(domain_xml: str) -> dict[str, list[str]]:
    root = ET.fromstring(domain_xml)
    return {
        "disks": [d.find("source").get("file") for d in root.iter("disk")],
        "kernel": [root.findtext("os/kernel")],
        "initrd": [root.findtext("os/initrd")],
        "logs": [s.get("path") for tag in ("serial", "console")
                 for s in root.findall(f"devices/{tag}/source")],
    }


def test_rewrite_paths_moves_everything_under_the_prefix() -> None:
    old, new = "/a/b", "/x/y"
    xml = kernel_guest(f"{old}/{UUID}").to_xml()
    moved = paths(config.rewrite_paths(xml, old, new))
    assert moved == {
        "disks": [f"{new}/{UUID}/disk", f"{new}/{UUID}/disk.eph0",
                  f"{new}/{UUID}/disk.swap"],
        "kernel": [f"{new}/{UUID}/kernel"],
        "initrd": [f"{new}/{UUID}/ramdisk"],
        "logs": [f"{new}/{UUID}/console.log"] * 2,
    }


def test_rewrite_paths_instance_directories() -> None:
    """The driver passes the instance directories themselves as the prefixes."""
    old, new = f"/src/instances/{UUID}", f"/dst/instances/{UUID}"
    moved = paths(config.rewrite_paths(kernel_guest(old).to_xml(), old, new))
    assert moved["kernel"] == [f"{new}/kernel"] and moved["initrd"] == [f"{new}/ramdisk"]
    assert all(p.startswith(new + "/") for p in moved["disks"] + moved["logs"])


def test_rewrite_paths_leaves_other_paths_alone() -> None:
    cfg = kernel_guest("/a/b")
    cfg.disks = [config.GuestDisk("/a/b/disk", "vda"),
                 config.GuestDisk("/a/bc/disk", "vdb"),     # prefix boundary
                 config.GuestDisk("/a/b", "vdc"),            # the prefix itself
                 config.GuestDisk("/elsewhere/a/b/disk", "vdd"),
                 config.GuestDisk("/a", "vde")]
    cfg.kernel, cfg.initrd = "/a/bc/kernel", "/boot/initrd"
    cfg.console_log = "/a/bcd/console.log"
    moved = paths(config.rewrite_paths(cfg.to_xml(), "/a/b", "/n"))
    assert moved == {
        "disks": ["/n/disk", "/a/bc/disk", "/n", "/elsewhere/a/b/disk", "/a"],
        "kernel": ["/a/bc/kernel"],
        "initrd": ["/boot/initrd"],
        "logs": ["/a/bcd/console.log"] * 2,
    }


def test_rewrite_paths_same_prefix_is_identity() -> None:
    xml = kernel_guest().to_xml()
    assert config.rewrite_paths(xml, "/srv/instances", "/srv/instances") is xml


def test_rewrite_paths_keeps_the_rest_of_the_domain() -> None:
    xml = kernel_guest("/a/b").to_xml()
    before, after = ET.fromstring(xml), ET.fromstring(config.rewrite_paths(xml, "/a/b", "/c"))
    assert [e.tag for e in before.iter()] == [e.tag for e in after.iter()]
    assert after.findtext("memory") == "128"
    assert after.findtext("os/cmdline") == "console=ttyS0 root=/dev/vda"
    assert after.find("metadata/novalite:instance/novalite:name", NS).text == "web-1"
    assert after.find("devices/disk/driver").get("cache") == "none"


def test_rewrite_paths_of_libvirt_xml(conn) -> None:
    """What the driver really rewrites: libvirt's own (pretty-printed) XMLDesc."""
    domain = conn.defineXML(kernel_guest("/a/b").to_xml())
    try:
        xml = domain.XMLDesc(libvirt.VIR_DOMAIN_XML_MIGRATABLE)
    finally:
        domain.undefine()
    moved = paths(config.rewrite_paths(xml, "/a/b", "/c/d"))
    assert moved["kernel"] == ["/c/d/kernel"] and moved["initrd"] == ["/c/d/ramdisk"]
    assert moved["disks"] == ["/c/d/disk", "/c/d/disk.eph0", "/c/d/disk.swap"]
    assert moved["logs"] == ["/c/d/console.log"] * 2


# -- disk_targets ----------------------------------------------------------------------

def test_disk_targets() -> None:
    assert config.disk_targets(guest().to_xml()) == ["vda", "vdb", "vdc"]
    assert config.disk_targets(guest(disks=[]).to_xml()) == []


def test_disk_targets_skip_cdroms_readonly_and_sourceless_disks() -> None:
    xml = """<domain type='qemu'><devices>
      <disk type='file' device='disk'><source file='/d1'/><target dev='vda'/></disk>
      <disk type='file' device='cdrom'><source file='/iso'/><target dev='hdc'/></disk>
      <disk type='file' device='disk'><source file='/ro'/><target dev='vdb'/><readonly/></disk>
      <disk type='file' device='disk'><target dev='vdc'/></disk>
      <disk type='file'><source file='/d2'/><target dev='vdd'/></disk>
    </devices></domain>"""
    assert config.disk_targets(xml) == ["vda", "vdd"]


def test_disk_targets_of_libvirt_xml(conn) -> None:
    domain = conn.defineXML(guest().to_xml())
    try:
        assert config.disk_targets(domain.XMLDesc(0)) == ["vda", "vdb", "vdc"]
    finally:
        domain.undefine()
