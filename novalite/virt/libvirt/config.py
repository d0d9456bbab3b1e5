"""A small object model of a libvirt domain, rendered to XML.

The driver describes a guest with these dataclasses and never writes XML strings by
hand; `GuestConfig.to_xml()` is the only place the domain XML's shape is decided.
"""

from __future__ import annotations

import dataclasses
import xml.etree.ElementTree as ET

NOVALITE_NS = "http://novalite.dev/xmlns/libvirt/instance/1.0"
ET.register_namespace("novalite", NOVALITE_NS)


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    element = ET.SubElement(parent, tag, {k: v for k, v in attrs.items() if v is not None})
    if text is not None:
        element.text = text
    return element


@dataclasses.dataclass
class GuestCPU:
    """mode: host-model | host-passthrough | custom | none (no <cpu> element)."""

    mode: str = "custom"
    model: str | None = "qemu64"

    def to_xml(self, parent: ET.Element) -> None:
        if self.mode == "none":
            return
        if self.mode == "custom":
            cpu = _sub(parent, "cpu", mode="custom", match="exact")
            _sub(cpu, "model", self.model, fallback="allow")
        else:
            _sub(parent, "cpu", mode=self.mode)


@dataclasses.dataclass
class GuestDisk:
    """A file-backed disk: the root overlay, an ephemeral or a swap disk."""

    source: str
    target_dev: str
    driver_format: str = "qcow2"
    bus: str = "virtio"
    cache: str = "none"

    def to_xml(self, parent: ET.Element) -> None:
        disk = _sub(parent, "disk", type="file", device="disk")
        _sub(disk, "driver", name="qemu", type=self.driver_format, cache=self.cache)
        _sub(disk, "source", file=self.source)
        _sub(disk, "target", dev=self.target_dev, bus=self.bus)


@dataclasses.dataclass
class GuestConfig:
    """Everything novalite puts into a domain definition."""

    virt_type: str
    uuid: str
    name: str
    memory_mib: int
    vcpus: int
    console_log: str
    cpu: GuestCPU = dataclasses.field(default_factory=GuestCPU)
    disks: list[GuestDisk] = dataclasses.field(default_factory=list)
    kernel: str | None = None
    initrd: str | None = None
    cmdline: str | None = None
    machine: str = "pc"
    arch: str = "x86_64"
    # Shown by `virsh dumpxml`: which server and flavor this domain is.
    display_name: str | None = None
    flavor_name: str | None = None

    def to_element(self) -> ET.Element:
        domain = ET.Element("domain", type=self.virt_type)
        _sub(domain, "name", self.name)
        _sub(domain, "uuid", self.uuid)
        self._metadata(domain)
        _sub(domain, "memory", str(self.memory_mib), unit="MiB")
        _sub(domain, "vcpu", str(self.vcpus))
        os_element = _sub(domain, "os")
        _sub(os_element, "type", "hvm", arch=self.arch, machine=self.machine)
        if self.kernel:
            _sub(os_element, "kernel", self.kernel)
            if self.initrd:
                _sub(os_element, "initrd", self.initrd)
            if self.cmdline:
                _sub(os_element, "cmdline", self.cmdline)
        else:
            _sub(os_element, "boot", dev="hd")
        features = _sub(domain, "features")
        _sub(features, "acpi")
        _sub(features, "apic")
        self.cpu.to_xml(domain)
        _sub(domain, "clock", offset="utc")
        _sub(domain, "on_poweroff", "destroy")
        _sub(domain, "on_reboot", "restart")
        _sub(domain, "on_crash", "destroy")
        devices = _sub(domain, "devices")
        for disk in self.disks:
            disk.to_xml(devices)
        # The console goes to a file that outlives the guest (and follows it when the
        # instance directory moves); append so that a restart or migration adds to it.
        serial = _sub(devices, "serial", type="file")
        _sub(serial, "source", path=self.console_log, append="on")
        _sub(serial, "target", port="0")
        console = _sub(devices, "console", type="file")
        _sub(console, "source", path=self.console_log, append="on")
        _sub(console, "target", type="serial", port="0")
        _sub(devices, "memballoon", model="none")
        return domain

    def _metadata(self, domain: ET.Element) -> None:
        metadata = _sub(domain, "metadata")
        instance = _sub(metadata, f"{{{NOVALITE_NS}}}instance")
        if self.display_name:
            _sub(instance, f"{{{NOVALITE_NS}}}name", self.display_name)
        if self.flavor_name:
            _sub(instance, f"{{{NOVALITE_NS}}}flavor", name=self.flavor_name)

    def to_xml(self) -> str:
        return ET.tostring(self.to_element(), encoding="unicode")


def rewrite_paths(domain_xml: str, old_prefix: str, new_prefix: str) -> str:
    """The domain XML with every file path under `old_prefix` moved under `new_prefix`:
    disks, kernel, initrd and console logs. A live migration to a host whose instances
    path differs sends the guest with its destination's paths."""
    old_prefix, new_prefix = old_prefix.rstrip("/"), new_prefix.rstrip("/")
    if old_prefix == new_prefix:
        return domain_xml
    root = ET.fromstring(domain_xml)

    def moved(path: str | None) -> str | None:
        if path and (path == old_prefix or path.startswith(old_prefix + "/")):
            return new_prefix + path[len(old_prefix):]
        return path

    for element in root.iter():
        if element.tag == "source":
            for attr in ("file", "path"):
                if element.get(attr):
                    element.set(attr, moved(element.get(attr)))
        elif element.tag in ("kernel", "initrd") and element.text:
            element.text = moved(element.text.strip())
    return ET.tostring(root, encoding="unicode")


def disk_targets(domain_xml: str) -> list[str]:
    """Target devices of the writable file disks (what a block migration copies)."""
    root = ET.fromstring(domain_xml)
    targets = []
    for disk in root.iter("disk"):
        if disk.get("device", "disk") != "disk" or disk.find("readonly") is not None:
            continue
        target = disk.find("target")
        if target is not None and disk.find("source") is not None:
            targets.append(target.get("dev"))
    return targets
