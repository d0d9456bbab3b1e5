"""ComputeFilter: only hosts whose compute service is enabled and up."""

from __future__ import annotations

from collections.abc import Callable

from novalite.objects.request_spec import RequestSpec
from novalite.scheduler.filters.base import BaseHostFilter
from novalite.scheduler.host_state import HostState


def _problem(host_state: HostState) -> str | None:
    """What keeps the host from building, as the end of a sentence; None if nothing."""
    if not host_state.has_service:
        return "has no compute service"
    if host_state.forced_down:
        return "is forced down"
    if not host_state.service_up:
        return "is down"
    if host_state.service_disabled:
        return "is disabled"
    if host_state.node_disabled:
        return "has its compute node disabled"
    return None


def _usable(host_state: HostState) -> bool:
    """_problem(host_state) is None, without building a message per host."""
    return (host_state.has_service and host_state.service_up and not host_state.forced_down
            and not host_state.service_disabled and not host_state.node_disabled)


class ComputeFilter(BaseHostFilter):
    """A disabled or silent compute service cannot build anything."""

    reason = "disabled or down"

    def predicate(self, spec: RequestSpec) -> Callable[[HostState], bool]:
        return _usable

    def host_detail(self, host_state: HostState, spec: RequestSpec) -> str:
        return f"{host_state.name} {_problem(host_state)}"
