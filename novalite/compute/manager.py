"""The compute agent of one host. It never opens the database: everything it persists
goes through the conductor's narrow RPC methods.

Work is split by flow into sibling modules as the flows arrive (build, power, resize,
live migration, recovery); this module holds what every flow shares.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from novalite import context as nl_context
from novalite import service
from novalite.conductor import rpcapi as conductor_rpcapi
from novalite.conf import CONF
from novalite.manager import Manager
from novalite.utils import concurrency
from novalite.virt import driver as virt_driver

LOG = logging.getLogger(__name__)

BINARY = "novalite-compute"
INVENTORY_SETTINGS = ("cpu_allocation_ratio", "ram_allocation_ratio", "disk_allocation_ratio",
                      "reserved_host_memory_mb", "reserved_host_disk_mb", "reserved_host_cpus")


class ComputeManager(Manager):
    RPC_API_VERSION = "1.0"

    def __init__(self, host: str, driver: virt_driver.ComputeDriver | None = None) -> None:
        super().__init__(host)
        self.driver = driver or virt_driver.load_driver(CONF.compute_driver, host)
        self.conductor = conductor_rpcapi.ConductorAPI()
        self.instance_locks = concurrency.KeyedLocks()

    def init_host(self) -> None:
        self.driver.init_host()
        self.update_available_resource()

    def cleanup_host(self) -> None:
        self.driver.cleanup_host()

    def periodic_tasks(self) -> list[tuple[Callable[[], None], float]]:
        return [(self.update_available_resource, CONF.compute.update_resources_interval)]

    def heartbeat(self) -> None:
        """Stamp our service row, through the conductor."""
        self.conductor.service_heartbeat(
            nl_context.get_admin_context(), self.host, BINARY, "compute", service.SERVICE_VERSION
        )

    def update_available_resource(self) -> None:
        """Report the hypervisor's resources into compute_nodes, through the conductor."""
        resources = self.driver.get_available_resource()
        # Overcommit and reservations are this host's settings, not the conductor's.
        for name in INVENTORY_SETTINGS:
            setattr(resources, name, getattr(CONF.compute, name))
        self.conductor.compute_node_report(nl_context.get_admin_context(), self.host, resources)


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
