"""The real-libvirt fixtures themselves: two libvirtd hosts, the test guest boots on one
of them from a qcow2 overlay, reports itself on its console, and powers off on an ACPI
shutdown."""

from __future__ import annotations

import subprocess
import time
import uuid

from tests.functional.libvirt_hosts import (
    LibvirtHost,
    booted_lines,
    build_guest,
    console_ticks,
    read_console,
    require_libvirt,
    wait_for_console,
)


def _domain_xml(name, uid, guest, disk, console):
    return f"""
<domain type='qemu'>
  <name>{name}</name>
  <uuid>{uid}</uuid>
  <memory unit='MiB'>128</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <kernel>{guest.kernel}</kernel>
    <initrd>{guest.initrd}</initrd>
    <cmdline>console=ttyS0 quiet panic=-1</cmdline>
  </os>
  <features><acpi/><apic/></features>
  <cpu mode='custom' match='exact'><model fallback='allow'>qemu64</model></cpu>
  <devices>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2' cache='none'/>
      <source file='{disk}'/>
      <target dev='vda' bus='virtio'/>
    </disk>
    <serial type='file'>
      <source path='{console}' append='on'/>
      <target port='0'/>
    </serial>
    <console type='file'>
      <source path='{console}' append='on'/>
      <target type='serial' port='0'/>
    </console>
    <memballoon model='none'/>
  </devices>
</domain>"""


def test_guest_boots_and_shuts_down_on_a_libvirt_host(tmp_path):
    require_libvirt()
    host1, host2 = (LibvirtHost(name, tmp_path / "hosts") for name in ("nl-host1", "nl-host2"))
    try:
        host1.start()
        host2.start()
        _boot_and_shut_down(tmp_path, host1, host2)
    finally:
        try:
            host1.stop()
        finally:
            host2.stop()


def _boot_and_shut_down(tmp_path, host1, host2):
    assert host1.uri != host2.uri
    assert host1.migration_port_min + 20 < host2.migration_port_min
    guest = build_guest()
    disk, console = tmp_path / "disk.qcow2", tmp_path / "console.log"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "raw",
                    "-b", str(guest.root), str(disk), "1G"], check=True)
    uid = str(uuid.uuid4())

    conn = host1.connection()
    try:
        dom = conn.defineXML(_domain_xml("fixture-guest", uid, guest, disk, console))
        dom.create()
        wait_for_console(console, "tick 2 ", timeout=60)
        assert host1.running(uid)
        assert not host2.running(uid)
        assert host1.domain_names() == ["fixture-guest"]
        assert host2.domain_names() == []

        [booted] = booted_lines(console)
        assert booted["marker"] == "NOVALITE-ROOT-MARKER"
        assert booted["cpus"] == 1
        assert booted["vda_bytes"] == 1 << 30
        assert 64 * 1024 < booted["mem_kb"] <= 128 * 1024
        ticks = console_ticks(console)
        assert [n for n, _ in ticks] == list(range(1, len(ticks) + 1))
        assert {boot for _, boot in ticks} == {booted["boot"]}

        dom.shutdown()  # ACPI power button -> the guest's acpid -> poweroff -f
        deadline = time.monotonic() + 30
        while dom.isActive() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not dom.isActive(), read_console(console)[-2000:]
        assert "GUEST-ACPI-POWEROFF" in read_console(console)
        assert not host1.running(uid)
        assert host1.domain_names() == ["fixture-guest"]  # still defined, just off
    finally:
        conn.close()

    # The guest wrote its ticks through the overlay, at 2 MiB.
    flat = tmp_path / "disk.raw"
    subprocess.run(["qemu-img", "convert", "-f", "qcow2", "-O", "raw", str(disk), str(flat)],
                   check=True)
    with flat.open("rb") as f:
        f.seek(1024)
        assert f.read(20) == b"NOVALITE-ROOT-MARKER"
        f.seek(2 << 20)
        assert f.read(16).startswith(b"tick ")
