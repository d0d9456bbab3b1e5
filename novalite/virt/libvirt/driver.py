"""The libvirt driver: QEMU/KVM guests on one host, driven through libvirt-python.

Each instance owns a directory `<instances_path>/<uuid>` holding its disks (a qcow2
overlay on a cached base image, ephemeral and swap disks), the kernel and ramdisk of a
direct-kernel-boot image, its console log, and `disk.info` — what the guest is made of.
The directory is what moves: a cold migration renames it to `<uuid>_resize` and copies
it to the destination; a live migration recreates it on the destination (block
migration) or finds it there (shared instances path).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import time
import uuid as uuid_lib
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from typing import Any

from novalite import exception
from novalite.conf import CONF
from novalite.image import api as image_api
from novalite.objects.compute_node import HostResources
from novalite.states import PowerState
from novalite.virt import driver
from novalite.virt.libvirt import config, disk
from novalite.virt.libvirt import host as libvirt_host
from novalite.virt.libvirt.imagecache import ImageCache
from novalite.virt.libvirt.migration import LiveMigrationJob, flags_and_params

LOG = logging.getLogger(__name__)

DISK_INFO = "disk.info"
CONSOLE_LOG = "console.log"
RESIZE_SUFFIX = "_resize"
PROBE_PREFIX = ".novalite-probe-"
PROBE_MAX_AGE = 3600  # seconds before a destination forgets an unclaimed probe file
POWER_POLL = 0.25  # seconds between state checks while waiting for a guest


def domain_name(uuid: str) -> str:
    return f"instance-{uuid}"


def guest_cpu() -> config.GuestCPU:
    """The guest CPU [libvirt] asks for; unset cpu_mode means host-model under kvm and
    the named model (cpu_model) under TCG, which has no host CPU to model."""
    mode = CONF.libvirt.cpu_mode or ("host-model" if CONF.libvirt.virt_type == "kvm"
                                     else "custom")
    return config.GuestCPU(mode=mode, model=CONF.libvirt.cpu_model)


class LibvirtDriver(driver.ComputeDriver):
    def __init__(self, host: str) -> None:
        super().__init__(host)
        self.uri = CONF.libvirt.connection_uri or "qemu:///system"
        self.instances_path = Path(os.path.expanduser(CONF.libvirt.instances_path))
        self.image_cache = ImageCache(self.instances_path)
        self._host = libvirt_host.Host(self.uri, self._lifecycle_event)
        self._lifecycle_listener: Callable[[str, PowerState], None] | None = None
        self._jobs: dict[str, LiveMigrationJob] = {}
        self.cache_mode = "writeback"

    # -- host ------------------------------------------------------------------------
    def init_host(self) -> None:
        self.instances_path.mkdir(parents=True, exist_ok=True)
        mode = CONF.libvirt.disk_cachemode
        if mode == "auto":
            mode = "none" if disk.supports_direct_io(self.instances_path) else "writeback"
        self.cache_mode = mode
        self._host.get_connection()
        LOG.info("libvirt driver on %s: %s, instances in %s, disk cache %s", self.host,
                 self.uri, self.instances_path, self.cache_mode)

    def cleanup_host(self) -> None:
        self._host.close()

    def register_lifecycle_listener(self, listener: Callable[[str, PowerState], None]) -> None:
        self._lifecycle_listener = listener

    def _lifecycle_event(self, uuid: str, state: PowerState) -> None:
        if self._lifecycle_listener is not None:
            self._lifecycle_listener(uuid, state)

    def get_available_resource(self) -> HostResources:
        conn = self._host.get_connection()
        _model, memory_mb, cpus, *_ = conn.getInfo()
        stat = os.statvfs(self.instances_path)
        return HostResources(
            hypervisor_hostname=conn.getHostname(),
            hypervisor_type="QEMU",
            hypervisor_version=conn.getVersion(),
            vcpus=cpus,
            memory_mb=memory_mb,
            local_gb=stat.f_frsize * stat.f_blocks // 2**30,
            cpu_info=self._cpu_info(conn),
            host_ip=self.inbound_address(),
            disk_available_least=stat.f_frsize * stat.f_bavail // 2**30,
        )

    @staticmethod
    def _cpu_info(conn) -> dict:
        cpu = ET.fromstring(conn.getCapabilities()).find("host/cpu")
        if cpu is None:
            return {}
        topology = cpu.find("topology")
        return {
            "arch": cpu.findtext("arch"), "model": cpu.findtext("model"),
            "vendor": cpu.findtext("vendor"),
            "topology": {k: int(v) for k, v in (topology.attrib if topology is not None
                                                 else {}).items() if v.isdigit()},
            "features": sorted(f.get("name") for f in cpu.findall("feature")),
        }

    def list_instances(self) -> list[str]:
        return [dom.UUIDString() for dom in self._host.list_domains()
                if dom.name().startswith("instance-")]

    def inbound_address(self) -> str:
        return CONF.libvirt.live_migration_inbound_addr or driver.host_ip()

    # -- the instance directory ---------------------------------------------------
    def instance_dir(self, instance: Any) -> Path:
        return self.instances_path / instance.uuid

    def _resize_dir(self, instance: Any) -> Path:
        return self.instances_path / f"{instance.uuid}{RESIZE_SUFFIX}"

    @staticmethod
    def _read_disk_info(directory: Path) -> dict:
        try:
            return json.loads((directory / DISK_INFO).read_text())
        except FileNotFoundError as err:
            raise exception.VirtDriverError(
                reason=f"{directory} has no {DISK_INFO}: the instance's disks are missing"
            ) from err

    @staticmethod
    def _write_disk_info(directory: Path, info: dict) -> None:
        tmp = directory / f"{DISK_INFO}.tmp"
        tmp.write_text(json.dumps(info, indent=1, sort_keys=True))
        os.replace(tmp, directory / DISK_INFO)

    def _create_disks(self, directory: Path, image: dict, flavor: dict,
                      sizes: dict[str, int] | None = None) -> dict:
        """Fetch the image's files into the cache and lay out a new instance directory.
        `sizes` (file → bytes) recreates disks the size they are elsewhere (live
        migration); otherwise the flavor decides. Returns the disk.info written."""
        directory.mkdir(parents=True, exist_ok=True)
        properties = image.get("properties") or {}
        base = self.image_cache.fetch(image)
        info: dict = {"image_id": image["id"], "image_format": image.get("disk_format", "raw"),
                      "kernel_id": properties.get("kernel_id"),
                      "ramdisk_id": properties.get("ramdisk_id"),
                      "cmdline": properties.get("os_command_line"), "disks": []}
        sizes = sizes or {}
        root_bytes = sizes.get("disk") or (int(flavor.get("root_gb") or 0) * 2**30 or None)
        disk.create_overlay(directory / "disk", base, info["image_format"], root_bytes)
        info["disks"].append({"file": "disk", "kind": "root", "format": "qcow2"})
        extra = (("disk.eph0", "ephemeral", int(flavor.get("ephemeral_gb") or 0) * 2**30),
                 ("disk.swap", "swap", int(flavor.get("swap") or 0) * 2**20))
        for name, kind, flavor_bytes in extra:
            size = sizes.get(name) or flavor_bytes
            if size:
                disk.create_blank(directory / name, size)
                info["disks"].append({"file": name, "kind": kind, "format": "qcow2"})
        for key, name in (("kernel_id", "kernel"), ("ramdisk_id", "ramdisk")):
            if info[key]:
                boot_file = self.image_cache.fetch(image_api.get(None, info[key]))
                shutil.copyfile(boot_file, directory / name)
        self._write_disk_info(directory, info)
        return info

    def _guest_config(self, instance: Any, flavor: dict, directory: Path,
                      info: dict) -> config.GuestConfig:
        virt_type = CONF.libvirt.virt_type
        disks = [config.GuestDisk(source=str(directory / d["file"]),
                                  target_dev=f"vd{chr(ord('a') + i)}",
                                  driver_format=d.get("format", "qcow2"), cache=self.cache_mode)
                 for i, d in enumerate(info["disks"])]
        kernel = str(directory / "kernel") if info.get("kernel_id") else None
        return config.GuestConfig(
            virt_type=virt_type, uuid=instance.uuid, name=domain_name(instance.uuid),
            memory_mib=int(flavor["memory_mb"]), vcpus=int(flavor["vcpus"]),
            console_log=str(directory / CONSOLE_LOG),
            cpu=guest_cpu(),
            disks=disks, kernel=kernel,
            initrd=str(directory / "ramdisk") if kernel and info.get("ramdisk_id") else None,
            cmdline=(info.get("cmdline") or CONF.libvirt.kernel_cmdline) if kernel else None,
            display_name=getattr(instance, "name", None), flavor_name=flavor.get("name"))

    def _define(self, instance: Any, flavor: dict, directory: Path | None = None):
        """(Re)define the domain from the instance directory and `flavor`."""
        directory = directory or self.instance_dir(instance)
        guest = self._guest_config(instance, flavor, directory,
                                   self._read_disk_info(directory))
        return self._host.get_connection().defineXML(guest.to_xml())

    # -- lifecycle -------------------------------------------------------------------
    def spawn(self, instance: Any, image_meta: dict, flavor: dict) -> None:
        directory = self.instance_dir(instance)
        self._create_disks(directory, image_meta, flavor)
        domain = self._define(instance, flavor, directory)
        self._start(domain)
        LOG.info("Spawned %s on %s", instance.uuid, self.host)

    @staticmethod
    def _start(domain) -> None:
        try:
            domain.create()
        except libvirt_host.libvirt.libvirtError as err:
            raise exception.VirtDriverError(reason=f"starting the guest failed: {err}") from err

    def destroy(self, instance: Any) -> None:
        self._remove_domain(instance)
        shutil.rmtree(self.instance_dir(instance), ignore_errors=True)

    def _remove_domain(self, instance: Any) -> None:
        domain = self._host.get_domain(instance.uuid)
        if domain is None:
            return
        self._hard_stop(domain)
        try:
            domain.undefine()
        except libvirt_host.libvirt.libvirtError as err:
            if not libvirt_host.is_error(err, libvirt_host.libvirt.VIR_ERR_NO_DOMAIN):
                raise

    def _hard_stop(self, domain) -> None:
        """Stop the guest at once; QEMU sometimes needs a second try to let go."""
        libvirt = libvirt_host.libvirt
        for attempt in range(3):
            try:
                if not domain.isActive():
                    return
                domain.destroy()
                return
            except libvirt.libvirtError as err:
                if libvirt_host.is_error(err, libvirt.VIR_ERR_NO_DOMAIN):
                    return
                if attempt == 2:
                    raise exception.VirtDriverError(
                        reason=f"cannot stop the guest: {err}") from err
                time.sleep(1)

    def power_on(self, instance: Any) -> None:
        """A hard reboot: stop, regenerate the definition from the instance, start."""
        domain = self._host.get_domain(instance.uuid)
        if domain is not None:
            self._hard_stop(domain)
        self._start(self._define(instance, instance.flavor))

    def power_off(self, instance: Any, timeout: float = 60) -> None:
        domain = self._host.get_domain(instance.uuid)
        if domain is None:
            return
        if timeout > 0 and self._clean_shutdown(domain, timeout):
            return
        self._hard_stop(domain)

    def _clean_shutdown(self, domain, timeout: float) -> bool:
        """ACPI power button, then wait; True when the guest turned itself off."""
        libvirt = libvirt_host.libvirt
        try:
            if not domain.isActive():
                return True
            domain.shutdown()
        except libvirt.libvirtError as err:
            LOG.info("Clean shutdown of %s refused (%s)", domain.UUIDString(), err)
            return False
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if not domain.isActive():
                    return True
            except libvirt.libvirtError:
                return True
            time.sleep(POWER_POLL)
        LOG.warning("Guest %s did not shut down within %ss", domain.UUIDString(), timeout)
        return False

    def reboot(self, instance: Any, reboot_type: str) -> None:
        domain = self._host.get_domain(instance.uuid)
        if domain is None:
            raise exception.VirtDriverError(reason=f"no guest for {instance.uuid} here")
        if reboot_type.upper() == "SOFT" and self._clean_shutdown(
                domain, CONF.libvirt.wait_soft_reboot_seconds):
            self._start(domain)
            return
        self.power_on(instance)

    def get_info(self, instance: Any) -> PowerState:
        domain = self._host.get_domain(instance.uuid)
        if domain is None:
            return PowerState.NOSTATE
        return libvirt_host.power_state(domain.state()[0])

    # -- cold migration / resize ---------------------------------------------------
    def prep_resize(self, instance: Any, flavor: dict) -> dict:
        """On the destination: where the source should put the disks."""
        return self._advertise()

    def _advertise(self) -> dict:
        """This host's instances path and address, with a fresh probe file so the
        other host can tell whether it sees the same (or a reachable) directory."""
        self.instances_path.mkdir(parents=True, exist_ok=True)
        self._forget_old_probes()
        probe = f"{PROBE_PREFIX}{uuid_lib.uuid4().hex}"
        (self.instances_path / probe).touch()
        return {"dest_host": self.host, "instances_path": str(self.instances_path),
                "migration_address": self.inbound_address(), "probe": probe}

    def _forget_old_probes(self) -> None:
        for path in self.instances_path.glob(f"{PROBE_PREFIX}*"):
            with contextlib.suppress(OSError):
                if time.time() - path.stat().st_mtime > PROBE_MAX_AGE:
                    path.unlink()

    @staticmethod
    def _sees(target: dict) -> bool:
        """Whether the other host's instances path is visible here (probe found); the
        probe is consumed."""
        probe = Path(target.get("instances_path", "")) / target.get("probe", "-")
        if target.get("probe") and probe.exists():
            with contextlib.suppress(OSError):
                probe.unlink()
            return True
        return False

    def migrate_disk_and_power_off(self, instance: Any, dest_host: str, flavor: dict,
                                   disk_target: dict | None = None) -> dict:
        directory, resize_dir = self.instance_dir(instance), self._resize_dir(instance)
        info = self._read_disk_info(directory)
        self._check_no_shrink(instance, directory, info, flavor)
        target = disk_target or {"instances_path": str(self.instances_path),
                                 "migration_address": dest_host}
        transport = CONF.libvirt.disk_copy_transport
        if transport == "auto":
            transport = "local" if self._sees(target) else "rsync"
        self.power_off(instance, timeout=60)
        if resize_dir.exists():  # left by an earlier failed attempt
            shutil.rmtree(resize_dir)
        os.rename(directory, resize_dir)
        dest_dir = Path(target["instances_path"]) / instance.uuid
        disk.copy_dir(resize_dir, str(dest_dir), transport=transport,
                      address=target.get("migration_address"))
        LOG.info("Copied the disks of %s to %s:%s (%s)", instance.uuid, dest_host, dest_dir,
                 transport)
        return {"transport": transport, "dest_dir": str(dest_dir)}

    @staticmethod
    def _check_no_shrink(instance: Any, directory: Path, info: dict, flavor: dict) -> None:
        root = disk.info(directory / "disk")["virtual-size"]
        wanted = int(flavor.get("root_gb") or 0) * 2**30
        if wanted and wanted < root:
            raise exception.CannotResizeDisk(
                reason=f"the root disk is {root // 2**30} GiB; flavor {flavor.get('name')} "
                       f"has {flavor.get('root_gb')} GiB and disks cannot shrink")
        # finish_migration grows the ephemeral disk: refuse a smaller one (or none) now,
        # not on the destination after the guest is off and its disks have moved.
        if (directory / "disk.eph0").exists():
            eph = disk.info(directory / "disk.eph0")["virtual-size"]
            if int(flavor.get("ephemeral_gb") or 0) * 2**30 < eph:
                raise exception.CannotResizeDisk(
                    reason=f"the ephemeral disk is {eph // 2**30} GiB; flavor "
                           f"{flavor.get('name')} has {flavor.get('ephemeral_gb') or 0} GiB "
                           "and disks cannot shrink")

    def finish_migration(self, instance: Any, disk_info: dict, flavor: dict,
                         power_on: bool) -> None:
        """On the destination: adopt the copied directory, grow disks, define, start."""
        directory = self.instance_dir(instance)
        info = self._read_disk_info(directory)
        self._adopt_base(directory, info)
        root_bytes = int(flavor.get("root_gb") or 0) * 2**30
        if root_bytes:
            disk.resize(directory / "disk", max(root_bytes,
                                                disk.info(directory / "disk")["virtual-size"]))
        self._fit_extra_disks(directory, info, flavor)
        domain = self._define(instance, flavor, directory)
        if power_on:
            self._start(domain)

    def _fit_extra_disks(self, directory: Path, info: dict, flavor: dict) -> None:
        """Ephemeral and swap disks as the new flavor has them: an ephemeral disk grows
        (or appears); swap holds nothing worth keeping, so it is made anew."""
        wanted = {"disk.eph0": ("ephemeral", int(flavor.get("ephemeral_gb") or 0) * 2**30),
                  "disk.swap": ("swap", int(flavor.get("swap") or 0) * 2**20)}
        kept = [d for d in info["disks"] if d["file"] not in wanted]
        for name, (kind, size) in wanted.items():
            path = directory / name
            if kind == "swap" and path.exists():
                path.unlink()
            if not size:
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
                continue
            if path.exists():
                disk.resize(path, size)
            else:
                disk.create_blank(path, size)
            kept.append({"file": name, "kind": kind, "format": "qcow2"})
        info["disks"] = kept
        self._write_disk_info(directory, info)

    def _adopt_base(self, directory: Path, info: dict) -> None:
        """Point a copied overlay at this host's copy of its base image."""
        base = self.image_cache.fetch(image_api.get(None, info["image_id"]))
        overlay = directory / "disk"
        if disk.info(overlay).get("backing-filename") != str(base):
            disk.rebase_unsafe(overlay, base, info["image_format"])

    def confirm_migration(self, instance: Any) -> None:
        """On the source: drop the old directory and, unless the guest now runs here
        (a resize to the same host), the old domain."""
        shutil.rmtree(self._resize_dir(instance), ignore_errors=True)
        if getattr(instance, "host", None) != self.host:
            self._remove_domain(instance)

    def revert_migration_at_destination(self, instance: Any) -> None:
        """On the destination: drop the new guest and its copy of the disks (with a
        shared path or on the same host the source's own copy waits under _resize)."""
        self._remove_domain(instance)
        shutil.rmtree(self.instance_dir(instance), ignore_errors=True)

    def finish_revert_migration(self, instance: Any, power_on: bool) -> None:
        """On the source: the `_resize` directory becomes the instance again."""
        directory, resize_dir = self.instance_dir(instance), self._resize_dir(instance)
        if resize_dir.exists():
            if directory.exists():
                shutil.rmtree(directory)
            os.rename(resize_dir, directory)
        domain = self._define(instance, instance.flavor, directory)
        if power_on and not domain.isActive():
            self._start(domain)

    # -- live migration --------------------------------------------------------------
    def check_can_live_migrate_destination(self, instance: Any, block_migration: Any) -> dict:
        self._check_cpu(instance)
        data = self._advertise()
        data.update(block_migration=block_migration,
                    libvirt_uri=CONF.libvirt.live_migration_inbound_uri
                    or f"qemu+tcp://{data['migration_address']}/system")
        return data

    def _check_cpu(self, instance: Any) -> None:
        """Refuse a destination whose hypervisor cannot give the guest its CPU model."""
        cpu = guest_cpu()
        if cpu.mode != "custom":
            return  # compared against the source's CPU in pre_live_migration
        holder = ET.Element("domain")
        cpu.to_xml(holder)
        cpu_xml = ET.tostring(holder.find("cpu"), encoding="unicode")
        self._compare_cpu(lambda conn: conn.compareHypervisorCPU(
            None, None, None, CONF.libvirt.virt_type, cpu_xml, 0), CONF.libvirt.cpu_model)

    def _compare_cpu(self, compare: Callable[[Any], int], what: str) -> None:
        libvirt = libvirt_host.libvirt
        try:
            result = compare(self._host.get_connection())
        except libvirt.libvirtError as err:
            if libvirt_host.is_error(err, libvirt.VIR_ERR_NO_SUPPORT):
                LOG.info("CPU comparison not supported by %s; skipped", self.uri)
                return
            raise exception.MigrationPreCheckError(
                reason=f"CPU {what} cannot be checked on {self.host}: {err}") from err
        if result == libvirt.VIR_CPU_COMPARE_INCOMPATIBLE:
            raise exception.MigrationPreCheckError(
                reason=f"the CPU of {self.host} is not compatible with {what}")

    def cleanup_live_migration_destination_check(self, dest_check_data: dict) -> None:
        probe = dest_check_data.get("probe")
        if probe:
            with contextlib.suppress(OSError):
                (self.instances_path / probe).unlink()

    def check_can_live_migrate_source(self, instance: Any, dest_check_data: dict) -> dict:
        same_dir = (os.path.realpath(dest_check_data.get("instances_path", ""))
                    == os.path.realpath(self.instances_path))
        shared = self._sees(dest_check_data) and same_dir
        requested = dest_check_data.get("block_migration", "auto")
        if requested in ("auto", None):
            block = not shared
        elif requested and shared:
            raise exception.MigrationPreCheckError(
                reason="block migration requested, but the instances path is shared")
        elif not requested and not shared:
            raise exception.MigrationPreCheckError(
                reason=f"the instances path is not shared with {dest_check_data['dest_host']}"
                       "; use block migration")
        else:
            block = bool(requested)
        directory = self.instance_dir(instance)
        info = self._read_disk_info(directory)
        sizes = {d["file"]: disk.info(directory / d["file"])["virtual-size"]
                 for d in info["disks"]}
        cpu = ET.fromstring(self._host.get_connection().getCapabilities()).find("host/cpu")
        return {**dest_check_data, "shared_storage": shared, "block_migration": block,
                "source_instances_path": str(directory),
                "dest_instances_path": str(Path(dest_check_data["instances_path"])
                                           / instance.uuid),
                "disk_info": info, "disk_sizes": sizes,
                "source_cpu": ET.tostring(cpu, encoding="unicode") if cpu is not None
                else None}

    def pre_live_migration(self, instance: Any, migrate_data: dict) -> dict:
        """On the destination: the same CPU, and (block migration) an empty copy of the
        instance directory for libvirt to fill."""
        if guest_cpu().mode != "custom" and migrate_data.get("source_cpu"):
            self._compare_cpu(lambda conn: conn.compareCPU(migrate_data["source_cpu"], 0),
                              "the source host's CPU")
        if not migrate_data.get("shared_storage"):
            info = migrate_data["disk_info"]
            directory = self.instance_dir(instance)
            image = image_api.get(None, info["image_id"])
            image = {**image, "properties": {**(image.get("properties") or {}),
                                             "kernel_id": info.get("kernel_id"),
                                             "ramdisk_id": info.get("ramdisk_id"),
                                             "os_command_line": info.get("cmdline")}}
            self._create_disks(directory, image, instance.flavor or {},
                               sizes=migrate_data.get("disk_sizes"))
        return migrate_data

    def live_migration(self, instance: Any, dest: str, migrate_data: dict,
                       progress: Callable[[dict], None]) -> None:
        domain = self._host.get_domain(instance.uuid)
        if domain is None:
            raise exception.VirtDriverError(reason=f"no guest for {instance.uuid} here")
        xml = domain.XMLDesc(libvirt_host.libvirt.VIR_DOMAIN_XML_MIGRATABLE)
        flags, params = flags_and_params(xml, migrate_data, self.cache_mode)
        job = LiveMigrationJob(self._host, instance.uuid, migrate_data["libvirt_uri"], flags,
                               params)
        self._jobs[instance.uuid] = job
        try:
            job.run(progress)
        finally:
            self._jobs.pop(instance.uuid, None)

    def live_migration_abort(self, instance: Any) -> None:
        job = self._jobs.get(instance.uuid)
        if job is not None:
            job.abort()

    def live_migration_force_complete(self, instance: Any) -> None:
        job = self._jobs.get(instance.uuid)
        if job is not None:
            job.force_complete()

    def post_live_migration(self, instance: Any, migrate_data: dict) -> None:
        """On the source: the domain left with UNDEFINE_SOURCE; drop the local disks
        unless the destination uses the very same directory."""
        domain = self._host.get_domain(instance.uuid)
        if domain is not None:  # an older libvirt kept the definition
            with contextlib.suppress(libvirt_host.libvirt.libvirtError):
                domain.undefine()
        if not migrate_data.get("shared_storage"):
            shutil.rmtree(self.instance_dir(instance), ignore_errors=True)

    def post_live_migration_at_destination(self, instance: Any, migrate_data: dict) -> None:
        domain = self._host.get_domain(instance.uuid)
        if domain is None:
            raise exception.VirtDriverError(
                reason=f"the guest of {instance.uuid} did not arrive on {self.host}")
        if not domain.isPersistent():
            self._host.get_connection().defineXML(domain.XMLDesc(0))
        state = domain.state()[0]
        if (state == libvirt_host.libvirt.VIR_DOMAIN_PAUSED
                and getattr(instance, "vm_state", None) != "paused"):
            domain.resume()  # paused by force-complete to converge

    def rollback_live_migration_at_destination(self, instance: Any, migrate_data: dict) -> None:
        self._remove_domain(instance)
        if not migrate_data.get("shared_storage"):
            shutil.rmtree(self.instance_dir(instance), ignore_errors=True)
