"""SameHostFilter and DifferentHostFilter: the same_host / different_host hints.

Each hint is a list of instance uuids: same_host keeps hosts that run at least one of
them, different_host keeps hosts that run none of them (Nova's semantics).
"""

from __future__ import annotations

from collections.abc import Callable

from novalite.objects.request_spec import RequestSpec
from novalite.scheduler.filters.base import BaseHostFilter, hint_list
from novalite.scheduler.host_state import HostState


class SameHostFilter(BaseHostFilter):
    """Co-locate with the instances named in the same_host hint."""

    reason = "runs none of the same_host instances"

    def applies(self, spec: RequestSpec) -> bool:
        return bool(hint_list(spec, "same_host"))

    def instances_needed(self, spec: RequestSpec) -> set[str]:
        return set(hint_list(spec, "same_host"))

    def predicate(self, spec: RequestSpec) -> Callable[[HostState], bool]:
        wanted = set(hint_list(spec, "same_host"))
        return lambda host_state: not wanted or not wanted.isdisjoint(
            host_state.instance_uuids)


class DifferentHostFilter(BaseHostFilter):
    """Keep away from the instances named in the different_host hint."""

    reason = "runs a different_host instance"

    def applies(self, spec: RequestSpec) -> bool:
        return bool(hint_list(spec, "different_host"))

    def instances_needed(self, spec: RequestSpec) -> set[str]:
        return set(hint_list(spec, "different_host"))

    def predicate(self, spec: RequestSpec) -> Callable[[HostState], bool]:
        avoid = set(hint_list(spec, "different_host"))
        return lambda host_state: avoid.isdisjoint(host_state.instance_uuids)
