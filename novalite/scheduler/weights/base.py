"""Weighers: rank the hosts that passed the filters.

Each weigher gives every candidate a raw number, which is normalised to 0..1 across the
candidates (min → 0, max → 1; all equal → 0) and multiplied by the weigher's
[filter_scheduler] multiplier; a host's weight is the sum. Normalising keeps one
weigher's units (MiB against vCPUs) from drowning the others, so the multipliers alone
say how much each criterion matters.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from novalite.conf import CONF
from novalite.objects.request_spec import RequestSpec
from novalite.scheduler.host_state import HostState


class BaseWeigher:
    """Subclasses set `multiplier_option` and implement raw_weight()."""

    name: ClassVar[str] = ""
    multiplier_option: ClassVar[str] = ""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.name = cls.__name__

    def multiplier(self) -> float:
        """The [filter_scheduler] option's current value (read per request)."""
        return float(getattr(CONF.filter_scheduler, self.multiplier_option))

    def raw_weight(self, host_state: HostState, spec: RequestSpec) -> float:
        """Bigger is better before the multiplier is applied."""
        raise NotImplementedError

    def raw_weights(self, hosts: Sequence[HostState], spec: RequestSpec) -> list[float]:
        """raw_weight of every host, in order (a weigher may do it in one pass)."""
        return [self.raw_weight(host, spec) for host in hosts]


def normalize(values: list[float]) -> list[float]:
    """Scale to 0..1 (min → 0, max → 1); all equal (or one value) → all 0."""
    if not values:
        return []
    low, high = min(values), max(values)
    if high == low:
        return [0.0 for _ in values]
    return [(v - low) / (high - low) for v in values]
