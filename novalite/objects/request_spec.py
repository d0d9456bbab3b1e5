"""What the scheduler is asked for, and what it answers."""

from __future__ import annotations

import dataclasses

from novalite.objects import base


@dataclasses.dataclass
class RequestSpec(base.NovaliteObject):
    """A scheduling request for `num_instances` instances of one flavor.

    flavor: the flavor snapshot dict (vcpus, memory_mb, root_gb, ephemeral_gb, swap, ...).
    scheduler_hints: Nova's os:scheduler_hints ({"same_host": [uuids],
    "different_host": [uuids]}).
    ignore_hosts: hosts never to pick (the source of a move; hosts that already failed).
    requested_destination: a host the caller named (a move "to host h").
    """

    OBJ_NAME = "RequestSpec"
    VERSION = "1.0"

    project_id: str
    user_id: str | None
    flavor: dict
    image: dict = dataclasses.field(default_factory=dict)
    num_instances: int = 1
    availability_zone: str | None = None
    scheduler_hints: dict = dataclasses.field(default_factory=dict)
    ignore_hosts: list = dataclasses.field(default_factory=list)
    requested_destination: str | None = None
    instance_uuid: str | None = None  # the first (or only) instance, for the logs


@dataclasses.dataclass
class Selection(base.NovaliteObject):
    """One host the scheduler chose, with the resources it claimed there for `consumer_uuid`.

    The first Selection for an instance holds a claim; alternates (the following ones) do
    not: whoever falls back to an alternate must claim it (scheduler claim_alternate).
    """

    OBJ_NAME = "Selection"
    VERSION = "1.0"

    host: str
    nodename: str
    compute_node_uuid: str
    consumer_uuid: str | None = None
    claimed: bool = False
    # Resources claimed (or to claim) on that node.
    vcpus: int = 0
    memory_mb: int = 0
    disk_gb: int = 0
