"""The weighers and weigh_hosts(), which orders filtered hosts best first."""

from __future__ import annotations

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
                weighers: Sequence[BaseWeigher] | None = None
                ) -> list[tuple[HostState, float]]:
    """(host, weight) best first; equal weights keep a stable order by host name, node
    name, so the same state gives the same answer (tests, and predictable operators)."""
    weighers = all_weighers() if weighers is None else weighers
    totals = [0.0 for _ in hosts]
    for weigher in weighers:
        multiplier = weigher.multiplier()
        if multiplier == 0.0 or not hosts:
            continue
        scaled = normalize([weigher.raw_weight(h, spec) for h in hosts])
        totals = [t + multiplier * s for t, s in zip(totals, scaled, strict=True)]
    ranked = sorted(zip(hosts, totals, strict=True),
                    key=lambda pair: (-pair[1], pair[0].host, pair[0].nodename))
    return ranked
