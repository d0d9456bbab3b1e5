"""RAM, CPU and disk weighers: prefer free room (spread) with a positive multiplier,
full hosts (stack) with a negative one."""

from __future__ import annotations

from collections.abc import Sequence

from novalite.objects.request_spec import RequestSpec
from novalite.scheduler.host_state import HostState
from novalite.scheduler.weights.base import BaseWeigher


def _free(hosts: Sequence[HostState], rc: str) -> list[float]:
    # HostState.free builds a dict of every resource per call: too slow for 10,000 hosts.
    return [float(h.total.get(rc, 0) - h.used.get(rc, 0)) for h in hosts]


class RAMWeigher(BaseWeigher):
    """Free memory_mb."""

    multiplier_option = "ram_weight_multiplier"

    def raw_weight(self, host_state: HostState, spec: RequestSpec) -> float:
        return float(host_state.free["memory_mb"])

    def raw_weights(self, hosts: Sequence[HostState], spec: RequestSpec) -> list[float]:
        return _free(hosts, "memory_mb")


class CPUWeigher(BaseWeigher):
    """Free vcpus."""

    multiplier_option = "cpu_weight_multiplier"

    def raw_weight(self, host_state: HostState, spec: RequestSpec) -> float:
        return float(host_state.free["vcpus"])

    def raw_weights(self, hosts: Sequence[HostState], spec: RequestSpec) -> list[float]:
        return _free(hosts, "vcpus")


class DiskWeigher(BaseWeigher):
    """Free disk_gb."""

    multiplier_option = "disk_weight_multiplier"

    def raw_weight(self, host_state: HostState, spec: RequestSpec) -> float:
        return float(host_state.free["disk_gb"])

    def raw_weights(self, hosts: Sequence[HostState], spec: RequestSpec) -> list[float]:
        return _free(hosts, "disk_gb")


class NumInstancesWeigher(BaseWeigher):
    """Fewer instances is better with a positive multiplier (the option's documented
    meaning; note Nova's sign is the opposite), more with a negative one. Off (0.0) by
    default."""

    multiplier_option = "num_instances_weight_multiplier"

    def raw_weight(self, host_state: HostState, spec: RequestSpec) -> float:
        return -float(host_state.num_instances)

    def raw_weights(self, hosts: Sequence[HostState], spec: RequestSpec) -> list[float]:
        return [-float(h.num_instances) for h in hosts]
