"""What the scheduler knows about each compute node when it picks hosts.

One HostState per live compute node, built in a handful of queries from the compute
nodes, their compute services (enabled, up, forced down), the allocations on them
(used resources and instance count) and the instances on them (for the same_host /
different_host hints). Filters and weighers only read these; the engine updates one
with :meth:`HostState.consume` after a claim, so later instances of the same request
see what the earlier ones took.
"""

from __future__ import annotations

import dataclasses
import datetime
from typing import Any

import sqlalchemy as sa

from novalite import servicegroup
from novalite.conf import CONF
from novalite.context import RequestContext
from novalite.db import allocations, models
from novalite.db import api as db_api


@dataclasses.dataclass
class HostState:
    """One compute node as the filters and weighers see it."""

    node_id: int
    node_uuid: str
    host: str
    nodename: str
    availability_zone: str
    generation: int = 0
    hypervisor_type: str | None = None
    # The compute service of the host; has_service False when it never registered.
    has_service: bool = True
    service_disabled: bool = False
    service_disabled_reason: str | None = None
    service_up: bool = True
    forced_down: bool = False
    node_disabled: bool = False
    total: dict[str, int] = dataclasses.field(default_factory=dict)
    used: dict[str, int] = dataclasses.field(default_factory=dict)
    num_instances: int = 0
    instance_uuids: set[str] = dataclasses.field(default_factory=set)

    @property
    def free(self) -> dict[str, int]:
        """Capacity left per resource (negative when a ratio was lowered under usage)."""
        return {rc: self.total.get(rc, 0) - self.used.get(rc, 0)
                for rc in allocations.RESOURCES}

    @property
    def name(self) -> str:
        """How the host is named in explanations: host, or host/node when they differ."""
        return self.host if self.nodename == self.host else f"{self.host}/{self.nodename}"

    def consume(self, resources: dict[str, int], instance_uuid: str | None = None) -> None:
        """Account a claim made on this host during the current request."""
        for rc in allocations.RESOURCES:
            self.used[rc] = self.used.get(rc, 0) + int(resources.get(rc, 0))
        if instance_uuid is not None and instance_uuid not in self.instance_uuids:
            self.instance_uuids.add(instance_uuid)
            self.num_instances += 1


def _instances_by_node(nodes: list[Any]) -> dict[int, set[str]]:
    """Live instance uuids per node id: by instances.host/node, plus every live instance
    holding an allocation on the node (one being built may not have its host set yet)."""
    inst, alloc = models.Instance, models.Allocation
    by_host_node: dict[tuple[str, str | None], int] = {}
    by_host: dict[str, list[int]] = {}
    for node in nodes:
        by_host_node[(node.host, node.hypervisor_hostname)] = node.id
        by_host.setdefault(node.host, []).append(node.id)
    out: dict[int, set[str]] = {node.id: set() for node in nodes}
    with db_api.transaction(writer=False) as session:
        placed = session.execute(sa.select(inst.uuid, inst.host, inst.node).where(
            inst.deleted == 0, inst.host.is_not(None)))
        for uuid, host, node in placed:
            node_id = by_host_node.get((host, node))
            if node_id is not None:
                out[node_id].add(uuid)
            else:  # node unknown or not recorded: count it on every node of the host
                for node_id in by_host.get(host, []):
                    out[node_id].add(uuid)
        allocated = session.execute(
            sa.select(alloc.consumer_uuid, alloc.compute_node_id)
            .join(inst, sa.and_(inst.uuid == alloc.consumer_uuid, inst.deleted == 0)))
        for uuid, node_id in allocated:
            if node_id in out:
                out[node_id].add(uuid)
    return out


def get_host_states(ctx: RequestContext,
                    now: datetime.datetime | None = None) -> list[HostState]:
    """A HostState for every live compute node, ordered by node id."""
    nodes = db_api.compute_node_get_all(ctx)
    services = db_api.service_get_all(ctx, binary=db_api.COMPUTE_BINARY)
    by_id = {svc.id: svc for svc in services}
    by_host = {svc.host: svc for svc in services}
    usage = db_api.compute_node_usage(ctx)
    members = _instances_by_node(nodes)
    now = now or servicegroup.utcnow()
    states = []
    for node in nodes:
        service = by_id.get(node.service_id) if node.service_id is not None else None
        service = service or by_host.get(node.host)
        used = usage.get(node.id, {})
        states.append(HostState(
            node_id=node.id, node_uuid=node.uuid, host=node.host,
            nodename=node.hypervisor_hostname,
            availability_zone=node.availability_zone or CONF.default_availability_zone,
            generation=node.generation, hypervisor_type=node.hypervisor_type,
            has_service=service is not None,
            service_disabled=bool(service.disabled) if service is not None else False,
            service_disabled_reason=service.disabled_reason if service is not None else None,
            service_up=servicegroup.is_up(service, now) if service is not None else False,
            forced_down=bool(service.forced_down) if service is not None else False,
            node_disabled=bool(node.disabled), total=allocations.inventory(node),
            used={rc: int(used.get(rc, 0)) for rc in allocations.RESOURCES},
            num_instances=len(members[node.id]),
            instance_uuids=members[node.id]))
    return states
