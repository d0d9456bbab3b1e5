"""In-memory guests, for unit tests, functional tests and novalite-all.

Host sizes come from [fake_driver]. Guests live in a dict keyed by instance uuid.
"""

from __future__ import annotations

import socket
from typing import Any

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

    def get_available_resource(self) -> HostResources:
        opts = CONF.fake_driver
        return HostResources(
            hypervisor_hostname=self.host,
            hypervisor_type=opts.hypervisor_type,
            hypervisor_version=opts.hypervisor_version,
            vcpus=opts.vcpus,
            memory_mb=opts.memory_mb,
            local_gb=opts.local_gb,
            cpu_info={
                "arch": "x86_64",
                "model": "fake",
                "vendor": "novalite",
                "topology": {"sockets": 1, "cores": opts.vcpus, "threads": 1},
            },
            host_ip=_host_ip(),
            disk_available_least=opts.local_gb,
        )

    def list_instances(self) -> list[str]:
        with self._lock:
            return list(self.guests)

    def spawn(self, instance: Any, image_meta: dict, flavor: dict) -> None:
        self._set(instance, PowerState.RUNNING)

    def destroy(self, instance: Any) -> None:
        with self._lock:
            self.guests.pop(instance.uuid, None)

    def power_on(self, instance: Any) -> None:
        self._set(instance, PowerState.RUNNING)

    def power_off(self, instance: Any, timeout: float = 60) -> None:
        self._set(instance, PowerState.SHUTDOWN)

    def reboot(self, instance: Any, reboot_type: str) -> None:
        self._set(instance, PowerState.RUNNING)

    def get_info(self, instance: Any) -> PowerState:
        with self._lock:
            return self.guests.get(instance.uuid, PowerState.NOSTATE)

    def _set(self, instance: Any, state: PowerState) -> None:
        with self._lock:
            self.guests[instance.uuid] = state


def _host_ip() -> str:
    try:
        return socket.gethostbyname(CONF.host)
    except OSError:
        return "127.0.0.1"
