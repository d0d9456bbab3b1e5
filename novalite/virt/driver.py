"""The interface the compute agent calls. One driver instance serves one host.

Methods not implemented by a driver raise NotImplementedError; the compute agent turns
that into a fault rather than a stuck instance.
"""

from __future__ import annotations

import importlib
import socket
from collections.abc import Callable
from typing import Any

from novalite.conf import CONF
from novalite.objects.compute_node import HostResources
from novalite.states import PowerState


class ComputeDriver:
    """Base class for virt drivers (see DESIGN §6 for the full list of operations)."""

    def __init__(self, host: str) -> None:
        self.host = host

    # -- host ------------------------------------------------------------
    def init_host(self) -> None:
        """Connect to the hypervisor; called once before the agent takes messages."""

    def cleanup_host(self) -> None:
        """Release hypervisor connections on shutdown."""

    def get_available_resource(self) -> HostResources:
        raise NotImplementedError

    def list_instances(self) -> list[str]:
        """UUIDs of the guests this host runs (for power-state sync and recovery)."""
        raise NotImplementedError

    def register_lifecycle_listener(self, listener: Callable[[str, PowerState], None]) -> None:
        """Drivers whose hypervisor reports guests starting and stopping by themselves
        call `listener(uuid, power_state)` (from their own thread; it must not block)."""

    # -- lifecycle -------------------------------------------------------
    def spawn(self, instance: Any, image_meta: dict, flavor: dict) -> None:
        raise NotImplementedError

    def destroy(self, instance: Any) -> None:
        raise NotImplementedError

    def power_on(self, instance: Any) -> None:
        raise NotImplementedError

    def power_off(self, instance: Any, timeout: float = 60) -> None:
        raise NotImplementedError

    def reboot(self, instance: Any, reboot_type: str) -> None:
        raise NotImplementedError

    def get_info(self, instance: Any) -> PowerState:
        raise NotImplementedError

    # -- cold migration / resize -----------------------------------------
    def prep_resize(self, instance: Any, flavor: dict) -> dict | None:
        """On the destination: check this host can take the instance with `flavor`;
        returns where the source should copy the disks (the source driver's
        `disk_target`), or None."""
        raise NotImplementedError

    def migrate_disk_and_power_off(self, instance: Any, dest_host: str, flavor: dict,
                                   disk_target: dict | None = None) -> dict:
        raise NotImplementedError

    def finish_migration(
        self, instance: Any, disk_info: dict, flavor: dict, power_on: bool
    ) -> None:
        raise NotImplementedError

    def confirm_migration(self, instance: Any) -> None:
        raise NotImplementedError

    def revert_migration_at_destination(self, instance: Any) -> None:
        """On the destination of a reverted resize: remove the new guest and its disks."""
        raise NotImplementedError

    def finish_revert_migration(self, instance: Any, power_on: bool) -> None:
        raise NotImplementedError

    # -- live migration --------------------------------------------------
    def check_can_live_migrate_destination(self, instance: Any, block_migration: Any) -> dict:
        raise NotImplementedError

    def check_can_live_migrate_source(self, instance: Any, dest_check_data: dict) -> dict:
        raise NotImplementedError

    def cleanup_live_migration_destination_check(self, dest_check_data: dict) -> None:
        """On the destination, once the source has answered: drop what the check made."""

    def pre_live_migration(self, instance: Any, migrate_data: dict) -> dict:
        raise NotImplementedError

    def live_migration(
        self, instance: Any, dest: str, migrate_data: dict, progress: Callable[[dict], None]
    ) -> None:
        raise NotImplementedError

    def live_migration_abort(self, instance: Any) -> None:
        raise NotImplementedError

    def live_migration_force_complete(self, instance: Any) -> None:
        raise NotImplementedError

    def post_live_migration(self, instance: Any, migrate_data: dict) -> None:
        raise NotImplementedError

    def post_live_migration_at_destination(self, instance: Any, migrate_data: dict) -> None:
        raise NotImplementedError

    def rollback_live_migration_at_destination(self, instance: Any, migrate_data: dict) -> None:
        raise NotImplementedError


def host_ip() -> str:
    """[DEFAULT] my_ip, else the address this host's name resolves to."""
    if CONF.my_ip:
        return CONF.my_ip
    try:
        return socket.gethostbyname(CONF.host)
    except OSError:
        return "127.0.0.1"


_DRIVERS = {
    "fake": "novalite.virt.fake:FakeDriver",
    "libvirt": "novalite.virt.libvirt.driver:LibvirtDriver",
}


def load_driver(name: str, host: str) -> ComputeDriver:
    """Instantiate the driver named by [DEFAULT] compute_driver."""
    module_name, _, class_name = _DRIVERS[name].partition(":")
    module = importlib.import_module(module_name)
    return getattr(module, class_name)(host)
