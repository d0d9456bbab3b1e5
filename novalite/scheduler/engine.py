"""The scheduling engine: filter, weigh, claim, and say why when nothing fits.

SchedulerManager.select_destinations is a thin RPC wrapper around
:func:`select_destinations`; the conductor uses :func:`claim_alternate` when a build
(or a cold migration) falls back to an alternate host, without asking the scheduler
again.

For each instance of a request the engine runs the filters on the host states (the
scheduler's cache, brought up to date once per request; see host_state), weighs the
survivors, and claims (novalite.db.allocations.claim) on the best host; a claim lost to
a concurrent request falls to the next host. A claim is accounted in the shared host
state while it is being made, so that concurrent requests of this process rank that
host with the room already taken instead of queueing on its row. The chosen
Selection is claimed; up to [scheduler] max_attempts - 1 alternates follow it,
unclaimed. If an instance cannot be placed, every claim this request made is released
and NoValidHost says, per filter, how many hosts it removed and why.
"""

from __future__ import annotations

import dataclasses
import logging
import random
from collections.abc import Sequence

from novalite import exception
from novalite.conf import CONF
from novalite.context import RequestContext
from novalite.db import allocations
from novalite.objects.request_spec import RequestSpec, Selection
from novalite.scheduler import filters as filters_mod
from novalite.scheduler import host_state as host_state_mod
from novalite.scheduler import weights
from novalite.scheduler.filters import BaseHostFilter
from novalite.scheduler.host_state import HostState

LOG = logging.getLogger(__name__)

# Hosts ranked beyond host_subset_size + alternates, for claims lost to concurrent
# requests; past them the engine ranks every host that passed.
RANK_MARGIN = 8


@dataclasses.dataclass
class FilterRun:
    """Outcome of the filters for one instance: who passed, and who each filter removed
    (filters that removed nobody, or were skipped, are left out)."""

    total: int
    passed: list[HostState]
    removed: list[tuple[BaseHostFilter, list[HostState]]]


def run_filters(hosts: Sequence[HostState], spec: RequestSpec,
                host_filters: Sequence[BaseHostFilter]) -> FilterRun:
    """Apply the filters in order, recording which hosts each one removed."""
    remaining = list(hosts)
    removed: list[tuple[BaseHostFilter, list[HostState]]] = []
    for host_filter in host_filters:
        if not remaining:
            break
        if not host_filter.applies(spec):
            continue
        kept, dropped = host_filter.filter_all(remaining, spec)
        if dropped:
            removed.append((host_filter, dropped))
            if LOG.isEnabledFor(logging.DEBUG):  # the names of thousands of hosts
                LOG.debug("%s removed %d host(s): %s", host_filter.name, len(dropped),
                          ", ".join(h.name for h in dropped))
        remaining = kept
    return FilterRun(total=len(hosts), passed=remaining, removed=removed)


def explain(run: FilterRun, spec: RequestSpec,
            claim_failed: Sequence[HostState] = ()) -> str:
    """Why no host was found, per filter; e.g. "There are 3 compute hosts.
    ComputeFilter removed 1 (disabled or down: c3 is down); ResourceFilter removed 2
    (not enough memory_mb: c1 has 512 free, 2048 asked; ...)."."""
    if run.total == 0:
        return "There are no compute hosts (no compute node has reported its resources)."
    noun = "compute host" if run.total == 1 else "compute hosts"
    verb = "is" if run.total == 1 else "are"
    parts = [f"{f.name} removed {len(hosts)} ({f.describe(hosts, spec)})"
             for f, hosts in run.removed]
    text = f"There {verb} {run.total} {noun}."
    if parts:
        text += " " + "; ".join(parts) + "."
    if claim_failed:
        names = ", ".join(h.name for h in claim_failed)
        text += (f" {len(claim_failed)} passed the filters but could not be claimed "
                 f"({names}): concurrent requests took the room.")
    return text


def _order(ranked: list[HostState]) -> list[HostState]:
    """[filter_scheduler] host_subset_size: pick the first host at random among the best
    N (spreads concurrent schedulers); the others keep their weighed order."""
    size = min(CONF.filter_scheduler.host_subset_size, len(ranked))
    if size > 1:
        ranked = list(ranked)
        ranked.insert(0, ranked.pop(random.randrange(size)))
    return ranked


def _rest(passed: list[HostState], ranked: list[HostState],
          spec: RequestSpec) -> list[HostState]:
    """The hosts of `passed` not in `ranked`, best first."""
    seen = {h.node_uuid for h in ranked}
    return [h for h, _ in weights.weigh_hosts(passed, spec) if h.node_uuid not in seen]


def _selection(host: HostState, consumer_uuid: str, resources: dict[str, int],
               claimed: bool) -> Selection:
    return Selection(host=host.host, nodename=host.nodename,
                     compute_node_uuid=host.node_uuid, consumer_uuid=consumer_uuid,
                     claimed=claimed, **resources)


def _try_claims(ctx: RequestContext, consumer_uuid: str, ranked: list[HostState],
                resources: dict[str, int], spec: RequestSpec
                ) -> tuple[HostState | None, list[HostState]]:
    """Claim on the first host that takes it: (chosen or None, hosts whose claim failed)."""
    failed: list[HostState] = []
    for host in ranked:
        host.consume(resources, consumer_uuid)
        try:
            ok = allocations.claim(ctx, consumer_uuid, host.node_uuid,
                                   resources["vcpus"], resources["memory_mb"],
                                   resources["disk_gb"], spec.project_id, spec.user_id)
        except exception.ComputeNodeNotFound:
            ok = False  # deleted since the host states were read
        except BaseException:
            host.unconsume(resources, consumer_uuid)
            raise
        if ok:
            return host, failed
        host.unconsume(resources, consumer_uuid)
        LOG.info("Claim for %s on %s failed (its capacity was taken concurrently); "
                 "trying the next host", consumer_uuid, host.name)
        failed.append(host)
    return None, failed


def _release(ctx: RequestContext, claims: list[tuple[str, str]]) -> None:
    for consumer_uuid, node_uuid in claims:
        try:
            allocations.release(ctx, consumer_uuid, node_uuid)
        except exception.NovaliteException:
            LOG.exception("Could not release the claim of %s on node %s; "
                          "`allocations audit` will find it", consumer_uuid, node_uuid)


def select_destinations(ctx: RequestContext, spec: RequestSpec,
                        instance_uuids: Sequence[str] | None,
                        return_alternates: bool = True,
                        host_states: list[HostState] | None = None) -> list[list[Selection]]:
    """For each instance uuid, [chosen (claimed), alternate, ...] best first.

    All or nothing: when one instance cannot be placed, the claims already made for
    this request are released and NoValidHost explains why. `host_states` lets tests
    (and callers that just built them) skip reading the database again.
    """
    uuids = list(instance_uuids or ([spec.instance_uuid] if spec.instance_uuid else []))
    if not uuids:
        raise exception.Invalid(reason="select_destinations needs the uuids of the "
                                       "instances to claim for")
    host_filters = filters_mod.get_filters()
    hosts = host_states if host_states is not None else host_state_mod.get_host_states(ctx)
    hinted = set().union(*(f.instances_needed(spec) for f in host_filters if f.applies(spec)))
    if hinted:
        hosts = host_state_mod.with_instances(ctx, hosts, hinted)
    resources = allocations.resources_from_flavor(spec.flavor or {})
    max_alternates = CONF.scheduler.max_attempts - 1 if return_alternates else 0
    answer: list[list[Selection]] = []
    claims: list[tuple[str, str]] = []
    try:
        for index, uuid in enumerate(uuids):
            run = run_filters(hosts, spec, host_filters)
            # Usually the first claim wins: rank only the best few of thousands of hosts.
            ranked = _order([h for h, _ in weights.weigh_hosts(
                run.passed, spec, limit=CONF.filter_scheduler.host_subset_size
                + max_alternates + RANK_MARGIN)])
            chosen, failed = _try_claims(ctx, uuid, ranked, resources, spec)
            if chosen is None and len(ranked) < len(run.passed):
                # Every claim among the best was lost: go on down the full ranking.
                rest = _rest(run.passed, ranked, spec)
                chosen, more = _try_claims(ctx, uuid, rest, resources, spec)
                failed, ranked = failed + more, ranked + rest
            if chosen is None:
                reason = explain(run, spec, failed)
                if len(uuids) > 1:
                    reason = (f"Instance {index + 1} of {len(uuids)} ({uuid}) did not fit "
                              f"after the first {index} were placed. {reason}")
                raise exception.NoValidHost(reason=reason)
            claims.append((uuid, chosen.node_uuid))  # consumed by _try_claims
            skip = {chosen.node_uuid} | {h.node_uuid for h in failed}
            alternates = [h for h in ranked if h.node_uuid not in skip]
            if len(alternates) < max_alternates and len(ranked) < len(run.passed):
                alternates += _rest(run.passed, ranked, spec)
            answer.append([_selection(chosen, uuid, resources, claimed=True)]
                          + [_selection(h, uuid, resources, claimed=False)
                             for h in alternates[:max_alternates]])
    except BaseException:
        _release(ctx, claims)
        raise
    return answer


def claim_alternate(ctx: RequestContext, selection: Selection, spec: RequestSpec) -> bool:
    """Claim an alternate's resources for its consumer (a reschedule), without asking
    the scheduler again. True: claimed, and selection.claimed is set; False: the host
    has no room any more (or is gone), try the next alternate.

    It does not release anything: drop the failed host's claim first with
    allocations.release(ctx, instance_uuid, failed_selection.compute_node_uuid), so an
    instance never holds two hosts' worth of a build.
    """
    consumer_uuid = selection.consumer_uuid or spec.instance_uuid
    if not consumer_uuid:
        raise exception.Invalid(reason="the alternate names no consumer to claim for")
    try:
        ok = allocations.claim(ctx, consumer_uuid, selection.compute_node_uuid,
                               selection.vcpus, selection.memory_mb, selection.disk_gb,
                               spec.project_id, spec.user_id)
    except exception.ComputeNodeNotFound:
        ok = False
    if ok:
        selection.claimed, selection.consumer_uuid = True, consumer_uuid
    return ok
