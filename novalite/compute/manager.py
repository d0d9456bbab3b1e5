"""The compute agent of one host. It never opens the database: everything it persists
goes through the conductor's narrow RPC methods.

The RPC methods live in one module per flow (build, power, delete; resize, live
migration and recovery follow); this module assembles them and holds what they share.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from novalite import context as nl_context
from novalite import service
from novalite.compute import rpcapi as compute_rpcapi
from novalite.compute.build import BuildMixin
from novalite.compute.delete import DeleteMixin
from novalite.compute.live_migration import LiveMigrationMixin
from novalite.compute.power import PowerMixin
from novalite.compute.resize import ResizeMixin
from novalite.conductor import rpcapi as conductor_rpcapi
from novalite.conf import CONF
from novalite.manager import Manager
from novalite.objects.instance import Instance
from novalite.states import PowerState
from novalite.utils import concurrency
from novalite.virt import driver as virt_driver

LOG = logging.getLogger(__name__)

BINARY = "novalite-compute"
INVENTORY_SETTINGS = ("cpu_allocation_ratio", "ram_allocation_ratio", "disk_allocation_ratio",
                      "reserved_host_memory_mb", "reserved_host_disk_mb", "reserved_host_cpus")


class ComputeManager(BuildMixin, PowerMixin, ResizeMixin, LiveMigrationMixin, DeleteMixin,
                     Manager):
    RPC_API_VERSION = "1.4"

    def __init__(self, host: str, driver: virt_driver.ComputeDriver | None = None) -> None:
        super().__init__(host)
        self.driver = driver or virt_driver.load_driver(CONF.compute_driver, host)
        self.conductor = conductor_rpcapi.ConductorAPI()
        self.compute = compute_rpcapi.ComputeAPI()  # the next step of a move, on a peer
        # Every operation on one instance runs under that instance's lock.
        self.instance_locks = concurrency.KeyedLocks()

    def init_host(self) -> None:
        self.driver.init_host()
        self.driver.register_lifecycle_listener(self.handle_lifecycle_event)
        self.update_available_resource()

    def cleanup_host(self) -> None:
        self.driver.cleanup_host()

    def periodic_tasks(self) -> list[tuple[Callable[[], None], float]]:
        return [(self.update_available_resource, CONF.compute.update_resources_interval),
                (self.sync_power_states, CONF.compute.sync_power_state_interval),
                (self.confirm_old_resizes, _auto_confirm_interval())]

    def heartbeat(self) -> None:
        """Stamp our service row, through the conductor."""
        self.conductor.service_heartbeat(nl_context.get_admin_context(), self.host, BINARY,
                                         "compute", service.SERVICE_VERSION)

    def update_available_resource(self) -> None:
        """Report the hypervisor's resources into compute_nodes, through the conductor."""
        resources = self.driver.get_available_resource()
        # Overcommit, reservations and zone are this host's settings, not the conductor's.
        for name in INVENTORY_SETTINGS:
            setattr(resources, name, getattr(CONF.compute, name))
        # "" (not None) so that removing the option moves the host back to the default zone.
        resources.availability_zone = CONF.compute.availability_zone or ""
        self.conductor.compute_node_report(nl_context.get_admin_context(), self.host, resources)

    def power_state_of(self, instance: Instance) -> PowerState:
        """The driver's view of the guest; NOSTATE when the driver cannot tell."""
        try:
            return self.driver.get_info(instance)
        except Exception:
            LOG.exception("Reading the power state of %s failed", instance.uuid)
            return PowerState.NOSTATE


def _auto_confirm_interval() -> float:
    """Often enough that a resize waits at most about its window (and at least 1 s)."""
    window = CONF.compute.resize_confirm_window
    return max(1.0, min(window / 2, 60.0)) if window else 60.0


def wait_for_conductor(stop: concurrency.Event, interval: float = 2.0) -> bool:
    """Block until the conductor answers a ping, or until `stop` is set (returns False)."""
    conductor = conductor_rpcapi.ConductorAPI()
    ctxt = nl_context.get_admin_context()
    while not stop.is_set():
        try:
            conductor.ping(ctxt, timeout=interval)
            return True
        except Exception as exc:  # MessagingTimeout, connection errors
            LOG.info("Waiting for the conductor to answer (%s)", type(exc).__name__)
            stop.wait(0.5)
    return False
