"""What every scheduler filter is: a name, a yes/no per host, and words for the no.

A filter is small and independent: host_passes() looks at one HostState and the
RequestSpec and nothing else. The engine records which hosts each filter removed, and
describe() turns that into the part of NoValidHost's message that names the filter,
so an operator reads why nothing fitted instead of Nova's bare "No valid host".
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

from novalite.objects.request_spec import RequestSpec
from novalite.scheduler.host_state import HostState

# Hosts listed per filter in an explanation before "and N more".
MAX_LISTED = 5


class BaseHostFilter:
    """Subclasses set `reason` and implement predicate() (or host_passes())."""

    name: ClassVar[str] = ""
    # Why a host was removed, in a few words ("disabled or down").
    reason: ClassVar[str] = "rejected"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.name = cls.__name__

    def host_passes(self, host_state: HostState, spec: RequestSpec) -> bool:
        """Whether the host may take one instance of the request."""
        return self.predicate(spec)(host_state)

    def predicate(self, spec: RequestSpec) -> Callable[[HostState], bool]:
        """host_passes for one request, with what depends only on the request worked
        out once: the engine applies it to thousands of hosts."""
        if type(self).host_passes is BaseHostFilter.host_passes:
            raise NotImplementedError(f"{self.name} implements neither host_passes "
                                      f"nor predicate")
        return lambda host_state: self.host_passes(host_state, spec)

    def filter_all(self, hosts: Sequence[HostState], spec: RequestSpec
                   ) -> tuple[list[HostState], list[HostState]]:
        """(kept, removed), each in the order of `hosts`."""
        flags = list(map(self.predicate(spec), hosts))
        kept = list(itertools.compress(hosts, flags))
        if len(kept) == len(hosts):
            return kept, []
        return kept, [host for host, flag in zip(hosts, flags, strict=True) if not flag]

    def applies(self, spec: RequestSpec) -> bool:
        """False when the request does not involve this filter (no hint, no zone): the
        engine then skips it, which keeps explanations and logs short."""
        return True

    def instances_needed(self, spec: RequestSpec) -> set[str]:
        """Instances whose hosts this filter looks for in HostState.instance_uuids (the
        cached host states carry none: the engine reads these per request)."""
        return set()

    def host_detail(self, host_state: HostState, spec: RequestSpec) -> str:
        """How a removed host is listed: its name, plus whatever helps (a filter may add)."""
        return host_state.name

    def describe(self, removed: list[HostState], spec: RequestSpec) -> str:
        """The explanation of what this filter removed: "reason: h1, h2 and 3 more"."""
        return f"{self.reason}: {listing([self.host_detail(h, spec) for h in removed])}"


def listing(items: list[str], sep: str = ", ") -> str:
    """items joined, the first MAX_LISTED of them, then "and N more"."""
    shown = sep.join(items[:MAX_LISTED])
    if len(items) > MAX_LISTED:
        shown += f"{sep}and {len(items) - MAX_LISTED} more"
    return shown


def hint_list(spec: RequestSpec, key: str) -> list[str]:
    """A scheduler hint as a list of strings (clients send a string or a list)."""
    value = (spec.scheduler_hints or {}).get(key)
    if value is None or value == "":
        return []
    if isinstance(value, str):
        return [value]
    return [str(v) for v in value]
