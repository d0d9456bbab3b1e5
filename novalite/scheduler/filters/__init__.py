"""Scheduler filters, registered by class name for [filter_scheduler] enabled_filters.

get_filters() returns the request filters (ignore_hosts, requested_destination) first,
always, then the enabled ones in the configured order.
"""

from __future__ import annotations

from collections.abc import Iterable

from novalite import exception
from novalite.conf import CONF
from novalite.scheduler.filters.affinity_filter import DifferentHostFilter, SameHostFilter
from novalite.scheduler.filters.availability_zone_filter import AvailabilityZoneFilter
from novalite.scheduler.filters.base import BaseHostFilter
from novalite.scheduler.filters.compute_filter import ComputeFilter
from novalite.scheduler.filters.request_filters import (
    IgnoreHostsFilter,
    RequestedDestinationFilter,
)
from novalite.scheduler.filters.resource_filter import ResourceFilter

__all__ = ["FILTERS", "REQUEST_FILTERS", "BaseHostFilter", "get_filters"]

FILTERS: dict[str, type[BaseHostFilter]] = {cls.__name__: cls for cls in (
    ComputeFilter, ResourceFilter, AvailabilityZoneFilter, SameHostFilter,
    DifferentHostFilter, IgnoreHostsFilter, RequestedDestinationFilter)}

# Always run, first: they are the request's constraints, not operator policy.
REQUEST_FILTERS: tuple[type[BaseHostFilter], ...] = (IgnoreHostsFilter,
                                                     RequestedDestinationFilter)


def get_filters(names: Iterable[str] | None = None) -> list[BaseHostFilter]:
    """Filter instances for `names` (default [filter_scheduler] enabled_filters).

    An unknown name is a ConfigError naming the known ones, so a typo in the config
    fails loudly at the first request instead of silently filtering nothing.
    """
    if names is None:
        names = CONF.filter_scheduler.enabled_filters
    names = [n.strip() for n in names if n and n.strip()]
    unknown = [n for n in names if n not in FILTERS]
    if unknown:
        raise exception.ConfigError(
            reason=f"[filter_scheduler] enabled_filters: unknown filter(s) "
                   f"{', '.join(unknown)}; known: {', '.join(sorted(FILTERS))}")
    classes = list(REQUEST_FILTERS)
    for name in names:
        if FILTERS[name] not in classes:
            classes.append(FILTERS[name])
    return [cls() for cls in classes]
