"""ResourceFilter: the flavor's vcpus, memory_mb and disk_gb fit in the host's free
capacity (inventory × allocation ratio − reserved − allocations, DESIGN §3).

This is only a pre-check on a snapshot; the claim (novalite.db.allocations.claim) is
what guarantees no overbooking under concurrency.
"""

from __future__ import annotations

from collections.abc import Callable

from novalite.db import allocations
from novalite.objects.request_spec import RequestSpec
from novalite.scheduler.filters.base import BaseHostFilter, listing
from novalite.scheduler.host_state import HostState


def _short(host_state: HostState, spec: RequestSpec) -> list[tuple[str, int, int]]:
    """(resource, free, asked) for every resource the host lacks."""
    asked = allocations.resources_from_flavor(spec.flavor or {})
    free = host_state.free
    return [(rc, free[rc], asked[rc]) for rc in allocations.RESOURCES
            if asked[rc] > 0 and free[rc] < asked[rc]]


class ResourceFilter(BaseHostFilter):
    """Hosts without room for one instance of the flavor."""

    reason = "not enough resources"

    def predicate(self, spec: RequestSpec) -> Callable[[HostState], bool]:
        asked = allocations.resources_from_flavor(spec.flavor or {})
        wanted = [(rc, n) for rc, n in asked.items() if n > 0]

        def fits(host_state: HostState) -> bool:
            # _short()'s test, without a dict of free resources per host.
            total, used = host_state.total, host_state.used
            for rc, n in wanted:
                if total.get(rc, 0) - used.get(rc, 0) < n:
                    return False
            return True
        return fits

    def host_detail(self, host_state: HostState, spec: RequestSpec) -> str:
        return ", ".join(f"not enough {rc}: {host_state.name} has {free} free, {asked} asked"
                         for rc, free, asked in _short(host_state, spec))

    def describe(self, removed: list[HostState], spec: RequestSpec) -> str:
        return listing([self.host_detail(h, spec) for h in removed], sep="; ")
