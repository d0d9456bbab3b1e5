"""The request's own host constraints, run as filters so they show in explanations.

IgnoreHostsFilter (spec.ignore_hosts: the source of a move, hosts that already failed)
and RequestedDestinationFilter (spec.requested_destination: "move to host h") are not
operator policy: the engine always runs them first, whatever enabled_filters says.
"""

from __future__ import annotations

from collections.abc import Callable

from novalite.objects.request_spec import RequestSpec
from novalite.scheduler.filters.base import BaseHostFilter
from novalite.scheduler.host_state import HostState


class IgnoreHostsFilter(BaseHostFilter):
    """Hosts the request excludes (matched by host name or node name)."""

    reason = "ignored by the request"

    def applies(self, spec: RequestSpec) -> bool:
        return bool(spec.ignore_hosts)

    def predicate(self, spec: RequestSpec) -> Callable[[HostState], bool]:
        ignored = set(spec.ignore_hosts or [])
        return lambda host_state: (host_state.host not in ignored
                                   and host_state.nodename not in ignored)


class RequestedDestinationFilter(BaseHostFilter):
    """Only the host (or node) the request names."""

    reason = "not the requested destination"

    def applies(self, spec: RequestSpec) -> bool:
        return bool(spec.requested_destination)

    def predicate(self, spec: RequestSpec) -> Callable[[HostState], bool]:
        dest = spec.requested_destination
        return lambda host_state: not dest or dest in (host_state.host, host_state.nodename)

    def describe(self, removed: list[HostState], spec: RequestSpec) -> str:
        # Listing every other host says nothing; name what was asked for instead.
        return f"not the requested destination {spec.requested_destination}"
