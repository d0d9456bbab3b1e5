"""AvailabilityZoneFilter: only hosts in the zone the request names."""

from __future__ import annotations

from collections.abc import Callable

from novalite.objects.request_spec import RequestSpec
from novalite.scheduler.filters.base import BaseHostFilter
from novalite.scheduler.host_state import HostState


class AvailabilityZoneFilter(BaseHostFilter):
    """A server asked for in zone Z goes to a host of Z (a host without its own zone is
    in [DEFAULT] default_availability_zone, see host_state)."""

    reason = "in another availability zone"

    def applies(self, spec: RequestSpec) -> bool:
        return bool(spec.availability_zone)

    def predicate(self, spec: RequestSpec) -> Callable[[HostState], bool]:
        zone = spec.availability_zone
        if not zone:
            return lambda host_state: True
        return lambda host_state: host_state.availability_zone == zone

    def host_detail(self, host_state: HostState, spec: RequestSpec) -> str:
        return f"{host_state.name} is in {host_state.availability_zone}"
