"""The weighers and weigh_hosts(), which orders filtered hosts best first."""

from __future__ import annotations

import heapq
from collections.abc import Sequence

from novalite.objects.request_spec import RequestSpec
from novalite.scheduler.host_state import HostState
from novalite.scheduler.weights.base import BaseWeigher, normalize
from novalite.scheduler.weights.resources import (
    CPUWeigher,
    DiskWeigher,
    NumInstancesWeigher,
    RAMWeigher,
)

__all__ = ["WEIGHERS", "BaseWeigher", "all_weighers", "normalize", "weigh_hosts"]

WEIGHERS: tuple[type[BaseWeigher], ...] = (RAMWeigher, CPUWeigher, DiskWeigher,
                                           NumInstancesWeigher)


def all_weighers() -> list[BaseWeigher]:
    """One instance of every weigher (those with multiplier 0 simply add nothing)."""
    return [cls() for cls in WEIGHERS]


def weigh_hosts(hosts: Sequence[HostState], spec: RequestSpec,
                weighers: Sequence[BaseWeigher] | None = None, limit: int | None = None
                ) -> list[tuple[HostState, float]]:
    """(host, weight) best first; equal weights keep a stable order by host name, node
    name, so the same state gives the same answer (tests, and predictable operators).
    With `limit`, only the best `limit` (the same as the full list's beginning, without
    sorting thousands of hosts)."""
    weighers = all_weighers() if weighers is None else weighers
    totals = [0.0 for _ in hosts]
    for weigher in weighers:
        multiplier = weigher.multiplier()
        if multiplier == 0.0 or not hosts:
            continue
        scaled = normalize(weigher.raw_weights(hosts, spec))
        totals = [t + multiplier * s for t, s in zip(totals, scaled, strict=True)]
    pairs = zip(hosts, totals, strict=True)
    if limit is not None and limit < len(hosts):
        return heapq.nsmallest(limit, pairs, key=_rank_key)
    return sorted(pairs, key=_rank_key)


def _rank_key(pair: tuple[HostState, float]) -> tuple[float, str, str]:
    return -pair[1], pair[0].host, pair[0].nodename
