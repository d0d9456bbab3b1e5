"""In-memory guests, for unit tests, functional tests and novalite-all.

Host sizes come from [fake_driver]. Guests are kept in $state_path/fake-guests-<host>.json,
so that like a real hypervisor's they outlive a restart of the compute agent. Each
operation can be slowed down or made to fail ([fake_driver] delays, fail_operations),
so that every rollback path is testable without libvirt.
"""

from __future__ import annotations

import json
import os
from typing import Any

from novalite import exception
from novalite.conf import CONF
from novalite.objects.compute_node import HostResources
from novalite.states import PowerState
from novalite.utils import concurrency
from novalite.virt import driver


class FakeDriver(driver.ComputeDriver):
    def __init__(self, host: str) -> None:
        super().__init__(host)
        self._lock = concurrency.Lock()
        self.guests: dict[str, PowerState] = {}
        # Guests moved away but kept until confirm or revert (libvirt's <dir>_resize).
        self.resizing: dict[str, PowerState] = {}
        # Live migrations in progress from this host: their abort and force flags.
        self._live: dict[str, dict[str, bool]] = {}
        self._path = os.path.join(CONF.state_path, f"fake-guests-{host}.json")

    def init_host(self) -> None:
        try:
            with open(self._path) as f:
                saved = json.load(f)
        except FileNotFoundError:
            saved = {}
        self.guests = {uuid: PowerState(p) for uuid, p in saved.get("guests", {}).items()}
        self.resizing = {uuid: PowerState(p) for uuid, p in saved.get("resizing", {}).items()}

    def get_available_resource(self) -> HostResources:
        opts = CONF.fake_driver
        return HostResources(
            hypervisor_hostname=self.host,
            hypervisor_type=opts.hypervisor_type,
            hypervisor_version=opts.hypervisor_version,
            vcpus=opts.vcpus,
            memory_mb=opts.memory_mb,
            local_gb=opts.local_gb,
            cpu_info={"arch": "x86_64", "model": "fake", "vendor": "novalite",
                      "topology": {"sockets": 1, "cores": opts.vcpus, "threads": 1}},
            host_ip=driver.host_ip(),
            disk_available_least=opts.local_gb,
        )

    def list_instances(self) -> list[str]:
        with self._lock:
            return list(self.guests)

    def spawn(self, instance: Any, image_meta: dict, flavor: dict) -> None:
        self._step("spawn")
        self._set(instance, PowerState.RUNNING)

    def destroy(self, instance: Any) -> None:
        self._step("destroy")
        with self._lock:
            self.guests.pop(instance.uuid, None)
            self._save()

    def power_on(self, instance: Any) -> None:
        self._step("power_on")
        self._set(instance, PowerState.RUNNING)

    def power_off(self, instance: Any, timeout: float = 60) -> None:
        self._step("power_off")
        self._set(instance, PowerState.SHUTDOWN)

    def reboot(self, instance: Any, reboot_type: str) -> None:
        self._step("reboot")
        self._set(instance, PowerState.RUNNING)

    def prep_resize(self, instance: Any, flavor: dict) -> None:
        self._step("prep_resize")

    def migrate_disk_and_power_off(self, instance: Any, dest_host: str, flavor: dict,
                                   disk_target: dict | None = None) -> dict:
        self._step("migrate_disk_and_power_off")
        with self._lock:
            self.resizing[instance.uuid] = self.guests.pop(instance.uuid, PowerState.NOSTATE)
            self._save()
        return {"disk_format": "fake"}

    def finish_migration(self, instance: Any, disk_info: dict, flavor: dict,
                         power_on: bool) -> None:
        self._step("finish_migration")
        self._set(instance, PowerState.RUNNING if power_on else PowerState.SHUTDOWN)

    def confirm_migration(self, instance: Any) -> None:
        self._step("confirm_migration")
        with self._lock:
            self.resizing.pop(instance.uuid, None)
            self._save()

    def revert_migration_at_destination(self, instance: Any) -> None:
        self._step("revert_migration_at_destination")
        with self._lock:
            self.guests.pop(instance.uuid, None)
            self._save()

    def finish_revert_migration(self, instance: Any, power_on: bool) -> None:
        self._step("finish_revert_migration")
        with self._lock:
            self.resizing.pop(instance.uuid, None)
            self.guests[instance.uuid] = PowerState.RUNNING if power_on else PowerState.SHUTDOWN
            self._save()

    # -- live migration ------------------------------------------------------------
    def check_can_live_migrate_destination(self, instance: Any, block_migration: Any) -> dict:
        self._step("check_can_live_migrate_destination")
        return {"dest_host": self.host, "migration_address": driver.host_ip(),
                "shared_storage": False, "block_migration": block_migration}

    def check_can_live_migrate_source(self, instance: Any, dest_check_data: dict) -> dict:
        self._step("check_can_live_migrate_source")
        requested = dest_check_data.get("block_migration", "auto")
        shared = dest_check_data.get("shared_storage", False)
        if requested is True and shared:
            raise exception.Invalid(reason="block migration with shared storage")
        block = (not shared) if requested == "auto" else bool(requested)
        return {**dest_check_data, "block_migration": block}

    def pre_live_migration(self, instance: Any, migrate_data: dict) -> dict:
        self._step("pre_live_migration")
        return migrate_data

    def live_migration(self, instance: Any, dest: str, migrate_data: dict,
                       progress: Any) -> None:
        """Copy memory (and disk for a block migration) over live_migration_seconds,
        reporting progress; a non-converging guest keeps dirtying memory until it is
        forced (paused) or aborted."""
        self._step("live_migration")
        flavor = instance.flavor or {}
        memory = int(flavor.get("memory_mb", 0)) * 2**20
        disk = int(flavor.get("root_gb", 0)) * 2**30 if migrate_data.get("block_migration") else 0
        flags = self._live[instance.uuid] = {"abort": False, "force": False}
        try:
            seconds = CONF.fake_driver.live_migration_seconds
            step = 0.05
            rounds = max(1, int(seconds / step))
            done = 0
            while True:
                if flags["abort"]:
                    raise exception.LiveMigrationAborted(instance_uuid=instance.uuid)
                converges = CONF.fake_driver.live_migration_converges or flags["force"]
                if flags["force"]:
                    done = rounds
                elif done < rounds:
                    done += 1
                fraction = done / rounds
                if not converges:
                    fraction = min(fraction, 0.9)  # dirtied again as fast as it is copied
                progress({"memory_total": memory, "memory_processed": int(memory * fraction),
                          "memory_remaining": memory - int(memory * fraction),
                          "disk_total": disk, "disk_processed": int(disk * fraction),
                          "disk_remaining": disk - int(disk * fraction)})
                if fraction >= 1:
                    return
                concurrency.sleep(step)
        finally:
            self._live.pop(instance.uuid, None)

    def live_migration_abort(self, instance: Any) -> None:
        if instance.uuid in self._live:
            self._live[instance.uuid]["abort"] = True

    def live_migration_force_complete(self, instance: Any) -> None:
        if instance.uuid in self._live:
            self._live[instance.uuid]["force"] = True

    def post_live_migration(self, instance: Any, migrate_data: dict) -> None:
        self._step("post_live_migration")
        with self._lock:
            self.guests.pop(instance.uuid, None)
            self._save()

    def post_live_migration_at_destination(self, instance: Any, migrate_data: dict) -> None:
        self._step("post_live_migration_at_destination")
        self._set(instance, PowerState.PAUSED if instance.vm_state == "paused"
                  else PowerState.RUNNING)

    def rollback_live_migration_at_destination(self, instance: Any, migrate_data: dict) -> None:
        self._step("rollback_live_migration_at_destination")
        with self._lock:
            self.guests.pop(instance.uuid, None)
            self._save()

    def get_info(self, instance: Any) -> PowerState:
        with self._lock:
            return self.guests.get(instance.uuid, PowerState.NOSTATE)

    def _step(self, operation: str) -> None:
        """Apply the configured delay, then the configured failure, of `operation`."""
        delay = CONF.fake_driver.delays.get(operation)
        if delay:
            concurrency.sleep(float(delay))
        if operation in CONF.fake_driver.fail_operations:
            raise exception.VirtDriverError(
                reason=f"fake {operation} failure injected on {self.host}")

    def _set(self, instance: Any, state: PowerState) -> None:
        with self._lock:
            self.guests[instance.uuid] = state
            self._save()

    def _save(self) -> None:
        """Write the guest table atomically (callers hold self._lock)."""
        os.makedirs(os.path.dirname(self._path), exist_ok=True)
        tmp = f"{self._path}.tmp"
        with open(tmp, "w") as f:
            json.dump({"guests": {u: int(p) for u, p in self.guests.items()},
                       "resizing": {u: int(p) for u, p in self.resizing.items()}}, f)
        os.replace(tmp, self._path)
