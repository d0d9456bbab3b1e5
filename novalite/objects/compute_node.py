"""What a compute agent reports about its hypervisor."""

from __future__ import annotations

import dataclasses

from novalite.objects import base


@dataclasses.dataclass
class HostResources(base.NovaliteObject):
    """A virt driver's view of one hypervisor node (what get_available_resource returns)."""

    OBJ_NAME = "HostResources"
    VERSION = "1.0"

    hypervisor_hostname: str
    hypervisor_type: str
    hypervisor_version: int
    vcpus: int
    memory_mb: int
    local_gb: int
    cpu_info: dict = dataclasses.field(default_factory=dict)
    host_ip: str | None = None
    migration_address: str | None = None
    disk_available_least: int | None = None
    # The compute host's own [compute] settings; None leaves the conductor's defaults.
    cpu_allocation_ratio: float | None = None
    ram_allocation_ratio: float | None = None
    disk_allocation_ratio: float | None = None
    reserved_host_memory_mb: int | None = None
    reserved_host_disk_mb: int | None = None
    reserved_host_cpus: int | None = None
    # [compute] availability_zone of the host; None: [DEFAULT] default_availability_zone.
    availability_zone: str | None = None
